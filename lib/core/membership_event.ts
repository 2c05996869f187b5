// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode MembershipEvent}: a node joined, died, came back, left,
 * restarted or was forgotten, as this node saw it.
 *
 * @module
 */

import type { ChitchatId } from "./chitchat_id.ts";

/**
 * One change of the membership as this node sees it:
 *
 * - `joined`: a node became live for the first time;
 * - `dead`: a live node stopped sending heartbeats (phi above the threshold);
 * - `revived`: a dead node is live again;
 * - `left`: a node announced its leave (its `__chitchat:leaving` mark arrived): out of the
 *   live set at once, with no `dead` event;
 * - `restarted`: a newer generation of a known node id appeared (`node` is the new one);
 * - `removed`: a dead or departed node was forgotten after the grace period.
 *
 * @example Following a node's death
 * ```ts
 * import { Chitchat, type MembershipEvent } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * let now = 0;
 * const clock = { now: () => now };
 * const failureDetector = { initialIntervalMs: 100 };
 * const id = (port: number) => ({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const a = new Chitchat({ chitchatId: id(1), clusterId: "demo", failureDetector }, { clock });
 * const b = new Chitchat({ chitchatId: id(2), clusterId: "demo", failureDetector }, { clock });
 * const controller = new AbortController();
 * const events = a.membershipEvents({ signal: controller.signal });
 * for (let round = 0; round < 10; round++) {
 *   now += 100;
 *   b.updateSelfHeartbeat();
 *   a.processMessage(b.processMessage(a.createSynMessage())!);
 *   a.updateNodesLiveness();
 * }
 * now += 5_000; // b stops
 * a.updateNodesLiveness();
 * controller.abort();
 * const seen: MembershipEvent[] = [];
 * for await (const event of events) seen.push(event);
 * assert.deepStrictEqual(seen.map((e) => `${e.type} ${e.node.nodeId}`), ["joined n2", "dead n2"]);
 * assert(seen[1].atMs === now);
 * ```
 */
export interface MembershipEvent {
  /** What happened. */
  readonly type: "joined" | "dead" | "revived" | "left" | "restarted" | "removed";
  /** The node it happened to. */
  readonly node: ChitchatId;
  /** When this node saw it (its clock, in ms). */
  readonly atMs: number;
}
