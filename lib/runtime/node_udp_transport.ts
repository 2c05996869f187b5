// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode NodeUdpTransport}: gossip over UDP with `node:dgram`, which
 * Deno (without `--unstable-net`), Node.js and Bun all provide.
 *
 * @module
 */

import { createSocket, type RemoteInfo, type Socket as DgramSocket } from "node:dgram";
import {
  checkSocketAddress,
  closedError,
  errorMessage,
  EventLoopTurns,
  receiveUntilClosed,
  runtimeError,
  type RuntimeErrorName,
} from "./_socket_common.ts";
import { FairDatagramQueue } from "./_fair_datagram_queue.ts";
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
 * The real network through `node:dgram`: one UDP socket per node,
 * datagrams of at most 65,507 bytes, IPv4 or IPv6 (an IPv6 literal such as
 * `"::"` or `"::1"` opens an IPv6 socket). It behaves like
 * {@linkcode UdpTransport} and needs no flag on Deno, so
 * {@linkcode spawnChitchat} uses it wherever `Deno.listenDatagram` is not
 * available (Deno without `--unstable-net`, Node.js, Bun).
 *
 * `node:dgram` reads datagrams as fast as they come, so the socket keeps
 * up to `receiveQueueBytes` (8 MiB) of them waiting for `receive()`;
 * beyond that, new ones are dropped (counted in `datagramsDropped`, with
 * one warning per overflow), as a full kernel buffer would. One sender may
 * hold an eighth of the queue at most, and senders are served in turn, so a
 * flood from one address neither crowds out nor delays the other peers. It asks the
 * kernel for a 4 MiB receive buffer (capped by `net.core.rmem_max` on
 * Linux; Deno's `node:dgram` keeps the system default) so bursts survive a
 * busy event loop.
 * Send failures on an open socket concern one datagram only: they are
 * swallowed and counted in `sendErrors`.
 */
export class NodeUdpTransport implements Transport {
  readonly #logger: Logger;
  readonly #receiveQueueBytes: number;

  /**
   * Creates a `node:dgram` transport.
   *
   * @param options `logger`: where dropped datagrams and swallowed network
   * errors are reported (default: `consoleLogger("warn")`);
   * `receiveQueueBytes`: how many bytes of received datagrams may wait for
   * `receive()` on one socket, each counted with 128 bytes of bookkeeping,
   * before new ones are dropped (default: 8 MiB; at least 65,636, one full
   * datagram).
   * @throws {RangeError} if `receiveQueueBytes` is not an integer of at least 65,636.
   */
  constructor(options: { readonly logger?: Logger; readonly receiveQueueBytes?: number } = {}) {
    this.#logger = options.logger ?? consoleLogger("warn");
    const queueBytes = options.receiveQueueBytes ?? DEFAULT_RECEIVE_QUEUE_BYTES;
    if (!Number.isSafeInteger(queueBytes) || queueBytes < MIN_RECEIVE_QUEUE_BYTES) {
      throw new RangeError(
        `Invalid receiveQueueBytes: ${queueBytes} is not an integer of at least ${MIN_RECEIVE_QUEUE_BYTES}`,
      );
    }
    this.#receiveQueueBytes = queueBytes;
  }

  /**
   * Binds a UDP socket.
   *
   * @param listenAddr An IP literal (or host name) and a port; port 0 picks a free port.
   * @returns The open socket; its `localAddr` holds the port actually bound.
   * @throws {TypeError} if the address is malformed.
   * @throws {RangeError} if the port is not an integer in `[0, 65535]`.
   * @throws {Deno.errors.AddrInUse} if the address is taken (on Node.js and Bun, an `Error` named `AddrInUse`; likewise `AddrNotAvailable` for an address of no local interface, `PermissionDenied` for a privileged port).
   */
  async open(listenAddr: SocketAddress): Promise<Socket> {
    checkSocketAddress(listenAddr, "listenAddr");
    const dgram = createSocket({ type: listenAddr.hostname.includes(":") ? "udp6" : "udp4" });
    try {
      await bind(dgram, listenAddr);
    } catch (error) {
      await closeQuietly(dgram);
      // The errors Deno's own sockets raise, so callers match one class
      // (or one name) whichever UDP transport is in use.
      const code = (error as { code?: unknown } | null)?.code;
      const known = BIND_ERRORS.find(([errno]) => errno === code);
      if (known === undefined) throw error;
      const [, name, reason] = known;
      throw runtimeError(
        name,
        `Cannot bind ${formatSocketAddress(listenAddr)}/UDP for gossip: ${reason}`,
        error,
      );
    }
    try {
      dgram.setRecvBufferSize(RECEIVE_BUFFER_REQUEST_BYTES);
    } catch (error) {
      // Not every runtime lets a socket grow its buffer; the default works, just with less slack.
      this.#logger.debug("Kept the default UDP receive buffer size", {
        error: errorMessage(error),
      });
    }
    return new NodeUdpSocket(dgram, this.#logger, this.#receiveQueueBytes);
  }
}

const BIND_ERRORS: readonly (readonly [string, RuntimeErrorName, string])[] = [
  ["EADDRINUSE", "AddrInUse", "address already in use"],
  ["EADDRNOTAVAIL", "AddrNotAvailable", "address not available"],
  ["EACCES", "PermissionDenied", "permission denied"],
  ["EPERM", "PermissionDenied", "permission denied"],
];

const RECEIVE_BUFFER_REQUEST_BYTES = 4 * 1024 * 1024;

// What may wait for receive() is bounded, since node:dgram offers no way to
// stop reading and a peer (or a flood) can send faster than we decode. The
// per-datagram charge keeps a flood of tiny datagrams bounded too.
const DEFAULT_RECEIVE_QUEUE_BYTES = 8 * 1024 * 1024;
const QUEUE_ENTRY_OVERHEAD_BYTES = 128;
const MIN_RECEIVE_QUEUE_BYTES = MAX_DATAGRAM_BYTES + 1 + QUEUE_ENTRY_OVERHEAD_BYTES;
/** One sender may hold this fraction of the queue (at least one full datagram). */
const SENDER_QUEUE_SHARE = 8;

function bind(dgram: DgramSocket, addr: SocketAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    dgram.once("error", onError);
    // exclusive: the socket is never shared with cluster workers; without
    // reuseAddr a taken address fails with EADDRINUSE, as Deno's does.
    dgram.bind({ address: addr.hostname, port: addr.port, exclusive: true }, () => {
      dgram.off("error", onError);
      resolve();
    });
  });
}

function closeQuietly(dgram: DgramSocket): Promise<void> {
  return new Promise((resolve) => {
    try {
      dgram.close(() => resolve());
    } catch {
      // Never bound or already closed: nothing to release.
      resolve();
    }
  });
}

// Receive errors that say "a datagram did not make it" rather than "this
// socket is unusable".
const TRANSIENT_RECEIVE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
  "ENOBUFS",
  "ENOMEM",
  "EAGAIN",
  "EWOULDBLOCK",
  "EINTR",
  "EMSGSIZE",
]);

// A socket reporting nothing but transient errors this many times in a row
// is treated as broken, so a dead interface cannot log forever.
const MAX_CONSECUTIVE_RECEIVE_ERRORS = 1_000;

interface Waiter {
  resolve(received: readonly [SocketAddress, ChitchatMessage]): void;
  reject(error: unknown): void;
}

class NodeUdpSocket implements CodecSocket {
  readonly localAddr: SocketAddress;
  readonly #dgram: DgramSocket;
  readonly #logger: Logger;
  readonly #drops: DropLog;
  readonly #maxQueuedBytes: number;
  readonly #counters = new SocketCounters();
  readonly #queue: FairDatagramQueue;
  #overflowing = false;
  readonly #waiters: Waiter[] = [];
  #closed = false;
  // Sends handed to node:dgram and not yet called back: close() rejects them.
  readonly #pendingSends = new Set<() => void>();
  // The datagram being opened asynchronously, if any (see #deliver).
  #opening: Promise<void> | undefined;
  #codec: DatagramCodec = plaintextCodec;
  #closing: Promise<void> | undefined;
  #failure: Error | undefined;
  #consecutiveErrors = 0;
  readonly #turns = new EventLoopTurns();

  constructor(dgram: DgramSocket, logger: Logger, maxQueuedBytes: number) {
    this.#dgram = dgram;
    this.#logger = logger;
    this.#drops = new DropLog(logger, () => performance.now());
    this.#maxQueuedBytes = maxQueuedBytes;
    this.#queue = new FairDatagramQueue(
      maxQueuedBytes,
      Math.max(Math.floor(maxQueuedBytes / SENDER_QUEUE_SHARE), MIN_RECEIVE_QUEUE_BYTES),
      QUEUE_ENTRY_OVERHEAD_BYTES,
    );
    const addr = dgram.address();
    this.localAddr = Object.freeze(
      canonicalSocketAddress({ hostname: addr.address, port: addr.port }),
    );
    dgram.on("message", (data: Uint8Array, rinfo: RemoteInfo) => this.#onDatagram(data, rinfo));
    dgram.on("error", (error: Error) => this.#onError(error));
  }

  get metrics(): SocketMetrics {
    return this.#counters.snapshot(kernelUdpDrops(this.localAddr));
  }

  [useCodec](codec: DatagramCodec): void {
    this.#codec = codec;
  }

  #onDatagram(data: Uint8Array, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    this.#consecutiveErrors = 0;
    // Decoded messages may keep views of their bytes: a datagram sharing a
    // larger buffer (Deno's node:dgram reuses 64 KiB ones) is copied, so it
    // pins only itself.
    const bytes = data.byteOffset === 0 && data.buffer.byteLength === data.length
      ? new Uint8Array(data.buffer, 0, data.length)
      : new Uint8Array(data);
    const from = canonicalSocketAddress({ hostname: rinfo.address, port: rinfo.port });
    const refused = this.#queue.push(formatSocketAddress(from), { from, bytes });
    if (refused !== undefined) {
      this.#counters.dropped("queue_full");
      if (!this.#overflowing) {
        this.#overflowing = true;
        this.#logger.warn("Dropping datagrams: the receive queue is full", {
          reason: refused,
          sender: formatSocketAddress(from),
          queuedBytes: this.#queue.bytes,
          limitBytes: this.#maxQueuedBytes,
        });
      }
      return;
    }
    this.#overflowing = false;
    this.#deliver();
  }

  #onError(error: Error): void {
    if (this.#closed) return;
    // Bun reports an ICMP "port unreachable" for an earlier datagram as a
    // receive error (`recvmsg ECONNREFUSED`): such errors concern one
    // datagram, unless nothing else ever comes.
    const code = (error as { code?: unknown }).code;
    if (
      typeof code === "string" && TRANSIENT_RECEIVE_CODES.has(code) &&
      ++this.#consecutiveErrors < MAX_CONSECUTIVE_RECEIVE_ERRORS
    ) {
      this.#logger.debug("Swallowed a transient receive error", { error: errorMessage(error) });
      return;
    }
    // Any other error reported on the socket itself (not a send callback)
    // means it is unusable: end every receive, as a broken Deno socket does.
    this.#failure = new Error(
      `UDP socket ${formatSocketAddress(this.localAddr)} failed: ${errorMessage(error)}`,
      { cause: error },
    );
    for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#failure);
  }

  // Hands queued datagrams to waiting receivers, dropping undecodable ones.
  // One datagram is opened at a time, so they are delivered in arrival order.
  #deliver(): void {
    while (this.#opening === undefined && this.#waiters.length > 0 && this.#queue.length > 0) {
      const { from, bytes } = this.#queue.shift()!;
      const decoded = this.#codec.decodeAsync(bytes, MAX_DATAGRAM_BYTES);
      if (!(decoded instanceof Promise)) {
        this.#hand(from, bytes, decoded);
        continue;
      }
      this.#opening = decoded.then((result) => {
        this.#opening = undefined;
        if (this.#closed) return;
        this.#hand(from, bytes, result);
        this.#deliver();
      });
    }
  }

  #hand(from: SocketAddress, bytes: Uint8Array, decoded: ChitchatMessage | string): void {
    if (typeof decoded === "string") {
      this.#counters.dropped(refusalReason(bytes, MAX_DATAGRAM_BYTES));
      this.#drops.record(from, decoded, bytes.length);
      return;
    }
    // The waiter may be gone: the socket failed while the datagram was opened.
    const waiter = this.#waiters.shift();
    if (waiter === undefined) return;
    this.#counters.received(bytes.length);
    this.#turns.handed();
    waiter.resolve([from, decoded]);
  }

  send(to: SocketAddress, message: ChitchatMessage): Promise<void> {
    if (this.#closed) return Promise.reject(closedError(this.localAddr));
    let encoded: Uint8Array | Promise<Uint8Array>;
    try {
      encoded = this.#codec.encodeAsync(message);
    } catch (error) {
      return Promise.reject(error);
    }
    if (encoded instanceof Uint8Array) return this.#sendBytes(to, encoded);
    return encoded.then((bytes) => {
      if (this.#closed) throw closedError(this.localAddr);
      return this.#sendBytes(to, bytes);
    });
  }

  #sendBytes(to: SocketAddress, bytes: Uint8Array): Promise<void> {
    if (bytes.length > MAX_DATAGRAM_BYTES) {
      return Promise.reject(
        new RangeError(
          `Cannot send message: ${bytes.length} bytes exceed the ${MAX_DATAGRAM_BYTES}-byte datagram limit`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      // Deno's node:dgram may drop the callback of a send still in flight
      // when the socket closes: close() settles what is left.
      const abandon = (): void => reject(closedError(this.localAddr));
      this.#pendingSends.add(abandon);
      const done = (error: Error | null) => {
        if (!this.#pendingSends.delete(abandon)) return;
        if (error === null || error === undefined) {
          this.#counters.sent(bytes.length);
        } else if (this.#closed) {
          reject(closedError(this.localAddr, error));
          return;
        } else {
          // The socket stays usable after a failed send (refused, unreachable,
          // wrong address family, no buffer space): count it, keep gossiping.
          this.#counters.sendFailed();
          this.#logger.debug("Swallowed a send error", {
            to: formatSocketAddress(to),
            error: errorMessage(error),
          });
        }
        resolve();
      };
      try {
        this.#dgram.send(bytes, to.port, to.hostname, done);
      } catch (error) {
        if (!this.#closed) done(error instanceof Error ? error : new Error(String(error)));
        else if (this.#pendingSends.delete(abandon)) reject(closedError(this.localAddr, error));
      }
    });
  }

  async receive(): Promise<readonly [SocketAddress, ChitchatMessage]> {
    // Even with nothing queued: node:dgram delivers a backlog from the
    // kernel's buffer as microtasks too, each one resolving this receive.
    await this.#turns.take();
    if (this.#closed) throw closedError(this.localAddr);
    if (this.#failure !== undefined) throw this.#failure;
    return await new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#deliver();
    });
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#drops.flush();
    this.#queue.clear();
    const error = closedError(this.localAddr);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
    for (const abandon of this.#pendingSends) abandon();
    this.#pendingSends.clear();
    // A datagram being opened finishes first: no crypto work outlives the socket.
    const opening = this.#opening;
    this.#closing = closeQuietly(this.#dgram).then(() => opening);
    return this.#closing;
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
