// Copyright the chitchat for Deno authors. MIT license.
// The chitchat command: flag parsing and validation in process, two nodes
// talking over real UDP with their HTTP APIs, busy ports, and a real
// subprocess stopped by SIGTERM and SIGINT.

import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import denoJson from "../../deno.json" with { type: "json" };
import { type CliNodeConfig, CliUsageError, main, parseCliArgs } from "../../lib/cli/cli.ts";
import type { ClusterStateJson } from "../../lib/cli/http_api.ts";
import { waitFor, withTimeout } from "../_deadline.ts";

// Deno 2.9 runs tests without its sanitizers unless asked; these tests ask,
// so that a socket, server or timer left open fails the test that opened it.
const SANITIZED = { sanitizeOps: true, sanitizeResources: true } as const;

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FAST = ["--interval-ms", "50", "--fd-initial-interval-ms", "50"];

function runConfig(args: string[]): CliNodeConfig {
  const command = parseCliArgs(args);
  equal(command.kind, "run");
  return command.node;
}

/** `main()` running in process, with its output captured and an abort to stop it. */
class CliRun {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exitCode: Promise<number>;
  readonly #controller = new AbortController();

  constructor(args: string[]) {
    this.exitCode = main(args, {
      signal: this.#controller.signal,
      stdout: (line) => this.stdout.push(line),
      stderr: (line) => this.stderr.push(line),
    });
  }

  /** The first capture group of the first stdout line matching `pattern`, once printed. */
  line(pattern: RegExp): Promise<string> {
    return waitFor(`a line matching ${pattern}`, () => {
      for (const line of this.stdout) {
        const found = pattern.exec(line);
        if (found !== null) return found[1] ?? found[0];
      }
      return undefined;
    });
  }

  async stop(): Promise<number> {
    this.#controller.abort();
    return await this.exitCode;
  }
}

async function runToCompletion(
  args: string[],
): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(args, {
    signal: AbortSignal.abort(),
    stdout: (line) => stdout.push(line),
    stderr: (line) => stderr.push(line),
  });
  return { code, stdout, stderr };
}

Deno.test("parseCliArgs() fills in the defaults", SANITIZED, () => {
  const before = BigInt(Math.floor(Date.now() / 1_000));
  const node = runConfig([]);
  const after = BigInt(Math.floor(Date.now() / 1_000));
  deepStrictEqual(node.listenAddr, { hostname: "127.0.0.1", port: 10000 });
  equal(node.chitchatId.nodeId, "node-10000");
  deepStrictEqual(node.chitchatId.gossipAdvertiseAddr, { hostname: "127.0.0.1", port: 10000 });
  ok(before <= node.chitchatId.generationId && node.chitchatId.generationId <= after);
  equal(node.clusterId, "testing");
  deepStrictEqual(node.seedNodes, []);
  equal(node.gossipIntervalMs, 1_000);
  deepStrictEqual(node.initialKeyValues, []);
  deepStrictEqual(
    node.failureDetector,
    { initialIntervalMs: 1_000 },
    "the prior follows the gossip interval",
  );
  equal(node.markedForDeletionGracePeriodMs, undefined);
  equal(node.httpAddr, undefined);
  equal(node.httpMaxConnections, 256);
  equal(node.httpIdleTimeoutMs, 30_000);
  equal(node.logLevel, "warn");
  equal(node.logFormat, "text");
  deepStrictEqual(node.encryptionKeys, []);
  equal(node.encryptionKeyFile, undefined);
  equal(node.encryptSendPlaintext, false);
  equal(node.encryptAcceptPlaintext, false);
});

Deno.test("parseCliArgs() reads every flag", SANITIZED, () => {
  const node = runConfig([
    "--listen=[::1]:7000",
    "--public-addr",
    "10.0.0.7:7100",
    "--seed",
    "seed.example:7000",
    "--node-id",
    "indexer-1",
    "--generation",
    "18446744073709551615",
    "--cluster-id",
    "prod",
    "--interval-ms",
    "250",
    "--set",
    "role=indexer",
    "--phi",
    "2.5",
    "--dead-grace-ms",
    "10000",
    "--gc-grace-ms",
    "60000",
    "--fd-initial-interval-ms",
    "300",
    "--http",
    "localhost:0",
    "--http-max-connections",
    "9",
    "--http-idle-timeout-ms",
    "1234",
    "--log-format",
    "json",
    "--log-level",
    "debug",
    "--encrypt-key",
    btoa("0123456789abcdef"),
    "--encrypt-send-plaintext",
    "--encrypt-accept-plaintext",
  ]);
  deepStrictEqual(node, {
    listenAddr: { hostname: "::1", port: 7000 },
    chitchatId: {
      nodeId: "indexer-1",
      generationId: 0xffff_ffff_ffff_ffffn,
      gossipAdvertiseAddr: { hostname: "10.0.0.7", port: 7100 },
    },
    clusterId: "prod",
    seedNodes: ["seed.example:7000"],
    gossipIntervalMs: 250,
    initialKeyValues: [["role", "indexer"]],
    failureDetector: { phiThreshold: 2.5, deadNodeGracePeriodMs: 10_000, initialIntervalMs: 300 },
    markedForDeletionGracePeriodMs: 60_000,
    httpAddr: { hostname: "localhost", port: 0 },
    httpMaxConnections: 9,
    httpIdleTimeoutMs: 1234,
    logFormat: "json",
    logLevel: "debug",
    encryptionKeys: [new TextEncoder().encode("0123456789abcdef")],
    encryptionKeyFile: undefined,
    encryptSendPlaintext: true,
    encryptAcceptPlaintext: true,
  });
});

Deno.test("parseCliArgs() keeps every value of a repeatable flag, in order", SANITIZED, () => {
  const node = runConfig([
    "--seed",
    "127.0.0.1:1",
    "--set",
    "b=2",
    "--seed",
    "[::1]:2",
    "--set",
    "a==x=",
    "--set",
    "empty=",
    "--set",
    "clé=😀",
  ]);
  deepStrictEqual(node.seedNodes, ["127.0.0.1:1", "[::1]:2"]);
  deepStrictEqual(node.initialKeyValues, [["b", "2"], ["a", "=x="], ["empty", ""], ["clé", "😀"]]);
});

Deno.test(
  "parseCliArgs() names the node after its public port, or at random for port 0",
  SANITIZED,
  () => {
    equal(
      runConfig(["--listen", "127.0.0.1:0", "--public-addr", "10.0.0.1:7001"]).chitchatId.nodeId,
      "node-7001",
    );
    const a = runConfig(["--listen", "127.0.0.1:0"]).chitchatId.nodeId;
    const b = runConfig(["--listen", "127.0.0.1:0"]).chitchatId.nodeId;
    match(a, /^node-[0-9a-f]{8}$/);
    ok(a !== b);
  },
);

Deno.test("--help and --version print to stdout and exit 0", SANITIZED, async () => {
  for (const flag of ["--help", "-h"]) {
    const { code, stdout, stderr } = await runToCompletion([flag]);
    equal(code, 0);
    deepStrictEqual(stderr, []);
    equal(stdout.length, 1);
    match(
      stdout[0],
      /^chitchat \S+: runs one chitchat node over UDP\n\nUsage: chitchat \[options\]/,
    );
    for (
      const documented of [
        "--listen HOST:PORT",
        "--public-addr HOST:PORT",
        "--seed HOST:PORT",
        "--node-id ID",
        "--generation N",
        "--cluster-id ID",
        "--interval-ms N",
        "--set KEY=VALUE",
        "--phi F",
        "--dead-grace-ms N",
        "--gc-grace-ms N",
        "--fd-initial-interval-ms N",
        "--http HOST:PORT",
        "--log-level LEVEL",
        "-h, --help",
        "--version",
        "PUT /kv/<key>",
      ]
    ) ok(stdout[0].includes(documented), documented);
  }
  const version = await runToCompletion(["--version"]);
  equal(version.code, 0);
  deepStrictEqual(version.stdout, [`chitchat ${denoJson.version}`]);
  deepStrictEqual(version.stderr, []);
  // Help wins over values it does not validate.
  equal((await runToCompletion(["--interval-ms", "abc", "--help"])).code, 0);
});

Deno.test(
  "each bad flag exits 2 with one line on stderr saying what is wrong",
  SANITIZED,
  async () => {
    const tooBig = `k=${"x".repeat(65_500)}`;
    const cases: [string[], string][] = [
      [["--bogus"], "unknown option --bogus (see --help)"],
      [["-x"], "unknown option -x (see --help)"],
      [["extra"], 'unexpected argument "extra" (see --help)'],
      [["--", "--listen"], "missing value for --listen"],
      [["--", "--", "--listen"], 'unexpected argument "--listen" (see --help)'],
      [["--listen"], "missing value for --listen"],
      [
        ["--listen", "--seed", "127.0.0.1:1"],
        'missing value for --listen (write --listen=VALUE for a value starting with "-")',
      ],
      [["--help=yes"], "--help does not take a value"],
      [["--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2"], "--listen given more than once"],
      [
        ["--listen", "localhost:1"],
        'invalid --listen "localhost:1": expected an IP address and a port, like 127.0.0.1:10000',
      ],
      [
        ["--listen", "127.0.0.1"],
        'invalid --listen "127.0.0.1": expected HOST:PORT with a port in [0, 65535]',
      ],
      [
        ["--listen", "127.0.0.1:65536"],
        'invalid --listen "127.0.0.1:65536": expected HOST:PORT with a port in [0, 65535]',
      ],
      [
        ["--public-addr", "example.com:1"],
        'invalid --public-addr "example.com:1": expected an IP address and a port, like 127.0.0.1:10000',
      ],
      [
        ["--seed", "127.0.0.1:0"],
        'invalid --seed "127.0.0.1:0": expected HOST:PORT with a port in [1, 65535]',
      ],
      [["--seed", "nope"], 'invalid --seed "nope": expected HOST:PORT with a port in [0, 65535]'],
      [["--node-id", ""], 'invalid --node-id "": expected a non-empty string'],
      [["--cluster-id="], 'invalid --cluster-id "": expected a non-empty string'],
      [
        ["--generation=-1"],
        'invalid --generation "-1": expected an integer in [0, 18446744073709551615]',
      ],
      [
        ["--generation", "18446744073709551616"],
        'invalid --generation "18446744073709551616": expected an integer in [0, 18446744073709551615]',
      ],
      [
        ["--generation", "1.5"],
        'invalid --generation "1.5": expected an integer in [0, 18446744073709551615]',
      ],
      [
        ["--interval-ms", "abc"],
        'invalid --interval-ms "abc": expected a positive integer at most 2147483647',
      ],
      [
        ["--interval-ms", "0"],
        'invalid --interval-ms "0": expected a positive integer at most 2147483647',
      ],
      [
        ["--interval-ms", "2147483648"],
        'invalid --interval-ms "2147483648": expected a positive integer at most 2147483647',
      ],
      [
        ["--interval-ms", "1e3"],
        'invalid --interval-ms "1e3": expected a positive integer at most 2147483647',
      ],
      [["--set", "novalue"], 'invalid --set "novalue": expected KEY=VALUE with a non-empty key'],
      [["--set", "=v"], 'invalid --set "=v": expected KEY=VALUE with a non-empty key'],
      [["--set", "a=1", "--set", "a=2"], 'invalid --set "a=2": key "a" is set more than once'],
      [
        ["--set", tooBig],
        `invalid --set "${
          tooBig.slice(0, 40)
        }…": Cannot set key-value: 65501 bytes of key and value cannot fit one 65507-byte datagram`,
      ],
      [["--phi", "0"], 'invalid --phi "0": expected a positive number'],
      [["--phi", "abc"], 'invalid --phi "abc": expected a positive number'],
      [["--phi", "Infinity"], 'invalid --phi "Infinity": expected a positive number'],
      [["--phi", "1e999"], 'invalid --phi "1e999": expected a positive number'],
      [["--phi=-1"], 'invalid --phi "-1": expected a positive number'],
      [["--dead-grace-ms", "1.5"], 'invalid --dead-grace-ms "1.5": expected a positive integer'],
      [["--gc-grace-ms", "0"], 'invalid --gc-grace-ms "0": expected a positive integer'],
      [
        ["--fd-initial-interval-ms", " 5"],
        'invalid --fd-initial-interval-ms " 5": expected a positive integer',
      ],
      [
        ["--http", "127.0.0.1"],
        'invalid --http "127.0.0.1": expected HOST:PORT with a port in [0, 65535]',
      ],
      [
        ["--log-level", "loud"],
        'invalid --log-level "loud": expected one of debug, info, warn, error',
      ],
    ];
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await runToCompletion(args);
      equal(code, 2, args.join(" "));
      deepStrictEqual(stdout, []);
      deepStrictEqual(stderr, [`chitchat: ${message}`]);
    }
  },
);

Deno.test("two CLI nodes share a key through their HTTP APIs", SANITIZED, async (t) => {
  const a = new CliRun([
    "--listen=127.0.0.1:0",
    "--node-id=alpha",
    "--http=127.0.0.1:0",
    "--set=role=seed",
    ...FAST,
  ]);
  let b: CliRun | undefined;
  try {
    const gossipA = await a.line(/^chitchat: node alpha .* gossiping on (127\.0\.0\.1:\d+) as /);
    const httpA = await a.line(/^chitchat: HTTP API on (http:\/\/127\.0\.0\.1:\d+\/)$/);
    b = new CliRun([
      "--listen=127.0.0.1:0",
      "--node-id=beta",
      "--http=127.0.0.1:0",
      `--seed=${gossipA}`,
      ...FAST,
    ]);
    const httpB = await b.line(/^chitchat: HTTP API on (http:\/\/127\.0\.0\.1:\d+\/)$/);
    const stateOfB = async (): Promise<ClusterStateJson> => {
      const response = await fetch(httpB);
      equal(response.status, 200);
      return await response.json();
    };
    const alphaSeenByB = async (): Promise<ClusterStateJson["nodes"][number] | undefined> =>
      (await stateOfB()).nodes.find((node) => node.chitchatId.nodeId === "alpha");

    await t.step("the nodes see each other live", async () => {
      const state = await waitFor("beta to see alpha live", async () => {
        const state = await stateOfB();
        return state.liveNodes.length === 2 ? state : undefined;
      });
      deepStrictEqual(state.liveNodes.map((id) => id.nodeId).sort(), ["alpha", "beta"]);
      equal(state.clusterId, "testing");
      equal(state.self.nodeId, "beta");
      await b!.line(/^(chitchat: live nodes \(2\): .*alpha\/\d+@127\.0\.0\.1:\d+.*)$/);
    });

    await t.step("a key set on alpha over HTTP reaches beta", async () => {
      const put = await fetch(`${httpA}kv/color%2Fprimary`, { method: "PUT", body: "vermilion" });
      equal(put.status, 200);
      equal(put.headers.get("content-type"), "application/json");
      deepStrictEqual(await put.json(), {
        key: "color/primary",
        value: "vermilion",
        version: 2,
        status: "set",
      });
      const alpha = await waitFor("beta to learn alpha's color", async () => {
        const node = await alphaSeenByB();
        return node?.maxVersion === 2 ? node : undefined;
      });
      deepStrictEqual(alpha.keyValues, [
        { key: "color/primary", value: "vermilion", version: 2, status: "set" },
        { key: "role", value: "seed", version: 1, status: "set" },
      ]);
    });

    await t.step("deleting it on alpha leaves a tombstone on beta", async () => {
      const del = await fetch(`${httpA}kv/color%2Fprimary`, { method: "DELETE" });
      equal(del.status, 200);
      deepStrictEqual(await del.json(), {
        key: "color/primary",
        value: "",
        version: 3,
        status: "deleted",
      });
      const alpha = await waitFor("beta to learn of the deletion", async () => {
        const node = await alphaSeenByB();
        return node?.maxVersion === 3 ? node : undefined;
      });
      deepStrictEqual(alpha.keyValues[0], {
        key: "color/primary",
        value: "",
        version: 3,
        status: "deleted",
      });
      const again = await fetch(`${httpA}kv/color%2Fprimary`, { method: "DELETE" });
      equal(again.status, 404);
      match((await again.json()).error, /No key "color\/primary"/);
    });

    await t.step("both stop cleanly", async () => {
      equal(await b!.stop(), 0);
      equal(await a.stop(), 0);
      for (const run of [a, b!]) {
        deepStrictEqual(run.stderr, []);
        match(run.stdout.at(-3)!, /^chitchat: stop requested, leaving the cluster$/);
        match(
          run.stdout.at(-2)!,
          /^chitchat: left the cluster \(peers acknowledging: \d\), shutting down$/,
        );
        match(run.stdout.at(-1)!, /^chitchat: node (alpha|beta) stopped$/);
      }
    });
  } finally {
    await b?.stop();
    await a.stop();
  }
});

Deno.test("a busy UDP port exits 1 with one line", SANITIZED, async () => {
  const busy = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const addr = `127.0.0.1:${(busy.addr as Deno.NetAddr).port}`;
    const { code, stdout, stderr } = await runToCompletion(["--listen", addr]);
    equal(code, 1);
    deepStrictEqual(stdout, []);
    deepStrictEqual(stderr, [
      `chitchat: cannot start the node on UDP ${addr}: address already in use`,
    ]);
  } finally {
    busy.close();
  }
});

Deno.test("a busy HTTP port exits 1 after stopping the node", SANITIZED, async () => {
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const addr = `127.0.0.1:${busy.addr.port}`;
  const { code, stdout, stderr } = await runToCompletion([
    "--listen=127.0.0.1:0",
    `--http=${addr}`,
    ...FAST,
  ]);
  equal(code, 1);
  deepStrictEqual(stdout, []);
  deepStrictEqual(stderr, [`chitchat: cannot serve HTTP on ${addr}: address already in use`]);
  // The sanitizers check that the UDP socket of the node was closed.
});

Deno.test("a CLI subprocess stops cleanly on SIGTERM and SIGINT", {
  ...SANITIZED,
  ignore: Deno.build.os === "windows",
}, async (t) => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    await t.step(`${signal} exits 0`, async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "lib/cli/cli.ts", "--listen=127.0.0.1:0", "--node-id=sub", ...FAST],
        cwd: REPO_ROOT,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // Never leave the child behind, whatever fails below.
      const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      try {
        const stderr = new Response(child.stderr).text();
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let stdout = "";
        while (!stdout.includes("\n")) {
          const { done, value } = await reader.read();
          if (done) break;
          stdout += value;
        }
        match(
          stdout,
          /^chitchat: node sub \(generation \d+, cluster "testing"\) gossiping on 127\.0\.0\.1:\d+ as 127\.0\.0\.1:\d+, seeds: none\n/,
        );
        child.kill(signal);
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          stdout += value;
        }
        const status = await child.status;
        equal(status.code, 0, await stderr);
        equal(await stderr, "");
        match(
          stdout,
          new RegExp(
            `\nchitchat: ${signal} received, leaving the cluster\n` +
              `chitchat: left the cluster \\(peers acknowledging: 0\\), shutting down\n` +
              `chitchat: node sub stopped\n$`,
          ),
        );
      } finally {
        clearTimeout(killer);
      }
    });
  }
});

Deno.test(
  "parseCliArgs() scales the failure detector's prior to the gossip interval",
  SANITIZED,
  () => {
    deepStrictEqual(runConfig(["--interval-ms", "100"]).failureDetector, {
      initialIntervalMs: 100,
    });
    deepStrictEqual(
      runConfig(["--interval-ms", "100", "--fd-initial-interval-ms", "700"]).failureDetector,
      { initialIntervalMs: 700 },
    );
  },
);

Deno.test("parseCliArgs() skips a leading -- (deno task node -- --listen ...)", () => {
  const command = parseCliArgs(["--", "--listen", "127.0.0.1:7300"]);
  equal(command.kind, "run");
  if (command.kind === "run") equal(command.node.listenAddr.port, 7300);
  throws(() => parseCliArgs(["--listen", "127.0.0.1:1", "--", "x"]), CliUsageError);
});

Deno.test(
  "advertising 0.0.0.0 gets a warning naming --public-addr, a JSON line with --log-format json",
  SANITIZED,
  async () => {
    for (const format of ["text", "json"]) {
      const stderr: string[] = [];
      const code = await main([
        "--listen",
        "0.0.0.0:0",
        "--public-addr",
        "0.0.0.0:0",
        `--log-format=${format}`,
      ], {
        signal: AbortSignal.abort(),
        stdout: () => {},
        stderr: (line) => stderr.push(line),
      });
      equal(code, 0);
      const line = stderr.find((l) => l.includes("unspecified address 0.0.0.0"));
      ok(line?.includes("--public-addr"), stderr.join("\n"));
      if (format === "json") {
        const entry = JSON.parse(line!);
        equal(entry.level, "warn");
        match(entry.address, /^0\.0\.0\.0:[1-9]\d*$/, "the port actually bound");
      } else ok(/ WARN node-/.test(line!), line);
    }
  },
);

const KEY_32 = btoa(String.fromCharCode(...new Uint8Array(32).fill(0x11)));
const KEY_16 = btoa(String.fromCharCode(...new Uint8Array(16).fill(0x22)));

Deno.test(
  "parseCliArgs() reads --encrypt-key and --encrypt-key-file, the first key primary",
  SANITIZED,
  async () => {
    const file = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(file, `# rotation: new key first\n\n  ${KEY_16}  \n${KEY_32}\n`);
      const node = runConfig([`--encrypt-key=${KEY_32}`, `--encrypt-key-file=${file}`]);
      deepStrictEqual(node.encryptionKeys, [
        new Uint8Array(32).fill(0x11),
        new Uint8Array(16).fill(0x22),
        new Uint8Array(32).fill(0x11),
      ]);
      const refused = (args: string[], message: RegExp) =>
        throws(() => parseCliArgs(args), (error: unknown) => {
          ok(error instanceof CliUsageError);
          match(error.message, message);
          ok(!error.message.includes("AAAA") && !error.message.includes("ERER"), error.message);
          return true;
        });
      refused(["--encrypt-key=not base64!"], /^invalid --encrypt-key #1: not base64$/);
      refused(
        [`--encrypt-key=${KEY_32}`, `--encrypt-key=${btoa("short")}`],
        /^invalid --encrypt-key #2: Encryption key must be 16, 24 or 32 bytes, got 5$/,
      );
      await Deno.writeTextFile(file, `${KEY_16}\n${KEY_16.slice(1)}\n`);
      refused(
        [`--encrypt-key-file=${file}`],
        /^invalid key on line 2 of --encrypt-key-file .*: not base64$/,
      );
      await Deno.writeTextFile(file, "# nothing\n");
      refused([`--encrypt-key-file=${file}`], /holds no key$/);
      refused([`--encrypt-key-file=${file}.missing`], /^cannot read --encrypt-key-file /);
      refused(["--encrypt-accept-plaintext"], /needs --encrypt-key or --encrypt-key-file$/);
    } finally {
      await Deno.remove(file);
    }
  },
);

Deno.test(
  "a CLI node with --encrypt-key refuses a plaintext peer and counts it in /metrics",
  SANITIZED,
  async () => {
    const sealed = new CliRun([
      "--listen=127.0.0.1:0",
      "--node-id=sealed",
      "--http=127.0.0.1:0",
      `--encrypt-key=${KEY_32}`,
      ...FAST,
    ]);
    let plain: CliRun | undefined;
    try {
      const gossip = await sealed.line(
        /^chitchat: node sealed .* gossiping on (127\.0\.0\.1:\d+) as /,
      );
      const http = await sealed.line(/^chitchat: HTTP API on (http:\/\/127\.0\.0\.1:\d+\/)$/);
      plain = new CliRun(["--listen=127.0.0.1:0", "--node-id=plain", `--seed=${gossip}`, ...FAST]);
      const refusedCount = async () => {
        const text = await (await fetch(new URL("metrics", http))).text();
        const line = text.split("\n").find((l) =>
          l.startsWith('chitchat_decrypt_failures_total{reason="plaintext_refused"}')
        );
        return Number(line?.split(" ")[1] ?? 0);
      };
      await waitFor("plaintext refused", async () => (await refusedCount()) > 0 ? true : undefined);
      const state = await (await fetch(http)).json() as ClusterStateJson;
      deepStrictEqual(state.nodes.map((node) => node.chitchatId.nodeId), ["sealed"]);
      ok(!JSON.stringify(state).includes(KEY_32));
    } finally {
      equal(await plain?.stop(), 0);
      equal(await sealed.stop(), 0);
    }
    ok(!sealed.stderr.join("\n").includes(KEY_32));
  },
);

Deno.test("SIGHUP rotates a CLI node's keys from --encrypt-key-file without a restart", {
  ...SANITIZED,
  ignore: Deno.build.os === "windows",
}, async () => {
  const file = await Deno.makeTempFile();
  const oldKey = new Uint8Array(32).fill(0x31);
  const newKey = new Uint8Array(32).fill(0x32);
  const base64 = (key: Uint8Array) => btoa(String.fromCharCode(...key));
  await Deno.writeTextFile(file, `${base64(oldKey)}\n`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "lib/cli/cli.ts",
      "--listen=127.0.0.1:0",
      "--node-id=rotating",
      `--encrypt-key-file=${file}`,
      ...FAST,
    ],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  let peer: CliRun | undefined;
  try {
    const errorReader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let errors = "";
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let stdout = "";
    const untilOut = async (pattern: RegExp) => {
      while (!pattern.test(stdout)) {
        const { done, value } = await withTimeout(reader.read(), 10_000, `${pattern} in ${stdout}`);
        if (done) throw new Error(`stdout ended before ${pattern}: ${stdout}`);
        stdout += value;
      }
      return pattern.exec(stdout)!;
    };
    const gossip = (await untilOut(/gossiping on (127\.0\.0\.1:\d+) as /))[1];
    // A peer that holds only the new key cannot meet the node yet.
    peer = new CliRun([
      "--listen=127.0.0.1:0",
      "--node-id=peer",
      `--seed=${gossip}`,
      `--encrypt-key=${base64(newKey)}`,
      ...FAST,
    ]);
    await peer.line(/^chitchat: node peer /);
    await new Promise((resolve) => setTimeout(resolve, 300));
    ok(!stdout.includes("peer/"), "met the peer before the rotation");
    // Step 1 and 2 at once for this node: the new key first, the old one kept.
    await Deno.writeTextFile(file, `# rotated\n${base64(newKey)}\n${base64(oldKey)}\n`);
    child.kill("SIGHUP");
    await untilOut(/chitchat: SIGHUP: 2 encryption keys in use\n/);
    await untilOut(/live nodes \(2\): .*peer\//);
    // Step 3: the old key removed.
    await Deno.writeTextFile(file, `${base64(newKey)}\n`);
    child.kill("SIGHUP");
    await untilOut(/chitchat: SIGHUP: 1 encryption keys in use\n/);
    // A bad file changes nothing.
    await Deno.writeTextFile(file, "not base64!\n");
    child.kill("SIGHUP");
    while (!errors.includes("SIGHUP: kept the keys in use")) {
      const { done, value } = await withTimeout(
        errorReader.read(),
        10_000,
        `reload error: ${errors}`,
      );
      if (done) break;
      errors += value;
    }
    child.kill("SIGTERM");
    for (;;) {
      const { done, value } = await withTimeout(reader.read(), 10_000, `exit after: ${stdout}`);
      if (done) break;
      stdout += value;
    }
    for (;;) {
      const { done, value } = await errorReader.read();
      if (done) break;
      errors += value;
    }
    equal((await child.status).code, 0);
    match(
      errors,
      /SIGHUP: kept the keys in use: invalid key on line 1 of --encrypt-key-file .*: not base64/,
    );
    ok(!errors.includes(base64(newKey)) && !stdout.includes(base64(newKey)));
  } finally {
    clearTimeout(killer);
    await peer?.stop();
    await Deno.remove(file);
  }
});
