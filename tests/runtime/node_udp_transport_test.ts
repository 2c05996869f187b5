// Copyright the chitchat for Deno authors. MIT license.
// What only NodeUdpTransport does (the shared behaviour is in
// transport_contract_test.ts and udp_transport_test.ts): bind errors, the
// bounded and fair receive queue.

import { deepStrictEqual, equal, rejects, throws } from "node:assert/strict";
import { Digest } from "../../lib/core/digest.ts";
import { encodeMessage } from "../../lib/core/message_codec.ts";
import { NodeUdpTransport } from "../../lib/runtime/node_udp_transport.ts";
import { pollUntil, RecordingLogger, settlesWithin, withTimeout } from "../_deadline.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 };

Deno.test("NodeUdpTransport reports an address of no local interface as not available", async () => {
  const transport = new NodeUdpTransport({ logger: new RecordingLogger() });
  // TEST-NET-3 (RFC 5737): assigned to no interface here.
  await rejects(
    transport.open({ hostname: "203.0.113.7", port: 0 }),
    (error: unknown) =>
      error instanceof Deno.errors.AddrNotAvailable &&
      error.message === "Cannot bind 203.0.113.7:0/UDP for gossip: address not available",
  );
});

Deno.test("NodeUdpTransport refuses a malformed listen address", async () => {
  const transport = new NodeUdpTransport({ logger: new RecordingLogger() });
  await rejects(transport.open({ hostname: "127.0.0.1", port: 65_536 }), RangeError);
  await rejects(transport.open({ hostname: "127.0.0.1", port: -1 }), RangeError);
  await rejects(transport.open({ hostname: "", port: 0 }), TypeError);
});

Deno.test("NodeUdpTransport refuses a receive queue smaller than one datagram", () => {
  throws(() => new NodeUdpTransport({ receiveQueueBytes: 65_635 }), RangeError);
  throws(() => new NodeUdpTransport({ receiveQueueBytes: 1e6 + 0.5 }), RangeError);
  new NodeUdpTransport({ receiveQueueBytes: 65_636 });
});

Deno.test("NodeUdpTransport drops what overflows the receive queue, says so once, and recovers", async () => {
  const logger = new RecordingLogger();
  const transport = new NodeUdpTransport({ logger, receiveQueueBytes: 65_636 });
  await using receiver = await transport.open(LOOPBACK);
  await using sender = await transport.open(LOOPBACK);
  // Each datagram is charged its size plus 128 bytes: 58 of 1,000 bytes
  // fit. The 70 sent fit the kernel's default buffer, so only the queue drops.
  const message = { type: "syn", clusterId: "f".repeat(1_000 - 8), digest: Digest.empty } as const;
  equal(encodeMessage(message).length, 1_000);
  const sent = 70;
  const kept = 58;
  for (let i = 0; i < sent; i++) await sender.send(receiver.localAddr, message);
  await pollUntil(() => receiver.metrics.datagramsDropped === sent - kept, {
    timeoutMs: 2_000,
    label: `${sent - kept} datagrams dropped`,
  });
  for (let i = 0; i < kept; i++) {
    await withTimeout(receiver.receive(), 2_000, `queued datagram ${i}`);
  }
  const afterDrain = receiver.receive();
  equal(await settlesWithin(afterDrain, 100), false, `more than ${kept} datagrams were kept`);
  await sender.send(receiver.localAddr, { type: "syn", clusterId: "after", digest: Digest.empty });
  const [, last] = await withTimeout(afterDrain, 2_000, "a datagram after the overflow");
  equal(last.type === "syn" && last.clusterId, "after");
  equal(receiver.metrics.messagesReceived, kept + 1);
  equal(receiver.metrics.datagramsDropped, sent - kept);
  // A full queue is its own reason: the datagrams were fine.
  equal(receiver.metrics.datagramsDroppedByReason.queue_full, sent - kept);
  equal(receiver.metrics.datagramsDroppedByReason.undecodable, 0);
  const overflowWarnings = logger.atLeast("warn").filter((entry) =>
    entry.message === "Dropping datagrams: the receive queue is full"
  );
  equal(overflowWarnings.length, 1);
});

Deno.test("NodeUdpTransport's queue keeps room for other senders and serves them in turn", async () => {
  const logger = new RecordingLogger();
  // One sender may hold an eighth of the queue, here 65,636 bytes: 58
  // datagrams of 1,000 bytes. The 70 sent fit the kernel's default buffer.
  const transport = new NodeUdpTransport({ logger, receiveQueueBytes: 8 * 65_636 });
  await using receiver = await transport.open(LOOPBACK);
  await using flood = await transport.open(LOOPBACK);
  await using honest = await transport.open(LOOPBACK);
  const message = { type: "syn", clusterId: "f".repeat(1_000 - 8), digest: Digest.empty } as const;
  for (let i = 0; i < 70; i++) await flood.send(receiver.localAddr, message);
  await pollUntil(() => receiver.metrics.datagramsDropped === 12, {
    timeoutMs: 2_000,
    label: "the flood's datagrams past its share dropped",
  });
  const hello = { type: "syn", clusterId: "honest", digest: Digest.empty } as const;
  await honest.send(receiver.localAddr, hello);
  await honest.send(receiver.localAddr, hello);
  await new Promise((resolve) => setTimeout(resolve, 50));
  // The honest sender waits behind one of the flood's datagrams, not all.
  const order: string[] = [];
  for (let i = 0; i < 4; i++) {
    const [from] = await withTimeout(receiver.receive(), 2_000, `datagram ${i}`);
    order.push(from.port === honest.localAddr.port ? "honest" : "flood");
  }
  deepStrictEqual(order, ["flood", "honest", "flood", "honest"]);
  equal(receiver.metrics.datagramsDropped, 12);
});
