// Copyright the chitchat for Deno authors. MIT license.
// ChannelTransport's fault injection, scheduling and counters (the shared
// socket behaviour is in transport_contract_test.ts).

import { deepStrictEqual, equal, ok as assert, rejects, throws } from "node:assert/strict";
import { ChannelTransport } from "../../lib/testing/channel_transport.ts";
import { Digest } from "../../lib/core/digest.ts";
import type { ChitchatMessage } from "../../lib/core/message.ts";
import { encodeMessage } from "../../lib/core/message_codec.ts";
import { seededRandom } from "../../lib/core/random.ts";
import type { SocketAddress } from "../../lib/core/socket_address.ts";
import { RecordingLogger } from "../_deadline.ts";
import { VirtualScheduler } from "../../lib/testing/virtual_scheduler.ts";
import { drainMicrotasks } from "../_deadline.ts";

const syn: ChitchatMessage = { type: "syn", clusterId: "test", digest: Digest.empty };
const SYN_BYTES = encodeMessage(syn).length;

const at = (host: number, port = 7280): SocketAddress => ({ hostname: `10.0.0.${host}`, port });

function network(options: ConstructorParameters<typeof ChannelTransport>[0] = {}): {
  transport: ChannelTransport;
  scheduler: VirtualScheduler;
  logger: RecordingLogger;
} {
  const scheduler = new VirtualScheduler();
  const logger = new RecordingLogger();
  return {
    transport: new ChannelTransport({ scheduler, logger, ...options }),
    scheduler,
    logger,
  };
}

Deno.test("ChannelTransport delivers through the scheduler, never inside send()", async () => {
  const { transport, scheduler } = network();
  await using a = await transport.open(at(1));
  await using b = await transport.open(at(2));
  let arrived = false;
  const pending = b.receive().then((item) => {
    arrived = true;
    return item;
  });
  await a.send(b.localAddr, syn);
  await drainMicrotasks();
  equal(arrived, false);
  equal(scheduler.pending, 1);
  await scheduler.advance(0);
  const [from] = await pending;
  deepStrictEqual(from, a.localAddr);
  equal(scheduler.pending, 0);
});

Deno.test("ChannelTransport applies the global delay, overridden per link", async () => {
  const { transport, scheduler } = network({ delay: () => 50 });
  await using a = await transport.open(at(1));
  await using b = await transport.open(at(2));
  await using c = await transport.open(at(3));
  transport.setLinkDelay(a.localAddr, b.localAddr, () => 5);
  await a.send(b.localAddr, syn);
  await a.send(c.localAddr, syn);
  await scheduler.advance(5);
  equal(b.metrics.messagesReceived, 1);
  equal(c.metrics.messagesReceived, 0);
  await scheduler.advance(44);
  equal(c.metrics.messagesReceived, 0);
  await scheduler.advance(1);
  equal(c.metrics.messagesReceived, 1);

  transport.setLinkDelay(a.localAddr, b.localAddr, undefined);
  transport.setDelay(undefined);
  await a.send(b.localAddr, syn);
  await scheduler.advance(0);
  equal(b.metrics.messagesReceived, 2);
});

Deno.test("ChannelTransport draws delays from the injected random source", async () => {
  const draws: number[] = [];
  const random = () => {
    draws.push(0.25);
    return 0.25;
  };
  const { transport, scheduler } = network({ random, delay: (r) => 100 * r() });
  await using a = await transport.open(at(1));
  await using b = await transport.open(at(2));
  await a.send(b.localAddr, syn);
  await scheduler.advance(24);
  equal(b.metrics.messagesReceived, 0);
  await scheduler.advance(1);
  equal(b.metrics.messagesReceived, 1);
  equal(draws.length, 1);
});

Deno.test("ChannelTransport refuses an invalid delay at send()", async () => {
  const { transport } = network({ delay: () => Number.NaN });
  await using a = await transport.open(at(1));
  await using b = await transport.open(at(2));
  await rejects(a.send(b.localAddr, syn), RangeError);
  equal(transport.stats().messagesSent, 0);
  throws(() => transport.setDelay(5 as unknown as () => number), TypeError);
});

Deno.test("ChannelTransport cut() blocks both ways, or one way; heal() restores", async () => {
  const { transport, scheduler } = network();
  await using a = await transport.open(at(1));
  await using b = await transport.open(at(2));
  const exchange = async (): Promise<[number, number]> => {
    const before = [a.metrics.messagesReceived, b.metrics.messagesReceived];
    await a.send(b.localAddr, syn);
    await b.send(a.localAddr, syn);
    await scheduler.advance(0);
    return [
      b.metrics.messagesReceived - before[1],
      a.metrics.messagesReceived - before[0],
    ];
  };
  deepStrictEqual(await exchange(), [1, 1]);
  transport.cut(a.localAddr, b.localAddr);
  assert(transport.isCut(a.localAddr, b.localAddr) && transport.isCut(b.localAddr, a.localAddr));
  deepStrictEqual(await exchange(), [0, 0]);
  transport.heal(b.localAddr, a.localAddr, { oneWay: true });
  deepStrictEqual(await exchange(), [0, 1], "b to a healed, a to b still cut");
  transport.heal(a.localAddr, b.localAddr);
  deepStrictEqual(await exchange(), [1, 1]);
  transport.cut(a.localAddr, b.localAddr, { oneWay: true });
  deepStrictEqual(await exchange(), [0, 1]);
  transport.healAll();
  deepStrictEqual(await exchange(), [1, 1]);
});

Deno.test("ChannelTransport partition() cuts across groups and keeps links inside them", async () => {
  const { transport, scheduler } = network();
  const sockets = await Promise.all([1, 2, 3, 4].map((i) => transport.open(at(i))));
  const [a1, a2, b1, b2] = sockets;
  transport.partition([a1.localAddr, a2.localAddr], [b1.localAddr, b2.localAddr]);
  for (const from of sockets) {
    for (const to of sockets) if (from !== to) await from.send(to.localAddr, syn);
  }
  await scheduler.advance(0);
  // Each socket hears only from its own group.
  for (const socket of sockets) equal(socket.metrics.messagesReceived, 1);
  equal(transport.stats().messagesDropped, 8);
  transport.healAll();
  await a1.send(b1.localAddr, syn);
  await scheduler.advance(0);
  equal(b1.metrics.messagesReceived, 2);
  for (const socket of sockets) await socket.close();
});

Deno.test("ChannelTransport drops by the global probability, overridden per link", async () => {
  const { transport, scheduler } = network({ random: seededRandom(7), queueCapacity: 5_000 });
  await using a = await transport.open(at(1));
  await using b = await transport.open(at(2));
  await using c = await transport.open(at(3));
  transport.setDropProbability(0.3);
  transport.setLinkDropProbability(a.localAddr, c.localAddr, 1);
  const count = 2_000;
  for (let i = 0; i < count; i++) {
    await a.send(b.localAddr, syn);
    await a.send(c.localAddr, syn);
    await scheduler.advance(0);
  }
  const toB = transport.addressStats(b.localAddr).messagesDelivered;
  const lossRate = 1 - toB / count;
  assert(lossRate > 0.25 && lossRate < 0.35, `loss rate ${lossRate}`);
  equal(c.metrics.messagesReceived, 0);
  transport.setLinkDropProbability(a.localAddr, c.localAddr, undefined);
  transport.setDropProbability(0);
  await a.send(c.localAddr, syn);
  await scheduler.advance(0);
  equal(c.metrics.messagesReceived, 1);
  throws(() => transport.setDropProbability(1.5), RangeError);
  throws(() => transport.setLinkDropProbability(a.localAddr, b.localAddr, -0.1), RangeError);
});

Deno.test("ChannelTransport draws no random number when nothing can be lost or delayed", async () => {
  const random = () => {
    throw new Error("random() called");
  };
  const { transport, scheduler } = network({ random });
  await using a = await transport.open(at(1));
  await using b = await transport.open(at(2));
  await a.send(b.localAddr, syn);
  await scheduler.advance(0);
  equal(b.metrics.messagesReceived, 1);
});

Deno.test("ChannelTransport counts messages and bytes globally and per address; resetStats() zeroes them", async () => {
  const { transport, scheduler } = network();
  await using a = await transport.open(at(1));
  await using b = await transport.open(at(2));
  await a.send(b.localAddr, syn);
  await a.send(at(9), syn); // unbound: dropped
  await b.send(a.localAddr, syn);
  await scheduler.advance(0);
  deepStrictEqual(transport.stats(), {
    messagesSent: 3,
    bytesSent: 3 * SYN_BYTES,
    messagesDelivered: 2,
    bytesDelivered: 2 * SYN_BYTES,
    messagesDropped: 1,
    bytesDropped: SYN_BYTES,
    largestMessageBytes: SYN_BYTES,
  });
  deepStrictEqual(transport.addressStats(a.localAddr), {
    messagesSent: 2,
    bytesSent: 2 * SYN_BYTES,
    messagesDelivered: 1,
    bytesDelivered: SYN_BYTES,
    messagesDropped: 1,
    bytesDropped: SYN_BYTES,
    largestMessageBytes: SYN_BYTES,
  });
  equal(transport.addressStats(b.localAddr).messagesDropped, 0);
  equal(transport.addressStats(at(9)).messagesDelivered, 0);
  transport.resetStats();
  equal(transport.stats().messagesSent, 0);
  equal(transport.addressStats(a.localAddr).messagesSent, 0);
  equal(a.metrics.messagesSent, 2, "socket metrics are not reset");
});

Deno.test("ChannelTransport refuses messages over its MTU", async () => {
  const { transport } = network({ mtu: 100 });
  await using a = await transport.open(at(1));
  await using b = await transport.open(at(2));
  const big: ChitchatMessage = { type: "syn", clusterId: "x".repeat(100), digest: Digest.empty };
  await rejects(a.send(b.localAddr, big), RangeError);
  equal(transport.stats().messagesSent, 0);
  throws(() => new ChannelTransport({ mtu: 0 }), RangeError);
});

Deno.test("ChannelTransport allocates port 0 from 40000 up, skipping bound ports", async () => {
  const { transport } = network();
  await using taken = await transport.open({ hostname: "127.0.0.1", port: 40_001 });
  await using first = await transport.open({ hostname: "127.0.0.1", port: 0 });
  await using second = await transport.open({ hostname: "127.0.0.1", port: 0 });
  equal(first.localAddr.port, 40_000);
  equal(second.localAddr.port, 40_002);
  equal(taken.localAddr.port, 40_001);
});

Deno.test("ChannelTransport compares addresses canonically", async () => {
  const { transport, scheduler } = network();
  await using a = await transport.open({ hostname: "0:0:0:0:0:0:0:1", port: 7 });
  await using b = await transport.open({ hostname: "::2", port: 7 });
  equal(a.localAddr.hostname, "::1");
  await rejects(transport.open({ hostname: "::1", port: 7 }), Deno.errors.AddrInUse);
  await b.send({ hostname: "0::1", port: 7 }, syn);
  await scheduler.advance(0);
  const [from] = await a.receive();
  deepStrictEqual(from, { hostname: "::2", port: 7 });
});

Deno.test("ChannelTransport loses what is in flight to a socket that closes", async () => {
  const { transport, scheduler } = network({ delay: () => 10 });
  await using a = await transport.open(at(1));
  const b = await transport.open(at(2));
  await a.send(b.localAddr, syn);
  await a.send(b.localAddr, syn);
  equal(scheduler.pending, 2);
  await b.close();
  equal(scheduler.pending, 0, "delivery timers are cancelled");
  equal(transport.stats().messagesDropped, 2);
  // The address is free again, and nothing stale reaches the new socket.
  await using b2 = await transport.open(at(2));
  await scheduler.advance(20);
  equal(b2.metrics.messagesReceived, 0);
});

Deno.test("ChannelTransport drops messages beyond a socket's queue capacity", async () => {
  const { transport, scheduler } = network({ queueCapacity: 3 });
  await using a = await transport.open(at(1));
  await using b = await transport.open(at(2));
  for (let i = 0; i < 5; i++) await a.send(b.localAddr, syn);
  await scheduler.advance(0);
  equal(b.metrics.messagesReceived, 3);
  equal(transport.stats().messagesDropped, 2);
  for (let i = 0; i < 3; i++) equal((await b.receive())[1].type, "syn");
});

Deno.test("ChannelTransport injectDatagram() delivers valid bytes and drops junk like UDP", async () => {
  const { transport, logger } = network({ mtu: 64 });
  await using b = await transport.open(at(2));
  const from = { hostname: "0:0::5", port: 9 };
  transport.injectDatagram(from, b.localAddr, new Uint8Array([1, 2, 3]));
  transport.injectDatagram(from, b.localAddr, new Uint8Array(65));
  transport.injectDatagram(from, at(8), encodeMessage(syn)); // nobody there
  transport.injectDatagram(from, b.localAddr, encodeMessage(syn));
  const [sender, message] = await b.receive();
  deepStrictEqual(sender, { hostname: "::5", port: 9 });
  equal(message.type, "syn");
  equal(b.metrics.datagramsDropped, 2);
  deepStrictEqual(b.metrics.datagramsDroppedByReason, {
    oversized: 1,
    undecodable: 1,
    queue_full: 0,
  });
  equal(transport.stats().messagesDropped, 3);
  equal(transport.stats().messagesDelivered, 1);
  // The first drop is logged at once; the next is summed up with later ones.
  const warnings = logger.atLeast("warn");
  deepStrictEqual(warnings.map((line) => [line.message, line.fields?.from, line.fields?.bytes]), [
    ["Dropped an undecodable datagram", "[::5]:9", 3],
  ]);
  await b.close();
  equal(logger.atLeast("warn").length, 1);
  throws(
    () => transport.injectDatagram(from, b.localAddr, [1, 2] as unknown as Uint8Array),
    TypeError,
  );
});
