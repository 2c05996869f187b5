// Copyright the chitchat for Deno authors. MIT license.
// Internal: what the failure detector knows of one node, in one object:
// a thousand-node simulation updates a million of these several times a
// second, so every pointer hop between objects costs a cache miss.

import type { ChitchatId } from "./chitchat_id.ts";
import type { IntervalPool, IntervalQueue } from "./_interval_pool.ts";

/** Weight of the prior mean, in samples. */
const PRIOR_WEIGHT = 5;

/**
 * Per-record doubles (last heartbeat time, sum of the window), in one
 * typed array per detector: a double field of a JS object is a boxed
 * number, and reaching it would cost one more cache miss per heartbeat.
 */
export class RecordTimes {
  values: Float64Array = new Float64Array(2 * 64);
  #next = 0;
  #free: number[] = [];

  allocate(): number {
    const slot = this.#free.pop() ?? this.#next++;
    if (2 * slot + 2 > this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[2 * slot] = NaN;
    this.values[2 * slot + 1] = 0;
    return slot;
  }

  release(slot: number): void {
    this.#free.push(slot);
  }
}

/**
 * A node's liveness and the last heartbeat intervals sampled for it.
 * Samples are stored as 32-bit floats (sub-microsecond precision at these
 * magnitudes) in the detector's shared pool; the record is also the pool's
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
  // Plain fields, not parameter properties: Node's type stripping refuses those.
  readonly id: ChitchatId;
  readonly key: string;
  readonly pool: IntervalPool;
  readonly times: RecordTimes;
  readonly capacity: number;
  /** Index of this record's last heartbeat time (2 * slot) and window sum (2 * slot + 1). */
  readonly slot: number;

  constructor(
    id: ChitchatId,
    key: string,
    pool: IntervalPool,
    times: RecordTimes,
    capacity: number,
  ) {
    this.id = id;
    this.key = key;
    this.pool = pool;
    this.times = times;
    this.capacity = capacity;
    this.slot = times.allocate();
  }

  report(now: number, maxIntervalMs: number): void {
    const times = this.times.values;
    const at = 2 * this.slot;
    const last = times[at];
    times[at] = now;
    if (Number.isNaN(last)) return;
    const interval = now - last;
    if (interval > maxIntervalMs) return;
    if (this.count === this.capacity) times[at + 1] -= this.pool.shift(this);
    const stored = Math.fround(interval);
    this.pool.push(this, stored);
    times[at + 1] += stored;
  }

  /** Forgets the sampled intervals (the last heartbeat time stays). */
  clear(): void {
    if (this.count === 0) return;
    this.pool.clear(this);
    this.times.values[2 * this.slot + 1] = 0;
  }

  /** Returns the record's storage (it is no longer used). */
  release(): void {
    this.pool.clear(this);
    this.times.release(this.slot);
  }

  phi(now: number, priorMeanMs: number): number | undefined {
    const count = this.count;
    const times = this.times.values;
    const last = times[2 * this.slot];
    if (count === 0 || Number.isNaN(last)) return undefined;
    const mean = (times[2 * this.slot + 1] + PRIOR_WEIGHT * priorMeanMs) / (count + PRIOR_WEIGHT);
    return (now - last) / mean;
  }
}
