// Copyright the chitchat for Deno authors. MIT license.
// spawnChitchat and ChitchatHandle on one node, against raw sockets of a
// ChannelTransport on virtual time: configuration checks, the gossip
// schedule, seeds and DNS, replies, shutdown, failures and live-node
// updates.

import { deepStrictEqual, equal, ok as assert, rejects } from "node:assert/strict";
import { ChannelTransport } from "../../lib/testing/channel_transport.ts";
import { formatChitchatId } from "../../lib/core/chitchat_id.ts";
import { Digest } from "../../lib/core/digest.ts";
import type { ChitchatMessage } from "../../lib/core/message.ts";
import { encodeMessage } from "../../lib/core/message_codec.ts";
import type { NodeState } from "../../lib/core/node_state.ts";
import { seededRandom } from "../../lib/core/random.ts";
import type { SocketAddress } from "../../lib/core/socket_address.ts";
import {
  spawnChitchat,
  type SpawnChitchatConfig,
  type SpawnChitchatOptions,
} from "../../lib/runtime/spawn_chitchat.ts";
import type { Socket, SocketMetrics, Transport } from "../../lib/runtime/transport.ts";
import { UdpTransport } from "../../lib/runtime/udp_transport.ts";
import { advanceUntil, RecordingLogger, withTimeout } from "../_deadline.ts";
import { ChitchatHandle } from "../../lib/runtime/chitchat_handle.ts";
import { Chitchat } from "../../lib/core/chitchat.ts";
import { silentLogger } from "../../lib/core/logger.ts";

function throwsType(run: () => unknown, type: ErrorConstructor): boolean {
  try {
    run();
  } catch (error) {
    return error instanceof type;
  }
  return false;
}
import { VirtualScheduler } from "../../lib/testing/virtual_scheduler.ts";

const HOST = "127.0.0.1";
const addr = (port: number): SocketAddress => ({ hostname: HOST, port });

function config(port: number, extra: Partial<SpawnChitchatConfig> = {}): SpawnChitchatConfig {
  return {
    chitchatId: { nodeId: `node-${port}`, generationId: 1n, gossipAdvertiseAddr: addr(port) },
    clusterId: "spawn-test",
    gossipIntervalMs: 100,
    ...extra,
  };
}

interface Fixture {
  readonly scheduler: VirtualScheduler;
  readonly transport: ChannelTransport;
  readonly logger: RecordingLogger;
  readonly options: SpawnChitchatOptions;
}

function fixture(extra: Partial<SpawnChitchatOptions> = {}): Fixture {
  const scheduler = new VirtualScheduler();
  const logger = new RecordingLogger();
  const transport = new ChannelTransport({ scheduler, logger });
  return {
    scheduler,
    transport,
    logger,
    options: { transport, scheduler, logger, random: seededRandom(3), ...extra },
  };
}

// Messages taken so far from each peer socket: a socket counts arrivals,
// so the difference is what is queued and can be received without waiting.
const taken = new Map<Socket, number>();

async function openPeer(transport: Transport, port: number): Promise<Socket> {
  const socket = await transport.open(addr(port));
  taken.set(socket, 0);
  return socket;
}

/** Every message queued at a peer socket, without waiting. */
async function takeQueued(socket: Socket): Promise<(readonly [SocketAddress, ChitchatMessage])[]> {
  const out: (readonly [SocketAddress, ChitchatMessage])[] = [];
  const queued = socket.metrics.messagesReceived - taken.get(socket)!;
  while (out.length < queued) out.push(await socket.receive());
  taken.set(socket, taken.get(socket)! + out.length);
  return out;
}

Deno.test("spawnChitchat() refuses invalid configuration, naming the field", async () => {
  const { options } = fixture();
  const cases: [Partial<SpawnChitchatConfig>, ErrorConstructor, string][] = [
    [{ gossipIntervalMs: 0 }, RangeError, "gossipIntervalMs"],
    [{ gossipIntervalMs: -5 }, RangeError, "gossipIntervalMs"],
    [{ gossipIntervalMs: Infinity }, RangeError, "gossipIntervalMs"],
    [{ gossipIntervalMs: Number.NaN }, TypeError, "gossipIntervalMs"],
    [{ gossipIntervalMs: "100" as unknown as number }, TypeError, "gossipIntervalMs"],
    [{ listenAddr: addr(70_000) }, RangeError, "listenAddr.port"],
    [{ listenAddr: { hostname: "", port: 1 } }, TypeError, "listenAddr.hostname"],
    [{ failureDetector: { phiThreshold: 0 } }, RangeError, "failureDetector.phiThreshold"],
    [{ seedNodes: ["nope"] }, TypeError, "seedNodes[0]"],
    [{ seedNodes: ["127.0.0.1:1", "127.0.0.1:0"] }, TypeError, "seedNodes[1]"],
    [{ seedNodes: ["bad host:80"] }, TypeError, "seedNodes[0]"],
    [{ seedNodes: ["127.0.0.1:99999"] }, TypeError, "seedNodes[0]"],
    [{ seedNodes: "127.0.0.1:1" as unknown as string[] }, TypeError, "seedNodes"],
    [{ clusterId: 5 as unknown as string }, TypeError, "clusterId"],
  ];
  for (const [extra, type, field] of cases) {
    await rejects(spawnChitchat(config(7000, extra), options), (error: unknown) => {
      assert(error instanceof type, `${JSON.stringify(extra)}: ${error}`);
      assert(error.message.includes(`Invalid ${field}`), error.message);
      return true;
    });
  }
  const badPort = config(7000);
  await rejects(
    spawnChitchat({
      ...badPort,
      chitchatId: { ...badPort.chitchatId, gossipAdvertiseAddr: addr(-1) },
    }, options),
    /Invalid chitchatId\.gossipAdvertiseAddr\.port/,
  );
});

Deno.test("spawnChitchat() releases the socket when the node cannot be built", async () => {
  const { options, transport } = fixture();
  await rejects(
    spawnChitchat(
      config(7000, { initialKeyValues: [["k", 5 as unknown as string]] }),
      options,
    ),
    TypeError,
  );
  await using socket = await transport.open(addr(7000));
  equal(socket.localAddr.port, 7000);
});

Deno.test("spawnChitchat() advertises the bound port when the advertised port is 0", async () => {
  const { options, scheduler } = fixture();
  await using node = await spawnChitchat(config(0), options);
  assert(node.localAddr.port >= 40_000);
  deepStrictEqual(node.chitchatId.gossipAdvertiseAddr, node.localAddr);
  deepStrictEqual(node.selfNodeState().chitchatId, node.chitchatId);
  await node.shutdown();
  equal(scheduler.pending, 0);
});

Deno.test("spawnChitchat() listens on listenAddr and advertises chitchatId's address", async () => {
  const { options } = fixture();
  await using node = await spawnChitchat(config(7000, { listenAddr: addr(7500) }), options);
  deepStrictEqual(node.localAddr, addr(7500));
  deepStrictEqual(node.chitchatId.gossipAdvertiseAddr, addr(7000));
});

Deno.test("ChitchatHandle gossips at once, then every gossipIntervalMs", async () => {
  const { options, scheduler, transport } = fixture();
  await using seed = await openPeer(transport, 7001);
  await using node = await spawnChitchat(config(7000, { seedNodes: ["127.0.0.1:7001"] }), options);
  await scheduler.advance(0);
  const first = await takeQueued(seed);
  equal(first.length, 1, "the first round runs without waiting an interval");
  const [from, syn] = first[0];
  deepStrictEqual(from, node.localAddr);
  assert(syn.type === "syn");
  equal(syn.clusterId, "spawn-test");
  deepStrictEqual(
    syn.digest.entries().map((entry) => formatChitchatId(entry.chitchatId)),
    [formatChitchatId(node.chitchatId)],
  );
  await scheduler.advance(99);
  equal((await takeQueued(seed)).length, 0);
  await scheduler.advance(1);
  equal((await takeQueued(seed)).length, 1);
  // With nobody live, the seed is picked every round.
  await scheduler.advance(1_000);
  equal((await takeQueued(seed)).length, 10);
});

Deno.test("ChitchatHandle answers a SYN at its sender's address and completes the handshake", async () => {
  const { options, scheduler, transport } = fixture();
  await using peer = await openPeer(transport, 7001);
  await using node = await spawnChitchat(config(7000), options);
  node.selfNodeState().set("role", "indexer");
  await peer.send(node.localAddr, { type: "syn", clusterId: "spawn-test", digest: Digest.empty });
  await scheduler.advance(0);
  const replies = await takeQueued(peer);
  equal(replies.length, 1);
  const [from, reply] = replies[0];
  deepStrictEqual(from, node.localAddr);
  assert(reply.type === "synAck");
  assert(!reply.delta.isEmpty, "the delta carries the node's key-values");
  equal(node.metrics().synReceived, 1);

  await peer.send(node.localAddr, { type: "syn", clusterId: "elsewhere", digest: Digest.empty });
  await scheduler.advance(0);
  const [[, badCluster]] = await takeQueued(peer);
  equal(badCluster.type, "badCluster");
  equal(node.metrics().badClusterSent, 1);
});

Deno.test("ChitchatHandle drops junk, counts it, and keeps serving", async () => {
  const { options, scheduler, transport, logger } = fixture();
  await using peer = await openPeer(transport, 7001);
  await using node = await spawnChitchat(config(7000), options);
  transport.injectDatagram(peer.localAddr, node.localAddr, new Uint8Array([0xde, 0xad]));
  transport.injectDatagram(
    peer.localAddr,
    node.localAddr,
    encodeMessage({ type: "syn", clusterId: "spawn-test", digest: Digest.empty }),
  );
  await scheduler.advance(0);
  equal(node.metrics().socket.datagramsDropped, 1);
  equal(logger.atLeast("warn").length, 1);
  const [[, reply]] = await takeQueued(peer);
  equal(reply.type, "synAck");
});

Deno.test("ChitchatHandle never gossips with its own address as a seed", async () => {
  const { options, scheduler } = fixture();
  await using node = await spawnChitchat(config(7000, { seedNodes: ["127.0.0.1:7000"] }), options);
  await scheduler.advance(1_000);
  equal(node.metrics().socket.messagesSent, 0);
  equal(node.metrics().synReceived, 0);
});

Deno.test("ChitchatHandle resolves seed host names at start and every 60 s", async () => {
  let answer = ["127.0.0.1"];
  const lookups: string[] = [];
  const resolveDns = (hostname: string): Promise<string[]> => {
    lookups.push(hostname);
    return Promise.resolve(answer);
  };
  const { options, scheduler, transport } = fixture({ resolveDns });
  await using first = await openPeer(transport, 7001);
  await using moved = await transport.open({ hostname: "127.0.0.2", port: 7001 });
  await using node = await spawnChitchat(config(7000, { seedNodes: ["seed.test:7001"] }), options);
  deepStrictEqual(lookups, ["seed.test"]);
  await scheduler.advance(0);
  equal((await takeQueued(first)).length, 1, "the first round already uses the resolved seed");

  answer = ["127.0.0.2"];
  await scheduler.advance(59_999);
  equal(lookups.length, 1);
  await scheduler.advance(1);
  equal(lookups.length, 2);
  const before = moved.metrics.messagesReceived;
  await scheduler.advance(1_000);
  assert(moved.metrics.messagesReceived - before >= 9, "SYNs follow the new DNS answer");
  await node.shutdown();
  equal(scheduler.pending, 0, "the DNS refresh timer is cancelled");
});

Deno.test("ChitchatHandle logs seed resolution failures and keeps running", async () => {
  let calls = 0;
  const resolveDns = (): Promise<string[]> => {
    calls++;
    return calls === 1 ? Promise.reject(new Error("SERVFAIL")) : Promise.resolve([]);
  };
  const { options, scheduler, logger } = fixture({ resolveDns });
  await using node = await spawnChitchat(config(7000, { seedNodes: ["seed.test:7001"] }), options);
  await scheduler.advance(60_000);
  equal(calls, 2);
  deepStrictEqual(logger.atLeast("warn").map((line) => line.message), [
    "Failed to resolve a seed host",
    "A seed host resolved to no address",
  ]);
  equal(node.metrics().socket.messagesSent, 0);
  await node.shutdown();
  await node.terminated;
});

Deno.test("ChitchatHandle.gossip() sends a SYN now; after shutdown it rejects", async () => {
  const { options, scheduler, transport } = fixture();
  await using peer = await openPeer(transport, 7001);
  const node = await spawnChitchat(config(7000), options);
  await node.gossip("127.0.0.1:7001");
  await node.gossip(addr(7001));
  await scheduler.advance(0);
  const received = await takeQueued(peer);
  deepStrictEqual(received.map(([, message]) => message.type), ["syn", "syn"]);
  await rejects(node.gossip("not an address"), TypeError);
  await node.shutdown();
  await rejects(node.gossip(addr(7001)), Deno.errors.BadResource);
});

Deno.test("ChitchatHandle.shutdown() is idempotent, frees the address and leaves no timer", async () => {
  const { options, scheduler, transport } = fixture();
  const node = await spawnChitchat(config(7000, { seedNodes: ["127.0.0.1:7001"] }), options);
  await scheduler.advance(250);
  assert(scheduler.pending > 0);
  await Promise.all([node.shutdown(), node.shutdown()]);
  await node.shutdown();
  await node.terminated;
  equal(scheduler.pending, 0);
  await using again = await transport.open(addr(7000));
  equal(again.localAddr.port, 7000);
});

/** A socket that can be broken from the test; everything else goes to `inner`. */
class BreakableSocket implements Socket {
  readonly #inner: Socket;
  readonly #broken = Promise.withResolvers<never>();
  #closed = false;
  sendFailure: Error | undefined;

  constructor(inner: Socket) {
    this.#inner = inner;
    this.#broken.promise.catch(() => {});
  }
  get localAddr(): SocketAddress {
    return this.#inner.localAddr;
  }
  get metrics(): SocketMetrics {
    return this.#inner.metrics;
  }
  break(error: Error): void {
    this.#broken.reject(error);
  }
  send(to: SocketAddress, message: ChitchatMessage): Promise<void> {
    if (this.sendFailure !== undefined) return Promise.reject(this.sendFailure);
    return this.#inner.send(to, message);
  }
  receive(): Promise<readonly [SocketAddress, ChitchatMessage]> {
    return Promise.race([this.#inner.receive(), this.#broken.promise]);
  }
  close(): Promise<void> {
    this.#closed = true;
    return this.#inner.close();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<readonly [SocketAddress, ChitchatMessage]> {
    for (;;) {
      let item: readonly [SocketAddress, ChitchatMessage];
      try {
        item = await this.receive();
      } catch (error) {
        if (this.#closed) return;
        throw error;
      }
      yield item;
    }
  }
}

function breakableTransport(
  inner: Transport,
): { transport: Transport; sockets: BreakableSocket[] } {
  const sockets: BreakableSocket[] = [];
  return {
    sockets,
    transport: {
      async open(listenAddr) {
        const socket = new BreakableSocket(await inner.open(listenAddr));
        sockets.push(socket);
        return socket;
      },
    },
  };
}

Deno.test("ChitchatHandle.terminated rejects when the socket breaks, and everything stops", async () => {
  const base = fixture();
  const { transport, sockets } = breakableTransport(base.transport);
  const node = await spawnChitchat(config(7000, { seedNodes: ["127.0.0.1:7001"] }), {
    ...base.options,
    transport,
  });
  await base.scheduler.advance(250);
  const failure = new Error("network interface gone");
  sockets[0].break(failure);
  await rejects(node.terminated, (error) => error === failure);
  equal(base.scheduler.pending, 0, "no round is scheduled after the failure");
  deepStrictEqual(base.logger.atLeast("error").map((line) => line.message), [
    "The gossip loop stopped: the socket failed",
  ]);
  await node.shutdown();
  await rejects(node.terminated, (error) => error === failure);
});

Deno.test("ChitchatHandle: a failure nobody awaits is not an unhandled rejection", async () => {
  const base = fixture();
  const { transport, sockets } = breakableTransport(base.transport);
  const node = await spawnChitchat(config(7000), { ...base.options, transport });
  sockets[0].break(new Error("unobserved"));
  // Let the failure propagate through the loop and the teardown; the test
  // runner fails this test if `terminated` rejects unhandled meanwhile.
  await base.scheduler.advance(1_000);
  await node.shutdown();
  equal(base.scheduler.pending, 0);
});

Deno.test("ChitchatHandle logs failed sends and keeps gossiping", async () => {
  const base = fixture();
  const { transport, sockets } = breakableTransport(base.transport);
  await using node = await spawnChitchat(config(7000, { seedNodes: ["127.0.0.1:7001"] }), {
    ...base.options,
    transport,
  });
  // The round at t = 0 ran inside spawnChitchat(), before the failure.
  equal(node.metrics().socket.messagesSent, 1);
  sockets[0].sendFailure = new Error("EPERM-like failure");
  await base.scheduler.advance(450);
  const warnings = base.logger.atLeast("warn");
  equal(warnings.length, 4, "one failed SYN to the seed per round: t = 100, 200, 300, 400");
  assert(warnings.every((line) => line.message === "Failed to gossip with a seed node"));
  equal(warnings[0].fields?.to, "127.0.0.1:7001");
  sockets[0].sendFailure = undefined;
  await base.scheduler.advance(100);
  equal(node.metrics().socket.messagesSent, 2);
});

Deno.test("ChitchatHandle.liveNodesUpdates() yields the current snapshot, then each change, and ends on shutdown", async () => {
  const { options, scheduler } = fixture();
  const a = await spawnChitchat(config(7000), options);
  const b = await spawnChitchat(config(7001, { seedNodes: ["127.0.0.1:7000"] }), options);
  const updates = a.liveNodesUpdates();
  const ids = (nodes: readonly NodeState[]) => nodes.map((n) => n.chitchatId.nodeId).sort();

  const first = await updates.next();
  deepStrictEqual(!first.done && ids(first.value), ["node-7000"]);

  // A slow reader sees only the latest snapshot, whatever happened meanwhile.
  await scheduler.advance(1_000);
  const second = await updates.next();
  deepStrictEqual(!second.done && ids(second.value), ["node-7000", "node-7001"]);

  let settled = false;
  const third = updates.next().then((result) => {
    settled = true;
    return result;
  });
  await scheduler.advance(500);
  equal(settled, false, "heartbeats alone are not a change");
  b.selfNodeState().set("role", "searcher");
  await scheduler.advance(500);
  const changed = await third;
  assert(!changed.done);
  equal(changed.value.find((n) => n.chitchatId.nodeId === "node-7001")?.get("role"), "searcher");

  const pending = updates.next();
  await b.shutdown({ leave: false });
  await a.shutdown({ leave: false });
  deepStrictEqual(await pending, { value: undefined, done: true });
  deepStrictEqual(await updates.next(), { value: undefined, done: true });
  const late = a.liveNodesUpdates();
  deepStrictEqual(await late.next(), { value: undefined, done: true });
  equal(scheduler.pending, 0);
});

Deno.test("ChitchatHandle.liveNodesUpdates() stops watching on break", async () => {
  const { options, scheduler } = fixture();
  await using a = await spawnChitchat(config(7000), options);
  let watchers = 0;
  const watch = a.chitchat.watchLiveNodes.bind(a.chitchat);
  a.chitchat.watchLiveNodes = (callback) => {
    watchers++;
    const subscription = watch(callback);
    const unsubscribe = () => {
      watchers--;
      subscription.unsubscribe();
    };
    return { unsubscribe, [Symbol.dispose]: unsubscribe };
  };
  for await (const snapshot of a.liveNodesUpdates()) {
    equal(snapshot.length, 1);
    equal(watchers, 1);
    break;
  }
  equal(watchers, 0);
  await scheduler.advance(100);
});

Deno.test("ChitchatHandle.subscribeEvent() reports key changes from peers", async () => {
  const { options, scheduler } = fixture();
  await using a = await spawnChitchat(config(7000), options);
  await using b = await spawnChitchat(config(7001, { seedNodes: ["127.0.0.1:7000"] }), options);
  const events: string[] = [];
  using _subscription = a.subscribeEvent("app:", (event) => {
    events.push(`${event.node.nodeId} ${event.key}=${event.value}`);
  });
  b.selfNodeState().set("app:color", "blue");
  b.selfNodeState().set("other", "ignored");
  await scheduler.advance(1_000);
  deepStrictEqual(events, ["node-7001 color=blue"]);
});

Deno.test("ChitchatHandle.metrics() combines protocol and socket counters", async () => {
  const { options, scheduler } = fixture();
  await using a = await spawnChitchat(config(7000), options);
  await using b = await spawnChitchat(config(7001, { seedNodes: ["127.0.0.1:7000"] }), options);
  await scheduler.advance(1_000);
  const metrics = a.metrics();
  assert(metrics.synReceived > 0 && metrics.ackReceived > 0);
  assert(metrics.socket.messagesReceived >= metrics.synReceived + metrics.ackReceived);
  assert(b.metrics().socket.messagesSent > 0);
});

Deno.test("spawnChitchat() runs on UDP with the default transport", async () => {
  const logger = new RecordingLogger();
  await using node: ChitchatHandle = await spawnChitchat(config(0), { logger });
  assert(node.localAddr.port > 0);
  deepStrictEqual(node.chitchatId.gossipAdvertiseAddr, node.localAddr);
  await using peer = await new UdpTransport({ logger }).open(addr(0));
  await peer.send(node.localAddr, { type: "syn", clusterId: "spawn-test", digest: Digest.empty });
  const [from, reply] = await withTimeout(peer.receive(), 2_000, "SYN-ACK over UDP");
  deepStrictEqual(from, node.localAddr);
  equal(reply.type, "synAck");
});

Deno.test("spawnChitchat() reads and checks its configuration once", async () => {
  const { options } = fixture();
  const base = config(7010);
  let reads = 0;
  const counted: SpawnChitchatConfig = {
    ...base,
    get chitchatId() {
      reads++;
      return base.chitchatId;
    },
  };
  await using node = await spawnChitchat(counted, options);
  equal(node.chitchatId.nodeId, "node-7010");
  equal(reads, 1, "one read: the configuration is resolved once, not again by the state machine");
});

Deno.test("a ChitchatHandle comes only from spawnChitchat(), so its clock is its scheduler", async () => {
  const { options, scheduler } = fixture();
  await using node = await spawnChitchat(config(7011), options);
  // A handle around a state machine on the real clock and a virtual
  // scheduler would mix two times: the constructor is closed.
  const socket = await options.transport!.open(addr(7012));
  try {
    const construct = () =>
      Reflect.construct(ChitchatHandle, [{
        chitchat: new Chitchat({ chitchatId: config(7012).chitchatId, clusterId: "spawn-test" }),
        socket,
        gossipIntervalMs: 100,
        seeds: undefined,
        scheduler,
        random: Math.random,
        logger: silentLogger,
      }]);
    assert(throwsType(construct, TypeError), "direct construction is refused");
  } finally {
    await socket.close();
  }
  // The state machine of a spawned node reads the scheduler's time.
  const before = node.chitchat.clock.now();
  await scheduler.advance(1_234);
  equal(node.chitchat.clock.now() - before, 1_234);
});

Deno.test("spawnChitchat() scales the failure detector's prior to gossipIntervalMs", async (t) => {
  async function detectionMs(failureDetector?: SpawnChitchatConfig["failureDetector"]) {
    const { options, scheduler } = fixture();
    const seeds = ["127.0.0.1:7020"];
    await using a = await spawnChitchat(
      config(7020, { seedNodes: seeds, failureDetector }),
      options,
    );
    const b = await spawnChitchat(config(7021, { seedNodes: seeds, failureDetector }), options);
    await advanceUntil(scheduler, () => a.liveNodes().length === 2, {
      timeoutMs: 30_000,
      label: "the two nodes meet",
    });
    await scheduler.advance(1_000);
    await b.shutdown({ leave: false });
    return await advanceUntil(
      scheduler,
      () => a.chitchat.deadNodes().some((id) => id.nodeId === "node-7021"),
      { timeoutMs: 120_000, label: "the stopped node is seen dead", stepMs: 50 },
    );
  }
  await t.step("at 100 ms rounds a stopped peer is dead within 2 s", async () => {
    const ms = await detectionMs();
    assert(ms < 2_000, `detected after ${ms} virtual ms`);
  });
  await t.step("an explicit prior is kept", async () => {
    const ms = await detectionMs({ initialIntervalMs: 5_000 });
    assert(ms > 5_000, `detected after ${ms} virtual ms`);
  });
});

Deno.test("spawnChitchat({ signal }) shuts the node down on abort, and refuses an aborted one", async () => {
  const { options } = fixture();
  const controller = new AbortController();
  const node = await spawnChitchat(config(7030), { ...options, signal: controller.signal });
  const updates = node.liveNodesUpdates();
  const events = node.membershipEvents();
  controller.abort();
  await node.terminated;
  equal((await updates.next()).done, true);
  equal((await events.next()).done, true);
  await rejects(
    spawnChitchat(config(7031), { ...options, signal: AbortSignal.abort() }),
    (error: unknown) => error instanceof DOMException && error.name === "AbortError",
  );
});

Deno.test("ChitchatHandle iterators end when their own signal aborts", async () => {
  const { options } = fixture();
  await using node = await spawnChitchat(config(7032), options);
  const controller = new AbortController();
  const updates = node.liveNodesUpdates({ signal: controller.signal });
  const events = node.membershipEvents({ signal: controller.signal });
  await updates.next(); // the current snapshot
  const pending = updates.next();
  controller.abort();
  equal((await pending).done, true);
  equal((await events.next()).done, true);
});

Deno.test("ChitchatHandle.membershipEvents() sees a peer join and die", async () => {
  const { options, scheduler } = fixture();
  const seeds = ["127.0.0.1:7040"];
  await using a = await spawnChitchat(config(7040, { seedNodes: seeds }), options);
  const events = a.membershipEvents();
  const b = await spawnChitchat(config(7041, { seedNodes: seeds }), options);
  const seen: string[] = [];
  const reading = (async () => {
    for await (const event of events) {
      seen.push(`${event.type} ${event.node.nodeId}`);
      if (event.type === "dead") break;
    }
  })();
  await advanceUntil(scheduler, () => seen.length === 1, { timeoutMs: 10_000, label: "joined" });
  await b.shutdown({ leave: false });
  await advanceUntil(scheduler, () => seen.length === 2, { timeoutMs: 10_000, label: "dead" });
  await reading;
  deepStrictEqual(seen, ["joined node-7041", "dead node-7041"]);
});

Deno.test("spawnChitchat() without --unstable-net gossips over node:dgram", async () => {
  // A child Deno without the project's configuration, as an application
  // importing the library runs: two nodes on port 0 must meet.
  const module = new URL("../../lib/runtime/spawn_chitchat.ts", import.meta.url).href;
  const script = `
    import { spawnChitchat } from ${JSON.stringify(module)};
    const id = (nodeId) => ({ nodeId, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 0 } });
    const a = await spawnChitchat({ chitchatId: id("a"), clusterId: "flagless", gossipIntervalMs: 50 });
    const b = await spawnChitchat({
      chitchatId: id("b"), clusterId: "flagless", gossipIntervalMs: 50,
      seedNodes: ["127.0.0.1:" + a.localAddr.port],
    });
    const deadline = Date.now() + 5000;
    while (a.liveNodes().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    console.log(typeof Deno.listenDatagram, a.liveNodes().map((id) => id.nodeId).sort().join(","));
    await b.shutdown();
    await a.shutdown();
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill(), 15_000);
  const output = await child.output();
  clearTimeout(timer);
  const stderr = new TextDecoder().decode(output.stderr);
  assert(output.success, stderr);
  equal(new TextDecoder().decode(output.stdout).trim(), "undefined a,b");
});
