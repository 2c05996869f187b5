// Copyright the chitchat for Deno authors. MIT license.
// GET /events and GET /ui on an in-memory pair on virtual time: what a
// stream carries, and its bounds (a cap on streams, slow clients dropped,
// every stream ended by the handler's signal).

import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import { createHttpHandler, type HttpHandlerOptions } from "../../lib/cli/http_api.ts";
import { advanceUntil, drainMicrotasks } from "../_deadline.ts";
import { parseExposition } from "./_exposition_parser.ts";
import { virtualPair } from "./_virtual_pair.ts";

const SANITIZED = { sanitizeOps: true, sanitizeResources: true } as const;

const pair = () => virtualPair("sse", 7601);

interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/** Reads SSE frames off a response body as they come. */
class SseReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  done = false;
  failed: unknown;
  readonly #pump: Promise<void>;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#pump = this.#read(body.pipeThrough(new TextDecoderStream()).getReader());
  }

  async #read(reader: ReadableStreamDefaultReader<string>): Promise<void> {
    let buffer = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          this.#frame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (error) {
      this.failed = error;
    } finally {
      this.done = true;
    }
  }

  #frame(text: string): void {
    let event = "message";
    const data: string[] = [];
    for (const line of text.split("\n")) {
      if (line.startsWith(":")) this.comments.push(line.slice(1).trim());
      else if (line.startsWith("retry: ")) this.retry = Number(line.slice(7));
      else if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    if (data.length > 0) this.events.push({ event, data: data.join("\n") });
  }

  of(event: string): unknown[] {
    return this.events.filter((e) => e.event === event).map((e) => JSON.parse(e.data));
  }

  ended(): Promise<void> {
    return this.#pump;
  }
}

const get = (handler: (r: Request) => Promise<Response>, path: string, method = "GET") =>
  handler(new Request(`http://node${path}`, { method }));

Deno.test(
  "GET /events streams the state, member rows, membership events and key changes",
  SANITIZED,
  async () => {
    const { scheduler, a, b } = await pair();
    const stop = new AbortController();
    const options: HttpHandlerOptions = {
      scheduler,
      signal: stop.signal,
      eventSnapshotIntervalMs: 500,
      eventPingIntervalMs: 1_000,
    };
    try {
      a.selfNodeState().set("role", "seed");
      const handler = createHttpHandler(a, options);
      const response = await get(handler, "/events");
      equal(response.status, 200);
      equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
      const sse = new SseReader(response.body!);
      await advanceUntil(scheduler, () => sse.of("state").length === 1, {
        timeoutMs: 100,
        label: "the state event",
      });
      equal(sse.retry, 2_000);
      const [state] = sse.of("state") as {
        self: string;
        members: { nodeId: string; status: string }[];
        nodes: { chitchatId: { nodeId: string }; keyValues: { key: string; value: string }[] }[];
        history: [number, number][];
      }[];
      equal(state.self, "node-7601");
      deepStrictEqual(state.members.map((m) => m.status), ["self"]);
      deepStrictEqual(state.nodes[0].keyValues.map((kv) => [kv.key, kv.value]), [["role", "seed"]]);
      deepStrictEqual(state.history.map(([, live]) => live), [1]);

      await advanceUntil(scheduler, () => sse.of("membership").length > 0, {
        timeoutMs: 5_000,
        label: "b joins",
      });
      deepStrictEqual(sse.of("membership")[0], {
        type: "joined",
        nodeId: "node-7602",
        generationId: "1",
        address: "127.0.0.1:7602",
        atMs: (sse.of("membership")[0] as { atMs: number }).atMs,
      });
      b.selfNodeState().set("color", "red");
      a.selfNodeState().set("size", "xl");
      await advanceUntil(scheduler, () => sse.of("key").length >= 2, {
        timeoutMs: 5_000,
        label: "two key events",
      });
      const keys = sse.of("key") as { nodeId: string; key: string; value: string }[];
      deepStrictEqual(
        keys.map((k) => `${k.nodeId} ${k.key}=${k.value}`).sort(),
        ["node-7601 size=xl", "node-7602 color=red"],
      );
      await advanceUntil(scheduler, () => sse.comments.includes("ping"), {
        timeoutMs: 2_000,
        label: "a keep-alive comment",
      });
      const members = sse.of("members") as { nodeId: string; status: string }[][];
      ok(members.length >= 2, "a members event every 500 ms");
      deepStrictEqual(members.at(-1)!.map((m) => `${m.nodeId} ${m.status}`), [
        "node-7601 self",
        "node-7602 live",
      ]);

      // Stopped without a leave: the others find it dead.
      await b.shutdown({ leave: false });
      await advanceUntil(
        scheduler,
        () => sse.of("membership").some((e) => (e as { type: string }).type === "dead"),
        { timeoutMs: 20_000, label: "b is dead", stepMs: 100 },
      );
      const metrics = parseExposition(await (await get(handler, "/metrics")).text());
      equal(metrics.get("chitchat_http_event_streams_open")?.samples.get(""), 1);

      stop.abort();
      await sse.ended();
      equal(sse.failed, undefined, "the stream ended cleanly");
      equal((await get(handler, "/events")).status, 503, "no stream opens after the signal");
    } finally {
      stop.abort();
      await b.shutdown({ leave: false });
      await a.shutdown({ leave: false });
    }
  },
);

Deno.test(
  "GET /events refuses past its cap with 503 JSON; HEAD opens no stream",
  SANITIZED,
  async () => {
    const { scheduler, a, b } = await pair();
    const stop = new AbortController();
    try {
      const handler = createHttpHandler(a, { scheduler, signal: stop.signal, maxEventStreams: 1 });
      const head = await get(handler, "/events", "HEAD");
      equal(head.status, 200);
      equal(head.body, null);
      const first = await get(handler, "/events");
      equal(first.status, 200);
      const refused = await get(handler, "/events");
      equal(refused.status, 503);
      equal(refused.headers.get("retry-after"), "2");
      match((await refused.json()).error, /Too many event streams/);
      // A client going away frees its place.
      await first.body!.cancel();
      const again = await get(handler, "/events");
      equal(again.status, 200);
      const families = parseExposition(await (await get(handler, "/metrics")).text());
      const streams = families.get("chitchat_http_event_streams_total")!.samples;
      equal(streams.get("result=opened"), 2);
      equal(streams.get("result=refused"), 1);
      stop.abort();
      await again.body!.cancel();
    } finally {
      stop.abort();
      await b.shutdown({ leave: false });
      await a.shutdown({ leave: false });
    }
  },
);

Deno.test(
  "GET /events drops a client that reads nothing instead of buffering for it",
  SANITIZED,
  async () => {
    const { scheduler, a, b } = await pair();
    const stop = new AbortController();
    try {
      const handler = createHttpHandler(a, {
        scheduler,
        signal: stop.signal,
        maxEventStreamBufferBytes: 4_096,
      });
      // A state larger than the budget is still sent: the budget is on top of it.
      for (let i = 0; i < 100; i++) a.selfNodeState().set(`old-${i}`, "x".repeat(50));
      const response = await get(handler, "/events");
      const before = parseExposition(await (await get(handler, "/metrics")).text());
      equal(before.get("chitchat_http_event_streams_open")!.samples.get(""), 1);
      // Nobody reads: 100 key events of ~150 bytes each exceed the 4 KiB budget.
      for (let i = 0; i < 100; i++) a.selfNodeState().set(`key-${i}`, "x".repeat(50));
      await drainMicrotasks();
      const families = parseExposition(await (await get(handler, "/metrics")).text());
      equal(
        families.get("chitchat_http_event_streams_total")!.samples.get("result=dropped_slow"),
        1,
      );
      equal(families.get("chitchat_http_event_streams_open")!.samples.get(""), 0);
      const sse = new SseReader(response.body!);
      await sse.ended();
      ok(sse.failed instanceof Error, "the dropped stream ends in an error, not a clean end");
    } finally {
      stop.abort();
      await b.shutdown({ leave: false });
      await a.shutdown({ leave: false });
    }
  },
);

Deno.test(
  "GET /ui is one self-contained page whose inline script the CSP allows by hash",
  SANITIZED,
  async () => {
    const { a, b } = await pair();
    try {
      const handler = createHttpHandler(a);
      const response = await get(handler, "/ui");
      equal(response.status, 200);
      equal(response.headers.get("content-type"), "text/html; charset=utf-8");
      const html = await response.text();
      const script = /<script>([\s\S]*)<\/script>/.exec(html)![1];
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(script));
      const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
      const policy = response.headers.get("content-security-policy")!;
      ok(policy.includes(`script-src 'sha256-${hash}'`), policy);
      ok(policy.includes("default-src 'none'"));
      // Self-contained: nothing loaded from elsewhere, the stream is relative.
      ok(!/\b(src|href)=/.test(html), "no external resource");
      ok(html.includes('new EventSource("events")'));
      const head = await get(handler, "/ui", "HEAD");
      equal(head.status, 200);
      equal(head.body, null);
      equal((await get(handler, "/ui", "POST")).status, 405);
      throws(() => createHttpHandler(a, { maxEventStreams: 0 }), RangeError);
      throws(() => createHttpHandler(a, { eventSnapshotIntervalMs: 0.5 }), RangeError);
    } finally {
      await b.shutdown({ leave: false });
      await a.shutdown({ leave: false });
    }
  },
);
