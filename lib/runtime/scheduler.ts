// Copyright the chitchat for Deno authors. MIT license.
/**
 * Timers for the runtime, injectable so that whole clusters can run on
 * virtual time.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";

/** A scheduled callback (the shape `Scheduler.setTimeout` returns). */
export interface Timer {
  /** Prevents the callback from running; a no-op if it already ran. */
  cancel(): void;
}

/**
 * A clock that can also run callbacks later. The runtime (gossip rounds,
 * DNS refresh, simulated network delays) reads time and schedules work
 * only through a `Scheduler`.
 *
 * @example A node on virtual time: an hour of gossip in a few milliseconds
 * ```ts
 * import { spawnChitchat, type Scheduler } from "@chitchat/chitchat";
 * import { ChannelTransport, VirtualScheduler } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * const scheduler: Scheduler & { advance(ms: number): Promise<void> } = new VirtualScheduler();
 * const transport = new ChannelTransport({ scheduler });
 * await using node = await spawnChitchat({
 *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7001 } },
 *   clusterId: "demo",
 * }, { transport, scheduler });
 * const heartbeat = node.selfNodeState().heartbeat;
 * await scheduler.advance(3_600_000);
 * assert(node.selfNodeState().heartbeat >= heartbeat + 3_600); // one round a second
 * ```
 */
export interface Scheduler extends Clock {
  /**
   * Runs `callback` once, `delayMs` milliseconds from now.
   *
   * @param callback The work.
   * @param delayMs Delay in milliseconds (negative counts as 0).
   * @returns A handle whose `cancel()` keeps the callback from running (a
   * no-op once it ran).
   */
  setTimeout(callback: () => void, delayMs: number): { cancel(): void };
}

/**
 * Real time: `performance.now()` and `setTimeout`.
 */
export const systemScheduler: Scheduler = {
  now: () => performance.now(),
  setTimeout(callback: () => void, delayMs: number): Timer {
    const id = setTimeout(callback, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(id) };
  },
};
