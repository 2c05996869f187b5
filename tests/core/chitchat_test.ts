// Copyright the chitchat for Deno authors. MIT license.
// Handshakes between Chitchat state machines, through the wire codec, on a
// hand-driven clock.

import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import {
  Chitchat,
  Delta,
  Digest,
  encodeMessage,
  type KeyChangeEvent,
  MAX_DATAGRAM_BYTES,
  type NodeState,
} from "../../mod.ts";
import { handshake, knownKeyValues, ManualClock, testId, testNode, wire } from "../_protocol.ts";
import { chitchatInternals } from "../../lib/core/chitchat.ts";
import { compareChitchatIds } from "../../lib/core/chitchat_id.ts";
import { digestInternals } from "../../lib/core/digest.ts";
import { messageByteLength } from "../../lib/core/message_codec.ts";
import { nodeStateInternals } from "../../lib/core/node_state.ts";
import { seededRandom } from "../../lib/core/random.ts";
import { RecordingLogger } from "../_deadline.ts";

Deno.test("two nodes sync from scratch", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const b = testNode(2, clock);
  a.selfNodeState().set("role", "indexer");
  a.selfNodeState().set("zone", "eu");
  b.selfNodeState().set("role", "searcher");
  // The first handshake introduces the nodes, the second carries their state.
  handshake(a, b);
  handshake(a, b);
  deepStrictEqual(knownKeyValues(b, testId(1)), knownKeyValues(a, testId(1)));
  deepStrictEqual(knownKeyValues(a, testId(2)), knownKeyValues(b, testId(2)));
  equal(b.nodeState(testId(1))?.get("zone"), "eu");
  equal(a.nodeState(testId(2))?.get("role"), "searcher");
});

Deno.test("an incremental sync sends only the new key-values", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const b = testNode(2, clock);
  for (let i = 0; i < 10; i++) a.selfNodeState().set(`k${i}`, `v${i}`);
  handshake(a, b);
  handshake(a, b);
  a.selfNodeState().set("k3", "changed");
  a.selfNodeState().set("new", "value");
  const synAck = b.processMessage(wire(a.createSynMessage()));
  ok(synAck?.type === "synAck");
  const ack = a.processMessage(wire(synAck));
  ok(ack?.type === "ack");
  const nodeDelta = ack.delta.nodeDeltas.find((d) => d.chitchatId.nodeId === "node-1");
  deepStrictEqual(nodeDelta?.keyValues.map((kv) => kv.key), ["k3", "new"]);
  equal(nodeDelta?.fromVersionExcluded, 10);
  b.processMessage(wire(ack));
  equal(b.nodeState(testId(1))?.get("k3"), "changed");
  equal(b.nodeState(testId(1))?.maxVersion, 12);
});

Deno.test("deletes and TTLs replicate, then are collected everywhere", () => {
  const clock = new ManualClock();
  const config = { markedForDeletionGracePeriodMs: 10_000 };
  const a = testNode(1, clock, config);
  const b = testNode(2, clock, config);
  const self = a.selfNodeState();
  self.set("gone", "soon");
  self.set("lease", "holder-a");
  self.setWithTtl("ephemeral", "x");
  handshake(a, b);
  handshake(a, b);
  self.delete("gone");
  self.deleteAfterTtl("lease");
  handshake(a, b);
  const replica = b.nodeState(testId(1))!;
  equal(replica.get("gone"), undefined);
  equal(replica.getVersioned("gone")?.status, "deleted");
  equal(replica.get("lease"), "holder-a", "a TTL'd key stays visible");
  equal(replica.getVersioned("lease")?.status, "deleteAfterTtl");
  equal(replica.get("ephemeral"), "x");

  clock.advance(10_001);
  a.gcKeysMarkedForDeletion();
  b.gcKeysMarkedForDeletion();
  deepStrictEqual([...self.keyValuesIncludingDeleted()], []);
  deepStrictEqual([...replica.keyValuesIncludingDeleted()], []);
  equal(self.lastGcVersion, self.maxVersion);
  equal(replica.lastGcVersion, replica.maxVersion);
  handshake(a, b);
  handshake(b, a);
  equal(replica.get("lease"), undefined, "a collected key does not come back");
});

Deno.test("a peer behind a tombstone collection is reset and catches up", () => {
  const clock = new ManualClock();
  let catchups = 0;
  const logger = new RecordingLogger();
  const a = testNode(1, clock, { markedForDeletionGracePeriodMs: 1_000 });
  const b = testNode(2, clock, {
    markedForDeletionGracePeriodMs: 1_000,
    catchupCallback: () => catchups++,
  }, logger);
  const self = a.selfNodeState();
  self.set("k1", "1");
  self.set("k2", "2");
  self.set("k3", "3");
  handshake(a, b);
  handshake(a, b);
  equal(b.nodeState(testId(1))?.maxVersion, 3);

  // b stops hearing from a while a deletes, collects, and writes again.
  self.delete("k1");
  self.delete("k2");
  clock.advance(1_001);
  a.gcKeysMarkedForDeletion();
  self.set("k4", "4");
  equal(self.lastGcVersion, 5);

  const synAck = a.processMessage(wire(b.createSynMessage()));
  ok(synAck?.type === "synAck");
  const nodeDelta = synAck.delta.nodeDeltas.find((d) => d.chitchatId.nodeId === "node-1")!;
  equal(nodeDelta.fromVersionExcluded, 0, "a reset resends from the start");
  equal(nodeDelta.lastGcVersion, 5);
  b.processMessage(wire(synAck));
  equal(catchups, 1);
  equal(b.metrics().resets, 1);
  const resetLines = logger.lines.filter((line) => line.message.startsWith("Reset a node state"));
  deepStrictEqual(resetLines.map((line) => [line.level, line.fields?.lastGcVersion]), [[
    "info",
    5,
  ]]);
  deepStrictEqual(knownKeyValues(b, testId(1)), [["k3", "3", 3, "set"], ["k4", "4", 6, "set"]]);
  equal(b.nodeState(testId(1))?.lastGcVersion, 5);
});

/** Heartbeats of `node` reach `observer` every `intervalMs`, `rounds` times. */
function keepAlive(
  observer: Chitchat,
  node: Chitchat,
  clock: ManualClock,
  rounds: number,
  intervalMs = 1_000,
): void {
  for (let i = 0; i < rounds; i++) {
    clock.advance(intervalMs);
    node.updateSelfHeartbeat();
    handshake(node, observer);
    observer.updateNodesLiveness();
  }
}

Deno.test("the failure detector marks a silent node dead, then collects it", () => {
  const clock = new ManualClock();
  const config = { failureDetector: { initialIntervalMs: 1_000, deadNodeGracePeriodMs: 60_000 } };
  const a = testNode(1, clock, config);
  const b = testNode(2, clock, config);
  keepAlive(a, b, clock, 5);
  deepStrictEqual(a.liveNodes().map((id) => id.nodeId), ["node-1", "node-2"]);
  ok(chitchatInternals.failureDetector(a).phi(testId(2))! < 8);

  // Silence: phi grows past 8 after about 8 mean intervals.
  for (let i = 0; i < 7; i++) {
    clock.advance(1_000);
    a.updateNodesLiveness();
  }
  deepStrictEqual(a.deadNodes(), [], "not dead before phi crosses the threshold");
  clock.advance(2_000);
  a.updateNodesLiveness();
  deepStrictEqual(a.deadNodes().map((id) => id.nodeId), ["node-2"]);
  deepStrictEqual(a.liveNodes().map((id) => id.nodeId), ["node-1"]);

  // Half the grace period: no longer gossiped, still known.
  clock.advance(30_001);
  a.updateNodesLiveness();
  deepStrictEqual(a.scheduledForDeletionNodes().map((id) => id.nodeId), ["node-2"]);
  equal(a.createSynMessage().digest.size, 1);
  ok(a.nodeState(testId(2)) !== undefined);
  // All of it: collected.
  const lastSeen = a.nodeState(testId(2))!.heartbeat;
  clock.advance(30_000);
  a.updateNodesLiveness();
  equal(a.nodeState(testId(2)), undefined);
  equal(a.clusterState.lastHeartbeatIfDeleted(testId(2)), lastSeen);
});

Deno.test("a collected node is not resurrected by a lagging peer", () => {
  const clock = new ManualClock();
  const quick = { failureDetector: { initialIntervalMs: 1_000, deadNodeGracePeriodMs: 10_000 } };
  const a = testNode(1, clock, quick);
  const b = testNode(2, clock, {
    failureDetector: { initialIntervalMs: 1_000, deadNodeGracePeriodMs: 3_600_000 },
  });
  const c = testNode(3, clock, quick);
  for (let i = 0; i < 4; i++) {
    keepAlive(a, c, clock, 1);
    keepAlive(b, c, clock, 1);
  }
  // c dies. a and b agree on its last heartbeat; a collects it, b (longer
  // grace period) still lists it.
  handshake(a, b);
  handshake(b, a);
  for (let i = 0; i < 30; i++) {
    clock.advance(1_000);
    a.updateNodesLiveness();
    b.updateNodesLiveness();
  }
  equal(a.nodeState(testId(3)), undefined);
  ok(b.nodeState(testId(3)) !== undefined);
  handshake(b, a);
  handshake(a, b);
  equal(a.nodeState(testId(3)), undefined, "b's stale digest does not bring c back");
  // c comes back alive (a newer heartbeat): it is welcome again.
  keepAlive(b, c, clock, 1);
  handshake(b, a);
  ok(a.nodeState(testId(3)) !== undefined);
});

Deno.test("non-ASCII keys replicate and reach prefix subscribers", () => {
  // The reference panics when a key's first character is not ASCII.
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const b = testNode(2, clock);
  const events: KeyChangeEvent[] = [];
  using _sub = b.subscribeEvent("キ", (event) => events.push(event));
  const all: string[] = [];
  using _all = b.subscribeEvent("", (event) => all.push(event.key));
  a.selfNodeState().set("キー", "値😀");
  a.selfNodeState().set("émoji🔑", "clé");
  a.selfNodeState().set("😀start", "astral first");
  handshake(a, b);
  handshake(a, b);
  equal(b.nodeState(testId(1))?.get("キー"), "値😀");
  equal(b.nodeState(testId(1))?.get("😀start"), "astral first");
  deepStrictEqual(events.map((e) => [e.key, e.value, e.node.nodeId]), [["ー", "値😀", "node-1"]]);
  deepStrictEqual(all.sort(), ["émoji🔑", "キー", "😀start"].sort());
});

Deno.test("deletions reach only subscribers that ask for them", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const plain: string[] = [];
  const withDeleted: string[] = [];
  const sub = a.subscribeEvent("app:", (e) => plain.push(`${e.status}:${e.key}`));
  using _d = a.subscribeEvent("app:", (e) => withDeleted.push(`${e.status}:${e.key}`), {
    includeDeleted: true,
  });
  const self = a.selfNodeState();
  self.set("app:x", "1");
  self.set("other", "1");
  self.deleteAfterTtl("app:x");
  self.delete("app:x");
  deepStrictEqual(plain, ["set:x", "deleteAfterTtl:x"]);
  deepStrictEqual(withDeleted, ["set:x", "deleteAfterTtl:x", "deleted:x"]);
  sub[Symbol.dispose]();
  self.set("app:y", "2");
  equal(plain.length, 2, "a disposed subscription hears nothing");
});

Deno.test("a throwing subscriber does not break the update", () => {
  const a = testNode(1, new ManualClock());
  using _sub = a.subscribeEvent("", () => {
    throw new Error("boom");
  });
  a.selfNodeState().set("k", "v");
  equal(a.selfNodeState().get("k"), "v");
});

Deno.test("the live-nodes watcher fires on membership and max version, not on heartbeats", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const b = testNode(2, clock);
  const snapshots: string[][] = [];
  using _w = a.watchLiveNodes((nodes) =>
    snapshots.push(nodes.map((n) => `${n.chitchatId.nodeId}@${n.maxVersion}`))
  );
  keepAlive(a, b, clock, 4);
  deepStrictEqual(snapshots, [["node-1@0", "node-2@0"]]);
  keepAlive(a, b, clock, 3);
  equal(snapshots.length, 1, "heartbeats alone do not notify");
  b.selfNodeState().set("k", "v");
  keepAlive(a, b, clock, 1);
  deepStrictEqual(snapshots.at(-1), ["node-1@0", "node-2@1"]);
  a.selfNodeState().set("mine", "1");
  a.updateNodesLiveness();
  deepStrictEqual(snapshots.at(-1), ["node-1@1", "node-2@1"]);
});

Deno.test("extraLivenessPredicate hides nodes that are not ready", () => {
  const clock = new ManualClock();
  const ready = (state: NodeState) => state.get("READY") === "true";
  const a = testNode(1, clock, {
    extraLivenessPredicate: ready,
    initialKeyValues: [["READY", "true"]],
  });
  const b = testNode(2, clock);
  keepAlive(a, b, clock, 4);
  deepStrictEqual(a.liveNodes().map((id) => id.nodeId), ["node-1"]);
  deepStrictEqual(a.liveNodesSnapshot().map((s) => s.chitchatId.nodeId), ["node-1"]);
  b.selfNodeState().set("READY", "true");
  keepAlive(a, b, clock, 1);
  deepStrictEqual(a.liveNodes().map((id) => id.nodeId), ["node-1", "node-2"]);
  deepStrictEqual(a.liveNodesSnapshot().map((s) => s.chitchatId.nodeId), ["node-1", "node-2"]);
});

Deno.test("a SYN from another cluster gets BAD-CLUSTER and changes nothing", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const stranger = testNode(2, clock, { clusterId: "other" });
  stranger.selfNodeState().set("k", "v");
  const reply = a.processMessage(wire(stranger.createSynMessage()));
  deepStrictEqual(reply, { type: "badCluster" });
  equal(a.nodeState(testId(2)), undefined);
  equal(stranger.processMessage(wire(reply!)), undefined);
  equal(stranger.metrics().badClusterReceived, 1);
  equal(a.metrics().badClusterSent, 1);
});

Deno.test("resetNodeState replaces a node's state with a newer snapshot", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const events: string[] = [];
  using _s = a.subscribeEvent("", (e) => events.push(`${e.key}=${e.value}`));
  const peer = testId(9);
  ok(
    a.resetNodeState(
      peer,
      [["x", { value: "1", version: 4, status: "set", deletionScheduledAtMs: 0 }]],
      7,
      2,
    ),
  );
  const state = a.nodeState(peer)!;
  deepStrictEqual(knownKeyValues(a, peer), [["x", "1", 4, "set"]]);
  equal(state.maxVersion, 7);
  equal(state.lastGcVersion, 2);
  ok(!a.resetNodeState(peer, [], 7, 2), "not newer: refused");
  ok(
    a.resetNodeState(
      peer,
      [["y", { value: "2", version: 9, status: "set", deletionScheduledAtMs: 0 }]],
      9,
      3,
    ),
  );
  deepStrictEqual(
    knownKeyValues(a, peer),
    [["y", "2", 9, "set"]],
    "keys absent from the snapshot are dropped",
  );
  deepStrictEqual(events, ["x=1", "y=2"]);
  throws(
    () =>
      a.resetNodeState(
        peer,
        [["z", { value: "", version: 99, status: "set", deletionScheduledAtMs: 0 }]],
        10,
        3,
      ),
    RangeError,
  );
});

/** A delta about node-1 with the given `[key, value, version]` writes. */
function deltaOfNode1(
  fromVersionExcluded: number,
  writes: [string, string, number][],
  maxVersion: number,
): Delta {
  return new Delta([{
    chitchatId: testId(1),
    fromVersionExcluded,
    lastGcVersion: 0,
    keyValues: writes.map(([key, value, version]) => ({ key, value, version, status: "set" })),
    maxVersion,
  }]);
}

Deno.test("an inconsistent delta is refused without touching the state", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const b = testNode(2, clock);
  handshake(a, b);
  const before = [b.nodeState(testId(1))!.lastGcVersion, b.nodeState(testId(1))!.maxVersion];
  // SetMaxVersion below the key-value's version: the reference asserts (and crashes) here.
  const hostile = deltaOfNode1(0, [["a", "v", 9]], 3);
  equal(b.processMessage({ type: "ack", delta: hostile }), undefined);
  deepStrictEqual(
    [b.nodeState(testId(1))!.lastGcVersion, b.nodeState(testId(1))!.maxVersion],
    before,
  );
  equal(b.metrics().nodeDeltasInvalid, 1);
});

Deno.test("deltas from the future and stale deltas are rejected", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const b = testNode(2, clock);
  a.selfNodeState().set("k", "v");
  handshake(a, b);
  handshake(a, b);
  const fromFuture = deltaOfNode1(5, [["k", "w", 6]], 6);
  b.processMessage({ type: "ack", delta: fromFuture });
  equal(b.nodeState(testId(1))?.get("k"), "v");
  const stale = deltaOfNode1(0, [["k", "old", 1]], 1);
  b.processMessage({ type: "ack", delta: stale });
  equal(b.nodeState(testId(1))?.get("k"), "v");
  equal(b.metrics().nodeDeltasRejected, 2);
});

Deno.test("oversized keys and values are refused, never truncated", () => {
  const a = testNode(1, new ManualClock());
  const self = a.selfNodeState();
  throws(() => self.set("k".repeat(65_536), "v"), RangeError);
  throws(() => self.set("k", "é".repeat(32_768)), RangeError);
  throws(
    () => self.set("k".repeat(40_000), "v".repeat(40_000)),
    RangeError,
    "cannot fit one datagram",
  );
  self.set("k".repeat(30_000), "v".repeat(30_000));
  equal(self.maxVersion, 1);
});

Deno.test("every message fits one datagram, even past 1,300 nodes", () => {
  const clock = new ManualClock();
  const a = new Chitchat({ chitchatId: testId(1), clusterId: "big" }, {
    clock,
    random: seededRandom(1),
  });
  const b = new Chitchat({ chitchatId: testId(2), clusterId: "big" }, {
    clock,
    random: seededRandom(2),
  });
  for (let n = 0; n < 1_500; n++) {
    const state = a.clusterState.nodeStateOrInit(testId(10_000 + n));
    nodeStateInternals.observeHeartbeat(state, 5);
    for (let k = 0; k < 10; k++) state.set(`key-${k}`, `value-${n}-${k}`);
  }
  const syn = a.createSynMessage();
  ok(messageByteLength(syn) <= MAX_DATAGRAM_BYTES);
  // The first window starts at the first id, this node's ("node-1").
  ok(syn.digest.get(testId(1)) !== undefined, "the first window holds its own node");
  ok(a.metrics().digestsTruncated > 0);
  // The window comes in id order with its size known, as the encoder needs it.
  const ids = digestInternals.ids(syn.digest);
  ok(ids.every((id, i) => i === 0 || compareChitchatIds(ids[i - 1], id) < 0));
  equal(encodeMessage(syn).length, messageByteLength(syn));
  const synAck = a.processMessage(wire(b.createSynMessage()))!;
  ok(synAck.type === "synAck");
  ok(messageByteLength(synAck) <= MAX_DATAGRAM_BYTES);
  ok(!synAck.delta.isEmpty);
  const ack = b.processMessage(wire(synAck))!;
  ok(messageByteLength(ack) <= MAX_DATAGRAM_BYTES);
  // The same with a peer that knows everyone: still within one datagram.
  const ack2 = a.processMessage(
    wire({ type: "synAck", digest: Digest.empty, delta: Delta.empty }),
  )!;
  ok(messageByteLength(ack2) <= MAX_DATAGRAM_BYTES);
});

Deno.test("heartbeats go to the right nodes when a digest brings new ones in between", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const known = [3, 5, 7];
  const fresh = [2, 4, 6, 8];
  for (const port of known) {
    nodeStateInternals.observeHeartbeat(a.clusterState.nodeStateOrInit(testId(port)), port * 10);
  }
  const lines = [...known, ...fresh].sort().map((port) => ({
    chitchatId: testId(port),
    heartbeat: port * 100,
    lastGcVersion: 0,
    maxVersion: 0,
  }));
  a.processMessage(wire({ type: "syn", clusterId: "test-cluster", digest: new Digest(lines) }));
  for (const port of [...known, ...fresh]) {
    equal(a.nodeState(testId(port))?.heartbeat, port * 100, `node-${port}`);
  }
});

Deno.test("nodeState() finds a node by its node id alone, newest generation first", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  const old = testNode(2, clock, { chitchatId: testId(2, 1n) });
  const restarted = testNode(2, clock, { chitchatId: testId(2, 7n) });
  old.selfNodeState().set("generation", "old");
  restarted.selfNodeState().set("generation", "new");
  for (let round = 0; round < 2; round++) {
    handshake(a, old);
    handshake(a, restarted);
  }
  equal(a.nodeState(testId(2, 1n))?.get("generation"), "old");
  equal(a.nodeState("node-2")?.get("generation"), "new");
  equal(a.nodeState("node-2")?.chitchatId.generationId, 7n);
  equal(a.nodeState("node-1"), a.selfNodeState());
  equal(a.nodeState("nobody"), undefined);
  equal(a.clusterState.nodeState("node-2"), a.nodeState("node-2"));
});
