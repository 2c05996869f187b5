// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode ChitchatOptions}: the environment of the protocol core.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { Logger } from "./logger.ts";
import type { RandomSource } from "./random.ts";

/**
 * Where a protocol core takes time, randomness and logs from: options of
 * the {@linkcode Chitchat} and {@linkcode ClusterState} constructors.
 *
 * @example A node on a hand-driven clock
 * ```ts
 * import { Chitchat, type ChitchatOptions } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * let now = 0;
 * const options: ChitchatOptions = { clock: { now: () => now } };
 * const chitchat = new Chitchat({
 *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7280 } },
 *   clusterId: "demo",
 *   markedForDeletionGracePeriodMs: 1_000,
 * }, options);
 * const self = chitchat.selfNodeState();
 * self.set("k", "v");
 * self.delete("k");
 * now += 1_000; // the grace period elapses on our clock only
 * chitchat.gcKeysMarkedForDeletion();
 * assert(self.getVersioned("k") === undefined);
 * assert(self.lastGcVersion === 2);
 * ```
 */
export interface ChitchatOptions {
  /**
   * Time source for heartbeats, phi, grace periods and TTLs.
   *
   * @default {systemClock}
   */
  readonly clock?: Clock;
  /**
   * Random source for tie-breaking and digest sampling.
   *
   * @default {Math.random}
   */
  readonly random?: RandomSource;
  /**
   * Where protocol events (rejected deltas, resets, wrong cluster) are logged.
   *
   * @default {silentLogger}
   */
  readonly logger?: Logger;
}
