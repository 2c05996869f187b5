// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode UdpTransport}: gossip over UDP with `Deno.listenDatagram`
 * (needs `--unstable-net`, or `"unstable": ["net"]` in `deno.json`; without
 * them, {@linkcode NodeUdpTransport} does the same on `node:dgram`).
 *
 * @module
 */

import {
  checkSocketAddress,
  closedError,
  denoListenDatagramAvailable,
  errorMessage,
  EventLoopTurns,
  receiveUntilClosed,
} from "./_socket_common.ts";
import { kernelUdpDrops } from "./_kernel_udp_drops.ts";
import { SocketCounters } from "./_socket_counters.ts";
import { consoleLogger, type Logger } from "../core/logger.ts";
import type { ChitchatMessage } from "../core/message.ts";
import { MAX_DATAGRAM_BYTES } from "../core/wire/wire_sizes.ts";
import {
  canonicalSocketAddress,
  formatSocketAddress,
  type SocketAddress,
} from "../core/socket_address.ts";
import { DropLog, refusalReason } from "./_drop_log.ts";
import {
  type CodecSocket,
  type DatagramCodec,
  plaintextCodec,
  useCodec,
} from "./_datagram_codec.ts";
import type { Socket, SocketMetrics, Transport } from "./transport.ts";

/**
 * The real network: one UDP socket per node, datagrams of at most 65,507
 * bytes, IPv4 or IPv6 (bind `"::"` or `"::1"` for IPv6). Undecodable
 * datagrams are dropped, logged once and counted; transient network errors
 * (refused, unreachable, no buffer space) are swallowed and counted.
 *
 * @example Two sockets on the loopback interface
 * ```ts ignore
 * import { Digest, UdpTransport } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const transport = new UdpTransport();
 * await using a = await transport.open({ hostname: "127.0.0.1", port: 0 });
 * await using b = await transport.open({ hostname: "127.0.0.1", port: 0 });
 * await a.send(b.localAddr, { type: "syn", clusterId: "demo", digest: Digest.empty });
 * const [from, message] = await b.receive();
 * assert(from.port === a.localAddr.port && message.type === "syn");
 * ```
 */
export class UdpTransport implements Transport {
  readonly #logger: Logger;

  /**
   * Creates a UDP transport.
   *
   * @param options `logger`: where dropped datagrams and swallowed network
   * errors are reported (default: `consoleLogger("warn")`).
   */
  constructor(options: { readonly logger?: Logger } = {}) {
    this.#logger = options.logger ?? consoleLogger("warn");
  }

  /**
   * Binds a UDP socket.
   *
   * @param listenAddr An IP literal (or host name) and a port; port 0 picks a free port.
   * @returns The open socket; its `localAddr` holds the port actually bound.
   * @throws {TypeError} if `Deno.listenDatagram` is unavailable (run with `--unstable-net`) or the address is malformed.
   * @throws {RangeError} if the port is not an integer in `[0, 65535]`.
   * @throws {Deno.errors.AddrInUse} if the address is taken.
   */
  // deno-lint-ignore require-await -- async turns a throw into a rejection.
  async open(listenAddr: SocketAddress): Promise<Socket> {
    checkSocketAddress(listenAddr, "listenAddr");
    if (!denoListenDatagramAvailable()) {
      throw new TypeError(
        'Cannot open a UDP socket: Deno.listenDatagram is unavailable, run with --unstable-net or add "unstable": ["net"] to deno.json (NodeUdpTransport needs neither)',
      );
    }
    let conn: Deno.DatagramConn;
    try {
      conn = Deno.listenDatagram({
        transport: "udp",
        hostname: listenAddr.hostname,
        port: listenAddr.port,
      });
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse) {
        throw new Deno.errors.AddrInUse(
          `Cannot bind ${formatSocketAddress(listenAddr)}/UDP for gossip: address already in use`,
          { cause: error },
        );
      }
      throw error;
    }
    return new UdpSocket(conn, this.#logger);
  }
}

// Error codes that say "this datagram did not make it" rather than "this
// socket is unusable": the next send or receive may well succeed.
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENOBUFS",
  "ENOMEM",
  "EAGAIN",
  "EWOULDBLOCK",
  "EAFNOSUPPORT",
  "EADDRNOTAVAIL",
  "EPERM",
]);

function isTransient(error: unknown): boolean {
  if (
    error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.NetworkUnreachable ||
    error instanceof Deno.errors.AddrNotAvailable ||
    error instanceof Deno.errors.TimedOut ||
    error instanceof Deno.errors.WouldBlock
  ) {
    return true;
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && TRANSIENT_CODES.has(code);
}

// A socket failing with nothing but transient errors this many times in a
// row is treated as broken, so a dead interface cannot spin the loop forever.
const MAX_CONSECUTIVE_RECEIVE_ERRORS = 1_000;

// One byte more than the largest payload, so an oversized datagram (from a
// foreign sender) shows up as oversized instead of silently truncated.
const RECEIVE_BUFFER_BYTES = MAX_DATAGRAM_BYTES + 1;

class UdpSocket implements CodecSocket {
  readonly localAddr: SocketAddress;
  readonly #conn: Deno.DatagramConn;
  readonly #logger: Logger;
  readonly #drops: DropLog;
  readonly #counters = new SocketCounters();
  #closed = false;
  #codec: DatagramCodec = plaintextCodec;
  // Receive buffers are reused; concurrent receives each take their own.
  #spareBuffer: Uint8Array | undefined;
  readonly #turns = new EventLoopTurns();

  constructor(conn: Deno.DatagramConn, logger: Logger) {
    this.#conn = conn;
    this.#logger = logger;
    this.#drops = new DropLog(logger, () => performance.now());
    const addr = conn.addr as Deno.NetAddr;
    this.localAddr = Object.freeze(canonicalSocketAddress(addr));
  }

  get metrics(): SocketMetrics {
    return this.#counters.snapshot(kernelUdpDrops(this.localAddr));
  }

  [useCodec](codec: DatagramCodec): void {
    this.#codec = codec;
  }

  async send(to: SocketAddress, message: ChitchatMessage): Promise<void> {
    if (this.#closed) throw closedError(this.localAddr);
    const encoded = this.#codec.encodeAsync(message);
    const bytes = encoded instanceof Uint8Array ? encoded : await encoded;
    if (this.#closed) throw closedError(this.localAddr);
    if (bytes.length > MAX_DATAGRAM_BYTES) {
      throw new RangeError(
        `Cannot send message: ${bytes.length} bytes exceed the ${MAX_DATAGRAM_BYTES}-byte datagram limit`,
      );
    }
    try {
      await this.#conn.send(bytes, { transport: "udp", hostname: to.hostname, port: to.port });
    } catch (error) {
      if (this.#closed || error instanceof Deno.errors.BadResource) {
        throw closedError(this.localAddr, error);
      }
      if (!isTransient(error)) throw error;
      this.#counters.sendFailed();
      this.#logger.debug("Swallowed a transient send error", {
        to: formatSocketAddress(to),
        error: errorMessage(error),
      });
      return;
    }
    this.#counters.sent(bytes.length);
  }

  async receive(): Promise<readonly [SocketAddress, ChitchatMessage]> {
    let consecutiveErrors = 0;
    for (;;) {
      await this.#turns.take();
      if (this.#closed) throw closedError(this.localAddr);
      const buffer = this.#spareBuffer ?? new Uint8Array(RECEIVE_BUFFER_BYTES);
      this.#spareBuffer = undefined;
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await this.#conn.receive(buffer);
      } catch (error) {
        this.#spareBuffer = buffer;
        if (this.#closed) throw closedError(this.localAddr, error);
        const transient = isTransient(error) || error instanceof Deno.errors.Interrupted;
        if (!transient || ++consecutiveErrors >= MAX_CONSECUTIVE_RECEIVE_ERRORS) {
          throw new Error(
            `UDP socket ${formatSocketAddress(this.localAddr)} failed: ${errorMessage(error)}`,
            { cause: error },
          );
        }
        this.#logger.debug("Swallowed a transient receive error", { error: errorMessage(error) });
        continue;
      }
      consecutiveErrors = 0;
      // Decoded messages may keep views of their bytes: hand them a copy and
      // keep the big buffer for the next datagram.
      const bytes = data.slice();
      this.#spareBuffer = buffer;
      const net = addr as Deno.NetAddr;
      const from = canonicalSocketAddress({ hostname: net.hostname, port: net.port });
      const decoded = this.#codec.decodeAsync(bytes, MAX_DATAGRAM_BYTES);
      const message = this.#dropUndecoded(
        from,
        bytes,
        decoded instanceof Promise ? await decoded : decoded,
      );
      if (message === undefined) continue;
      this.#counters.received(bytes.length);
      this.#turns.handed();
      return [from, message];
    }
  }

  #dropUndecoded(
    from: SocketAddress,
    bytes: Uint8Array,
    decoded: ChitchatMessage | string,
  ): ChitchatMessage | undefined {
    if (typeof decoded !== "string") return decoded;
    this.#counters.dropped(refusalReason(bytes, MAX_DATAGRAM_BYTES));
    this.#drops.record(from, decoded, bytes.length);
    return undefined;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#drops.flush();
    try {
      this.#conn.close();
    } catch (error) {
      // Already closed underneath us (a broken socket): nothing left to release.
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Whether `close()` was called. */
  get isClosed(): boolean {
    return this.#closed;
  }

  [Symbol.asyncIterator](): AsyncGenerator<readonly [SocketAddress, ChitchatMessage]> {
    return receiveUntilClosed(this);
  }
}
