// Copyright the chitchat for Deno authors. MIT license.
// The caps of `ChitchatConfig.limits`: a node's memory stays bounded
// whatever its peers announce.

import { equal, ok, throws } from "node:assert/strict";
import { type ChitchatId, Delta, Digest } from "../../mod.ts";
import { handshake, ManualClock, testId, testNode, wire } from "../_protocol.ts";

function fakeId(i: number): ChitchatId {
  return {
    nodeId: `fake-${i}`,
    generationId: 1n,
    gossipAdvertiseAddr: { hostname: "10.9.0.1", port: 1 + (i % 60_000) },
  };
}

/** A SYN whose digest announces `count` fake nodes from `first` on. */
function fakeSyn(first: number, count: number) {
  const entries = Array.from({ length: count }, (_, i) => ({
    chitchatId: fakeId(first + i),
    heartbeat: 1,
    lastGcVersion: 0,
    maxVersion: 1,
  }));
  return wire({ type: "syn", clusterId: "test-cluster", digest: new Digest(entries) });
}

Deno.test("nodes announced past the caps are ignored and counted", () => {
  const clock = new ManualClock();
  const limits = { maxNodes: 500, maxNewNodesPerMessage: 150, maxNewNodesPerSecond: 200 };
  const victim = testNode(1, clock, { limits });
  victim.processMessage(fakeSyn(0, 300));
  equal(victim.clusterState.size, 1 + 150, "per message");
  victim.processMessage(fakeSyn(300, 300));
  equal(victim.clusterState.size, 1 + 200, "per second");
  for (let second = 0; second < 10; second++) {
    clock.advance(1_000);
    victim.processMessage(fakeSyn(1_000 * (second + 1), 300));
  }
  equal(victim.clusterState.size, 500, "in total");
  ok(victim.metrics().nodesRefused >= 300 + 150 + 100 + 10 * 100);
});

Deno.test("announced nodes that never become live are forgotten after unconfirmedNodeTtlMs", () => {
  const clock = new ManualClock();
  const victim = testNode(1, clock, { failureDetector: { initialIntervalMs: 100 } });
  const peer = testNode(2, clock, { failureDetector: { initialIntervalMs: 100 } });
  victim.processMessage(fakeSyn(0, 1_000));
  equal(victim.clusterState.size, 1_001);
  // Peers that learned them later may teach them back once: two TTLs flush them.
  for (let round = 0; round < 1_250; round++) {
    clock.advance(100);
    peer.updateSelfHeartbeat();
    handshake(victim, peer);
    victim.updateNodesLiveness();
  }
  equal(victim.clusterState.size, 2, "the fake nodes are gone, the live peer stays");
  ok(victim.metrics().unconfirmedNodesCollected >= 1_000);
  ok(victim.liveNodes().some((id) => id.nodeId === "node-2"));
});

Deno.test("a delta that would take a node past its key-value cap is refused; so are its own writes", () => {
  const clock = new ManualClock();
  const limits = { maxKeyValuesPerNode: 10, maxStateCharsPerNode: 1_000 };
  const victim = testNode(1, clock, { limits });
  const peer = testNode(2, clock);
  handshake(victim, peer);
  const keyValues = Array.from({ length: 11 }, (_, i) => ({
    key: `k${i}`,
    value: "v",
    version: i + 1,
    status: "set" as const,
  }));
  victim.processMessage(wire({
    type: "ack",
    delta: new Delta([{
      chitchatId: testId(2),
      fromVersionExcluded: 0,
      lastGcVersion: 0,
      keyValues,
      maxVersion: 11,
    }]),
  }));
  equal(victim.nodeState(testId(2))?.size, 0);
  equal(victim.metrics().nodeDeltasOversized, 1);
  const self = victim.selfNodeState();
  for (let i = 0; i < 10; i++) self.set(`k${i}`, "v");
  self.set("k0", "updated"); // an update is not a new key
  throws(() => self.set("k10", "v"), RangeError);
  throws(() => self.set("k1", "x".repeat(1_000)), RangeError);
});

Deno.test("100,000 announced fake nodes leave at most maxNodes known", () => {
  const clock = new ManualClock();
  const victim = testNode(1, clock, { limits: { maxNodes: 3_000 } });
  let next = 0;
  for (let message = 0; message < 80; message++) {
    clock.advance(500);
    victim.processMessage(fakeSyn(next, 1_250));
    next += 1_250;
  }
  equal(victim.clusterState.size, 3_000);
  equal(victim.metrics().nodesRefused, 100_000 - 2_999);
});
