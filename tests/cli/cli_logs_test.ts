// Copyright the chitchat for Deno authors. MIT license.
// The CLI's log lines: text with an ISO time, the level and the node id, or
// one JSON object a line. A junk datagram sent to the node makes the
// runtime log a real warning to look at.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { main } from "../../lib/cli/cli.ts";
import { waitFor } from "../_deadline.ts";

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

/** Runs the CLI in process; `lines()` are its parsed JSON log lines. */
function inProcess(args: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const controller = new AbortController();
  const code = main([...args, "--log-format=json", "--log-level=info"], {
    signal: controller.signal,
    stdout: (l) => stdout.push(l),
    stderr: (l) => stderr.push(l),
  });
  return {
    stdout,
    lines: () => stderr.map((l) => JSON.parse(l) as Record<string, string>),
    port: () =>
      waitFor("the startup line", () => {
        for (const l of stdout) {
          const port = /gossiping on 127\.0\.0\.1:(\d+) /.exec(l)?.[1];
          if (port !== undefined) return Number(port);
        }
        return undefined;
      }),
    stop: async () => {
      controller.abort();
      return await code;
    },
  };
}

Deno.test(
  "membership changes (joined, left, restarted) and the first exchange with a seed are info lines with generation and address",
  SANITIZED,
  async () => {
    const fast = ["--listen=127.0.0.1:0", "--interval-ms=50"];
    const a = inProcess([...fast, "--node-id=a"]);
    let b: ReturnType<typeof inProcess> | undefined;
    try {
      const seed = `--seed=127.0.0.1:${await a.port()}`;
      b = inProcess([...fast, "--node-id=b", "--generation=1", seed]);
      const bPort = await b.port();
      const line = (node: ReturnType<typeof inProcess>, message: string, generation?: string) =>
        waitFor(
          `"${message}"`,
          () =>
            node.lines().find((l) =>
              l.message === message && (generation === undefined || l.generation === generation)
            ),
        );
      const joined = await line(a, "A node joined");
      deepStrictEqual(
        [joined.level, joined.node, joined.generation, joined.address],
        ["info", "b", "1", `127.0.0.1:${bPort}`],
      );
      const firstExchange = await line(b, "First exchange with a seed");
      equal(firstExchange.seed, `127.0.0.1:${await a.port()}`);
      // Stopping leaves the cluster (a graceful leave, not a death).
      equal(await b.stop(), 0);
      const left = await line(a, "A node left the cluster");
      equal(left.level, "info");
      match(left.node, new RegExp(`^b:1:127\\.0\\.0\\.1:${bPort}$`));
      // The same id on the same address, a newer generation: a restart.
      b = inProcess([
        `--listen=127.0.0.1:${bPort}`,
        "--interval-ms=50",
        "--node-id=b",
        "--generation=2",
        seed,
      ]);
      const restarted = await line(a, "A node restarted with a new generation");
      deepStrictEqual(
        [restarted.level, restarted.generation, restarted.address],
        ["info", "2", `127.0.0.1:${bPort}`],
      );
      // One line per event: the CLI does not repeat what the state machine logs.
      equal(a.lines().filter((l) => l.message === "A node left the cluster").length, 1);
    } finally {
      await b?.stop();
      equal(await a.stop(), 0);
    }
  },
);
