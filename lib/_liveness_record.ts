// Copyright the chitchat for Deno authors. MIT license.
// Internal: what the failure detector knows of one node, in one object:
// a thousand-node simulation updates a million of these several times a
// second, so every pointer hop between objects costs a cache miss.

import type { ChitchatId } from "./chitchat_id.ts";
import type { IntervalPool, IntervalQueue } from "./_interval_pool.ts";

/** Weight of the prior mean, in samples. */
const PRIOR_WEIGHT = 5;

/**
 * A node's liveness and the last heartbeat intervals sampled for it.
 * Samples are stored as 32-bit floats (sub-microsecond precision at these
 * magnitudes) in the detector's shared pool; the window is also the pool's
 * queue bookkeeping. The sum adds and removes the stored values, so it
 * stays consistent with them.
 */
export class LivenessRecord implements IntervalQueue {
  head = -1;
  headPos = 0;
  tail = -1;
  tailPos = 0;
  count = 0;
  live = false;
  /** Set when the detector forgets the node: holders must fetch a new record. */
  dropped = false;
  #sum = 0;
  // NaN rather than undefined keeps the field a plain double, updated in place.
  #lastHeartbeatMs = NaN;

  constructor(
    readonly id: ChitchatId,
    readonly key: string,
    readonly pool: IntervalPool,
    readonly capacity: number,
  ) {}

  report(now: number, maxIntervalMs: number): void {
    const last = this.#lastHeartbeatMs;
    this.#lastHeartbeatMs = now;
    if (Number.isNaN(last)) return;
    const interval = now - last;
    if (interval > maxIntervalMs) return;
    if (this.count === this.capacity) this.#sum -= this.pool.shift(this);
    const stored = Math.fround(interval);
    this.pool.push(this, stored);
    this.#sum += stored;
  }

  /** Forgets the sampled intervals (the last heartbeat time stays). */
  clear(): void {
    if (this.count === 0) return;
    this.pool.clear(this);
    this.#sum = 0;
  }

  phi(now: number, priorMeanMs: number): number | undefined {
    const count = this.count;
    if (count === 0 || Number.isNaN(this.#lastHeartbeatMs)) return undefined;
    const mean = (this.#sum + PRIOR_WEIGHT * priorMeanMs) / (count + PRIOR_WEIGHT);
    return (now - this.#lastHeartbeatMs) / mean;
  }
}
