// Copyright the chitchat for Deno authors. MIT license.
// The graceful leave in the state machine: the reserved key prefix, the
// leave mark, the left set, and a return of the same generation.

import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import {
  ClusterState,
  decodeMessage,
  Delta,
  encodeMessage,
  type MembershipEvent,
  NodeState,
} from "../../mod.ts";
import { deltaInternals } from "../../lib/core/delta.ts";
import { ByteReader } from "../../lib/core/wire/_binary.ts";
import { readBlockStream } from "../../lib/core/wire/_block_stream.ts";
import { handshake, ManualClock, observedRound, testId, testNode } from "../_protocol.ts";
import { fromHex, loadVectors, plainDelta, toDelta, toHex } from "../_vectors.ts";

const GRACE_MS = 10_000;
const FAST = { failureDetector: { initialIntervalMs: 100, deadNodeGracePeriodMs: GRACE_MS } };
const LEAVING_KEY = "__chitchat:leaving";

const names = (ids: { nodeId: string; generationId: bigint }[]) =>
  ids.map((id) => `${id.nodeId}@${id.generationId}`).sort();

async function drain(events: AsyncIterableIterator<MembershipEvent>, controller: AbortController) {
  controller.abort();
  const seen: string[] = [];
  for await (const event of events) {
    seen.push(`${event.type} ${event.node.nodeId}@${event.node.generationId}`);
  }
  return seen;
}

Deno.test("NodeState refuses user writes under the reserved prefix, with a RangeError naming it", () => {
  equal(NodeState.RESERVED_KEY_PREFIX, "__chitchat:");
  const state = new NodeState(testId(1));
  for (
    const write of [
      () => state.set(LEAVING_KEY, "true"),
      () => state.set("__chitchat:anything", "x"),
      () => state.setWithTtl(LEAVING_KEY, "true"),
      () => state.delete(LEAVING_KEY),
      () => state.deleteAfterTtl(LEAVING_KEY),
    ]
  ) {
    throws(
      write,
      (error: unknown) =>
        error instanceof RangeError && error.message.includes('"__chitchat:" is reserved'),
    );
  }
  equal(state.maxVersion, 0, "no refused write took a version");
  // Close to the prefix is not the prefix.
  state.set("__chitchat", "1");
  state.set("_chitchat:leaving", "1");
  equal(state.size, 2);
});

Deno.test("initialKeyValues refuse a reserved key before anything starts", () => {
  const clock = new ManualClock();
  throws(
    () => testNode(1, clock, { initialKeyValues: [[LEAVING_KEY, "true"]] }),
    (error: unknown) => error instanceof RangeError && error.message.includes("initialKeyValues"),
  );
});

Deno.test("leave() writes the mark once, as an ordinary versioned key", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock);
  a.selfNodeState().set("role", "indexer");
  const version = a.leave();
  equal(version, 2);
  equal(a.leave(), 2, "idempotent");
  equal(a.selfNodeState().get(LEAVING_KEY), "true");
  deepStrictEqual({ ...a.selfNodeState().getVersioned(LEAVING_KEY) }, {
    key: LEAVING_KEY,
    value: "true",
    version: 2,
    status: "set",
    deletionScheduledAtMs: 0,
  });
});

Deno.test("a peer that receives the mark lists the node as left at once: not live, not dead, watchers told", async () => {
  const clock = new ManualClock();
  const a = testNode(1, clock, FAST);
  const b = testNode(2, clock, FAST);
  const controller = new AbortController();
  const events = a.membershipEvents({ signal: controller.signal });
  for (let i = 0; i < 10; i++) observedRound(clock, a, b);
  deepStrictEqual(names(a.liveNodes()), ["node-1@1", "node-2@1"]);
  const snapshots: number[] = [];
  using _watch = a.watchLiveNodes((nodes) => snapshots.push(nodes.length));

  b.leave();
  handshake(a, b); // no updateNodesLiveness: the delta alone moves it
  deepStrictEqual(names(a.leftNodes()), ["node-2@1"]);
  deepStrictEqual(names(a.liveNodes()), ["node-1@1"]);
  deepStrictEqual(a.liveNodesSnapshot().map((s) => s.chitchatId.nodeId), ["node-1"]);
  deepStrictEqual(a.deadNodes(), []);
  deepStrictEqual(snapshots, [1]);

  // Long silence: still left, never dead, and the liveness pass keeps it so.
  for (let i = 0; i < 20; i++) {
    clock.advance(100);
    a.updateNodesLiveness();
  }
  deepStrictEqual(names(a.leftNodes()), ["node-2@1"]);
  deepStrictEqual(a.deadNodes(), []);
  deepStrictEqual(snapshots, [1], "no second notification for the same live set");
  deepStrictEqual(await drain(events, controller), ["joined node-2@1", "left node-2@1"]);
});

Deno.test("a departed node is collected after the grace period, and stale gossip does not bring it back", async () => {
  const clock = new ManualClock();
  const a = testNode(1, clock, FAST);
  const b = testNode(2, clock, FAST);
  const c = testNode(3, clock, FAST);
  for (let i = 0; i < 10; i++) observedRound(clock, a, b, c);
  for (let i = 0; i < 10; i++) observedRound(clock, c, b);
  b.leave();
  handshake(a, b);
  const controller = new AbortController();
  const events = a.membershipEvents({ signal: controller.signal });
  // Before half the grace period the left node is still gossiped, after it not.
  ok(a.createSynMessage().digest.get(b.chitchatId) !== undefined);
  clock.advance(GRACE_MS / 2 + 1);
  a.updateNodesLiveness();
  equal(a.createSynMessage().digest.get(b.chitchatId), undefined);
  deepStrictEqual(names(a.scheduledForDeletionNodes()), ["node-2@1"]);
  clock.advance(GRACE_MS / 2);
  a.updateNodesLiveness();
  equal(a.nodeState(b.chitchatId), undefined);
  deepStrictEqual(a.leftNodes(), []);
  // c still holds b (without the mark) with an old heartbeat: a refuses it.
  handshake(a, c);
  equal(a.nodeState(b.chitchatId), undefined);
  const seen = await drain(events, controller);
  deepStrictEqual(seen.filter((event) => event.includes("node-2")), ["removed node-2@1"]);
});

Deno.test("the mark reaches nodes that never talked to the departing one", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock, FAST);
  const b = testNode(2, clock, FAST);
  const c = testNode(3, clock, FAST);
  for (let i = 0; i < 10; i++) {
    observedRound(clock, a, b);
    c.updateSelfHeartbeat();
    handshake(a, c);
    handshake(c, a);
    c.updateNodesLiveness();
  }
  ok(names(c.liveNodes()).includes("node-2@1"));
  b.leave();
  handshake(a, b);
  handshake(c, a); // c learns b's mark from a
  deepStrictEqual(names(c.leftNodes()), ["node-2@1"]);
  ok(!names(c.liveNodes()).includes("node-2@1"));
});

Deno.test("a restart with a new generation is live while the old generation stays left", async () => {
  const clock = new ManualClock();
  const a = testNode(1, clock, FAST);
  const old = testNode(2, clock, FAST);
  for (let i = 0; i < 10; i++) observedRound(clock, a, old);
  old.leave();
  handshake(a, old);
  const controller = new AbortController();
  const events = a.membershipEvents({ signal: controller.signal });
  const reborn = testNode(2, clock, { ...FAST, chitchatId: testId(2, 2n) });
  for (let i = 0; i < 10; i++) observedRound(clock, a, reborn);
  deepStrictEqual(names(a.liveNodes()), ["node-1@1", "node-2@2"]);
  deepStrictEqual(names(a.leftNodes()), ["node-2@1"]);
  deepStrictEqual(a.deadNodes(), []);
  deepStrictEqual(await drain(events, controller), ["restarted node-2@2", "joined node-2@2"]);
});

Deno.test("a node that left and comes back with the same generation clears its mark and is live again", async () => {
  const clock = new ManualClock();
  const a = testNode(1, clock, FAST);
  const before = testNode(2, clock, FAST);
  before.selfNodeState().set("role", "indexer");
  for (let i = 0; i < 10; i++) observedRound(clock, a, before);
  const markVersion = before.leave();
  handshake(a, before);
  deepStrictEqual(names(a.leftNodes()), ["node-2@1"]);
  const controller = new AbortController();
  const events = a.membershipEvents({ signal: controller.signal });

  // Same id, same generation, a fresh process: it knows nothing of its mark.
  clock.advance(1_000);
  const again = testNode(2, clock, FAST);
  handshake(again, a); // a's digest shows the mark's version: `again` catches up past it
  const mark = again.selfNodeState().getVersioned(LEAVING_KEY);
  equal(mark?.status, "deleted");
  ok(mark!.version > markVersion, "the tombstone is newer than the mark peers hold");
  handshake(again, a); // the tombstone reaches a
  equal(a.nodeState(again.chitchatId)?.get(LEAVING_KEY), undefined);
  // Heartbeats of the new process start low: a follows them once they keep rising.
  for (let i = 0; i < 80 && !names(a.liveNodes()).includes("node-2@1"); i++) {
    observedRound(clock, a, again);
  }
  deepStrictEqual(names(a.liveNodes()), ["node-1@1", "node-2@1"]);
  deepStrictEqual(a.leftNodes(), []);
  const seen = await drain(events, controller);
  equal(seen.at(-1), "revived node-2@1");
  ok(!seen.includes("left node-2@1"), "no second departure");
});

Deno.test("a mark that arrives while the runtime holds liveness convicts no one else", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock, FAST);
  const b = testNode(2, clock, FAST);
  const c = testNode(3, clock, FAST);
  for (let i = 0; i < 10; i++) observedRound(clock, a, b, c);
  // c goes silent for long enough to be dead, but no liveness pass runs
  // (the runtime's pause guard holds them); b's mark arrives meanwhile.
  clock.advance(3_000);
  b.leave();
  handshake(a, b);
  deepStrictEqual(names(a.leftNodes()), ["node-2@1"]);
  deepStrictEqual(a.deadNodes(), [], "c is judged only by the next liveness pass");
  ok(names(a.liveNodes()).includes("node-3@1"));
});

// Mixed clusters: Rust peers know no reserved prefix. The mark must cross
// the wire exactly as any key does, and a decoder that knows nothing of
// the convention must see an ordinary key-value.

const hexOf = (text: string): string => toHex(new TextEncoder().encode(text));
/** A wire string: u16 LE byte length, then the UTF-8 bytes. */
const wireString = (text: string): string => {
  const bytes = new TextEncoder().encode(text).length;
  return toHex(new Uint8Array([bytes & 0xff, bytes >> 8])) + hexOf(text);
};

Deno.test("the leave mark crosses the wire as an ordinary key-value, byte for byte as the reference writes keys", () => {
  // The reference's op stream of an ACK holding node-10001's key "key" = "value" at version 1.
  const vector = loadVectors().find((v) => v.name === "msg/ack_with_delta")!;
  const reference = vector.decompressed_stream_hex!;
  const original = wireString("key") + wireString("value");
  ok(reference.includes(original));
  // The same stream with the mark in place of that key-value: only the strings differ.
  const expected = reference.replace(original, wireString(LEAVING_KEY) + wireString("true"));
  const content = toDelta(vector.content.delta);
  const [first, second] = content.nodeDeltas;
  const withMark = new Delta([
    { ...first, keyValues: [{ key: LEAVING_KEY, value: "true", version: 1, status: "set" }] },
    second,
  ]);
  // Our block stream may compress differently from the reference's zstd: compare the operations.
  equal(toHex(readBlockStream(new ByteReader(deltaInternals.encode(withMark)))), expected);

  // A whole ACK in one stored block, as any peer may send it, decodes to the plain key-value.
  const stream = fromHex(expected);
  const ack = new Uint8Array([
    0x53,
    0xb0,
    0,
    2, // magic, protocol version, ACK
    2,
    stream.length & 0xff,
    stream.length >> 8, // a stored block
    ...stream,
    0, // no more blocks
  ]);
  const decoded = decodeMessage(ack);
  equal(decoded.type, "ack");
  const delta = (decoded as { delta: Delta }).delta;
  deepStrictEqual(plainDelta(delta), plainDelta(withMark));
  // And back through our encoder (which may compress): the same delta.
  deepStrictEqual(
    plainDelta((decodeMessage(encodeMessage(decoded)) as { delta: Delta }).delta),
    plainDelta(withMark),
  );

  // A ClusterState knows no convention (as a Rust peer): the mark is stored as a key like any other.
  const unaware = new ClusterState();
  // Deltas update nodes first learned from a digest.
  for (const nodeDelta of delta.nodeDeltas) unaware.nodeStateOrInit(nodeDelta.chitchatId);
  equal(unaware.applyDelta(delta).applied, 2);
  const node = unaware.nodeState(first.chitchatId)!;
  equal(node.get(LEAVING_KEY), "true");
  deepStrictEqual([...node.keyValues()], [[LEAVING_KEY, "true"]]);
});

Deno.test("a node of ours moves a peer to the left set when the mark comes in a reference-encoded ACK", () => {
  const clock = new ManualClock();
  const observer = testNode(2, clock, FAST);
  // The vector's node-10001 (generation 0) as a live Rust peer.
  const rustPeer = testNode(10001, clock, { ...FAST, chitchatId: testId(10001, 0n) });
  for (let i = 0; i < 10; i++) observedRound(clock, observer, rustPeer);
  ok(names(observer.liveNodes()).includes("node-10001@0"));
  const state = observer.nodeState(rustPeer.chitchatId)!;
  // Its next write is the mark, as a Rust node would gossip any new key.
  const version = state.maxVersion + 1;
  const delta = new Delta([{
    chitchatId: rustPeer.chitchatId,
    fromVersionExcluded: state.maxVersion,
    lastGcVersion: 0,
    keyValues: [{ key: LEAVING_KEY, value: "true", version, status: "set" }],
    maxVersion: version,
  }]);
  observer.processMessage(decodeMessage(encodeMessage({ type: "ack", delta })));
  deepStrictEqual(names(observer.leftNodes()), ["node-10001@0"]);
  ok(!names(observer.liveNodes()).includes("node-10001@0"));
});

Deno.test("a forged mark is undone by the next exchange with the node it names", () => {
  const clock = new ManualClock();
  const a = testNode(1, clock, FAST);
  const b = testNode(2, clock, FAST);
  for (let i = 0; i < 10; i++) observedRound(clock, a, b);
  const held = a.nodeState(b.chitchatId)!;
  const forged = new Delta([{
    chitchatId: b.chitchatId,
    fromVersionExcluded: held.maxVersion,
    lastGcVersion: 0,
    keyValues: [{ key: LEAVING_KEY, value: "true", version: held.maxVersion + 1, status: "set" }],
    maxVersion: held.maxVersion + 1,
  }]);
  a.processMessage(decodeMessage(encodeMessage({ type: "ack", delta: forged })));
  deepStrictEqual(names(a.leftNodes()), ["node-2@1"]);
  // b sees a hold a version of b above its own: it moves past it with a tombstone of the mark.
  observedRound(clock, a, b);
  equal(b.metrics().ownVersionCatchUps, 1);
  equal(a.nodeState(b.chitchatId)?.get(LEAVING_KEY), undefined);
  for (let i = 0; i < 5; i++) observedRound(clock, a, b);
  deepStrictEqual(a.leftNodes(), []);
  deepStrictEqual(names(a.liveNodes()), ["node-1@1", "node-2@1"]);
});
