// Copyright the chitchat for Deno authors. MIT license.
// One contract, every Transport: UdpTransport and NodeUdpTransport on
// 127.0.0.1 and ChannelTransport must behave the same wherever the runtime
// relies on it.

import { deepStrictEqual, equal, ok as assert, rejects } from "node:assert/strict";
import { createSocket } from "node:dgram";
import { ChannelTransport } from "../../lib/testing/channel_transport.ts";
import { Digest } from "../../lib/core/digest.ts";
import type { Logger } from "../../lib/core/logger.ts";
import type { ChitchatMessage } from "../../lib/core/message.ts";
import { encodeMessage } from "../../lib/core/message_codec.ts";
import type { SocketAddress } from "../../lib/core/socket_address.ts";
import { NodeUdpTransport } from "../../lib/runtime/node_udp_transport.ts";
import type { Socket, Transport } from "../../lib/runtime/transport.ts";
import { UdpTransport } from "../../lib/runtime/udp_transport.ts";
import { installCodec } from "../../lib/runtime/_datagram_codec.ts";
import { SEAL_OVERHEAD_BYTES, sealDatagram } from "../../lib/runtime/_datagram_seal.ts";
import { Keyring } from "../../lib/runtime/_keyring.ts";
import { RecordingLogger, settlesWithin, withTimeout } from "../_deadline.ts";

/** Sends raw bytes to a socket, from an address of its own. */
interface RawSender extends AsyncDisposable {
  readonly addr: SocketAddress;
  sendBytes(to: SocketAddress, bytes: Uint8Array): Promise<void>;
}

interface TransportFixture {
  readonly name: string;
  create(logger: Logger): Transport;
  rawSender(transport: Transport): Promise<RawSender>;
}

const LOOPBACK: SocketAddress = { hostname: "127.0.0.1", port: 0 };

/** Whether this machine has an IPv6 loopback to test on. */
const IPV6_AVAILABLE = await new Promise<boolean>((resolve) => {
  const socket = createSocket("udp6");
  socket.once("error", () => resolve(false));
  socket.bind(0, "::1", () => socket.close(() => resolve(true)));
});
const WAIT_MS = 2_000;

const syn = (clusterId = "contract"): ChitchatMessage => ({
  type: "syn",
  clusterId,
  digest: Digest.empty,
});

const udpFixture: TransportFixture = {
  name: "UdpTransport",
  create: (logger) => new UdpTransport({ logger }),
  rawSender() {
    const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const addr = conn.addr as Deno.NetAddr;
    return Promise.resolve({
      addr: { hostname: addr.hostname, port: addr.port },
      async sendBytes(to, bytes) {
        await conn.send(bytes, { transport: "udp", hostname: to.hostname, port: to.port });
      },
      [Symbol.asyncDispose]() {
        conn.close();
        return Promise.resolve();
      },
    });
  },
};

const nodeUdpFixture: TransportFixture = {
  name: "NodeUdpTransport",
  create: (logger) => new NodeUdpTransport({ logger }),
  async rawSender() {
    const dgram = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      dgram.once("error", reject);
      dgram.bind(0, "127.0.0.1", () => resolve());
    });
    return {
      addr: { hostname: "127.0.0.1", port: dgram.address().port },
      sendBytes: (to, bytes) =>
        new Promise<void>((resolve, reject) =>
          dgram.send(bytes, to.port, to.hostname, (error) => error ? reject(error) : resolve())
        ),
      [Symbol.asyncDispose]: () => new Promise<void>((resolve) => dgram.close(() => resolve())),
    };
  },
};

const channelFixture: TransportFixture = {
  name: "ChannelTransport",
  create: (logger) => new ChannelTransport({ logger }),
  rawSender(transport) {
    const network = transport as ChannelTransport;
    return Promise.resolve({
      addr: { hostname: "127.0.0.1", port: 39_999 },
      sendBytes(to, bytes) {
        network.injectDatagram(this.addr, to, bytes);
        return Promise.resolve();
      },
      [Symbol.asyncDispose]: () => Promise.resolve(),
    });
  },
};

async function unboundAddress(transport: Transport): Promise<SocketAddress> {
  const socket = await transport.open(LOOPBACK);
  const addr = socket.localAddr;
  await socket.close();
  return addr;
}

function receive(
  socket: Socket,
  label: string,
): Promise<readonly [SocketAddress, ChitchatMessage]> {
  return withTimeout(socket.receive(), WAIT_MS, label);
}

function registerContract(fixture: TransportFixture): void {
  const test = (
    name: string,
    fn: (transport: Transport, logger: RecordingLogger) => Promise<void>,
  ) =>
    Deno.test(`${fixture.name}: ${name}`, async () => {
      const logger = new RecordingLogger();
      await fn(fixture.create(logger), logger);
    });

  test("open() with port 0 binds a real port", async (transport) => {
    await using socket = await transport.open(LOOPBACK);
    equal(socket.localAddr.hostname, "127.0.0.1");
    assert(socket.localAddr.port > 0 && socket.localAddr.port <= 65535);
  });

  test("open() refuses an address already bound", async (transport) => {
    await using socket = await transport.open(LOOPBACK);
    await rejects(transport.open(socket.localAddr), (error: unknown) => {
      assert(error instanceof Deno.errors.AddrInUse);
      assert(error.message.includes(`127.0.0.1:${socket.localAddr.port}`), error.message);
      return true;
    });
  });

  test("close() releases the address", async (transport) => {
    const first = await transport.open(LOOPBACK);
    const addr = first.localAddr;
    await first.close();
    await using second = await transport.open(addr);
    deepStrictEqual(second.localAddr, addr);
  });

  test("receive() waits until a message arrives, with its sender", async (transport) => {
    await using a = await transport.open(LOOPBACK);
    await using b = await transport.open(LOOPBACK);
    const pending = b.receive();
    equal(await settlesWithin(pending, 100), false, "receive() resolved with nothing sent");
    const message = syn();
    await a.send(b.localAddr, message);
    const [from, received] = await withTimeout(pending, WAIT_MS, "message from a");
    deepStrictEqual(from, a.localAddr);
    deepStrictEqual(encodeMessage(received), encodeMessage(message));
  });

  test("metrics count messages and encoded bytes both ways", async (transport) => {
    await using a = await transport.open(LOOPBACK);
    await using b = await transport.open(LOOPBACK);
    const bytes = encodeMessage(syn()).length;
    await a.send(b.localAddr, syn());
    await a.send(b.localAddr, syn());
    await receive(b, "first message");
    await receive(b, "second message");
    // The kernel's drop count, where a socket reports one, is its own.
    const { kernelDrops, ...counted } = a.metrics;
    assert(kernelDrops === undefined || kernelDrops === 0);
    deepStrictEqual(counted, {
      messagesSent: 2,
      bytesSent: 2 * bytes,
      messagesReceived: 0,
      bytesReceived: 0,
      datagramsDropped: 0,
      sendErrors: 0,
      datagramsDroppedByReason: { oversized: 0, undecodable: 0, queue_full: 0 },
    });
    equal(b.metrics.messagesReceived, 2);
    equal(b.metrics.bytesReceived, 2 * bytes);
  });

  test("sending to an unbound address is not an error", async (transport) => {
    const nobody = await unboundAddress(transport);
    await using socket = await transport.open(LOOPBACK);
    await socket.send(nobody, syn());
    await socket.send(nobody, syn());
  });

  test("with a keyring, datagrams travel sealed and foreign ones are dropped and counted", async (transport) => {
    await using a = await transport.open(LOOPBACK);
    await using b = await transport.open(LOOPBACK);
    const key = new Uint8Array(32).fill(3);
    const sealing = new Keyring({ keys: [key] }, () => Date.now());
    const opening = new Keyring({ keys: [key] }, () => Date.now());
    installCodec(a, sealing);
    installCodec(b, opening);
    const plainBytes = encodeMessage(syn()).length;
    await a.send(b.localAddr, syn());
    const [from, received] = await receive(b, "sealed message");
    deepStrictEqual(from, a.localAddr);
    deepStrictEqual(encodeMessage(received), encodeMessage(syn()));
    // Byte counts are what the wire carried: the sealed datagram.
    equal(a.metrics.bytesSent, plainBytes + SEAL_OVERHEAD_BYTES);
    equal(b.metrics.bytesReceived, plainBytes + SEAL_OVERHEAD_BYTES);
    // Plaintext, another key and a replay are dropped before any decoding.
    await using raw = await fixture.rawSender(transport);
    await raw.sendBytes(b.localAddr, encodeMessage(syn()));
    await raw.sendBytes(
      b.localAddr,
      sealDatagram(new Uint8Array(32).fill(4), encodeMessage(syn()), Date.now()),
    );
    const replay = sealDatagram(key, encodeMessage(syn("replayed")), Date.now());
    await raw.sendBytes(b.localAddr, replay);
    await raw.sendBytes(b.localAddr, replay);
    // From the same sender, so that it arrives after the others.
    await raw.sendBytes(b.localAddr, sealDatagram(key, encodeMessage(syn("last")), Date.now()));
    const kinds: string[] = [];
    for (let i = 0; i < 2; i++) {
      const [, message] = await receive(b, `message ${i}`);
      kinds.push(message.type === "syn" ? message.clusterId : message.type);
    }
    deepStrictEqual(kinds, ["replayed", "last"]);
    equal(b.metrics.datagramsDropped, 3);
    deepStrictEqual(opening.failures(), {
      truncated: 0,
      version: 0,
      authentication: 1,
      expired: 0,
      replayed: 1,
      plaintextRefused: 1,
    });
  });

  test("a datagram of exactly 65,507 bytes arrives whole", async (transport) => {
    await using a = await transport.open(LOOPBACK);
    await using b = await transport.open(LOOPBACK);
    // 4 header bytes, 2 for the empty digest, 2 for the cluster id length.
    const clusterId = "c".repeat(65_507 - 8);
    const message = syn(clusterId);
    equal(encodeMessage(message).length, 65_507);
    await a.send(b.localAddr, message);
    const [, received] = await receive(b, "the full-size datagram");
    equal(received.type === "syn" && received.clusterId.length, clusterId.length);
    equal(b.metrics.bytesReceived, 65_507);
  });

  Deno.test({
    name: `${fixture.name}: messages travel over IPv6, with canonical addresses`,
    ignore: !IPV6_AVAILABLE,
    async fn() {
      const transport = fixture.create(new RecordingLogger());
      await using a = await transport.open({ hostname: "0:0:0:0:0:0:0:1", port: 0 });
      await using b = await transport.open({ hostname: "::1", port: 0 });
      equal(a.localAddr.hostname, "::1");
      await a.send(b.localAddr, syn("v6"));
      const [from, message] = await receive(b, "the IPv6 message");
      deepStrictEqual(from, a.localAddr);
      equal(message.type === "syn" && message.clusterId, "v6");
    },
  });

  test("a message over 65,507 bytes is refused and not sent", async (transport) => {
    await using a = await transport.open(LOOPBACK);
    await using b = await transport.open(LOOPBACK);
    await rejects(a.send(b.localAddr, syn("x".repeat(65_510))), RangeError);
    equal(a.metrics.messagesSent, 0);
    await a.send(b.localAddr, syn("small"));
    const [, message] = await receive(b, "the small message");
    equal(message.type === "syn" && message.clusterId, "small");
  });

  test(
    "junk is dropped, logged once and counted; the next message arrives",
    async (transport, logger) => {
      await using socket = await transport.open(LOOPBACK);
      await using raw = await fixture.rawSender(transport);
      const junk = new TextEncoder().encode("junk");
      await raw.sendBytes(socket.localAddr, junk);
      await raw.sendBytes(socket.localAddr, encodeMessage(syn("after-junk")));
      const [from, message] = await receive(socket, "the valid message after junk");
      deepStrictEqual(from, raw.addr);
      equal(message.type === "syn" && message.clusterId, "after-junk");
      equal(socket.metrics.datagramsDropped, 1);
      equal(socket.metrics.datagramsDroppedByReason.undecodable, 1);
      equal(socket.metrics.messagesReceived, 1);
      const warnings = logger.atLeast("warn");
      equal(warnings.length, 1);
      equal(warnings[0].message, "Dropped an undecodable datagram");
      equal(warnings[0].fields?.from, `127.0.0.1:${raw.addr.port}`);
      equal(warnings[0].fields?.bytes, junk.length);
      assert(typeof warnings[0].fields?.reason === "string");
    },
  );

  test("close() ends pending receives and the iteration", async (transport) => {
    const a = await transport.open(LOOPBACK);
    await using b = await transport.open(LOOPBACK);
    const received: string[] = [];
    const loop = (async () => {
      for await (const [, message] of a) received.push(message.type);
    })();
    await b.send(a.localAddr, syn());
    const deadline = Date.now() + WAIT_MS;
    while (received.length < 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    deepStrictEqual(received, ["syn"]);
    // The loop now waits in receive(); so does this second reader.
    const pending = a.receive();
    pending.catch(() => {});
    await a.close();
    await withTimeout(loop, WAIT_MS, "iteration ends on close");
    await rejects(pending, Deno.errors.BadResource);
    await rejects(a.receive(), Deno.errors.BadResource);
    await rejects(a.send(b.localAddr, syn()), Deno.errors.BadResource);
    await a.close();
  });
}

registerContract(udpFixture);
registerContract(nodeUdpFixture);
registerContract(channelFixture);
