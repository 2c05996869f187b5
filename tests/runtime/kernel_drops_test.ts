// Copyright the chitchat for Deno authors. MIT license.
// The kernel's drop counter of a UDP socket, read from /proc/net/udp on
// Linux: what a flood costs before any of our code sees a datagram.

import { equal, ok } from "node:assert/strict";
import { Digest } from "../../lib/core/digest.ts";
import { dropsInTable } from "../../lib/runtime/_kernel_udp_drops.ts";
import { NodeUdpTransport } from "../../lib/runtime/node_udp_transport.ts";
import { UdpTransport } from "../../lib/runtime/udp_transport.ts";
import { RecordingLogger } from "../_deadline.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 };
const linux = Deno.build.os === "linux";

Deno.test("dropsInTable reads the drops column of the sockets on a port", () => {
  const table = [
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
    " 4881: 0100007F:8903 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 168091 2 000000001f3739e1 17",
    " 4882: 0100007F:0050 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 168092 2 000000001f3739e2 5",
    "",
  ].join("\n");
  equal(dropsInTable(table, 0x8903), 17);
  equal(dropsInTable(table, 80), 5);
  equal(dropsInTable(table, 81), undefined);
});

Deno.test({
  name: "a UDP socket that nobody reads counts what the kernel dropped",
  ignore: !linux || typeof Deno.listenDatagram !== "function",
  async fn() {
    const logger = new RecordingLogger();
    await using idle = await new UdpTransport({ logger }).open(LOOPBACK);
    await using sender = await new NodeUdpTransport({ logger }).open(LOOPBACK);
    equal(idle.metrics.kernelDrops, 0);
    const syn = { type: "syn", clusterId: "x".repeat(60_000), digest: Digest.empty } as const;
    // 200 datagrams of 60 KB: far more than a default receive buffer holds.
    for (let i = 0; i < 200; i++) await sender.send(idle.localAddr, syn);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const drops = idle.metrics.kernelDrops;
    ok(drops !== undefined && drops > 0, `kernel drops: ${drops}`);
    equal(typeof sender.metrics.kernelDrops, "number");
  },
});
