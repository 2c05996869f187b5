// Copyright the chitchat for Deno authors. MIT license.
// Internal: the Server-Sent Events stream of `GET /events`, shared by every
// client of one node. Bounded on every side: at most `maxClients` streams
// (the rest get a 503), each with a byte budget for what it has not read
// yet (a client over it is dropped, not buffered for), one membership
// subscription and one member snapshot a tick for all of them (encoded
// once), and every stream ended on close so a server shutdown never waits
// on an open response.
//
// Wire format, one SSE event each (`data:` is JSON on one line):
//   retry: <ms>               first, so EventSource reconnects at that pace
//   event: state              on connect: members, key-values, live history
//   event: members            every snapshot interval: the member rows
//   event: membership         a joined/dead/revived/restarted/removed event
//   event: key                a key-value of some node changed
//   : ping                    a comment, so idle proxies keep the stream

import type { Chitchat } from "../core/chitchat.ts";
import type { KeyChangeEvent } from "../core/key_change_event.ts";
import type { MembershipEvent } from "../core/membership_event.ts";
import type { Scheduler, Timer } from "../runtime/scheduler.ts";
import { formatSocketAddress } from "../core/socket_address.ts";

/** The content type of an SSE stream. */
export const EVENT_STREAM_CONTENT_TYPE = "text/event-stream; charset=utf-8";

/** How the feed reads its node; `http_api.ts` supplies the JSON views. */
export interface EventFeedSource {
  readonly chitchat: Chitchat;
  /** The member rows, as `GET /members` lists them. */
  members(): unknown;
  /** Every node's key-values, as the `nodes` of `GET /`. */
  nodes(): unknown;
}

export interface EventFeedOptions {
  readonly scheduler: Scheduler;
  readonly maxClients: number;
  /** Bytes a client may leave unread before it is dropped. */
  readonly maxBufferedBytes: number;
  readonly snapshotIntervalMs: number;
  readonly pingIntervalMs: number;
  /** What EventSource waits before reconnecting. */
  readonly retryMs: number;
}

/** Counters of the feed, for `GET /metrics`. */
export interface EventFeedMetrics {
  /** Streams open now. */
  readonly open: number;
  /** Streams opened since start. */
  readonly opened: number;
  /** Requests refused because `maxClients` streams were open. */
  readonly refused: number;
  /** Streams dropped because their client read too slowly. */
  readonly dropped: number;
}

/** Live-node counts kept for the page's plot: one per change, this long. */
const HISTORY_MS = 15 * 60_000;
const MAX_HISTORY = 1_024;

const encoder = new TextEncoder();

/** Encodes one SSE event; JSON has no raw newline, so one `data:` line holds it. */
function frame(event: string, data: unknown): Uint8Array {
  return encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

const PING = encoder.encode(": ping\n\n");

class EventClient {
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #open = true;

  constructor(highWaterMark: number, onCancel: (client: EventClient) => void) {
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#open = false;
        onCancel(this);
      },
    }, { highWaterMark, size: (chunk) => chunk.byteLength });
  }

  /** Queues `bytes`; `false` (and the stream errored) when the client is too far behind. */
  send(bytes: Uint8Array): boolean {
    if (!this.#open) return true;
    const room = this.#controller.desiredSize ?? 0;
    if (room < bytes.byteLength) {
      this.#open = false;
      // Erroring, unlike closing, discards what is queued: the response ends now.
      this.#controller.error(new Error("Event stream client too slow: dropped"));
      return false;
    }
    this.#controller.enqueue(bytes);
    return true;
  }

  end(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#controller.close();
  }
}

/** The SSE feed of one node. */
export class EventFeed {
  readonly #source: EventFeedSource;
  readonly #options: EventFeedOptions;
  readonly #clients = new Set<EventClient>();
  readonly #history: (readonly [atMs: number, live: number])[] = [];
  #metrics = { opened: 0, refused: 0, dropped: 0 };
  #subscription: { abort: AbortController; keys: Disposable } | undefined;
  #snapshotTimer: Timer | undefined;
  #pingTimer: Timer | undefined;
  #closed = false;

  constructor(source: EventFeedSource, options: EventFeedOptions) {
    this.#source = source;
    this.#options = options;
    let last = -1;
    // Synchronous and cheap: the history is there for the first page load.
    source.chitchat.watchLiveNodes((nodes) => {
      if (nodes.length === last || this.#closed) return;
      last = nodes.length;
      this.#record(nodes.length);
    });
    last = source.chitchat.liveNodes().length;
    this.#record(last);
  }

  get metrics(): EventFeedMetrics {
    return { ...this.#metrics, open: this.#clients.size };
  }

  /** Whether one more stream may open now. */
  get full(): boolean {
    return this.#closed || this.#clients.size >= this.#options.maxClients;
  }

  /** Counts a refused request (the caller answers it). */
  refuse(): void {
    this.#metrics.refused++;
  }

  /** Opens one stream; check {@linkcode EventFeed.full} first. */
  open(): ReadableStream<Uint8Array> {
    const now = this.#options.scheduler.now();
    const retry = encoder.encode(`retry: ${this.#options.retryMs}\n\n`);
    const state = frame("state", {
      clusterId: this.#source.chitchat.clusterId,
      self: this.#source.chitchat.chitchatId.nodeId,
      members: this.#source.members(),
      nodes: this.#source.nodes(),
      history: this.#history.map(([at, live]) => [Math.round(now - at), live]),
    });
    // The budget comes on top of the state: a state larger than the budget
    // would otherwise drop every client at once, and its EventSource would
    // reconnect (and be sent the state again) every retry interval.
    const budget = this.#options.maxBufferedBytes + retry.byteLength + state.byteLength;
    const client = new EventClient(budget, (gone) => this.#remove(gone));
    this.#clients.add(client);
    this.#metrics.opened++;
    this.#start();
    client.send(retry);
    client.send(state);
    return client.stream;
  }

  /** Ends every stream (their clients see the end) and stops the timers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const client of this.#clients) client.end();
    this.#clients.clear();
    this.#stop();
  }

  #record(live: number): void {
    const now = this.#options.scheduler.now();
    this.#history.push([now, live]);
    while (
      this.#history.length > MAX_HISTORY ||
      (this.#history.length > 1 && now - this.#history[1][0] > HISTORY_MS)
    ) {
      this.#history.shift();
    }
  }

  #broadcast(bytes: Uint8Array): void {
    for (const client of [...this.#clients]) {
      if (!client.send(bytes)) this.#drop(client);
    }
  }

  #drop(client: EventClient): void {
    this.#metrics.dropped++;
    this.#remove(client);
  }

  #remove(client: EventClient): void {
    if (!this.#clients.delete(client)) return;
    if (this.#clients.size === 0) this.#stop();
  }

  /** Subscribes and starts the timers with the first client. */
  #start(): void {
    if (this.#subscription !== undefined) return;
    const abort = new AbortController();
    const chitchat = this.#source.chitchat;
    const keys = chitchat.subscribeEvent(
      "",
      (event) => this.#broadcast(frame("key", keyEventJson(event))),
      { includeDeleted: true },
    );
    this.#subscription = { abort, keys };
    this.#follow(chitchat.membershipEvents({ signal: abort.signal }));
    this.#scheduleSnapshot();
    this.#schedulePing();
  }

  async #follow(events: AsyncIterable<MembershipEvent>): Promise<void> {
    for await (const event of events) {
      this.#broadcast(frame("membership", {
        type: event.type,
        nodeId: event.node.nodeId,
        generationId: event.node.generationId.toString(),
        address: formatSocketAddress(event.node.gossipAdvertiseAddr),
        atMs: event.atMs,
      }));
    }
  }

  #scheduleSnapshot(): void {
    this.#snapshotTimer = this.#options.scheduler.setTimeout(() => {
      this.#broadcast(frame("members", this.#source.members()));
      this.#scheduleSnapshot();
    }, this.#options.snapshotIntervalMs);
  }

  #schedulePing(): void {
    this.#pingTimer = this.#options.scheduler.setTimeout(() => {
      this.#broadcast(PING);
      this.#schedulePing();
    }, this.#options.pingIntervalMs);
  }

  /** Unsubscribes and stops the timers with the last client. */
  #stop(): void {
    this.#snapshotTimer?.cancel();
    this.#pingTimer?.cancel();
    this.#snapshotTimer = this.#pingTimer = undefined;
    if (this.#subscription === undefined) return;
    this.#subscription.abort.abort();
    this.#subscription.keys[Symbol.dispose]();
    this.#subscription = undefined;
  }
}

function keyEventJson(event: KeyChangeEvent): unknown {
  return {
    nodeId: event.node.nodeId,
    generationId: event.node.generationId.toString(),
    key: event.key,
    value: event.value,
    version: event.version,
    status: event.status,
  };
}
