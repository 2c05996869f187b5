// Copyright the chitchat for Deno authors. MIT license.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { ClusterState, Digest } from "../../mod.ts";
import { testId } from "../_protocol.ts";
import { GARBAGE_COLLECTED_NODE_HISTORY_SIZE } from "../../lib/core/cluster_state.ts";
import { nodeStateInternals } from "../../lib/core/node_state.ts";
import { seededRandom } from "../../lib/core/random.ts";

function withNodes(keysPerNode: number[], random = seededRandom(1)): ClusterState {
  const state = new ClusterState({ random });
  keysPerNode.forEach((keys, i) => {
    const node = state.nodeStateOrInit(testId(7_000 + i));
    for (let k = 0; k < keys; k++) node.set(`k${k}`, `v${k}`);
  });
  return state;
}

Deno.test("computeDigest() lists every node in id order, leaving out excluded ones", () => {
  const state = withNodes([1, 2, 3]);
  const digest = state.computeDigest([testId(7_001)]);
  deepStrictEqual(digest.entries().map((e) => [e.chitchatId.nodeId, e.maxVersion]), [
    ["node-7000", 1],
    ["node-7002", 3],
  ]);
});

Deno.test("computeDelta() sends unknown nodes first, then the most stale ones", () => {
  const state = withNodes([5, 2, 8, 4]);
  const peer = new Digest([
    { chitchatId: testId(7_000), heartbeat: 1, lastGcVersion: 0, maxVersion: 4 },
    { chitchatId: testId(7_002), heartbeat: 1, lastGcVersion: 0, maxVersion: 1 },
  ]);
  const delta = state.computeDelta(peer, 65_503);
  deepStrictEqual(
    delta.nodeDeltas.map((d) => [d.chitchatId.nodeId, d.fromVersionExcluded, d.keyValues.length]),
    [
      ["node-7001", 0, 2],
      ["node-7003", 0, 4],
      ["node-7002", 1, 7],
      ["node-7000", 4, 1],
    ],
  );
});

Deno.test("computeDelta() shuffles equally stale nodes with the injected random source", () => {
  const orders = new Set<string>();
  for (let seed = 0; seed < 20; seed++) {
    const state = withNodes([3, 3, 3, 3, 3], seededRandom(seed));
    const order = state.computeDelta(Digest.empty, 65_503).nodeDeltas.map((d) =>
      d.chitchatId.nodeId
    ).join(",");
    const again = withNodes([3, 3, 3, 3, 3], seededRandom(seed))
      .computeDelta(Digest.empty, 65_503).nodeDeltas.map((d) => d.chitchatId.nodeId).join(",");
    equal(order, again, "same seed, same order");
    orders.add(order);
  }
  ok(orders.size > 5, `ties are not shuffled: ${[...orders].join(" | ")}`);
});

Deno.test("computeDelta() never exceeds its budget", () => {
  const random = seededRandom(99);
  const state = new ClusterState({ random });
  for (let n = 0; n < 60; n++) {
    const node = state.nodeStateOrInit(testId(8_000 + n));
    const keys = Math.floor(random() * 80);
    for (let k = 0; k < keys; k++) {
      // Mix compressible and incompressible values of many sizes.
      const length = Math.floor(random() * (random() < 0.1 ? 3_000 : 40));
      let value = "";
      for (let i = 0; i < length; i++) value += String.fromCharCode(33 + Math.floor(random() * 90));
      node.set(`key-${k}`, random() < 0.5 ? value : "x".repeat(length));
    }
  }
  for (const mtu of [100, 150, 1_000, 16_383, 16_384, 16_385, 40_000, 65_503]) {
    for (let round = 0; round < 3; round++) {
      const delta = state.computeDelta(Digest.empty, mtu);
      ok(delta.byteLength <= mtu, `${delta.byteLength} > ${mtu}`);
      ok(!delta.isEmpty);
    }
  }
});

Deno.test("a collected node is remembered among the last 500", () => {
  const state = new ClusterState();
  for (let i = 0; i < GARBAGE_COLLECTED_NODE_HISTORY_SIZE + 10; i++) {
    const node = state.nodeStateOrInit(testId(20_000 + i));
    nodeStateInternals.observeHeartbeat(node, i + 1);
    state.removeNode(testId(20_000 + i));
  }
  equal(state.size, 0);
  equal(state.lastHeartbeatIfDeleted(testId(20_000)), undefined, "the oldest were forgotten");
  equal(state.lastHeartbeatIfDeleted(testId(20_000 + 10)), 11);
  equal(state.lastHeartbeatIfDeleted(testId(20_509)), 510);
  state.nodeStateOrInit(testId(20_509));
  equal(state.lastHeartbeatIfDeleted(testId(20_509)), undefined, "re-created: forgotten");
});

Deno.test("applyDelta() ignores nodes it does not know", () => {
  const source = withNodes([3]);
  const target = new ClusterState();
  const result = target.applyDelta(source.computeDelta(Digest.empty, 65_503));
  deepStrictEqual(result, {
    reset: false,
    applied: 0,
    rejected: 0,
    invalid: 0,
    unknown: 1,
    own: 0,
    implausible: 0,
    oversized: 0,
  });
  equal(target.size, 0);
});
