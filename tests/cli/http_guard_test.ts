// Copyright the chitchat for Deno authors. MIT license.
// The CLI's HTTP front: a connection cap answered with 503 JSON, idle
// connections closed, and a flood of half-open connections that leaves the
// node answering (it once exhausted the descriptors and killed the process).

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { main } from "../../lib/cli/cli.ts";
import type { ClusterStateJson } from "../../lib/cli/http_api.ts";
import { waitFor } from "../_deadline.ts";

const SANITIZED = { sanitizeOps: true, sanitizeResources: true } as const;
const FAST = ["--interval-ms", "50", "--fd-initial-interval-ms", "50"];

/** Starts the CLI with an HTTP API; returns its URL and a stop function. */
async function startNode(
  extra: string[],
): Promise<{ url: URL; stderr: string[]; stop: () => Promise<number> }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const controller = new AbortController();
  const exitCode = main(
    ["--listen=127.0.0.1:0", "--http=127.0.0.1:0", "--set=role=seed", ...FAST, ...extra],
    { signal: controller.signal, stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l) },
  );
  const url = await waitFor("the HTTP line", () => {
    for (const line of stdout) {
      const found = /^chitchat: HTTP API on (http:\/\/\S+)$/.exec(line);
      if (found !== null) return new URL(found[1]);
    }
    return undefined;
  });
  return {
    url,
    stderr,
    stop: async () => {
      controller.abort();
      return await exitCode;
    },
  };
}

/** Sends raw bytes on a new connection and reads until the server closes it. */
async function rawExchange(url: URL, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  try {
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(4_096);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    return text + decoder.decode();
  } finally {
    conn.close();
  }
}

Deno.test(
  "the HTTP API survives 300 half-open connections against a cap of 16 and answers again",
  SANITIZED,
  async (t) => {
    const node = await startNode(["--http-max-connections=16"]);
    const conns: Deno.TcpConn[] = [];
    try {
      await t.step("300 connections that never send a byte are held or refused", async () => {
        for (let i = 0; i < 300; i++) {
          conns.push(
            await Deno.connect({ hostname: node.url.hostname, port: Number(node.url.port) }),
          );
        }
        // The refused ones get a 503 and are closed by the server; the first 16 are held.
        let refused = 0;
        const buffer = new Uint8Array(1_024);
        for (const conn of conns.slice(16)) {
          const n = await conn.read(buffer);
          ok(n !== null, "a refused connection is answered before it is closed");
          const text = new TextDecoder().decode(buffer.subarray(0, n));
          match(text, /^HTTP\/1\.1 503 /);
          match(text, /\r\n\r\n\{"error":"Too many connections: try again later"\}\n$/);
          refused++;
        }
        equal(refused, 284);
      });

      await t.step("while full, a request is refused with a 503 JSON body", async () => {
        const response = await fetch(node.url);
        equal(response.status, 503);
        equal(response.headers.get("content-type"), "application/json");
        deepStrictEqual(await response.json(), { error: "Too many connections: try again later" });
      });

      await t.step("once the half-open connections go, the node answers 200", async () => {
        for (const conn of conns.splice(0)) conn.close();
        const state = await waitFor("a 200 from GET /", async () => {
          const response = await fetch(node.url);
          if (response.status === 200) return await response.json() as ClusterStateJson;
          await response.body?.cancel();
          return undefined;
        });
        equal(state.nodes[0].keyValues[0].key, "role");
      });
    } finally {
      for (const conn of conns) conn.close();
      equal(await node.stop(), 0);
    }
  },
);

Deno.test("an HTTP connection idle past --http-idle-timeout-ms is closed", SANITIZED, async () => {
  const node = await startNode(["--http-idle-timeout-ms=100"]);
  try {
    const conn = await Deno.connect({ hostname: node.url.hostname, port: Number(node.url.port) });
    try {
      // Half a request head, then silence: the guard closes the connection.
      await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n"));
      const n = await conn.read(new Uint8Array(1_024));
      equal(n, null, "the server closed the connection without answering");
    } finally {
      conn.close();
    }
    // A complete request on a fresh connection is still served.
    const answer = await rawExchange(
      node.url,
      "GET /?keys=false HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    match(answer, /^HTTP\/1\.1 200 /);
  } finally {
    equal(await node.stop(), 0);
  }
});

Deno.test("GET / narrows with ?node=, ?prefix= and ?keys=false", SANITIZED, async () => {
  const node = await startNode(["--node-id=solo", "--set=app/x=1", "--set=app/y=2"]);
  try {
    const get = async (query: string): Promise<ClusterStateJson> => {
      const response = await fetch(new URL(query, node.url));
      equal(response.status, 200, query);
      return await response.json();
    };
    const keysOf = (state: ClusterStateJson): string[] =>
      state.nodes.flatMap((n) => n.keyValues.map((kv) => kv.key));
    deepStrictEqual(keysOf(await get("/")), ["app/x", "app/y", "role"]);
    deepStrictEqual(keysOf(await get("/?prefix=app/")), ["app/x", "app/y"]);
    const bare = await get("/?keys=false");
    deepStrictEqual(keysOf(bare), []);
    equal(bare.nodes.length, 1);
    const other = await get("/?node=nobody");
    deepStrictEqual(other.nodes, []);
    deepStrictEqual(other.liveNodes, []);
    equal((await get("/?node=solo&prefix=r")).nodes[0].keyValues[0].key, "role");
    const bad = await fetch(new URL("/?keys=maybe", node.url));
    equal(bad.status, 400);
    match((await bad.json()).error, /keys="maybe"/);
    const unknown = await fetch(new URL("/?bogus=1", node.url));
    equal(unknown.status, 400);
    match((await unknown.json()).error, /Unknown query parameter "bogus"/);
  } finally {
    equal(await node.stop(), 0);
  }
});

Deno.test(
  "Deno's own refusals (invalid Content-Length, garbage) answer with a JSON error",
  SANITIZED,
  async () => {
    const node = await startNode([]);
    try {
      const requests = [
        "PUT /kv/a HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\nconnection: close\r\n\r\nxyz",
        "PUT /kv/a HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nxyz",
        "HELLO\r\n\r\n",
      ];
      for (const request of requests) {
        const answer = await rawExchange(node.url, request);
        const [head, body] = answer.split("\r\n\r\n");
        match(head, /^HTTP\/1\.1 400 Bad Request\r\n/, request.slice(0, 40));
        match(head, /\r\ncontent-type: application\/json\r\n/);
        deepStrictEqual(JSON.parse(body), {
          error: "Malformed request: refused by the HTTP server",
        });
      }
      // The API's own 400s keep their own message.
      const own = await fetch(new URL("/?bogus=1", node.url));
      equal(own.status, 400);
      match((await own.json()).error, /Unknown query parameter/);
    } finally {
      equal(await node.stop(), 0);
    }
  },
);

Deno.test(
  "a request head over 64 KiB gets a JSON 431, even a 1 MB one that is still arriving",
  SANITIZED,
  async () => {
    const node = await startNode([]);
    try {
      for (const size of [70_000, 1_000_000]) {
        const answer = await rawExchange(
          node.url,
          `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(size)}\r\n\r\n`,
        );
        const [head, body] = answer.split("\r\n\r\n");
        match(head, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/, `${size}-byte header`);
        match(head, /\r\ncontent-type: application\/json\r\n/);
        deepStrictEqual(JSON.parse(body), { error: "Request head too large: over 65,536 bytes" });
      }
      // Bodies do not count as heads: two 40 KB values are taken, and so is
      // the request after them on the same connection, 80 KB later.
      const value = "v".repeat(40_000);
      const put = (key: string) =>
        `PUT /kv/${key} HTTP/1.1\r\nhost: x\r\ncontent-length: ${value.length}\r\n\r\n${value}`;
      const answer = await rawExchange(
        node.url,
        put("big") + put("big2") +
          "GET /kv/absent HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
      );
      equal(answer.match(/HTTP\/1\.1 2\d\d /g)?.length, 2, answer.slice(0, 200));
      match(answer, /HTTP\/1\.1 404 Not Found/);
      equal((await (await fetch(new URL("/kv/big2", node.url))).json()).value, value);
      // Counted where an operator looks.
      const metrics = await (await fetch(new URL("/metrics", node.url))).text();
      match(metrics, /^chitchat_http_connections_total\{result="head_too_large"\} 2$/m);
      match(metrics, /^chitchat_http_accept_errors_total 0$/m);
    } finally {
      equal(await node.stop(), 0);
    }
  },
);

Deno.test(
  "event streams take at most half the connection cap, and shutdown ends them",
  SANITIZED,
  async () => {
    const node = await startNode(["--http-max-connections=4"]);
    const streams: Response[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const response = await fetch(new URL("/events", node.url));
        equal(response.status, 200);
        streams.push(response);
      }
      const refused = await fetch(new URL("/events", node.url));
      equal(refused.status, 503);
      match((await refused.json()).error, /Too many event streams/);
      // Two connections held by streams, two left for requests.
      const state = await fetch(new URL("/", node.url));
      equal(state.status, 200);
      await state.body?.cancel();
    } finally {
      // With both streams open: the node ends them and stops cleanly.
      equal(await node.stop(), 0);
      for (const stream of streams) {
        const text = await stream.text();
        ok(text.startsWith("retry: 2000\n\nevent: state\n"), text.slice(0, 40));
      }
    }
  },
);
