// Copyright the chitchat for Deno authors. MIT license.
// What the two UDP transports do beyond the contract of
// transport_contract_test.ts (transient send errors, the address in use),
// and what only UdpTransport does (a clear error without --unstable-net).

import { equal, ok as assert, rejects } from "node:assert/strict";
import { Digest } from "../../lib/core/digest.ts";
import { NodeUdpTransport } from "../../lib/runtime/node_udp_transport.ts";
import { UdpTransport } from "../../lib/runtime/udp_transport.ts";
import { RecordingLogger } from "../_deadline.ts";

const LOOPBACK = { hostname: "127.0.0.1", port: 0 };

for (
  const [name, makeTransport] of [
    ["UdpTransport", (logger: RecordingLogger) => new UdpTransport({ logger })],
    ["NodeUdpTransport", (logger: RecordingLogger) => new NodeUdpTransport({ logger })],
  ] as const
) {
  Deno.test(`${name} swallows and counts a transient send error`, async () => {
    const logger = new RecordingLogger();
    await using socket = await makeTransport(logger).open(LOOPBACK);
    // An IPv4 socket cannot reach an IPv6 address: EAFNOSUPPORT, a per-datagram failure.
    await socket.send({ hostname: "::1", port: 9 }, {
      type: "syn",
      clusterId: "x",
      digest: Digest.empty,
    });
    equal(socket.metrics.sendErrors, 1);
    equal(socket.metrics.messagesSent, 0);
    equal(logger.atLeast("warn").length, 0);
  });

  Deno.test(`${name} reports the address already in use`, async () => {
    const transport = makeTransport(new RecordingLogger());
    await using socket = await transport.open(LOOPBACK);
    await rejects(
      transport.open(socket.localAddr),
      (error: unknown) =>
        error instanceof Deno.errors.AddrInUse &&
        error.message ===
          `Cannot bind 127.0.0.1:${socket.localAddr.port}/UDP for gossip: address already in use`,
    );
  });
}

Deno.test("UdpTransport refuses a malformed listen address", async () => {
  const transport = new UdpTransport({ logger: new RecordingLogger() });
  await rejects(transport.open({ hostname: "127.0.0.1", port: 65_536 }), RangeError);
  await rejects(transport.open({ hostname: "127.0.0.1", port: 1.5 }), RangeError);
  await rejects(
    transport.open({ hostname: 7 as unknown as string, port: 0 }),
    TypeError,
  );
});

Deno.test("UdpTransport without --unstable-net fails with a TypeError that says what to add", async () => {
  const module = new URL("../../lib/runtime/udp_transport.ts", import.meta.url).href;
  const script = `
    import { UdpTransport } from ${JSON.stringify(module)};
    try {
      await new UdpTransport().open({ hostname: "127.0.0.1", port: 0 });
      console.log("opened");
    } catch (error) {
      console.log(error.name + ": " + error.message);
    }
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  assert(output.success, new TextDecoder().decode(output.stderr));
  assert(stdout.startsWith("TypeError: "), stdout);
  assert(stdout.includes("--unstable-net"), stdout);
  assert(stdout.includes('"unstable": ["net"]'), stdout);
});
