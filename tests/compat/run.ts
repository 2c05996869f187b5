// Copyright the chitchat for Deno authors. MIT license.
// The compatibility suite: what the library promises on every runtime it
// claims (Deno without flags, Node.js >= 22.15 with type stripping, Bun).
// Run it with `node tests/compat/run.ts`, `bun tests/compat/run.ts` or
// `deno run -A tests/compat/run.ts`; .ci/run does all three. It imports
// mod.ts by relative path (Node does not map `@chitchat/chitchat`), uses the
// default transport (NodeUdpTransport wherever Deno.listenDatagram is
// missing) on 127.0.0.1 port 0, and avoids syntax that Node 22 lacks
// (`using`).

import { deepEqual, equal, ok as assert, rejects } from "node:assert/strict";
import {
  type ChitchatHandle,
  Digest,
  silentLogger,
  spawnChitchat,
  type SpawnChitchatConfig,
} from "../../mod.ts";
import { ChannelTransport } from "../../lib/testing/mod.ts";
import { NodeUdpTransport } from "../../lib/runtime/node_udp_transport.ts";
import { loadVectors } from "../_vectors.ts";
import { runVector } from "../_vector_runners.ts";
import { mixedFrameStream } from "../_zstd_blocks.ts";
import { ByteReader } from "../../lib/core/wire/_binary.ts";
import { readBlockStream } from "../../lib/core/wire/_block_stream.ts";
import { check, runChecks, runtimeName } from "./_harness.ts";

const GOSSIP_INTERVAL_MS = 50;
const runtime = runtimeName().name;

const vectors = loadVectors();

check("the reference vectors are all there", () => {
  equal(vectors.length, 92);
});

for (const vector of vectors) {
  check(`vector ${vector.name} decodes and re-encodes as the reference does`, () => {
    runVector(vector);
  });
}

check("frames of every shape read to their content (one decompressor call or several)", () => {
  for (const withUnsizedFrame of [false, true]) {
    const { datagram, content } = mixedFrameStream(withUnsizedFrame);
    const reader = new ByteReader(datagram, 4);
    deepEqual(readBlockStream(reader), content);
    equal(reader.pos, datagram.length);
  }
});

check("./testing loads: a ChannelTransport carries a message", async () => {
  const transport = new ChannelTransport();
  const a = await transport.open({ hostname: "127.0.0.1", port: 0 });
  const b = await transport.open({ hostname: "127.0.0.1", port: 0 });
  try {
    await a.send(b.localAddr, { type: "syn", clusterId: "compat", digest: Digest.empty });
    const [from, message] = await b.receive();
    equal(from.port, a.localAddr.port);
    equal(message.type, "syn");
  } finally {
    await a.close();
    await b.close();
  }
});

check("binding a taken UDP address fails with an error named AddrInUse", async () => {
  const transport = new NodeUdpTransport({ logger: silentLogger });
  const socket = await transport.open({ hostname: "127.0.0.1", port: 0 });
  try {
    await rejects(transport.open(socket.localAddr), (error: unknown) => {
      assert(error instanceof Error);
      equal(error.name, "AddrInUse");
      equal(
        error.message,
        `Cannot bind 127.0.0.1:${socket.localAddr.port}/UDP for gossip: address already in use`,
      );
      return true;
    });
  } finally {
    await socket.close();
  }
});

function nodeConfig(nodeId: string, seedPort?: number): SpawnChitchatConfig {
  return {
    chitchatId: {
      nodeId,
      generationId: 1n,
      gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 0 },
    },
    clusterId: `compat-${runtime}`,
    gossipIntervalMs: GOSSIP_INTERVAL_MS,
    // Scaled to 50 ms rounds: a silent peer crosses phi 8 within about a second.
    failureDetector: {
      initialIntervalMs: GOSSIP_INTERVAL_MS,
      maxIntervalMs: 20 * GOSSIP_INTERVAL_MS,
    },
    seedNodes: seedPort === undefined ? [] : [`127.0.0.1:${seedPort}`],
  };
}

async function until(predicate: () => boolean, timeoutMs: number, label: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const nodeIds = (ids: readonly { readonly nodeId: string }[]) => ids.map((id) => id.nodeId).sort();

// The cluster is shared by the four checks below, in order; the last one
// (or a failure) shuts it down.
const cluster: ChitchatHandle[] = [];

async function shutdownCluster(): Promise<void> {
  await Promise.all(cluster.splice(0).map((node) => node.shutdown({ leave: false })));
}

check("three nodes over UDP on 127.0.0.1 converge", async () => {
  try {
    const a = await spawnChitchat(nodeConfig("a"));
    cluster.push(a);
    assert(a.localAddr.port > 0, "port 0 resolved to a real port");
    cluster.push(await spawnChitchat(nodeConfig("b", a.localAddr.port)));
    cluster.push(await spawnChitchat(nodeConfig("c", a.localAddr.port)));
    await until(
      () => cluster.every((node) => node.liveNodes().length === 3),
      5_000,
      "every node sees three live nodes",
    );
    for (const node of cluster) equal(nodeIds(node.liveNodes()).join(","), "a,b,c");
  } catch (error) {
    await shutdownCluster();
    throw error;
  }
});

check("a key set on one node replicates to the other two", async () => {
  try {
    assert(cluster.length === 3, "the cluster is up");
    const [a, b, c] = cluster;
    a.selfNodeState().set("compat:runtime", runtime);
    await until(
      () =>
        [b, c].every((node) =>
          node.chitchat.nodeState(a.chitchatId)?.get("compat:runtime") === runtime
        ),
      5_000,
      "b and c see a's key",
    );
  } catch (error) {
    await shutdownCluster();
    throw error;
  }
});

check("a stopped node is declared dead by the others", async () => {
  try {
    assert(cluster.length === 3, "the cluster is up");
    const [a, b, c] = cluster;
    await c.shutdown({ leave: false });
    cluster.splice(2, 1);
    await until(
      () =>
        [a, b].every((node) =>
          nodeIds(node.chitchat.deadNodes()).includes("c") &&
          nodeIds(node.liveNodes()).join(",") === "a,b"
        ),
      8_000,
      "a and b declare c dead",
    );
  } catch (error) {
    await shutdownCluster();
    throw error;
  }
});

check("a node that leaves is listed left, not dead, by the other", async () => {
  try {
    assert(cluster.length === 2, "a and b are up");
    const [a, b] = cluster;
    equal(await b.leave(), 1);
    cluster.splice(1, 1);
    equal(nodeIds(a.leftNodes()).join(","), "b");
    assert(!nodeIds(a.chitchat.deadNodes()).includes("b"), "b is not dead");
    equal(nodeIds(a.liveNodes()).join(","), "a");
  } finally {
    await shutdownCluster();
  }
});

await runChecks();
