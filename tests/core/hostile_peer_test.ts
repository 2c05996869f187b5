// Copyright the chitchat for Deno authors. MIT license.
// Forged datagrams from a peer without the key (issue: hardened against a
// hostile network): a node stays the only authority over its own state,
// and counters that no real node can reach are refused.

import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { type Chitchat, type ChitchatMessage, Delta, Digest, type NodeDelta } from "../../mod.ts";
import { handshake, ManualClock, testNode, wire } from "../_protocol.ts";
import { nodeStateInternals } from "../../lib/core/node_state.ts";

const FAST = { failureDetector: { initialIntervalMs: 100 } };

/** Two nodes that know each other's state and see each other live. */
function convergedPair(clock: ManualClock): [Chitchat, Chitchat] {
  const a = testNode(1, clock, FAST);
  const b = testNode(2, clock, FAST);
  a.selfNodeState().set("role", "indexer");
  b.selfNodeState().set("role", "searcher");
  for (let round = 0; round < 10; round++) rounds(clock, a, b);
  ok(a.liveNodes().length === 2 && b.liveNodes().length === 2);
  return [a, b];
}

/** One 100 ms gossip round each way, as the runtime drives it. */
function rounds(clock: ManualClock, a: Chitchat, b: Chitchat): void {
  clock.advance(100);
  a.updateSelfHeartbeat();
  b.updateSelfHeartbeat();
  handshake(a, b);
  handshake(b, a);
  a.updateNodesLiveness();
  b.updateNodesLiveness();
}

function forgedAck(nodeDelta: NodeDelta): ChitchatMessage {
  return wire({ type: "ack", delta: new Delta([nodeDelta]) });
}

Deno.test("a forged ACK about a node never changes that node's own state", () => {
  const clock = new ManualClock();
  const [a] = convergedPair(clock);
  const before = [...a.selfNodeState().keyValuesIncludingDeleted()];
  const maxVersion = a.selfNodeState().maxVersion;
  // A reset (from version 0, a GC horizon above ours) carrying other keys:
  // the reference applies it and erases the node's keys everywhere.
  a.processMessage(forgedAck({
    chitchatId: a.chitchatId,
    fromVersionExcluded: 0,
    lastGcVersion: maxVersion + 5,
    keyValues: [{ key: "owned", value: "by-attacker", version: maxVersion + 6, status: "set" }],
    maxVersion: maxVersion + 6,
  }));
  deepStrictEqual([...a.selfNodeState().keyValuesIncludingDeleted()], before);
  equal(a.selfNodeState().maxVersion, maxVersion);
  equal(a.metrics().ownDeltasRefused, 1);
});

Deno.test("after a forged write for B, B's next real write reaches every node", () => {
  const clock = new ManualClock();
  const [a, b] = convergedPair(clock);
  const forgedVersion = b.selfNodeState().maxVersion + 10;
  a.processMessage(forgedAck({
    chitchatId: b.chitchatId,
    fromVersionExcluded: b.selfNodeState().maxVersion,
    lastGcVersion: 0,
    keyValues: [{ key: "role", value: "forged", version: forgedVersion, status: "set" }],
    maxVersion: forgedVersion,
  }));
  equal(a.nodeState(b.chitchatId)?.get("role"), "forged", "a peer cannot tell a forgery");
  rounds(clock, a, b);
  equal(b.selfNodeState().get("role"), "searcher", "B's own state is untouched");
  ok(b.selfNodeState().maxVersion >= forgedVersion, "B moved past the forged version");
  equal(b.metrics().ownVersionCatchUps, 1);
  b.selfNodeState().set("role", "searcher-2");
  rounds(clock, a, b);
  equal(a.nodeState(b.chitchatId)?.get("role"), "searcher-2");
});

Deno.test("a forged max version of 2^53 - 1 is refused, so the node's next writes still decode", () => {
  const clock = new ManualClock();
  const [a, b] = convergedPair(clock);
  const before = a.nodeState(b.chitchatId)!.maxVersion;
  a.processMessage(forgedAck({
    chitchatId: b.chitchatId,
    fromVersionExcluded: before,
    lastGcVersion: 0,
    keyValues: [],
    maxVersion: Number.MAX_SAFE_INTEGER,
  }));
  equal(a.nodeState(b.chitchatId)?.maxVersion, before);
  equal(a.metrics().implausibleDeltas, 1);
  b.selfNodeState().set("zone", "eu");
  rounds(clock, a, b);
  equal(a.nodeState(b.chitchatId)?.get("zone"), "eu");
});

Deno.test("a node's own writes are refused with a RangeError long before 2^53", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const state = a.selfNodeState();
  // Time makes a large catch-up plausible; 2^52 is where writes stop.
  clock.advance(2 ** 52 / 1_000);
  ok(nodeStateInternals.catchUpMaxVersion(state, 2 ** 52 - 2));
  state.set("last", "fits");
  equal(state.maxVersion, 2 ** 52 - 1);
  throws(() => state.set("one-more", "x"), RangeError);
  throws(() => state.delete("last"), RangeError);
  ok(!nodeStateInternals.catchUpMaxVersion(state, Number.MAX_SAFE_INTEGER));
});

Deno.test("a digest claiming heartbeat 2^53 - 1 cannot evict a node", () => {
  const clock = new ManualClock();
  const [a, b] = convergedPair(clock);
  const forged = new Digest([{
    chitchatId: b.chitchatId,
    heartbeat: Number.MAX_SAFE_INTEGER,
    lastGcVersion: 0,
    maxVersion: b.selfNodeState().maxVersion,
  }]);
  a.processMessage(wire({ type: "syn", clusterId: "test-cluster", digest: forged }));
  equal(a.metrics().implausibleHeartbeats, 1);
  for (let round = 0; round < 100; round++) {
    rounds(clock, a, b);
    ok(a.liveNodes().length === 2, `B live at round ${round}`);
  }
});

Deno.test("a forged heartbeat jump within the bound leaves a node frozen for seconds, not for good", () => {
  const clock = new ManualClock();
  const [a, b] = convergedPair(clock);
  const known = a.nodeState(b.chitchatId)!.heartbeat;
  // Within the slack: accepted, and B's real heartbeats now look stale.
  const forged = new Digest([{
    chitchatId: b.chitchatId,
    heartbeat: known + 900,
    lastGcVersion: 0,
    maxVersion: b.selfNodeState().maxVersion,
  }]);
  a.processMessage(wire({ type: "syn", clusterId: "test-cluster", digest: forged }));
  equal(a.nodeState(b.chitchatId)?.heartbeat, known + 900);
  let liveAgainAt: number | undefined;
  for (let round = 1; round <= 150 && liveAgainAt === undefined; round++) {
    rounds(clock, a, b);
    const heartbeat = a.nodeState(b.chitchatId)!.heartbeat;
    if (heartbeat < known + 900 && a.liveNodes().length === 2) liveAgainAt = round * 100;
  }
  ok(liveAgainAt !== undefined && liveAgainAt <= 8_000, `followed B again after ${liveAgainAt} ms`);
});
