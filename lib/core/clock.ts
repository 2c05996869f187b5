// Copyright the chitchat for Deno authors. MIT license.
/**
 * The source of time used by the protocol core.
 *
 * @module
 */

/**
 * A monotonic clock in milliseconds. The protocol core reads time only
 * through a `Clock`, so tests and simulations can run on virtual time.
 *
 * @example A hand-driven clock
 * ```ts
 * import type { Clock } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * let now = 0;
 * const clock: Clock = { now: () => now };
 * now += 1_000;
 * assert(clock.now() === 1_000);
 * ```
 */
export interface Clock {
  /** Milliseconds since an arbitrary origin; never decreases. */
  now(): number;
}

/**
 * The real monotonic clock (`performance.now()`).
 */
export const systemClock: Clock = { now: () => performance.now() };
