// Copyright the chitchat for Deno authors. MIT license.
// A receive loop that is never idle (a flood) still lets timers and other
// I/O run: the real-network transports hand the event loop a turn every
// few milliseconds, even when datagrams are already waiting.

import { ok } from "node:assert/strict";
import { Digest } from "../../lib/core/digest.ts";
import { NodeUdpTransport } from "../../lib/runtime/node_udp_transport.ts";
import type { Transport } from "../../lib/runtime/transport.ts";
import { UdpTransport } from "../../lib/runtime/udp_transport.ts";
import { RecordingLogger } from "../_deadline.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 };
const DATAGRAMS = 30;

async function timerRunsDuringBusyReceives(transport: Transport): Promise<void> {
  await using receiver = await transport.open(LOOPBACK);
  await using sender = await transport.open(LOOPBACK);
  const syn = { type: "syn", clusterId: "turns", digest: Digest.empty } as const;
  for (let i = 0; i < DATAGRAMS; i++) await sender.send(receiver.localAddr, syn);
  // Let every datagram arrive, so each receive below finds one waiting.
  await new Promise((resolve) => setTimeout(resolve, 100));
  let timerFired = false;
  const timer = setTimeout(() => timerFired = true, 0);
  let receivedBeforeTimer = 0;
  for (let i = 0; i < DATAGRAMS; i++) {
    await receiver.receive();
    if (!timerFired) receivedBeforeTimer++;
    // Work as costly as answering a flood's datagram.
    const until = performance.now() + 3;
    while (performance.now() < until) { /* busy */ }
  }
  clearTimeout(timer);
  ok(timerFired, "the timer never ran while datagrams were handled");
  ok(
    receivedBeforeTimer <= 5,
    `${receivedBeforeTimer} datagrams were handled before the timer ran`,
  );
}

Deno.test("NodeUdpTransport gives the event loop a turn while datagrams wait", async () => {
  await timerRunsDuringBusyReceives(new NodeUdpTransport({ logger: new RecordingLogger() }));
});

Deno.test({
  name: "UdpTransport gives the event loop a turn while datagrams wait",
  ignore: typeof Deno.listenDatagram !== "function",
  fn: () => timerRunsDuringBusyReceives(new UdpTransport({ logger: new RecordingLogger() })),
});
