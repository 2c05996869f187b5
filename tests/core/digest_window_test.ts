// Copyright the chitchat for Deno authors. MIT license.
// Windowed digests (lib/core/wire/WIRE.md, "Windowed digests"): past one
// datagram a digest is a rotating window of the id order, and a node past
// one datagram answers a window only over the nodes within its bounds.
// Datagrams are shrunk to 2,000 bytes so that 100 nodes are "large".

import { deepStrictEqual, equal, notDeepStrictEqual, ok } from "node:assert/strict";
import { ManualClock, testId, testNode, wire } from "../_protocol.ts";
import { type Chitchat, chitchatInternals } from "../../lib/core/chitchat.ts";
import { type ChitchatId, formatChitchatId } from "../../lib/core/chitchat_id.ts";
import type { Digest } from "../../lib/core/digest.ts";
import type { Delta } from "../../lib/core/delta.ts";
import { encodeMessage, messageByteLength } from "../../lib/core/message_codec.ts";

const DATAGRAM = 2_000;
// Ports 1000..1099: ids "node-1000".."node-1099", whose id order is the numeric one.
const OTHERS = Array.from({ length: 100 }, (_, i) => testId(1_000 + i));

function label(id: ChitchatId): string {
  return formatChitchatId(id);
}

function labels(digest: Digest): string[] {
  return digest.entries().map((entry) => label(entry.chitchatId));
}

/** A node at `port` knowing `known` (no state of theirs), with 2,000-byte datagrams. */
function largeNode(port: number, known: readonly ChitchatId[], datagram = DATAGRAM): Chitchat {
  const node = testNode(port, new ManualClock());
  chitchatInternals.setDigestMode(node, "windowed");
  chitchatInternals.setMaxMessageBytes(node, datagram);
  for (const id of known) node.clusterState.nodeStateOrInit(id);
  return node;
}

/** Gives `node` one key-value of each of `ids`, at `version`. */
function holdStates(node: Chitchat, ids: readonly ChitchatId[], version = 1): void {
  for (const id of ids) {
    ok(node.resetNodeState(
      id,
      [["k", { value: label(id), version, status: "set", deletionScheduledAtMs: 0 }]],
      version,
      0,
    ));
  }
}

function deltaLabels(delta: Delta): string[] {
  return delta.nodeDeltas.map((nodeDelta) => label(nodeDelta.chitchatId));
}

/** Ids in `[first, last]` of `digest`, in the order of `all`. */
function within(all: readonly string[], digest: Digest): string[] {
  const shown = labels(digest);
  return all.slice(all.indexOf(shown[0]), all.indexOf(shown.at(-1)!) + 1);
}

Deno.test("windows are consecutive runs of the id order that rotate over every node", () => {
  // Self (node-1050) sits in the middle of the order.
  const a = largeNode(1_050, OTHERS);
  const order = a.nodeStates().map((state) => label(state.chitchatId));
  equal(order.length, 100);
  const covered = new Map<string, number>();
  const windows: string[][] = [];
  for (let i = 0; i < 6; i++) {
    const syn = a.createSynMessage();
    ok(messageByteLength(syn) <= DATAGRAM);
    equal(encodeMessage(syn).length, messageByteLength(syn));
    const shown = labels(syn.digest);
    // A run of the order, never wrapped, and as full as the budget allows.
    const start = order.indexOf(shown[0]);
    deepStrictEqual(shown, order.slice(start, start + shown.length));
    ok(messageByteLength(syn) > DATAGRAM - 50, `${messageByteLength(syn)} bytes`);
    windows.push(shown);
    for (const id of shown) covered.set(id, (covered.get(id) ?? 0) + 1);
  }
  // About 40 lines a window: the third reaches the end, filled backwards, and the fourth restarts.
  equal(windows[0][0], order[0]);
  equal(windows[1][0], order[windows[0].length]);
  equal(windows[2].at(-1), order.at(-1));
  ok(windows[2].length === windows[0].length || windows[2].length === windows[0].length - 1);
  deepStrictEqual(windows[3], windows[0]);
  // Two cycles of three windows cover every node, this one included, at least twice.
  equal(covered.size, 100);
  ok([...covered.values()].every((times) => times >= 2));
  equal(a.metrics().digestsTruncated, 6);
});

Deno.test("a node past one datagram answers a window only over the nodes within its bounds", () => {
  const a = largeNode(1_050, OTHERS.filter((id) => id.gossipAdvertiseAddr.port !== 1_010));
  const b = largeNode(1_099, OTHERS);
  // b holds a newer state of every node but the two; a lacks node-1010.
  const others = OTHERS.filter((id) => ![1_050, 1_099].includes(id.gossipAdvertiseAddr.port));
  holdStates(a, others.filter((id) => id.gossipAdvertiseAddr.port !== 1_010), 1);
  holdStates(b, others, 2);
  const order = b.nodeStates().map((state) => label(state.chitchatId));
  const syn = wire(a.createSynMessage());
  if (syn.type !== "syn") throw new Error("expected a SYN");
  const bounds = within(order, syn.digest);
  ok(bounds.includes(label(testId(1_010))) && !labels(syn.digest).includes(label(testId(1_010))));
  const synAck = b.processMessage(syn);
  if (synAck?.type !== "synAck") throw new Error("expected a SYN-ACK");
  ok(messageByteLength(synAck) <= DATAGRAM);
  equal(b.metrics().digestsReadAsWindows, 1);
  const sent = deltaLabels(synAck.delta);
  ok(sent.length > 0);
  ok(sent.every((id) => bounds.includes(id)), `outside the window: ${sent}`);
  // The node a lacks inside its window comes first, whole (unknown nodes lead).
  equal(sent[0], label(testId(1_010)));
  equal(synAck.delta.nodeDeltas[0].fromVersionExcluded, 0);
  ok(synAck.delta.nodeDeltas.slice(1).every((nodeDelta) => nodeDelta.fromVersionExcluded === 1));

  // The same exchange with a sampled-mode reader: the old reading, the
  // whole cluster compared, so the delta reaches outside the window.
  const c = largeNode(1_099, OTHERS);
  holdStates(c, others, 2);
  chitchatInternals.setDigestMode(c, "sampled");
  const whole = c.processMessage(syn);
  if (whole?.type !== "synAck") throw new Error("expected a SYN-ACK");
  equal(c.metrics().digestsReadAsWindows, 0);
  ok(deltaLabels(whole.delta).some((id) => !bounds.includes(id)));
});

Deno.test("the SYN-ACK's digest is a window too, and the ACK answers only over it", () => {
  const a = largeNode(1_050, OTHERS);
  const b = largeNode(1_099, OTHERS);
  // a holds a newer state of every node: its ACK must stay within b's window.
  holdStates(a, OTHERS.filter((id) => id.gossipAdvertiseAddr.port !== 1_050));
  const synAck = wire(b.processMessage(wire(a.createSynMessage()))!);
  if (synAck.type !== "synAck") throw new Error("expected a SYN-ACK");
  ok(messageByteLength(synAck) <= DATAGRAM);
  ok(synAck.digest.byteLength <= (DATAGRAM - 4) / 2);
  const order = a.nodeStates().map((state) => label(state.chitchatId));
  const shown = labels(synAck.digest);
  const start = order.indexOf(shown[0]);
  deepStrictEqual(shown, order.slice(start, start + shown.length));
  const ack = a.processMessage(synAck);
  if (ack?.type !== "ack") throw new Error("expected an ACK");
  ok(messageByteLength(ack) <= DATAGRAM);
  const sent = deltaLabels(ack.delta);
  ok(sent.length > 0 && sent.every((id) => shown.includes(id)), `outside: ${sent}`);
  // SYN and SYN-ACK windows share one cursor: b's next SYN starts after its SYN-ACK's window.
  const next = b.createSynMessage();
  equal(labels(next.digest)[0], order[order.indexOf(shown.at(-1)!) + 1]);
});

Deno.test("a small digest is read whole even past one datagram: a newcomer gets what it lacks", () => {
  const b = largeNode(1_099, OTHERS);
  holdStates(b, OTHERS.filter((id) => id.gossipAdvertiseAddr.port !== 1_099));
  // The newcomer (node-1200, after every id) knows only itself and b.
  const newcomer = largeNode(1_200, [testId(1_099)]);
  const synAck = b.processMessage(wire(newcomer.createSynMessage()));
  if (synAck?.type !== "synAck") throw new Error("expected a SYN-ACK");
  equal(b.metrics().digestsReadAsWindows, 0);
  // Read as a window, [node-1099, node-1200] would hold no node to send.
  ok(synAck.delta.nodeDeltas.length > 0);
  ok(deltaLabels(synAck.delta).every((id) => id < label(testId(1_099))));
});

Deno.test("a node whose own digest fits one datagram reads every digest whole", () => {
  const a = largeNode(1_050, OTHERS);
  // b knows 20 nodes and learns about 40 from a's window: its digest still
  // fits its 4,000-byte datagram, and it answers a's window as before windows.
  const few = OTHERS.slice(0, 20);
  const b = largeNode(1_099, few, 4_000);
  holdStates(b, few);
  const synAck = b.processMessage(wire(a.createSynMessage()));
  if (synAck?.type !== "synAck") throw new Error("expected a SYN-ACK");
  equal(b.metrics().digestsReadAsWindows, 0);
  equal(b.metrics().digestsTruncated, 0);
  ok(b.nodeStates().length > 21);
});

Deno.test("below one datagram, windowed and sampled nodes send the same bytes as the whole digest", () => {
  const clock = new ManualClock();
  const known = Array.from({ length: 1_200 }, (_, i) => testId(10_000 + i));
  const messages = (["windowed", "sampled"] as const).map((mode) => {
    const node = testNode(9_999, clock, {}, undefined);
    chitchatInternals.setDigestMode(node, mode);
    for (const id of known) node.clusterState.nodeStateOrInit(id);
    const syn = node.createSynMessage();
    equal(syn.digest.size, 1_201);
    equal(node.metrics().digestsTruncated, 0);
    const whole = { ...syn, digest: node.clusterState.computeDigest() };
    deepStrictEqual(encodeMessage(syn), encodeMessage(whole));
    return encodeMessage(syn);
  });
  deepStrictEqual(messages[0], messages[1]);
});

Deno.test("sampled mode keeps the earlier random sample, this node always in it", () => {
  const a = largeNode(1_050, OTHERS);
  chitchatInternals.setDigestMode(a, "sampled");
  const sample = a.createSynMessage();
  ok(labels(sample.digest).includes(label(testId(1_050))));
  ok(messageByteLength(sample) <= DATAGRAM);
  // Not a run of the order: a sample skips lines.
  const order = a.nodeStates().map((state) => label(state.chitchatId));
  const shown = labels(sample.digest);
  const start = order.indexOf(shown[0]);
  notDeepStrictEqual(shown, order.slice(start, start + shown.length));
});
