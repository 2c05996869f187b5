// Copyright the chitchat for Deno authors. MIT license.
// Internal: a TCP front for the CLI's HTTP server. `Deno.serve` exposes no
// connection count, no idle timeout and no hook on accept failures: enough
// half-open connections once exhausted the file descriptors and its accept
// loop took the whole node down ("Too many open files"). The guard accepts
// connections itself, catches and counts accept failures, refuses beyond a
// cap with a 503 JSON answer, closes connections idle for too long (which
// also bounds how long a request head may take), and relays the others to a
// `Deno.serve` bound on loopback that only it can reach in practice.

import type { HttpConnectionMetrics } from "./http_api.ts";
import { RequestHeadLimit } from "./_request_head_limit.ts";

export interface HttpGuardOptions {
  readonly hostname: string;
  readonly port: number;
  /** Where the real HTTP server listens. */
  readonly upstream: Deno.NetAddr;
  readonly maxConnections: number;
  /** A connection that moves no byte either way for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Called on an accept failure (already counted). */
  readonly onAcceptError?: (error: unknown) => void;
}

/**
 * Descriptors left to the rest of the process (UDP socket, files, DNS). A
 * relayed connection costs three: the client's, the guard's to the server
 * and the server's accepted one; when the last of these cannot be had,
 * `Deno.serve`'s accept loop rejects uncaught and the process dies.
 */
const RESERVED_DESCRIPTORS = 64;
const DESCRIPTORS_PER_CONNECTION = 3;

/** The soft limit on open descriptors, where the platform tells (Linux). */
export function openFilesLimit(): number | undefined {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    return soft === undefined ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/**
 * The longest request head relayed. Deno's server takes a little more, but
 * refuses beyond it by resetting the connection.
 */
const MAX_REQUEST_HEAD_BYTES = 65_536;
const HEAD_TOO_LARGE_BODY = '{"error":"Request head too large: over 65,536 bytes"}\n';
const HEAD_TOO_LARGE = new TextEncoder().encode(
  "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n" +
    `connection: close\r\ncontent-length: ${HEAD_TOO_LARGE_BODY.length}\r\n\r\n` +
    HEAD_TOO_LARGE_BODY,
);
/** How long a refused connection may go on sending before it is closed anyway. */
const LINGER_MS = 2_000;
/** How long to wait after a failed accept: failing again at once would spin. */
const ACCEPT_BACKOFF_MS = 50;
const REFUSAL_BODY = '{"error":"Too many connections: try again later"}\n';
const REFUSAL = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n" +
    `connection: close\r\nretry-after: 1\r\ncontent-length: ${REFUSAL_BODY.length}\r\n\r\n` +
    REFUSAL_BODY,
);

// Deno's HTTP server refuses a malformed request head (an invalid or
// repeated Content-Length, a head it cannot parse or too large) with this
// bodiless 400, without calling the handler or onError; the API's own 400s
// always carry a JSON body, so this exact start is Deno's refusal.
const DENO_REFUSAL = new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n");
const JSON_REFUSAL_BODY = '{"error":"Malformed request: refused by the HTTP server"}\n';
const JSON_REFUSAL = new TextEncoder().encode(
  "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n" +
    `content-length: ${JSON_REFUSAL_BODY.length}\r\n\r\n${JSON_REFUSAL_BODY}`,
);

function isDenoRefusal(bytes: Uint8Array): boolean {
  if (bytes.length < DENO_REFUSAL.length) return false;
  for (let i = 0; i < DENO_REFUSAL.length; i++) if (bytes[i] !== DENO_REFUSAL[i]) return false;
  return true;
}

export class HttpGuard {
  readonly addr: Deno.NetAddr;
  /** The cap in force: the one asked for, lowered to what the descriptor limit allows. */
  readonly maxConnections: number;
  #ceiling: number;
  readonly #listener: Deno.TcpListener;
  readonly #options: HttpGuardOptions;
  readonly #connections = new Set<Promise<void>>();
  readonly #closers = new Set<() => void>();
  readonly #acceptLoop: Promise<void>;
  #closing = false;
  #backoff: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | undefined;
  #metrics = { accepted: 0, refused: 0, acceptErrors: 0, timedOut: 0, headsTooLarge: 0 };

  constructor(options: HttpGuardOptions) {
    this.#options = options;
    this.maxConnections = HttpGuard.affordableConnections(options.maxConnections);
    this.#ceiling = this.maxConnections;
    this.#listener = Deno.listen({ hostname: options.hostname, port: options.port });
    this.addr = this.#listener.addr;
    this.#acceptLoop = this.#accept();
  }

  /** The cap a guard asked for `requested` connections will hold: at most what the descriptor limit allows. */
  static affordableConnections(requested: number): number {
    const limit = openFilesLimit();
    const affordable = limit === undefined
      ? Infinity
      : Math.max(1, Math.floor((limit - RESERVED_DESCRIPTORS) / DESCRIPTORS_PER_CONNECTION));
    return Math.min(requested, affordable);
  }

  get metrics(): HttpConnectionMetrics {
    return { ...this.#metrics, open: this.#closers.size };
  }

  /**
   * Stops accepting, then closes every connection: after `graceMs` at most
   * for those still relaying (a server that shut down has closed its side;
   * its last bytes may still be on their way to the client).
   */
  async close(graceMs = 0): Promise<void> {
    if (this.#closing) return await this.#acceptLoop;
    this.#closing = true;
    this.#listener.close();
    if (this.#backoff !== undefined) {
      clearTimeout(this.#backoff.timer);
      this.#backoff.resolve();
    }
    if (graceMs > 0 && this.#connections.size > 0) {
      await settleWithin(Promise.all(this.#connections), graceMs);
    }
    for (const close of this.#closers) close();
    await this.#acceptLoop;
    await Promise.all(this.#connections);
  }

  async #accept(): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing) return;
        this.#metrics.acceptErrors++;
        // Out of descriptors anyway (other code holds some): hold fewer
        // connections until some close, so the server's own accept succeeds.
        this.#ceiling = Math.max(1, Math.min(this.#ceiling, this.#closers.size - 4));
        this.#options.onAcceptError?.(error);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.#backoff = undefined;
            resolve();
          }, ACCEPT_BACKOFF_MS);
          this.#backoff = { timer, resolve };
        });
        continue;
      }
      if (this.#closers.size < this.#ceiling / 2) this.#ceiling = this.maxConnections;
      const work = this.#closers.size >= this.#ceiling ? this.#refuse(conn) : this.#relay(conn);
      this.#connections.add(work);
      work.finally(() => this.#connections.delete(work));
    }
  }

  async #refuse(conn: Deno.TcpConn): Promise<void> {
    this.#metrics.refused++;
    try {
      await conn.write(REFUSAL);
    } catch {
      // The client is gone: nothing to tell it.
    } finally {
      conn.close();
    }
  }

  async #relay(client: Deno.TcpConn): Promise<void> {
    this.#metrics.accepted++;
    let upstream: Deno.TcpConn | undefined;
    let closed = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let lingerTimer: ReturnType<typeof setTimeout> | undefined;
    const close = (): void => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      clearTimeout(lingerTimer);
      this.#closers.delete(close);
      client.close();
      closeUpstream();
    };
    let upstreamClosed = false;
    const closeUpstream = (): void => {
      if (upstreamClosed || upstream === undefined) return;
      upstreamClosed = true;
      upstream.close();
    };
    const touch = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.#metrics.timedOut++;
        close();
      }, this.#options.idleTimeoutMs);
    };
    this.#closers.add(close);
    touch();
    try {
      const { hostname, port } = this.#options.upstream;
      upstream = await Deno.connect({ hostname, port });
      if (closed) {
        upstream.close();
        return;
      }
      let lingering = false;
      // A lingering close: closing at once, with the rest of a big request
      // still arriving, would reset the connection and the client would
      // lose the answer. Send FIN, drop what still comes, then close.
      const linger = (): void => {
        lingering = true;
        lingerTimer = setTimeout(close, LINGER_MS);
        closeUpstream();
        client.closeWrite().catch(close);
      };
      const heads = new RequestHeadLimit(MAX_REQUEST_HEAD_BYTES);
      const toServer = pump(client, upstream, touch, async (chunk) => {
        if (lingering) return "drop";
        if (heads.feed(chunk)) return "forward";
        this.#metrics.headsTooLarge++;
        await client.write(HEAD_TOO_LARGE);
        linger();
        return "drop";
      }).then(() => {
        // The client finished sending; the answer may still be on its way.
        if (lingering) close();
        else if (!closed) upstream!.closeWrite().catch(close);
      });
      const toClient = pump(upstream, client, touch, async (chunk) => {
        if (!isDenoRefusal(chunk)) return "forward";
        await client.write(JSON_REFUSAL);
        linger();
        return "end";
      }).then(() => {
        if (!lingering) close();
      });
      await Promise.all([toServer.catch(close), toClient.catch(close)]);
    } catch {
      // A failed connect or a reset: the connection just ends.
    } finally {
      close();
    }
  }
}

/** Waits for `promise` to settle, or `ms`, whichever comes first; clears its timer. */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  try {
    await Promise.race([promise.catch(() => {}), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Copies `from` to `to` until either ends, asking `inspect` about each chunk
 * read: forward it, drop it, or end the copy.
 */
async function pump(
  from: Deno.Conn,
  to: Deno.Conn,
  touch: () => void,
  inspect: (chunk: Uint8Array) => Promise<"forward" | "drop" | "end">,
): Promise<void> {
  const buffer = new Uint8Array(16_384);
  for (;;) {
    let n: number | null;
    try {
      n = await from.read(buffer);
    } catch {
      return;
    }
    if (n === null) return;
    touch();
    const verdict = await inspect(buffer.subarray(0, n));
    if (verdict === "end") return;
    if (verdict === "drop") continue;
    let offset = 0;
    while (offset < n) offset += await to.write(buffer.subarray(offset, n));
  }
}
