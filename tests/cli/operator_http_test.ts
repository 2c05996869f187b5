// Copyright the chitchat for Deno authors. MIT license.
// The operator's routes of the HTTP API: metrics, health, members, reads.

import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { createHttpHandler, type MemberJson } from "../../lib/cli/http_api.ts";
import { spawnChitchat, type SpawnChitchatConfig } from "../../lib/runtime/spawn_chitchat.ts";
import { ChannelTransport } from "../../lib/testing/channel_transport.ts";
import { VirtualScheduler } from "../../lib/testing/virtual_scheduler.ts";
import { silentLogger } from "../../lib/core/logger.ts";
import { advanceUntil } from "../_deadline.ts";
import { parseExposition } from "./_exposition_parser.ts";
import { pairConfig, virtualPair } from "./_virtual_pair.ts";

const pair = () => virtualPair("ops", 7501);
const config = (port: number, extra: Partial<SpawnChitchatConfig> = {}) =>
  pairConfig("ops", port, 7501, extra);

const get = (handler: (r: Request) => Promise<Response>, path: string, method = "GET") =>
  handler(new Request(`http://node${path}`, { method }));

Deno.test("GET /metrics is a strict Prometheus exposition with the node's counters", async () => {
  const { scheduler, a, b } = await pair();
  try {
    await advanceUntil(scheduler, () => b.liveNodes().length === 2, {
      timeoutMs: 10_000,
      label: "meet",
    });
    const response = await get(createHttpHandler(b), "/metrics");
    equal(response.status, 200);
    ok(response.headers.get("content-type")?.startsWith("text/plain; version=0.0.4"));
    const families = parseExposition(await response.text());
    const metrics = b.metrics();
    const value = (name: string, series = "") => families.get(name)?.samples.get(series);
    equal(value("chitchat_messages_received_total", "type=syn_ack"), metrics.synAckReceived);
    equal(value("chitchat_messages_received_total", "type=bad_cluster"), 0);
    // b (a joiner) starts every exchange: SYNs out, ACKs back for a's SYN-ACKs.
    equal(value("chitchat_messages_sent_total", "type=syn"), metrics.messagesSentByType.syn);
    ok(metrics.messagesSentByType.syn > 0 && metrics.messagesSentByType.ack > 0);
    const sentByType = ["syn", "syn_ack", "ack", "bad_cluster"].map((type) =>
      value("chitchat_messages_sent_total", `type=${type}`)!
    );
    // On the in-memory network every send succeeds: the types add up to the socket's count.
    equal(sentByType.reduce((a, b) => a + b, 0), metrics.socket.messagesSent);
    for (const reason of ["oversized", "undecodable", "queue_full"]) {
      equal(value("chitchat_datagrams_dropped_total", `reason=${reason}`), 0, reason);
    }
    equal(value("chitchat_http_event_streams_open"), 0);
    // Characters and bytes part ways on non-ASCII text, and follow writes.
    const before = value("chitchat_state_bytes")!;
    ok(before === value("chitchat_state_chars"), "ASCII so far");
    b.selfNodeState().set("city", "Zürich");
    const after = parseExposition(await (await get(createHttpHandler(b), "/metrics")).text());
    equal(after.get("chitchat_state_chars")?.samples.get(""), before + 4 + 6);
    equal(after.get("chitchat_state_bytes")?.samples.get(""), before + 4 + 7);
    for (const reason of ["truncated", "authentication", "replayed", "plaintext_refused"]) {
      equal(value("chitchat_decrypt_failures_total", `reason=${reason}`), 0);
    }
    equal(value("chitchat_live_nodes"), 2);
    equal(value("chitchat_known_nodes"), 2);
    ok(value("chitchat_gossip_rounds_total")! > 0);
    ok(value("chitchat_max_phi")! >= 0);
    for (const [name, family] of families) {
      ok(name.startsWith("chitchat_"), name);
      ok(family.help.length > 0, `${name} has a HELP`);
    }
    // The parser is strict: it refuses what a scraper would misread.
    throws(() => parseExposition("chitchat_x 1\n"), SyntaxError);
    throws(() => parseExposition("# TYPE chitchat_x counter\nchitchat_x 1\n"), SyntaxError);
    throws(() => parseExposition("# TYPE a gauge\na 1\na 2\n"), SyntaxError);
  } finally {
    await b.shutdown({ leave: false });
    await a.shutdown({ leave: false });
  }
});

Deno.test("the README's metrics table lists every metric /metrics serves, with its type", async () => {
  const { a, b } = await pair();
  try {
    // The CLI's connection guard feeds the connection counters.
    const connections = {
      accepted: 7,
      refused: 1,
      acceptErrors: 2,
      timedOut: 3,
      headsTooLarge: 4,
      open: 5,
    };
    const handler = createHttpHandler(b, { connectionMetrics: () => connections });
    const families = parseExposition(await (await get(handler, "/metrics")).text());
    deepStrictEqual(
      Object.fromEntries(families.get("chitchat_http_connections_total")?.samples ?? []),
      {
        "result=accepted": 7,
        "result=refused_cap": 1,
        "result=timed_out": 3,
        "result=head_too_large": 4,
      },
    );
    equal(families.get("chitchat_http_accept_errors_total")?.samples.get(""), 2);
    equal(families.get("chitchat_http_connections_open")?.samples.get(""), 5);
    const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
    const section = readme.slice(readme.indexOf("\n## Operating a node"));
    const rows = section.slice(0, section.indexOf("\n## ", 1)).matchAll(
      /^\| `(chitchat_[a-z_]+)` +\| (counter|gauge) /gm,
    );
    const documented = [...rows].map(([, name, type]) => `${name} ${type}`).sort();
    const served = [...families].map(([name, family]) => `${name} ${family.type}`).sort();
    // Kernel drops exist where the platform tells (UDP sockets on Linux), not on this network.
    const platformOnly = ["chitchat_kernel_drops_total counter"];
    deepStrictEqual(documented.filter((row) => !platformOnly.includes(row)), served);
    ok(platformOnly.every((row) => documented.includes(row)));
  } finally {
    await b.shutdown();
    await a.shutdown();
  }
});

Deno.test("GET /health is 503 until gossip was exchanged, 200 after, and 200 alone by configuration", async () => {
  const { scheduler, a, b } = await pair();
  try {
    const lonely = createHttpHandler(b);
    const alone = createHttpHandler(a, { standalone: true });
    equal((await get(alone, "/health")).status, 200);
    await advanceUntil(scheduler, () => b.liveNodes().length === 2, {
      timeoutMs: 10_000,
      label: "meet",
    });
    const response = await get(lonely, "/health");
    equal(response.status, 200);
    deepStrictEqual(await response.json(), { status: "ok", liveNodes: 2 });
  } finally {
    await b.shutdown({ leave: false });
    await a.shutdown({ leave: false });
  }
  const clock = new VirtualScheduler();
  const transport = new ChannelTransport({ scheduler: clock });
  await using isolated = await spawnChitchat(config(7510, { seedNodes: ["127.0.0.1:7599"] }), {
    transport,
    scheduler: clock,
    logger: silentLogger,
  });
  await clock.advance(1_000);
  const response = await get(createHttpHandler(isolated), "/health");
  equal(response.status, 503);
  ok((await response.json()).error.includes("No gossip"));
});

Deno.test("GET /members, /nodes/<id> and /kv/<key>, and HEAD without a body", async () => {
  const { scheduler, a, b } = await pair();
  try {
    b.selfNodeState().set("role", "searcher");
    await advanceUntil(
      scheduler,
      () => a.chitchat.nodeState("node-7502")?.get("role") === "searcher",
      {
        timeoutMs: 10_000,
        label: "replicated",
      },
    );
    await scheduler.advance(1_000);
    const handler = createHttpHandler(a);
    const members: MemberJson[] = await (await get(handler, "/members")).json();
    deepStrictEqual(members.map((m) => [m.nodeId, m.status, m.generationId]), [
      ["node-7501", "self", "1"],
      ["node-7502", "live", "1"],
    ]);
    ok(
      members[1].phi !== null && members[1].msSinceHeartbeat !== null &&
        members[1].msSinceHeartbeat < 1_000,
    );
    const node = await (await get(handler, "/nodes/node-7502")).json();
    deepStrictEqual(node.keyValues.map((kv: { key: string }) => kv.key), ["role"]);
    equal((await get(handler, "/nodes/nobody")).status, 404);
    a.selfNodeState().set("zone", "eu");
    deepStrictEqual(await (await get(handler, "/kv/zone")).json(), {
      key: "zone",
      value: "eu",
      version: 1,
      status: "set",
    });
    equal((await get(handler, "/kv/nope")).status, 404);
    const head = await get(handler, "/members", "HEAD");
    equal(head.status, 200);
    equal(await head.text(), "");
    equal((await get(handler, "/kv/nope", "HEAD")).status, 404);
    const wrong = await get(handler, "/metrics", "POST");
    equal(wrong.status, 405);
    ok((await wrong.json()).error.includes("POST"));
  } finally {
    await b.shutdown({ leave: false });
    await a.shutdown({ leave: false });
  }
});
