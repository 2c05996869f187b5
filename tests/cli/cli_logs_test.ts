// Copyright the chitchat for Deno authors. MIT license.
// The CLI's log lines: text with an ISO time, the level and the node id, or
// one JSON object a line. A junk datagram sent to the node makes the
// runtime log a real warning to look at.

import { equal, match, ok } from "node:assert/strict";
import { main } from "../../lib/cli/cli.ts";

const SANITIZED = { sanitizeOps: true, sanitizeResources: true } as const;

async function logOfJunk(format: string): Promise<string> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const controller = new AbortController();
  const code = main(
    ["--listen=127.0.0.1:0", "--node-id=logger", "--interval-ms=50", `--log-format=${format}`],
    { signal: controller.signal, stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l) },
  );
  try {
    const deadline = performance.now() + 5_000;
    let port: number | undefined;
    while (port === undefined) {
      ok(performance.now() < deadline, "the startup line is printed");
      await new Promise((resolve) => setTimeout(resolve, 10));
      for (const l of stdout) port ??= Number(/gossiping on 127\.0\.0\.1:(\d+) /.exec(l)?.[1]);
      if (Number.isNaN(port)) port = undefined;
    }
    const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      await sender.send(new Uint8Array([0xff, 0xfe, 0xfd]), {
        transport: "udp",
        hostname: "127.0.0.1",
        port,
      });
    } finally {
      sender.close();
    }
    for (;;) {
      const line = stderr.find((l) => l.includes("undecodable datagram"));
      if (line !== undefined) return line;
      ok(performance.now() < deadline, `a drop is logged: ${stderr.join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    controller.abort();
    equal(await code, 0);
  }
}

Deno.test("text log lines carry an ISO time, the level and the node id", SANITIZED, async () => {
  const line = await logOfJunk("text");
  match(
    line,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN logger Dropped an undecodable datagram /,
  );
  match(line, /from: "127\.0\.0\.1:\d+"/);
});

Deno.test("--log-format json writes one JSON object a line", SANITIZED, async () => {
  const entry = JSON.parse(await logOfJunk("json"));
  equal(entry.level, "warn");
  equal(entry.node, "logger");
  equal(entry.message, "Dropped an undecodable datagram");
  match(entry.from, /^127\.0\.0\.1:\d+$/);
  equal(entry.bytes, 3);
  ok(!Number.isNaN(Date.parse(entry.time)));
});
