// Copyright the chitchat for Deno authors. MIT license.
/**
 * A small JSON HTTP API over one node: read the cluster state as this node
 * sees it, write and delete this node's key-values. The handler works on a
 * {@linkcode Chitchat} state machine and a `Request`, so it runs under
 * `Deno.serve` and in tests alike.
 *
 * Routes (`HEAD` wherever `GET`):
 * - `GET /`: the cluster state ({@linkcode ClusterStateJson}); `?node=ID`
 *   (repeatable) keeps only those nodes, `?prefix=P` only keys starting with
 *   P, `?keys=false` drops the key-values;
 * - `GET /members`: one row per known node ({@linkcode MemberJson});
 * - `GET /nodes/<nodeId>`: that node's key-values, newest generation;
 * - `GET /kv/<key>`: this node's value of `<key>`;
 * - `PUT /kv/<key>`: sets `<key>` to the request body (`?ttl=1`: with a TTL);
 * - `DELETE /kv/<key>`: deletes `<key>` (`?afterTtl=1`: after the TTL);
 * - `GET /metrics`: counters and gauges in the Prometheus text format 0.0.4;
 * - `GET /health`: 200 once gossip was exchanged with a peer (or the node
 *   runs alone by configuration), 503 with the reason otherwise;
 * - `GET /ui`: a live cluster page (one self-contained HTML document);
 * - `GET /events`: Server-Sent Events: the state on connect, member rows
 *   every second, membership events and key changes as they happen.
 *
 * `<key>` and `<nodeId>` are percent-decoded. Every response but
 * `/metrics`, `/ui` and `/events` is JSON; errors are `{ "error": "..." }`
 * with a 4xx or 5xx status.
 *
 * @module
 */

import { MAX_WIRE_STRING_BYTES } from "../core/wire/_binary.ts";
import { idKey } from "../core/_chitchat_id_info.ts";
import { type Chitchat, chitchatInternals } from "../core/chitchat.ts";
import { ChitchatHandle } from "../runtime/chitchat_handle.ts";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "./_prometheus.ts";
import { EVENT_STREAM_CONTENT_TYPE, EventFeed } from "./_event_feed.ts";
import { UI_PAGE, UI_SCRIPT } from "./_ui_page.ts";
import { type Scheduler, systemScheduler } from "../runtime/scheduler.ts";
import { type ChitchatId, compareChitchatIds } from "../core/chitchat_id.ts";
import type { NodeState } from "../core/node_state.ts";
import { formatSocketAddress } from "../core/socket_address.ts";
import type { DeletionStatus, VersionedValue } from "../core/versioned_value.ts";

/**
 * A node id as JSON: the generation as a decimal string (a u64 does not
 * survive a JSON number), the address as `host:port`.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import { type ChitchatIdJson, clusterStateJson } from "@chitchat/chitchat/http";
 * import assert from "node:assert";
 *
 * const chitchat = new Chitchat({
 *   chitchatId: { nodeId: "n1", generationId: 2n ** 64n - 1n, gossipAdvertiseAddr: { hostname: "::1", port: 7280 } },
 *   clusterId: "demo",
 * });
 * const self: ChitchatIdJson = clusterStateJson(chitchat).self;
 * assert.deepStrictEqual(self, { nodeId: "n1", generationId: "18446744073709551615", gossipAdvertiseAddr: "[::1]:7280" });
 * assert(BigInt(self.generationId) === 2n ** 64n - 1n); // exact, unlike a JSON number
 * ```
 */
export interface ChitchatIdJson {
  /** The node id. */
  readonly nodeId: string;
  /** The generation, in decimal. */
  readonly generationId: string;
  /** The gossip address, `host:port` (IPv6 in brackets). */
  readonly gossipAdvertiseAddr: string;
}

/**
 * One key-value of a node as JSON, tombstones included.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import { createHttpHandler, type KeyValueJson } from "@chitchat/chitchat/http";
 * import assert from "node:assert";
 *
 * const chitchat = new Chitchat({
 *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7280 } },
 *   clusterId: "demo",
 * });
 * const handler = createHttpHandler(chitchat);
 * await (await handler(new Request("http://node/kv/color", { method: "PUT", body: "red" }))).body?.cancel();
 * const response = await handler(new Request("http://node/kv/color", { method: "DELETE" }));
 * const tombstone: KeyValueJson = await response.json();
 * assert.deepStrictEqual(tombstone, { key: "color", value: "", version: 2, status: "deleted" });
 * ```
 */
export interface KeyValueJson {
  /** The key. */
  readonly key: string;
  /** The value (empty for a tombstone). */
  readonly value: string;
  /** The owner's version of the write. */
  readonly version: number;
  /** `"set"`, `"deleted"` (a tombstone) or `"deleteAfterTtl"`. */
  readonly status: DeletionStatus;
}

/**
 * One node's state as JSON.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import { createHttpHandler, type NodeStateJson } from "@chitchat/chitchat/http";
 * import assert from "node:assert";
 *
 * const chitchat = new Chitchat({
 *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 10000 } },
 *   clusterId: "demo",
 *   initialKeyValues: [["role", "indexer"]],
 * });
 * const response = await createHttpHandler(chitchat)(new Request("http://node/nodes/n1"));
 * const node: NodeStateJson = await response.json();
 * assert(node.isLive && node.heartbeat === 1 && node.maxVersion === 1);
 * assert.deepStrictEqual(node.keyValues, [{ key: "role", value: "indexer", version: 1, status: "set" }]);
 * ```
 */
export interface NodeStateJson {
  /** The node. */
  readonly chitchatId: ChitchatIdJson;
  /** Whether the node is in `Chitchat.liveNodes()`. */
  readonly isLive: boolean;
  /** The node's heartbeat as known here. */
  readonly heartbeat: number;
  /** The greatest version of the node's writes known here. */
  readonly maxVersion: number;
  /** The greatest version whose tombstone was collected. */
  readonly lastGcVersion: number;
  /** Every key-value in key order, tombstones included. */
  readonly keyValues: readonly KeyValueJson[];
}

/**
 * The cluster as one node sees it: the body of `GET /`.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import { type ClusterStateJson, clusterStateJson } from "@chitchat/chitchat/http";
 * import assert from "node:assert";
 *
 * const chitchat = new Chitchat({
 *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 10000 } },
 *   clusterId: "demo",
 * });
 * const state: ClusterStateJson = clusterStateJson(chitchat);
 * assert.deepStrictEqual(state.liveNodes, [state.self]);
 * ```
 */
export interface ClusterStateJson {
  /** The cluster id. */
  readonly clusterId: string;
  /** This node. */
  readonly self: ChitchatIdJson;
  /** The live nodes, this node included, in id order (as `Chitchat.liveNodes()` lists them). */
  readonly liveNodes: readonly ChitchatIdJson[];
  /** The nodes considered dead and not yet collected, in id order. */
  readonly deadNodes: readonly ChitchatIdJson[];
  /** The nodes that announced their leave and were not collected yet, in id order. */
  readonly leftNodes: readonly ChitchatIdJson[];
  /** Every known node's state, in id order. */
  readonly nodes: readonly NodeStateJson[];
}

/**
 * A snapshot of the cluster state as one node sees it, ready for
 * `JSON.stringify`.
 *
 * @param chitchat The node's state machine.
 * @returns The snapshot; later changes do not affect it.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import { clusterStateJson } from "@chitchat/chitchat/http";
 * import assert from "node:assert";
 *
 * const chitchat = new Chitchat({
 *   chitchatId: { nodeId: "n1", generationId: 7n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 10000 } },
 *   clusterId: "demo",
 * });
 * chitchat.selfNodeState().set("role", "indexer");
 * chitchat.selfNodeState().delete("role");
 * const state = clusterStateJson(chitchat);
 * assert.deepStrictEqual(state.self, { nodeId: "n1", generationId: "7", gossipAdvertiseAddr: "127.0.0.1:10000" });
 * assert.deepStrictEqual(state.nodes[0].keyValues, [{ key: "role", value: "", version: 2, status: "deleted" }]);
 * ```
 */
export function clusterStateJson(chitchat: Chitchat): ClusterStateJson {
  const liveNodes = chitchat.liveNodes();
  const liveKeys = new Set(liveNodes.map(idKey));
  return {
    clusterId: chitchat.clusterId,
    self: chitchatIdJson(chitchat.chitchatId),
    liveNodes: liveNodes.map(chitchatIdJson),
    deadNodes: chitchat.deadNodes().sort(compareChitchatIds).map(chitchatIdJson),
    leftNodes: chitchat.leftNodes().sort(compareChitchatIds).map(chitchatIdJson),
    nodes: chitchat.nodeStates().map((state) => nodeStateJson(state, liveKeys)),
  };
}

/**
 * `GET /` with `?node=ID` (repeatable: only those node ids), `?prefix=P`
 * (only keys starting with P) and `?keys=false` (no key-values at all): a
 * whole state at thousands of keys is hundreds of kilobytes.
 */
function narrowedClusterState(chitchat: Chitchat, url: URL): ClusterStateJson {
  const nodeIds = new Set<string>();
  let prefix = "";
  let keys = true;
  for (const [name, value] of url.searchParams) {
    if (name === "node") nodeIds.add(value);
    else if (name === "prefix") prefix = value;
    else if (name === "keys") keys = parseFlag(name, value);
    else {throw new HttpApiError(
        400,
        `Unknown query parameter "${name}" (known: node, prefix, keys)`,
      );}
  }
  const state = clusterStateJson(chitchat);
  if (nodeIds.size === 0 && prefix === "" && keys) return state;
  const wanted = (id: ChitchatIdJson): boolean => nodeIds.size === 0 || nodeIds.has(id.nodeId);
  return {
    ...state,
    liveNodes: state.liveNodes.filter(wanted),
    deadNodes: state.deadNodes.filter(wanted),
    leftNodes: state.leftNodes.filter(wanted),
    nodes: state.nodes.filter((node) => wanted(node.chitchatId)).map((node) => ({
      ...node,
      keyValues: keys ? node.keyValues.filter((kv) => kv.key.startsWith(prefix)) : [],
    })),
  };
}

function parseFlag(name: string, value: string): boolean {
  if (value === "" || value === "1" || value === "true") return true;
  if (value === "0" || value === "false") return false;
  throw new HttpApiError(
    400,
    `Invalid query parameter ${name}="${value}": expected 1, true, 0 or false`,
  );
}

function chitchatIdJson(id: ChitchatId): ChitchatIdJson {
  return {
    nodeId: id.nodeId,
    generationId: id.generationId.toString(),
    gossipAdvertiseAddr: formatSocketAddress(id.gossipAdvertiseAddr),
  };
}

function nodeStateJson(state: NodeState, liveKeys: ReadonlySet<string>): NodeStateJson {
  const keyValues: KeyValueJson[] = [];
  for (const [key, value] of state.keyValuesIncludingDeleted()) {
    keyValues.push(keyValueJson(key, value));
  }
  return {
    chitchatId: chitchatIdJson(state.chitchatId),
    isLive: liveKeys.has(idKey(state.chitchatId)),
    heartbeat: state.heartbeat,
    maxVersion: state.maxVersion,
    lastGcVersion: state.lastGcVersion,
    keyValues,
  };
}

function keyValueJson(key: string, value: VersionedValue): KeyValueJson {
  return { key, value: value.value, version: value.version, status: value.status };
}

/**
 * One row of `GET /members`: a known node as this node sees it.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import { createHttpHandler, type MemberJson } from "@chitchat/chitchat/http";
 * import assert from "node:assert";
 *
 * const chitchat = new Chitchat({
 *   chitchatId: { nodeId: "n1", generationId: 7n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 10000 } },
 *   clusterId: "demo",
 * });
 * const response = await createHttpHandler(chitchat)(new Request("http://node/members"));
 * const [self]: MemberJson[] = await response.json();
 * assert.deepStrictEqual(self, {
 *   nodeId: "n1", generationId: "7", address: "127.0.0.1:10000", status: "self",
 *   heartbeat: 1, maxVersion: 0, phi: null, msSinceHeartbeat: null,
 * });
 * ```
 */
export interface MemberJson {
  /** The node id. */
  readonly nodeId: string;
  /** The generation, as a decimal string. */
  readonly generationId: string;
  /** Its gossip address, `host:port`. */
  readonly address: string;
  /**
   * `self` for this node; `live`, `dead` or `left` (it announced its leave)
   * for the others (`unknown` until judged).
   */
  readonly status: "self" | "live" | "dead" | "left" | "unknown";
  /** Its heartbeat as known here. */
  readonly heartbeat: number;
  /** Its max version as known here. */
  readonly maxVersion: number;
  /** Its phi, or `null` while too few heartbeats were seen. */
  readonly phi: number | null;
  /** Milliseconds since its last heartbeat was seen, or `null` if none was. */
  readonly msSinceHeartbeat: number | null;
}

/** Options of {@linkcode createHttpHandler}. */
export interface HttpHandlerOptions {
  /**
   * The node runs alone by configuration (no seeds): `GET /health` is 200
   * before any peer answered.
   *
   * @default {false}
   */
  readonly standalone?: boolean;
  /**
   * Ends every `GET /events` stream when aborted, and refuses new ones with
   * 503: pass it to stop before shutting the HTTP server down, which
   * otherwise waits for open responses.
   *
   * @default {undefined}
   */
  readonly signal?: AbortSignal;
  /**
   * At most this many `GET /events` streams at once; more are refused
   * with 503.
   *
   * @default {16}
   */
  readonly maxEventStreams?: number;
  /**
   * Bytes an event stream client may leave unread; a client further behind
   * is disconnected (EventSource reconnects and gets the whole state).
   *
   * @default {1048576}
   */
  readonly maxEventStreamBufferBytes?: number;
  /**
   * Time between two `members` events on an event stream.
   *
   * @default {1000}
   */
  readonly eventSnapshotIntervalMs?: number;
  /**
   * Time between two keep-alive comments on an event stream: keep it below
   * the idle timeout of any proxy in between.
   *
   * @default {15000}
   */
  readonly eventPingIntervalMs?: number;
  /**
   * The timers of the event streams (a `VirtualScheduler` in tests).
   *
   * @default {systemScheduler}
   */
  readonly scheduler?: Scheduler;
  /**
   * Counters of the connections in front of the handler, for `GET /metrics`
   * (the CLI's connection guard serves them): read at every scrape.
   *
   * @default {undefined}
   */
  readonly connectionMetrics?: () => HttpConnectionMetrics | undefined;
}

/**
 * Counters of the connections in front of an HTTP handler (the CLI's
 * connection guard keeps them), served by `GET /metrics` as
 * `chitchat_http_connections_total`, `chitchat_http_connections_open` and
 * `chitchat_http_accept_errors_total`.
 *
 * @example
 * ```ts
 * import type { HttpConnectionMetrics } from "@chitchat/chitchat/http";
 * import assert from "node:assert";
 *
 * const counters: HttpConnectionMetrics = {
 *   accepted: 12, refused: 1, acceptErrors: 0, timedOut: 2, headsTooLarge: 0, open: 3,
 * };
 * assert(counters.accepted >= counters.open);
 * ```
 */
export interface HttpConnectionMetrics {
  /** Connections relayed to the handler's server. */
  readonly accepted: number;
  /** Connections refused with 503 because the cap was reached. */
  readonly refused: number;
  /** Accept calls that failed (for example, out of file descriptors). */
  readonly acceptErrors: number;
  /** Connections closed because they were idle for too long. */
  readonly timedOut: number;
  /** Connections answered 431 because a request head was too large. */
  readonly headsTooLarge: number;
  /** Connections open now. */
  readonly open: number;
}

function membersJson(chitchat: Chitchat): MemberJson[] {
  const detector = chitchatInternals.failureDetector(chitchat);
  const now = chitchat.clock.now();
  const self = chitchat.selfNodeState();
  return chitchat.nodeStates().map((state) => {
    const id = state.chitchatId;
    const at = state === self ? undefined : detector.lastHeartbeatAt(id);
    const status = state === self
      ? "self"
      : detector.isLive(id)
      ? "live"
      : detector.isDead(id)
      ? "dead"
      : detector.isLeft(id)
      ? "left"
      : "unknown";
    return {
      nodeId: id.nodeId,
      generationId: id.generationId.toString(),
      address: formatSocketAddress(id.gossipAdvertiseAddr),
      status,
      heartbeat: state.heartbeat,
      maxVersion: state.maxVersion,
      phi: state === self ? null : chitchat.phi(id) ?? null,
      msSinceHeartbeat: at === undefined ? null : Math.round(now - at),
    };
  });
}

/** Why the node is not healthy yet, or `undefined` when it is. */
function unhealthyReason(chitchat: Chitchat, standalone: boolean): string | undefined {
  const m = chitchat.metrics();
  const exchanged = m.synAckReceived + m.ackReceived + (m.synReceived - m.badClusterSent) > 0;
  if (exchanged || standalone) return undefined;
  return "No gossip exchanged with a peer yet";
}

/** A request the API refuses, with the status and message to answer. */
class HttpApiError extends Error {
  override name = "HttpApiError";
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

const KV_PREFIX = "/kv/";
const NODES_PREFIX = "/nodes/";
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body, null, 2) + "\n", {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * Creates the request handler of the HTTP API of one node. Pass it to
 * `Deno.serve`. Bad requests get a 4xx JSON error, never an exception:
 * unknown route 404, wrong method 405 (with `Allow`), malformed key escape,
 * unknown query parameter or body that is not UTF-8 400, unknown key on
 * `DELETE` 404, key or value too large for a datagram 413.
 *
 * @param node A running node (its socket counters join `/metrics`) or a bare state machine.
 * @param options Health without seeds, the event streams' bounds, signal and scheduler.
 * @returns A handler from `Request` to `Response`.
 * @throws {RangeError} if an event stream option is not a positive integer.
 *
 * @example Setting, reading and deleting a key without a network
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import { createHttpHandler } from "@chitchat/chitchat/http";
 * import assert from "node:assert";
 *
 * const chitchat = new Chitchat({
 *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 10000 } },
 *   clusterId: "demo",
 * });
 * const handler = createHttpHandler(chitchat);
 *
 * const put = await handler(new Request("http://node/kv/a%2Fb", { method: "PUT", body: "red" }));
 * assert.deepStrictEqual(await put.json(), { key: "a/b", value: "red", version: 1, status: "set" });
 * assert(chitchat.selfNodeState().get("a/b") === "red");
 *
 * const state = await (await handler(new Request("http://node/"))).json();
 * assert(state.clusterId === "demo" && state.nodes[0].keyValues[0].key === "a/b");
 *
 * const del = await handler(new Request("http://node/kv/a%2Fb", { method: "DELETE" }));
 * assert(del.status === 200 && !chitchat.selfNodeState().has("a/b"));
 * const missing = await handler(new Request("http://node/kv/nope", { method: "DELETE" }));
 * assert(missing.status === 404 && (await missing.json()).error.includes("nope"));
 * ```
 *
 * @example Reading the event stream, then ending it with the signal
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import { createHttpHandler } from "@chitchat/chitchat/http";
 * import assert from "node:assert";
 *
 * const chitchat = new Chitchat({
 *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 10000 } },
 *   clusterId: "demo",
 * });
 * const controller = new AbortController();
 * const handler = createHttpHandler(chitchat, { signal: controller.signal });
 * const response = await handler(new Request("http://node/events"));
 * const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
 * let text = "";
 * while (!text.endsWith("\n\n") || !text.includes("event: state")) text += (await reader.read()).value;
 * assert(text.startsWith("retry: 2000\n\nevent: state\ndata: {"));
 * chitchat.selfNodeState().set("color", "red");
 * while (!text.includes("event: key")) text += (await reader.read()).value;
 * controller.abort(); // ends every stream: the reader sees the end
 * while (!(await reader.read()).done);
 * assert(text.includes('"key":"color","value":"red"'));
 * ```
 */
export function createHttpHandler(
  node: Chitchat | ChitchatHandle,
  options: HttpHandlerOptions = {},
): (request: Request) => Promise<Response> {
  const handle = node instanceof ChitchatHandle ? node : undefined;
  const chitchat = handle === undefined ? node as Chitchat : handle.chitchat;
  const feed = new EventFeed({
    chitchat,
    members: () => membersJson(chitchat),
    nodes: () => clusterStateJson(chitchat).nodes,
  }, {
    scheduler: options.scheduler ?? systemScheduler,
    maxClients: positiveOption("maxEventStreams", options.maxEventStreams, 16),
    maxBufferedBytes: positiveOption(
      "maxEventStreamBufferBytes",
      options.maxEventStreamBufferBytes,
      1_048_576,
    ),
    snapshotIntervalMs: positiveOption(
      "eventSnapshotIntervalMs",
      options.eventSnapshotIntervalMs,
      1_000,
    ),
    pingIntervalMs: positiveOption("eventPingIntervalMs", options.eventPingIntervalMs, 15_000),
    retryMs: 2_000,
  });
  if (options.signal?.aborted) feed.close();
  else options.signal?.addEventListener("abort", () => feed.close(), { once: true });
  const context: RouteContext = {
    chitchat,
    handle,
    feed,
    standalone: options.standalone ?? false,
    connectionMetrics: options.connectionMetrics,
  };
  return async (request: Request): Promise<Response> => {
    let response: Response;
    try {
      response = await route(context, request);
    } catch (error) {
      if (!(error instanceof HttpApiError)) throw error;
      // Whatever body the client sent is not going to be read.
      if (request.body !== null && !request.body.locked) await request.body.cancel();
      response = jsonResponse(error.status, { error: error.message }, error.headers);
    }
    if (request.method !== "HEAD") return response;
    await response.body?.cancel();
    return new Response(null, { status: response.status, headers: response.headers });
  };
}

function positiveOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`Invalid ${name}: expected a positive integer, got ${value}`);
  }
  return value;
}

const READ = ["GET", "HEAD"] as const;

interface RouteContext {
  readonly chitchat: Chitchat;
  readonly handle: ChitchatHandle | undefined;
  readonly feed: EventFeed;
  readonly standalone: boolean;
  readonly connectionMetrics: HttpHandlerOptions["connectionMetrics"];
}

let pagePolicy: Promise<string> | undefined;

/** The page's Content-Security-Policy: its own inline script (by hash) and `events`, nothing else. */
function uiPolicy(): Promise<string> {
  pagePolicy ??= crypto.subtle.digest("SHA-256", new TextEncoder().encode(UI_SCRIPT)).then(
    (digest) => {
      const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
      return `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; ` +
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    },
  );
  return pagePolicy;
}

function eventStream(feed: EventFeed, request: Request): Response {
  if (feed.full) {
    feed.refuse();
    throw new HttpApiError(503, "Too many event streams: try again later", { "retry-after": "2" });
  }
  const headers = {
    "content-type": EVENT_STREAM_CONTENT_TYPE,
    "cache-control": "no-store",
    // Proxies that buffer (nginx) would hold the events back.
    "x-accel-buffering": "no",
  };
  if (request.method === "HEAD") return new Response(null, { status: 200, headers });
  return new Response(feed.open(), { status: 200, headers });
}

async function route(context: RouteContext, request: Request): Promise<Response> {
  const { chitchat, handle, standalone } = context;
  const url = new URL(request.url);
  switch (url.pathname) {
    case "/ui":
      requireMethod(request, READ);
      queryFlags(url, []);
      return new Response(UI_PAGE, {
        status: 200,
        headers: {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": await uiPolicy(),
          "x-content-type-options": "nosniff",
          "cache-control": "no-store",
        },
      });
    case "/events":
      requireMethod(request, READ);
      queryFlags(url, []);
      return eventStream(context.feed, request);
    case "/":
      requireMethod(request, READ);
      return jsonResponse(200, narrowedClusterState(chitchat, url));
    case "/members":
      requireMethod(request, READ);
      queryFlags(url, []);
      return jsonResponse(200, membersJson(chitchat));
    case "/metrics": {
      requireMethod(request, READ);
      queryFlags(url, []);
      const metrics = handle?.metrics();
      const text = renderMetrics({
        chitchat,
        socket: metrics?.socket,
        gossipRounds: metrics?.gossipRounds,
        decryptFailures: metrics?.decryptFailures,
        messagesSentByType: metrics?.messagesSentByType,
        eventStreams: context.feed.metrics,
        connections: context.connectionMetrics?.(),
      });
      return new Response(text, {
        status: 200,
        headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
      });
    }
    case "/health": {
      requireMethod(request, READ);
      queryFlags(url, []);
      const reason = unhealthyReason(chitchat, standalone);
      if (reason !== undefined) throw new HttpApiError(503, reason);
      return jsonResponse(200, { status: "ok", liveNodes: chitchat.liveNodes().length });
    }
  }
  if (url.pathname.startsWith(NODES_PREFIX)) {
    requireMethod(request, READ);
    queryFlags(url, []);
    const nodeId = decodeKey(url.pathname.slice(NODES_PREFIX.length));
    const state = chitchat.nodeState(nodeId);
    if (state === undefined) throw new HttpApiError(404, `No node "${nodeId}" known here`);
    return jsonResponse(200, nodeStateJson(state, new Set(chitchat.liveNodes().map(idKey))));
  }
  if (!url.pathname.startsWith(KV_PREFIX)) {
    throw new HttpApiError(404, `No route for ${url.pathname}`);
  }
  const method = requireMethod(request, ["GET", "HEAD", "PUT", "DELETE"]);
  const key = decodeKey(url.pathname.slice(KV_PREFIX.length));
  const self = chitchat.selfNodeState();
  switch (method) {
    case "GET":
    case "HEAD": {
      queryFlags(url, []);
      const value = self.getVersioned(key);
      if (value === undefined || value.status === "deleted") {
        throw new HttpApiError(404, `No key "${key}" on this node`);
      }
      return jsonResponse(200, keyValueJson(key, value));
    }
    case "PUT": {
      const { ttl } = queryFlags(url, ["ttl"]);
      const value = await readValue(request);
      try {
        if (ttl) self.setWithTtl(key, value);
        else self.set(key, value);
      } catch (error) {
        if (error instanceof RangeError) throw new HttpApiError(413, error.message);
        throw error;
      }
      return jsonResponse(200, keyValueJson(key, self.getVersioned(key)!));
    }
    case "DELETE": {
      const { afterTtl } = queryFlags(url, ["afterTtl"]);
      // Both refuse an absent key or a tombstone, without writing a version.
      const deleted = afterTtl ? self.deleteAfterTtl(key) : self.delete(key);
      if (!deleted) throw new HttpApiError(404, `No key "${key}" on this node`);
      return jsonResponse(200, keyValueJson(key, self.getVersioned(key)!));
    }
  }
}

function requireMethod<const M extends string>(request: Request, allowed: readonly M[]): M {
  const method = allowed.find((m) => m === request.method);
  if (method === undefined) {
    throw new HttpApiError(
      405,
      `Method ${request.method} not allowed: use ${allowed.join(" or ")}`,
      { allow: allowed.join(", ") },
    );
  }
  return method;
}

function decodeKey(encoded: string): string {
  if (encoded === "") throw new HttpApiError(400, "Missing key: use /kv/<key>");
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new HttpApiError(400, `Invalid key "${encoded}": malformed percent-encoding`);
  }
}

/** Reads the boolean query flags `names` (`1`/`true`/empty or `0`/`false`), refusing any other parameter. */
function queryFlags<const N extends string>(
  url: URL,
  names: readonly N[],
): Record<N, boolean> {
  const flags = Object.fromEntries(names.map((name) => [name, false])) as Record<N, boolean>;
  for (const [name, value] of url.searchParams) {
    const flag = names.find((n) => n === name);
    if (flag === undefined) {
      const known = names.length === 0 ? "none" : names.join(", ");
      throw new HttpApiError(400, `Unknown query parameter "${name}" (known: ${known})`);
    }
    if (value === "" || value === "1" || value === "true") flags[flag] = true;
    else if (value === "0" || value === "false") flags[flag] = false;
    else {
      throw new HttpApiError(
        400,
        `Invalid query parameter ${name}="${value}": expected 1, true, 0 or false`,
      );
    }
  }
  return flags;
}

/** Reads the body as UTF-8, giving up as soon as it exceeds the largest value a node can store. */
async function readValue(request: Request): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_WIRE_STRING_BYTES) {
    throw new HttpApiError(
      413,
      `Cannot set value: length ${declared} exceeds ${MAX_WIRE_STRING_BYTES} bytes`,
    );
  }
  if (request.body === null) return "";
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > MAX_WIRE_STRING_BYTES) {
      await reader.cancel();
      throw new HttpApiError(
        413,
        `Cannot set value: length exceeds ${MAX_WIRE_STRING_BYTES} bytes`,
      );
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new HttpApiError(400, "Invalid value: the body is not valid UTF-8");
  }
}
