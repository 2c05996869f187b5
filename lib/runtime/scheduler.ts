// Copyright the chitchat for Deno authors. MIT license.
/**
 * Timers for the runtime, injectable so that whole clusters can run on
 * virtual time.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";

/**
 * A scheduled callback.
 *
 * @example
 * ```ts
 * import { systemScheduler } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * let fired = false;
 * const timer = systemScheduler.setTimeout(() => fired = true, 10);
 * timer.cancel();
 * assert(!fired);
 * ```
 */
export interface Timer {
  /** Prevents the callback from running; a no-op if it already ran. */
  cancel(): void;
}

/**
 * A clock that can also run callbacks later. The runtime (gossip rounds,
 * DNS refresh, simulated network delays) reads time and schedules work
 * only through a `Scheduler`.
 *
 * @example
 * ```ts
 * import type { Scheduler } from "@chitchat/chitchat";
 * import { systemScheduler } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const scheduler: Scheduler = systemScheduler;
 * const start = scheduler.now();
 * await new Promise<void>((resolve) => scheduler.setTimeout(resolve, 5));
 * assert(scheduler.now() - start >= 4);
 * ```
 */
export interface Scheduler extends Clock {
  /**
   * Runs `callback` once, `delayMs` milliseconds from now.
   *
   * @param callback The work.
   * @param delayMs Delay in milliseconds (negative counts as 0).
   * @returns A handle to cancel it.
   */
  setTimeout(callback: () => void, delayMs: number): Timer;
}

/**
 * Real time: `performance.now()` and `setTimeout`.
 *
 * @example
 * ```ts
 * import { systemScheduler } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * assert(typeof systemScheduler.now() === "number");
 * ```
 */
export const systemScheduler: Scheduler = {
  now: () => performance.now(),
  setTimeout(callback: () => void, delayMs: number): Timer {
    const id = setTimeout(callback, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(id) };
  },
};
