// Copyright the chitchat for Deno authors. MIT license.
// Multi-node scenarios, each on the in-memory network (virtual time) and,
// where real sockets add something, on UDP over 127.0.0.1 (real time,
// 50 ms rounds). Every wait is bounded; every node is shut down.

import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import type { ChitchatHandle } from "../../lib/runtime/chitchat_handle.ts";
import type { NodeState } from "../../lib/core/node_state.ts";
import {
  channelEnv,
  type ClusterEnv,
  converged,
  idText,
  liveSet,
  TestCluster,
  udpEnv,
} from "../_test_cluster.ts";
import { chitchatInternals } from "../../lib/core/chitchat.ts";

type Scenario = (env: ClusterEnv) => Promise<void>;

/** Registers `fn` once per environment. */
function scenario(name: string, envs: readonly (() => ClusterEnv)[], fn: Scenario): void {
  for (const makeEnv of envs) {
    const env = makeEnv();
    Deno.test(`${name} (${env.name})`, () => fn(env));
  }
}

const BOTH = [() => channelEnv(), () => udpEnv()];
const CHANNEL_ONLY = [() => channelEnv()];
// Real-time waits: generous for loaded machines, far from the typical figures.
const TIMEOUT_MS = 5_000;

function everyone(nodes: readonly ChitchatHandle[], test: (node: ChitchatHandle) => boolean) {
  return () => nodes.every(test);
}

scenario("five nodes converge: all live everywhere, identical key-values", BOTH, async (env) => {
  await using cluster = new TestCluster(env);
  const nodes = await cluster.spawnMany(5);
  nodes.forEach((node, i) => {
    node.selfNodeState().set("index", String(i));
    node.selfNodeState().set("role", i % 2 === 0 ? "indexer" : "searcher");
  });
  await env.waitUntil(() => converged(nodes), "5 nodes converge", TIMEOUT_MS);
  for (const node of nodes) equal(node.liveNodes().length, 5);
  equal(env.logger.atLeast("warn").length, 0);
});

scenario(
  "a key set on one node reaches every node, and so do its update and deletion",
  BOTH,
  async (env) => {
    await using cluster = new TestCluster(env);
    const nodes = await cluster.spawnMany(5);
    await env.waitUntil(() => converged(nodes), "initial convergence", TIMEOUT_MS);
    const owner = nodes[3];
    const valueEverywhere = (value: string | undefined) =>
      everyone(nodes, (node) => node.chitchat.nodeState(owner.chitchatId)?.get("shard") === value);
    owner.selfNodeState().set("shard", "7");
    await env.waitUntil(valueEverywhere("7"), "key reaches every node", TIMEOUT_MS);
    owner.selfNodeState().set("shard", "8");
    await env.waitUntil(valueEverywhere("8"), "update reaches every node", TIMEOUT_MS);
    owner.selfNodeState().delete("shard");
    await env.waitUntil(valueEverywhere(undefined), "deletion reaches every node", TIMEOUT_MS);
    for (const node of nodes) {
      equal(node.chitchat.nodeState(owner.chitchatId)?.getVersioned("shard")?.status, "deleted");
    }
  },
);

scenario(
  "a stopped node is declared dead by every other node within a bounded number of rounds",
  BOTH,
  async (env) => {
    await using cluster = new TestCluster(env);
    const nodes = await cluster.spawnMany(5);
    await env.waitUntil(() => converged(nodes), "initial convergence", TIMEOUT_MS);
    const [victim, ...others] = [nodes[2], ...nodes.filter((_, i) => i !== 2)];
    await victim.shutdown({ leave: false });
    const spent = await env.waitUntil(
      everyone(
        others,
        (node) => chitchatInternals.failureDetector(node.chitchat).isDead(victim.chitchatId),
      ),
      "every node declares the stopped node dead",
      TIMEOUT_MS,
    );
    const rounds = spent / env.intervalMs;
    assert(rounds <= 40, `detection took ${rounds} rounds`);
    for (const node of others) {
      equal(node.liveNodes().length, 4);
      assert(!liveSet(node).includes(idText(victim.chitchatId)));
    }
    // The survivors still agree with each other.
    await env.waitUntil(() => converged(others), "survivors stay converged", TIMEOUT_MS);
  },
);

scenario(
  "a restarted node (same nodeId, new generation) replaces its old incarnation",
  BOTH,
  async (env) => {
    await using cluster = new TestCluster(env);
    const nodes = await cluster.spawnMany(4);
    nodes[3].selfNodeState().set("version", "old");
    await env.waitUntil(() => converged(nodes), "initial convergence", TIMEOUT_MS);
    const old = nodes[3];
    await old.shutdown({ leave: false });
    const reborn = await cluster.spawn("node-3", {
      generationId: 2n,
      port: old.localAddr.port,
    });
    reborn.selfNodeState().set("version", "new");
    const survivors = nodes.slice(0, 3);
    const current = [...survivors, reborn];
    await env.waitUntil(
      () =>
        converged(current) &&
        survivors.every((node) =>
          !chitchatInternals.failureDetector(node.chitchat).isLive(old.chitchatId)
        ),
      "the new generation is live everywhere and the old one is not",
      TIMEOUT_MS,
    );
    for (const node of current) {
      const incarnations = node.liveNodes().filter((id) => id.nodeId === "node-3");
      deepStrictEqual(incarnations.map((id) => id.generationId), [2n]);
      const state = node.chitchat.nodeState(reborn.chitchatId);
      equal(state?.get("version"), "new");
    }
  },
);

scenario("a partition heals and the state converges", CHANNEL_ONLY, async (env) => {
  const network = env.channel!;
  await using cluster = new TestCluster(env);
  const nodes = await cluster.spawnMany(6);
  await env.waitUntil(() => converged(nodes), "initial convergence", TIMEOUT_MS);
  const left = nodes.slice(0, 3);
  const right = nodes.slice(3);
  network.partition(left.map((n) => n.localAddr), right.map((n) => n.localAddr));
  await env.waitUntil(
    () => converged(left, left) && converged(right, right),
    "each side sees only itself as live",
    30_000,
  );
  left[0].selfNodeState().set("side", "left");
  right[2].selfNodeState().set("side", "right");
  await env.sleep(2_000);
  equal(right[0].chitchat.nodeState(left[0].chitchatId)?.get("side"), undefined);
  network.healAll();
  await env.waitUntil(() => converged(nodes), "convergence after healing", 30_000);
  for (const node of nodes) {
    equal(node.chitchat.nodeState(left[0].chitchatId)?.get("side"), "left");
    equal(node.chitchat.nodeState(right[2].chitchatId)?.get("side"), "right");
  }
});

scenario(
  "nodes without seeds find each other again after a partition, by gossiping with dead nodes",
  CHANNEL_ONLY,
  async (env) => {
    const network = env.channel!;
    await using cluster = new TestCluster(env, { seedNodes: [] });
    const nodes = await cluster.spawnMany(4);
    // No seeds: introduce the nodes by hand.
    for (const node of nodes.slice(1)) await node.gossip(nodes[0].localAddr);
    await env.waitUntil(() => converged(nodes), "initial convergence", TIMEOUT_MS);
    // Two on each side, so each side still has a live peer and only the
    // dead-node rule can bring the other side back.
    const left = nodes.slice(0, 2);
    const right = nodes.slice(2);
    network.partition(left.map((n) => n.localAddr), right.map((n) => n.localAddr));
    await env.waitUntil(
      () => converged(left, left) && converged(right, right),
      "each side declares the other dead",
      30_000,
    );
    network.healAll();
    await env.waitUntil(() => converged(nodes), "convergence after healing", 30_000);
  },
);

scenario("a one-way cut still lets state flow the other way round", CHANNEL_ONLY, async (env) => {
  const network = env.channel!;
  await using cluster = new TestCluster(env);
  const nodes = await cluster.spawnMany(3);
  await env.waitUntil(() => converged(nodes), "initial convergence", TIMEOUT_MS);
  // node-0 can no longer send to node-1 directly; node-2 relays.
  network.cut(nodes[0].localAddr, nodes[1].localAddr, { oneWay: true });
  nodes[0].selfNodeState().set("relay", "yes");
  await env.waitUntil(
    () => nodes[1].chitchat.nodeState(nodes[0].chitchatId)?.get("relay") === "yes",
    "the key reaches node-1 through node-2",
    TIMEOUT_MS,
  );
  assert(network.addressStats(nodes[0].localAddr).messagesDropped > 0);
});

scenario("extraLivenessPredicate hides nodes without a READY key", BOTH, async (env) => {
  const ready = (state: NodeState) => state.has("READY");
  await using cluster = new TestCluster(env, { extraLivenessPredicate: ready });
  const nodes: ChitchatHandle[] = [];
  for (let i = 0; i < 5; i++) {
    nodes.push(
      await cluster.spawn(`node-${i}`, {
        initialKeyValues: i < 4 ? [["READY", "true"], ["i", String(i)]] : [["i", "4"]],
      }),
    );
  }
  const [readyNodes, laggard] = [nodes.slice(0, 4), nodes[4]];
  await env.waitUntil(
    () =>
      converged(nodes, readyNodes) &&
      nodes.every((node) =>
        node === laggard ||
        chitchatInternals.failureDetector(node.chitchat).isLive(laggard.chitchatId)
      ),
    "the ready nodes are listed; the laggard is alive but hidden",
    TIMEOUT_MS,
  );
  for (const node of nodes) assert(!liveSet(node).includes(idText(laggard.chitchatId)));
  // Gossip with the laggard goes on: it knows everyone's keys.
  for (const owner of readyNodes) {
    equal(laggard.chitchat.nodeState(owner.chitchatId)?.get("i"), owner.selfNodeState().get("i"));
  }
  laggard.selfNodeState().set("READY", "true");
  await env.waitUntil(() => converged(nodes), "the laggard shows up once READY", TIMEOUT_MS);
});

scenario(
  "TTL'd keys, deleteAfterTtl and tombstones are collected everywhere after the grace period",
  BOTH,
  async (env) => {
    const graceMs = env.name === "udp" ? 1_000 : 3_000;
    await using cluster = new TestCluster(env, { markedForDeletionGracePeriodMs: graceMs });
    const nodes = await cluster.spawnMany(4);
    const owner = nodes[0];
    owner.selfNodeState().set("stay", "1");
    owner.selfNodeState().set("gone", "1");
    owner.selfNodeState().set("fading", "1");
    await env.waitUntil(() => converged(nodes), "initial convergence", TIMEOUT_MS);

    owner.selfNodeState().setWithTtl("lease", "holder");
    owner.selfNodeState().delete("gone");
    owner.selfNodeState().deleteAfterTtl("fading");
    const view = (node: ChitchatHandle) => node.chitchat.nodeState(owner.chitchatId)!;
    await env.waitUntil(
      everyone(nodes, (node) =>
        view(node).get("lease") === "holder" &&
        view(node).getVersioned("gone")?.status === "deleted" &&
        view(node).getVersioned("fading")?.status === "deleteAfterTtl"),
      "the TTL, the tombstone and the delayed deletion reach every node",
      TIMEOUT_MS,
    );
    // TTL'd keys stay visible until collected; tombstoned ones do not.
    for (const node of nodes) {
      equal(view(node).get("fading"), "1");
      equal(view(node).get("gone"), undefined);
    }
    await env.waitUntil(
      everyone(
        nodes,
        (node) =>
          ["lease", "gone", "fading"].every((key) => view(node).getVersioned(key) === undefined),
      ),
      "every node collects them",
      graceMs + TIMEOUT_MS,
    );
    assert(owner.selfNodeState().lastGcVersion > 0);
    for (const node of nodes) equal(view(node).get("stay"), "1");
  },
);

scenario("a node from another cluster never joins", BOTH, async (env) => {
  await using cluster = new TestCluster(env);
  const nodes = await cluster.spawnMany(3);
  const intruder = await cluster.spawn("intruder", { clusterId: "other-cluster" });
  await env.waitUntil(() => converged(nodes), "the cluster converges", TIMEOUT_MS);
  await env.waitUntil(
    () => intruder.metrics().badClusterReceived >= 3,
    "the intruder is told off repeatedly",
    TIMEOUT_MS,
  );
  for (const node of nodes) {
    assert(node.chitchat.nodeState(intruder.chitchatId) === undefined);
    equal(node.liveNodes().length, 3);
  }
  deepStrictEqual(liveSet(intruder), [idText(intruder.chitchatId)]);
  equal(intruder.chitchat.nodeStates().length, 1);
  assert(nodes[0].metrics().badClusterSent >= 3);
});
