// Copyright the chitchat for Deno authors. MIT license.
// A flood of junk datagrams is counted datagram by datagram but logged as
// one line per interval, never one line per datagram.

import { equal, ok } from "node:assert/strict";
import { ChannelTransport } from "../../lib/testing/channel_transport.ts";
import { VirtualScheduler } from "../../lib/testing/virtual_scheduler.ts";
import { UdpTransport } from "../../lib/runtime/udp_transport.ts";
import { NodeUdpTransport } from "../../lib/runtime/node_udp_transport.ts";
import type { Transport } from "../../lib/runtime/transport.ts";
import { pollUntil, RecordingLogger } from "../_deadline.ts";

const JUNK = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);

Deno.test("10,000 junk datagrams on the in-memory network give two log lines, all counted", async () => {
  const scheduler = new VirtualScheduler();
  const logger = new RecordingLogger();
  const transport = new ChannelTransport({ scheduler, logger });
  await using socket = await transport.open({ hostname: "127.0.0.1", port: 7001 });
  const attacker = { hostname: "10.6.6.6", port: 666 };
  for (let i = 0; i < 10_000; i++) transport.injectDatagram(attacker, socket.localAddr, JUNK);
  await scheduler.advance(11_000);
  transport.injectDatagram(attacker, socket.localAddr, JUNK); // the next interval: the summary first
  const lines = logger.atLeast("warn");
  equal(lines.length, 3, lines.map((line) => line.message).join("; "));
  equal(lines[0].message, "Dropped an undecodable datagram");
  equal(lines[1].message, "Dropped undecodable datagrams");
  equal(lines[1].fields?.count, 9_999);
  equal(lines[1].fields?.sampleSender, "10.6.6.6:666");
  equal(transport.stats().messagesDropped, 10_001);
});

for (
  const [name, make] of [
    ["UdpTransport", (logger: RecordingLogger) => new UdpTransport({ logger })],
    ["NodeUdpTransport", (logger: RecordingLogger) => new NodeUdpTransport({ logger })],
  ] as const
) {
  Deno.test(`${name} logs a junk flood once and counts every datagram`, async () => {
    const logger = new RecordingLogger();
    const transport: Transport = make(logger);
    const victim = await transport.open({ hostname: "127.0.0.1", port: 0 });
    const attacker = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const receiving = (async () => {
        for await (const _ of victim) { /* junk never decodes */ }
      })();
      // Bursts small enough for the kernel's default receive buffer.
      for (let burst = 0; burst < 10; burst++) {
        for (let i = 0; i < 50; i++) {
          await attacker.send(JUNK, { ...victim.localAddr, transport: "udp" });
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await pollUntil(() => victim.metrics.datagramsDropped >= 200, {
        timeoutMs: 5_000,
        label: "the junk arrives",
      });
      await victim.close();
      await receiving;
      // One line at once and one summary (a slow run may span two intervals).
      const lines = logger.atLeast("warn").filter((line) => line.message.includes("undecodable"));
      ok(lines.length >= 1 && lines.length <= 3, `${lines.length} warnings`);
      ok(victim.metrics.datagramsDropped >= 200);
    } finally {
      attacker.close();
      await victim.close();
    }
  });
}
