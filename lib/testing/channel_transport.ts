// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode ChannelTransport}: an in-process network with faults
 * (partitions, one-way cuts, dropped messages, delays), for tests and
 * simulations on virtual time.
 *
 * @module
 */

import { addrInUseError, checkSocketAddress } from "../runtime/_socket_common.ts";
import { ChannelSocket, type InFlight, type NetworkPort } from "./_channel_socket.ts";
import { consoleLogger, type Logger } from "../core/logger.ts";
import type { ChitchatMessage } from "../core/message.ts";
import { encodeMessage, messageByteLength } from "../core/message_codec.ts";
import { plaintextCodec } from "../runtime/_datagram_codec.ts";
import { DropLog, refusalReason } from "../runtime/_drop_log.ts";
import { MAX_DATAGRAM_BYTES } from "../core/wire/wire_sizes.ts";
import { type RandomSource, systemRandom } from "../core/random.ts";
import { type Scheduler, systemScheduler } from "../runtime/scheduler.ts";
import {
  canonicalSocketAddress,
  formatSocketAddress,
  type SocketAddress,
} from "../core/socket_address.ts";
import type { Socket, Transport } from "../runtime/transport.ts";

/**
 * Draws the delay of one message, in milliseconds, from the transport's
 * random source. Must return a finite number `>= 0`.
 *
 * @example Uniform between 5 and 15 ms
 * ```ts
 * import type { DelayFunction } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * const jitter: DelayFunction = (random) => 5 + 10 * random();
 * assert(jitter(() => 0.5) === 10);
 * ```
 */
export type DelayFunction = (random: RandomSource) => number;

/** Options of the {@linkcode ChannelTransport} constructor. */
export interface ChannelTransportOptions {
  /**
   * Runs every delivery; share it with the nodes to run on virtual time.
   *
   * @default {systemScheduler}
   */
  readonly scheduler?: Scheduler;
  /**
   * Decides drops and feeds the delay functions.
   *
   * @default {Math.random}
   */
  readonly random?: RandomSource;
  /**
   * Where dropped (undecodable) injected datagrams are reported.
   *
   * @default {consoleLogger("warn")}
   */
  readonly logger?: Logger;
  /**
   * Largest message accepted by `send`, in encoded bytes.
   *
   * @default {65_507}
   */
  readonly mtu?: number;
  /**
   * Delay of every message without a per-link delay.
   *
   * @default {undefined (no delay)}
   */
  readonly delay?: DelayFunction;
  /**
   * Probability that a message without a per-link probability is dropped.
   *
   * @default {0}
   */
  readonly dropProbability?: number;
  /**
   * Messages a socket holds before it is received; more are dropped, like
   * a full socket buffer.
   *
   * @default {1_024}
   */
  readonly queueCapacity?: number;
}

/**
 * Message and byte counters of a {@linkcode ChannelTransport}, globally or
 * for one address. For an address, `sent` and `dropped` count the messages
 * it sent; `delivered` counts the messages delivered to it.
 *
 * @example
 * ```ts
 * import type { ChannelTransportStats } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * const stats: ChannelTransportStats = {
 *   messagesSent: 3, bytesSent: 300, messagesDelivered: 2, bytesDelivered: 200,
 *   messagesDropped: 1, bytesDropped: 100, largestMessageBytes: 100,
 * };
 * assert(stats.messagesSent === stats.messagesDelivered + stats.messagesDropped);
 * ```
 */
export interface ChannelTransportStats {
  /** Messages handed to the network (dropped ones included). */
  readonly messagesSent: number;
  /** Encoded bytes of those messages. */
  readonly bytesSent: number;
  /** Messages that reached a socket. */
  readonly messagesDelivered: number;
  /** Encoded bytes of those messages. */
  readonly bytesDelivered: number;
  /** Messages dropped: cut link, random drop, unbound or closed destination, full queue, junk. */
  readonly messagesDropped: number;
  /** Encoded bytes of those messages. */
  readonly bytesDropped: number;
  /** Encoded bytes of the largest message sent (for an address: that it sent). */
  readonly largestMessageBytes: number;
}

/** Options of {@linkcode ChannelTransport.cut} and {@linkcode ChannelTransport.heal}. */
export interface LinkOptions {
  /**
   * Only the direction from the first address to the second.
   *
   * @default {false}
   */
  readonly oneWay?: boolean;
}

type MutableStats = { -readonly [K in keyof ChannelTransportStats]: ChannelTransportStats[K] };

/** Port 0 allocations start here, above the ports tests and simulations pick by hand. */
const FIRST_EPHEMERAL_PORT = 40_000;

function emptyStats(): MutableStats {
  return {
    messagesSent: 0,
    bytesSent: 0,
    messagesDelivered: 0,
    bytesDelivered: 0,
    messagesDropped: 0,
    bytesDropped: 0,
    largestMessageBytes: 0,
  };
}

function checkProbability(field: string, p: number): number {
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new RangeError(`Invalid ${field}: ${p} is not a probability in [0, 1]`);
  }
  return p;
}

function checkDelayFunction(field: string, fn: DelayFunction | undefined): void {
  if (fn !== undefined && typeof fn !== "function") {
    throw new TypeError(`Invalid ${field}: expected a function`);
  }
}

const keys = new WeakMap<SocketAddress, string>();

/** `host:port` with the host in canonical form: equal addresses, equal keys. */
function addressKey(addr: SocketAddress): string {
  let key = keys.get(addr);
  if (key !== undefined) return key;
  checkSocketAddress(addr, "socket address");
  const canonical = canonicalSocketAddress(addr);
  key = `${canonical.hostname}:${canonical.port}`;
  keys.set(addr, key);
  return key;
}

function setLinkValue<T>(
  map: Map<string, Map<string, T>>,
  from: string,
  to: string,
  value: T | undefined,
): void {
  let inner = map.get(from);
  if (value === undefined) {
    inner?.delete(to);
    if (inner?.size === 0) map.delete(from);
    return;
  }
  if (inner === undefined) map.set(from, inner = new Map());
  inner.set(to, value);
}

/**
 * An in-process network. Messages travel as objects (no encoding), but
 * their encoded size is computed, checked against the MTU and counted.
 * Every delay goes through the injected {@linkcode Scheduler} and every
 * random choice through the injected random source, so a whole cluster can
 * run deterministically on virtual time. Delivery is never synchronous:
 * even a zero delay goes through `scheduler.setTimeout(…, 0)`.
 *
 * Addresses match exactly (after canonicalization): a socket bound to
 * `0.0.0.0:p` does not receive what is sent to `127.0.0.1:p`.
 *
 * @example A partition, then healing it
 * ```ts
 * import { Digest } from "@chitchat/chitchat";
 * import { ChannelTransport } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * const network = new ChannelTransport();
 * await using a = await network.open({ hostname: "10.0.0.1", port: 7280 });
 * await using b = await network.open({ hostname: "10.0.0.2", port: 7280 });
 * const syn = { type: "syn", clusterId: "demo", digest: Digest.empty } as const;
 *
 * network.partition([a.localAddr], [b.localAddr]);
 * await a.send(b.localAddr, syn);
 * assert(network.stats().messagesDropped === 1);
 *
 * network.healAll();
 * await a.send(b.localAddr, syn);
 * const [from, message] = await b.receive();
 * assert(from.hostname === "10.0.0.1" && message.type === "syn");
 * ```
 */
export class ChannelTransport implements Transport {
  readonly #scheduler: Scheduler;
  readonly #random: RandomSource;
  readonly #logger: Logger;
  readonly #drops: DropLog;
  readonly #mtu: number;
  readonly #queueCapacity: number;
  readonly #sockets = new Map<string, ChannelSocket>();
  readonly #cuts = new Map<string, Map<string, true>>();
  readonly #linkDrop = new Map<string, Map<string, number>>();
  readonly #linkDelay = new Map<string, Map<string, DelayFunction>>();
  #dropProbability: number;
  #delay: DelayFunction | undefined;
  #nextPort = FIRST_EPHEMERAL_PORT;
  #stats: MutableStats = emptyStats();
  #addressStats = new Map<string, MutableStats>();
  readonly #port: NetworkPort = {
    route: (source, to, message) => this.#route(source, to, message),
    release: (socket, inFlight) => this.#release(socket, inFlight),
  };

  /**
   * Creates an empty network.
   *
   * @param options Scheduler, random source, logger, MTU, default delay and drop probability.
   * @throws {RangeError} if the MTU, the queue capacity or the drop probability is out of range.
   * @throws {TypeError} if `delay` is not a function.
   */
  constructor(options: ChannelTransportOptions = {}) {
    this.#scheduler = options.scheduler ?? systemScheduler;
    this.#random = options.random ?? systemRandom;
    this.#logger = options.logger ?? consoleLogger("warn");
    this.#drops = new DropLog(this.#logger, () => this.#scheduler.now());
    const mtu = options.mtu ?? MAX_DATAGRAM_BYTES;
    if (!Number.isInteger(mtu) || mtu < 4) {
      throw new RangeError(`Invalid mtu: ${mtu} must be an integer of at least 4 bytes`);
    }
    this.#mtu = mtu;
    const capacity = options.queueCapacity ?? 1_024;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Invalid queueCapacity: ${capacity} must be a positive integer`);
    }
    this.#queueCapacity = capacity;
    this.#dropProbability = checkProbability("dropProbability", options.dropProbability ?? 0);
    checkDelayFunction("delay", options.delay);
    this.#delay = options.delay;
  }

  /**
   * Binds an address.
   *
   * @param listenAddr The address; port 0 takes a free port from 40,000 up.
   * @returns The socket.
   * @throws {Deno.errors.AddrInUse} if a socket already holds the address.
   * @throws {TypeError} or {RangeError} if the address is malformed.
   */
  // deno-lint-ignore require-await -- async turns a throw into a rejection.
  async open(listenAddr: SocketAddress): Promise<Socket> {
    return this.#open(listenAddr);
  }

  #open(listenAddr: SocketAddress): ChannelSocket {
    let key = addressKey(listenAddr);
    let addr = canonicalSocketAddress(listenAddr);
    if (addr.port === 0) {
      addr = { hostname: addr.hostname, port: this.#allocatePort(addr.hostname) };
      key = addressKey(addr);
    } else if (this.#sockets.has(key)) {
      throw addrInUseError(`Cannot bind ${formatSocketAddress(addr)}: address already in use`);
    }
    const socket = new ChannelSocket(this.#port, Object.freeze(addr), key, this.#queueCapacity);
    this.#sockets.set(key, socket);
    return socket;
  }

  #allocatePort(hostname: string): number {
    for (let attempt = 0; attempt < 65_535; attempt++) {
      const port = this.#nextPort;
      this.#nextPort = port >= 65_535 ? 1_024 : port + 1;
      if (!this.#sockets.has(addressKey({ hostname, port }))) return port;
    }
    throw addrInUseError(`Cannot bind ${hostname}:0: no free port left`);
  }

  /**
   * Cuts a link: messages stop flowing between the two addresses (or only
   * from `a` to `b` with `oneWay`). Messages already in flight still arrive.
   *
   * @param a One end.
   * @param b The other end.
   * @param options `oneWay` to cut only `a` to `b`.
   */
  cut(a: SocketAddress, b: SocketAddress, options: LinkOptions = {}): void {
    const keyA = addressKey(a);
    const keyB = addressKey(b);
    setLinkValue(this.#cuts, keyA, keyB, true);
    if (!options.oneWay) setLinkValue(this.#cuts, keyB, keyA, true);
  }

  /**
   * Restores a link cut by {@linkcode ChannelTransport.cut} or {@linkcode ChannelTransport.partition}.
   *
   * @param a One end.
   * @param b The other end.
   * @param options `oneWay` to heal only `a` to `b`.
   */
  heal(a: SocketAddress, b: SocketAddress, options: LinkOptions = {}): void {
    const keyA = addressKey(a);
    const keyB = addressKey(b);
    setLinkValue(this.#cuts, keyA, keyB, undefined);
    if (!options.oneWay) setLinkValue(this.#cuts, keyB, keyA, undefined);
  }

  /** Restores every cut link (drop probabilities and delays are kept). */
  healAll(): void {
    this.#cuts.clear();
  }

  /**
   * Cuts every link between the two groups, both ways; links inside a
   * group are untouched.
   *
   * @param groupA One side.
   * @param groupB The other side.
   */
  partition(groupA: readonly SocketAddress[], groupB: readonly SocketAddress[]): void {
    for (const a of groupA) {
      for (const b of groupB) this.cut(a, b);
    }
  }

  /**
   * Whether messages from `from` to `to` are currently cut.
   *
   * @param from The sender.
   * @param to The destination.
   * @returns `true` if cut.
   */
  isCut(from: SocketAddress, to: SocketAddress): boolean {
    return this.#cuts.get(addressKey(from))?.has(addressKey(to)) ?? false;
  }

  /**
   * Sets the probability that a message is dropped, for links without their own.
   *
   * @param p A probability in `[0, 1]`.
   * @throws {RangeError} if `p` is out of range.
   */
  setDropProbability(p: number): void {
    this.#dropProbability = checkProbability("drop probability", p);
  }

  /**
   * Sets the drop probability of the link from `from` to `to` (one way).
   *
   * @param from The sender.
   * @param to The destination.
   * @param p A probability in `[0, 1]`, or `undefined` to fall back to the global one.
   * @throws {RangeError} if `p` is out of range.
   */
  setLinkDropProbability(from: SocketAddress, to: SocketAddress, p: number | undefined): void {
    if (p !== undefined) checkProbability("link drop probability", p);
    setLinkValue(this.#linkDrop, addressKey(from), addressKey(to), p);
  }

  /**
   * Sets the delay of messages on links without their own.
   *
   * @param delay Draws a delay in ms; `undefined` for none.
   * @throws {TypeError} if `delay` is not a function.
   */
  setDelay(delay: DelayFunction | undefined): void {
    checkDelayFunction("delay", delay);
    this.#delay = delay;
  }

  /**
   * Sets the delay of the link from `from` to `to` (one way).
   *
   * @param from The sender.
   * @param to The destination.
   * @param delay Draws a delay in ms; `undefined` to fall back to the global one.
   * @throws {TypeError} if `delay` is not a function.
   */
  setLinkDelay(from: SocketAddress, to: SocketAddress, delay: DelayFunction | undefined): void {
    checkDelayFunction("link delay", delay);
    setLinkValue(this.#linkDelay, addressKey(from), addressKey(to), delay);
  }

  /**
   * Counters of the whole network since creation or the last reset.
   *
   * @returns A snapshot.
   */
  stats(): ChannelTransportStats {
    return { ...this.#stats };
  }

  /**
   * Counters of one address: what it sent, what was delivered to it, and
   * how many of its messages were dropped.
   *
   * @param addr The address.
   * @returns A snapshot (zeros for an address never seen).
   */
  addressStats(addr: SocketAddress): ChannelTransportStats {
    return { ...(this.#addressStats.get(addressKey(addr)) ?? emptyStats()) };
  }

  /** Resets every counter to zero (socket metrics are not affected). */
  resetStats(): void {
    this.#stats = emptyStats();
    this.#addressStats = new Map();
  }

  /**
   * Delivers raw bytes to `to` as a datagram from `from`, at once, bypassing
   * cuts, drops and delays: the bytes are decoded like UDP does, and junk is
   * dropped, logged once and counted (in the socket's `datagramsDropped`
   * and as dropped here).
   *
   * @param from The claimed sender.
   * @param to The destination.
   * @param bytes The datagram.
   * @throws {TypeError} if `bytes` is not a `Uint8Array`.
   */
  injectDatagram(from: SocketAddress, to: SocketAddress, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError("Invalid datagram: expected a Uint8Array");
    }
    const fromKey = addressKey(from);
    const target = this.#sockets.get(addressKey(to));
    this.#countSent(fromKey, bytes.length);
    if (target === undefined) {
      this.#countDropped(fromKey, bytes.length);
      return;
    }
    this.#arriveBytes(target, fromKey, Object.freeze(canonicalSocketAddress(from)), bytes);
  }

  /** Decodes a datagram with the target's codec, as a UDP socket would, and delivers it. */
  #arriveBytes(
    target: ChannelSocket,
    fromKey: string,
    from: SocketAddress,
    bytes: Uint8Array,
  ): void {
    const message = target.codec.decode(bytes, this.#mtu);
    if (typeof message === "string") {
      this.#countDropped(fromKey, bytes.length);
      target.dropUndecodable(refusalReason(bytes, this.#mtu));
      this.#drops.record(from, message, bytes.length);
      return;
    }
    this.#arrive(target, fromKey, from, message, bytes.length);
  }

  #statsOf(key: string): MutableStats {
    let stats = this.#addressStats.get(key);
    if (stats === undefined) this.#addressStats.set(key, stats = emptyStats());
    return stats;
  }

  #countSent(fromKey: string, bytes: number): void {
    this.#stats.messagesSent++;
    this.#stats.bytesSent += bytes;
    if (bytes > this.#stats.largestMessageBytes) this.#stats.largestMessageBytes = bytes;
    const stats = this.#statsOf(fromKey);
    stats.messagesSent++;
    stats.bytesSent += bytes;
    if (bytes > stats.largestMessageBytes) stats.largestMessageBytes = bytes;
  }

  #countDropped(fromKey: string, bytes: number): void {
    this.#stats.messagesDropped++;
    this.#stats.bytesDropped += bytes;
    const stats = this.#statsOf(fromKey);
    stats.messagesDropped++;
    stats.bytesDropped += bytes;
  }

  #arrive(
    target: ChannelSocket,
    fromKey: string,
    from: SocketAddress,
    message: ChitchatMessage,
    bytes: number,
  ): void {
    if (!target.enqueue(from, message, bytes)) {
      this.#countDropped(fromKey, bytes);
      return;
    }
    this.#stats.messagesDelivered++;
    this.#stats.bytesDelivered += bytes;
    const stats = this.#statsOf(target.addrKey);
    stats.messagesDelivered++;
    stats.bytesDelivered += bytes;
  }

  #route(source: ChannelSocket, to: SocketAddress, message: ChitchatMessage): number {
    const toKey = addressKey(to);
    const target = this.#sockets.get(toKey);
    // Messages travel as objects between plaintext sockets (the fast path
    // of simulations); once either end has a codec, as its datagrams.
    const datagram = source.codec === plaintextCodec &&
        (target === undefined || target.codec === plaintextCodec)
      ? undefined
      : source.codec.encode(message);
    const bytes = datagram?.length ?? messageByteLength(message);
    if (bytes > this.#mtu) {
      throw new RangeError(`Cannot send message: ${bytes} bytes exceed the MTU of ${this.#mtu}`);
    }
    const fromKey = source.addrKey;
    // Draw the delay before counting, so an invalid delay function leaves no trace.
    const lost = target === undefined || this.#isLost(fromKey, toKey);
    const delay = lost ? 0 : this.#drawDelay(fromKey, toKey);
    this.#countSent(fromKey, bytes);
    if (lost) {
      this.#countDropped(fromKey, bytes);
      return bytes;
    }
    const flight: InFlight = { fromKey, bytes, timer: undefined };
    target.takeOff(flight);
    flight.timer = this.#scheduler.setTimeout(() => {
      target.land(flight);
      if (datagram !== undefined) {
        this.#arriveBytes(target, fromKey, source.localAddr, datagram);
      } else if (target.codec !== plaintextCodec) {
        // The target started sealing while the message was in flight.
        this.#arriveBytes(target, fromKey, source.localAddr, encodeMessage(message));
      } else {
        this.#arrive(target, fromKey, source.localAddr, message, bytes);
      }
    }, delay);
    return bytes;
  }

  #isLost(fromKey: string, toKey: string): boolean {
    if (this.#cuts.size > 0 && this.#cuts.get(fromKey)?.has(toKey)) return true;
    const p = this.#linkDrop.size > 0
      ? this.#linkDrop.get(fromKey)?.get(toKey) ?? this.#dropProbability
      : this.#dropProbability;
    // No draw at p = 0, so a loss-free run consumes no randomness here.
    return p > 0 && this.#random() < p;
  }

  #drawDelay(fromKey: string, toKey: string): number {
    const fn = this.#linkDelay.size > 0
      ? this.#linkDelay.get(fromKey)?.get(toKey) ?? this.#delay
      : this.#delay;
    if (fn === undefined) return 0;
    const delay = fn(this.#random);
    if (typeof delay !== "number" || !(delay >= 0) || !Number.isFinite(delay)) {
      throw new RangeError(`Invalid delay: the delay function returned ${delay}`);
    }
    return delay;
  }

  /** Releases a closed socket's address; what was in flight to it is lost. */
  #release(socket: ChannelSocket, inFlight: Iterable<InFlight>): void {
    if (this.#sockets.get(socket.addrKey) === socket) this.#sockets.delete(socket.addrKey);
    for (const flight of inFlight) {
      flight.timer?.cancel();
      this.#countDropped(flight.fromKey, flight.bytes);
    }
  }
}
