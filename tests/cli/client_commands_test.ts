// Copyright the chitchat for Deno authors. MIT license.
// `chitchat members|get|set --http HOST:PORT` against a CLI node in process.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { main } from "../../lib/cli/cli.ts";

const SANITIZED = { sanitizeOps: true, sanitizeResources: true } as const;

async function client(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, out, err };
}

Deno.test("members, set and get talk to a running node over its HTTP API", SANITIZED, async () => {
  const stdout: string[] = [];
  const controller = new AbortController();
  const exitCode = main(
    ["--listen=127.0.0.1:0", "--http=127.0.0.1:0", "--node-id=served", "--generation=7"],
    { signal: controller.signal, stdout: (l) => stdout.push(l), stderr: () => {} },
  );
  try {
    const deadline = performance.now() + 5_000;
    let http: string | undefined;
    while (http === undefined) {
      ok(performance.now() < deadline, "the HTTP line is printed");
      await new Promise((resolve) => setTimeout(resolve, 10));
      for (const line of stdout) http ??= /HTTP API on http:\/\/(\S+)\/$/.exec(line)?.[1];
    }
    const set = await client(["set", "color", "red", "--http", http]);
    deepStrictEqual(set, { code: 0, out: ["color = red (version 1)"], err: [] });
    deepStrictEqual(await client(["--", "get", "color", `--http=${http}`]), {
      code: 0,
      out: ["red"],
      err: [],
    });
    const missing = await client(["get", "nope", "--http", http]);
    equal(missing.code, 1);
    deepStrictEqual(missing.err, ['chitchat: No key "nope" on this node']);
    const members = await client(["members", "--http", http]);
    equal(members.code, 0);
    match(
      members.out[0],
      /^NODE\s+GENERATION\s+ADDRESS\s+STATUS\s+HEARTBEAT\s+MAX VERSION\s+PHI\s+LAST HEARTBEAT$/,
    );
    match(members.out[1], /^served\s+7\s+127\.0\.0\.1:\d+\s+self\s+\d+\s+1\s+-\s+-$/);
    equal(members.out.length, 2);
  } finally {
    controller.abort();
    equal(await exitCode, 0);
  }
});

Deno.test("client subcommands refuse a bad command line with exit code 2", SANITIZED, async () => {
  deepStrictEqual(await client(["members"]), {
    code: 2,
    out: [],
    err: ["chitchat: members needs --http HOST:PORT of a running node"],
  });
  deepStrictEqual(await client(["get", "--http", "127.0.0.1:1"]), {
    code: 2,
    out: [],
    err: ["chitchat: usage: chitchat get KEY --http HOST:PORT"],
  });
  equal((await client(["set", "k", "v", "--bogus", "--http=x"])).code, 2);
});
