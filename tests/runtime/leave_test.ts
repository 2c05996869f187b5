// Copyright the chitchat for Deno authors. MIT license.
// ChitchatHandle.leave() and the shutdowns that use it, on virtual time.

import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { ChannelTransport } from "../../lib/testing/channel_transport.ts";
import { VirtualScheduler } from "../../lib/testing/virtual_scheduler.ts";
import type { ChitchatHandle } from "../../lib/runtime/chitchat_handle.ts";
import { spawnChitchat, type SpawnChitchatConfig } from "../../lib/runtime/spawn_chitchat.ts";
import type { NodeState } from "../../lib/core/node_state.ts";
import { seededRandom } from "../../lib/core/random.ts";
import type { SocketAddress } from "../../lib/core/socket_address.ts";
import { advanceUntil, RecordingLogger } from "../_deadline.ts";

const INTERVAL_MS = 100;
const addr = (port: number): SocketAddress => ({ hostname: "127.0.0.1", port });

function config(port: number): SpawnChitchatConfig {
  return {
    chitchatId: { nodeId: `node-${port}`, generationId: 1n, gossipAdvertiseAddr: addr(port) },
    clusterId: "leave",
    gossipIntervalMs: INTERVAL_MS,
    seedNodes: port === 7600 ? [] : ["127.0.0.1:7600"],
  };
}

/** `count` nodes on one virtual network, all live everywhere. */
async function cluster(count: number, signal?: AbortSignal) {
  const scheduler = new VirtualScheduler();
  const transport = new ChannelTransport({ scheduler, random: seededRandom(count) });
  const logger = new RecordingLogger();
  const nodes: ChitchatHandle[] = [];
  for (let i = 0; i < count; i++) {
    nodes.push(
      await spawnChitchat(config(7600 + i), {
        transport,
        scheduler,
        random: seededRandom(i + 1),
        logger,
        signal: i === count - 1 ? signal : undefined,
      }),
    );
  }
  await advanceUntil(scheduler, () => nodes.every((n) => n.liveNodes().length === count), {
    timeoutMs: 20_000,
    label: "everyone live",
  });
  const stop = () => Promise.all(nodes.map((node) => node.shutdown({ leave: false })));
  return { scheduler, transport, logger, nodes, stop };
}

/** Runs `work` while virtual time advances, until it settles; returns its result and the virtual ms. */
async function whileAdvancing<T>(
  scheduler: VirtualScheduler,
  work: Promise<T>,
): Promise<{ value: T; ms: number }> {
  let settled = false;
  let value: T | undefined;
  work.then((v) => {
    settled = true;
    value = v;
  });
  const ms = await advanceUntil(scheduler, () => settled, {
    timeoutMs: 10_000,
    label: "settled",
    stepMs: 1,
  });
  return { value: value as T, ms };
}

const isListed = (ids: { nodeId: string }[], nodeId: string) =>
  ids.some((id) => id.nodeId === nodeId);

Deno.test("leave() is acknowledged by 3 peers within one interval; every peer lists the node left, not dead", async () => {
  const { scheduler, nodes, stop } = await cluster(5);
  try {
    const [leaver, ...peers] = [nodes[4], ...nodes.slice(0, 4)];
    const { value: acknowledged, ms } = await whileAdvancing(scheduler, leaver.leave());
    equal(acknowledged, 3);
    ok(ms < INTERVAL_MS, `acknowledged after ${ms} virtual ms`);
    await leaver.terminated; // the node is stopped
    // Peers that were not told directly learn it by gossip within a few rounds.
    await advanceUntil(scheduler, () => peers.every((p) => isListed(p.leftNodes(), "node-7604")), {
      timeoutMs: 10 * INTERVAL_MS,
      label: "every peer lists it left",
    });
    await scheduler.advance(20 * INTERVAL_MS); // well past a phi conviction
    for (const peer of peers) {
      ok(!isListed(peer.liveNodes(), "node-7604"));
      ok(!isListed(peer.chitchat.deadNodes(), "node-7604"));
      ok(isListed(peer.leftNodes(), "node-7604"));
    }
  } finally {
    await stop();
  }
});

Deno.test("leave() asks all live peers when fewer than 3, and `peers` sets how many", async () => {
  const two = await cluster(2);
  try {
    const { value } = await whileAdvancing(two.scheduler, two.nodes[1].leave());
    equal(value, 1);
  } finally {
    await two.stop();
  }
  const four = await cluster(4);
  try {
    const { value } = await whileAdvancing(four.scheduler, four.nodes[3].leave({ peers: 2 }));
    equal(value, 2);
  } finally {
    await four.stop();
  }
});

Deno.test("leave() without any live peer stops at once, without waiting for time", async () => {
  const scheduler = new VirtualScheduler();
  const transport = new ChannelTransport({ scheduler });
  const alone = await spawnChitchat(config(7600), { transport, scheduler });
  equal(await alone.leave(), 0);
  await alone.terminated;
});

Deno.test("leave() gives up at the deadline (2 intervals) when no peer answers", async () => {
  const { scheduler, transport, nodes, logger, stop } = await cluster(3);
  try {
    const leaver = nodes[2];
    transport.partition([addr(7602)], [addr(7600), addr(7601)]);
    const { value, ms } = await whileAdvancing(scheduler, leaver.leave());
    equal(value, 0);
    equal(ms, 2 * INTERVAL_MS);
    ok(logger.lines.some((l) => l.level === "warn" && l.message === "Left the cluster"));
    const custom = await cluster(3);
    try {
      custom.transport.partition([addr(7602)], [addr(7600), addr(7601)]);
      const run = custom.nodes[2].leave({ timeoutMs: 30 });
      deepStrictEqual(await whileAdvancing(custom.scheduler, run), { value: 0, ms: 30 });
    } finally {
      await custom.stop();
    }
  } finally {
    await stop();
  }
});

Deno.test("leave() refuses invalid options and shares one run between calls", async () => {
  const { scheduler, nodes, stop } = await cluster(2);
  try {
    throws(() => nodes[1].leave({ peers: -1 }), RangeError);
    throws(() => nodes[1].leave({ peers: 1.5 }), RangeError);
    throws(() => nodes[1].leave({ timeoutMs: Number.NaN }), RangeError);
    const first = nodes[1].leave();
    equal(nodes[1].leave(), first);
    equal((await whileAdvancing(scheduler, first)).value, 1);
  } finally {
    await stop();
  }
});

Deno.test("shutdown() leaves by default; shutdown({ leave: false }) and disposal stop as a crash does", async () => {
  const { scheduler, nodes, stop } = await cluster(4);
  try {
    await whileAdvancing(scheduler, nodes[3].shutdown());
    ok(isListed(nodes[0].leftNodes(), "node-7603"));
    await nodes[2].shutdown({ leave: false });
    {
      // Disposal does not leave either.
      await using _disposed = nodes[1];
    }
    await advanceUntil(
      scheduler,
      () => isListed(nodes[0].chitchat.deadNodes(), "node-7602"),
      { timeoutMs: 5_000, label: "node-7602 dead" },
    );
    await advanceUntil(
      scheduler,
      () => isListed(nodes[0].chitchat.deadNodes(), "node-7601"),
      { timeoutMs: 5_000, label: "node-7601 dead" },
    );
    deepStrictEqual(nodes[0].leftNodes().map((id) => id.nodeId), ["node-7603"]);
    // After a stop there is no one to tell.
    equal(await nodes[2].leave(), 0);
  } finally {
    await stop();
  }
});

Deno.test("shutdown({ leave: false }) cuts a leave under way short", async () => {
  const { scheduler, transport, nodes, stop } = await cluster(3);
  try {
    transport.partition([addr(7602)], [addr(7600), addr(7601)]);
    const leaving = nodes[2].leave();
    await scheduler.advance(10);
    await nodes[2].shutdown({ leave: false });
    const start = scheduler.now();
    equal(await leaving, 0);
    equal(scheduler.now(), start, "no wait for the deadline");
  } finally {
    await stop();
  }
});

Deno.test("an aborted spawn signal leaves the cluster like shutdown()", async () => {
  const controller = new AbortController();
  const { scheduler, nodes, stop } = await cluster(3, controller.signal);
  try {
    controller.abort();
    await whileAdvancing(scheduler, nodes[2].terminated);
    ok(isListed(nodes[0].leftNodes(), "node-7602"));
    ok(isListed(nodes[1].leftNodes(), "node-7602"));
  } finally {
    await stop();
  }
});

Deno.test("a peer's liveNodesUpdates() drops the departed node with no round in between", async () => {
  const { scheduler, nodes, stop } = await cluster(3);
  try {
    const updates = nodes[0].liveNodesUpdates();
    equal((await updates.next()).value?.length, 3);
    const next = updates.next();
    await whileAdvancing(scheduler, nodes[2].leave());
    const snapshot: readonly NodeState[] = (await next).value!;
    deepStrictEqual(snapshot.map((s) => s.chitchatId.nodeId), ["node-7600", "node-7601"]);
    await updates.return?.();
  } finally {
    await stop();
  }
});

Deno.test("a node whose detector convicted every peer still tells them it leaves", async () => {
  const { scheduler, transport, nodes, stop } = await cluster(3);
  try {
    const leaver = nodes[2];
    // The leaver hears nobody for a while (its peers still hear it), then hears them again:
    // its detector holds both dead, though both are up.
    transport.cut(addr(7600), addr(7602), { oneWay: true });
    transport.cut(addr(7601), addr(7602), { oneWay: true });
    await advanceUntil(scheduler, () => leaver.chitchat.deadNodes().length === 2, {
      timeoutMs: 10_000,
      label: "the leaver convicts both peers",
    });
    transport.healAll();
    equal(leaver.liveNodes().length, 1);
    const { value } = await whileAdvancing(scheduler, leaver.leave());
    equal(value, 2);
    for (const peer of nodes.slice(0, 2)) ok(isListed(peer.leftNodes(), "node-7602"));
  } finally {
    await stop();
  }
});
