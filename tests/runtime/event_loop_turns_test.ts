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

/** Handles `DATAGRAMS` waiting datagrams at `handlingMs` each; returns the elapsed time. */
async function busyReceives(transport: Transport, handlingMs: number): Promise<number> {
  await using receiver = await transport.open(LOOPBACK);
  await using sender = await transport.open(LOOPBACK);
  const syn = { type: "syn", clusterId: "turns", digest: Digest.empty } as const;
  for (let i = 0; i < DATAGRAMS; i++) await sender.send(receiver.localAddr, syn);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const started = performance.now();
  for (let i = 0; i < DATAGRAMS; i++) {
    await receiver.receive();
    const until = performance.now() + handlingMs;
    while (performance.now() < until) { /* busy */ }
  }
  return performance.now() - started;
}

for (
  const [name, transport] of [
    ["NodeUdpTransport", () => new NodeUdpTransport({ logger: new RecordingLogger() })],
    ["UdpTransport", () => new UdpTransport({ logger: new RecordingLogger() })],
  ] as const
) {
  Deno.test({
    name: `${name} rests after each costly message: receiving takes at most half the time`,
    ignore: name === "UdpTransport" && typeof Deno.listenDatagram !== "function",
    async fn() {
      // 10 ms of handling each: the loop rests as long, so the whole takes
      // about twice the handling (at least, whatever the machine's speed).
      const elapsed = await busyReceives(transport(), 10);
      ok(
        elapsed >= 1.9 * DATAGRAMS * 10,
        `${elapsed.toFixed(0)} ms for ${DATAGRAMS * 10} ms of work`,
      );
    },
  });
}

Deno.test("NodeUdpTransport gives the event loop a turn while datagrams wait", async () => {
  await timerRunsDuringBusyReceives(new NodeUdpTransport({ logger: new RecordingLogger() }));
});

Deno.test({
  name: "UdpTransport gives the event loop a turn while datagrams wait",
  ignore: typeof Deno.listenDatagram !== "function",
  fn: () => timerRunsDuringBusyReceives(new UdpTransport({ logger: new RecordingLogger() })),
});
