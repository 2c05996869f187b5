// Copyright the chitchat for Deno authors. MIT license.
/**
 * Testing and simulation tools: virtual time for running real chitchat
 * nodes in one process, deterministically.
 *
 * @example Two timers on virtual time
 * ```ts
 * import { VirtualScheduler } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * const scheduler = new VirtualScheduler();
 * let fired = 0;
 * scheduler.setTimeout(() => fired++, 60_000);
 * await scheduler.advance(60_000);
 * assert.strictEqual(fired, 1);
 * ```
 *
 * @module
 */

export * from "./simulator.ts";
export * from "./virtual_scheduler.ts";
export * from "./channel_transport.ts";
export { seededRandom } from "../core/random.ts";
