// Copyright the chitchat for Deno authors. MIT license.
/**
 * The transport interface: how gossip messages travel between nodes.
 *
 * @module
 */

import type { ChitchatMessage } from "../core/message.ts";
import type { SocketAddress } from "../core/socket_address.ts";

/**
 * Counters of one socket.
 *
 * @example
 * ```ts
 * import type { SocketMetrics } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const metrics: SocketMetrics = {
 *   messagesSent: 3, bytesSent: 420, messagesReceived: 2, bytesReceived: 300,
 *   datagramsDropped: 1, sendErrors: 0,
 *   datagramsDroppedByReason: { oversized: 0, undecodable: 1, queue_full: 0 },
 * };
 * const byReason = Object.values(metrics.datagramsDroppedByReason).reduce((a, b) => a + b, 0);
 * assert(byReason === metrics.datagramsDropped);
 * ```
 */
export interface SocketMetrics {
  /** Messages handed to the network. */
  readonly messagesSent: number;
  /** Bytes of those messages (encoded size). */
  readonly bytesSent: number;
  /** Messages received and decoded. */
  readonly messagesReceived: number;
  /** Bytes of those messages. */
  readonly bytesReceived: number;
  /** Datagrams dropped on receipt (see `datagramsDroppedByReason`). */
  readonly datagramsDropped: number;
  /**
   * The same datagrams by reason; they sum to `datagramsDropped`.
   * `oversized`: larger than a datagram may be; `undecodable`: not a
   * message, or refused by the encryption layer (the handle's
   * `decryptFailures` tell those apart); `queue_full`: the receive queue had
   * no room left (the `node:dgram` transport, which queues what the event
   * loop delivers).
   */
  readonly datagramsDroppedByReason: Readonly<Record<string, number>>;
  /** Sends that failed with a transient error (swallowed). */
  readonly sendErrors: number;
  /**
   * Datagrams the kernel dropped before anyone read them, its receive
   * buffer full (a flood, or a node too busy to keep up), where the
   * platform tells: UDP sockets on Linux. Absent elsewhere.
   */
  readonly kernelDrops?: number;
}

/**
 * An open endpoint. Iterate it to receive `[from, message]` pairs;
 * undecodable datagrams are dropped (logged once with the sender and the
 * reason, and counted); transient network errors are swallowed. The
 * iteration ends only when the socket is closed or broken.
 *
 * @example Echo server loop
 * ```ts ignore
 * for await (const [from, message] of socket) {
 *   const reply = chitchat.processMessage(message);
 *   if (reply) await socket.send(from, reply);
 * }
 * ```
 */
export interface Socket
  extends AsyncIterable<readonly [SocketAddress, ChitchatMessage]>, AsyncDisposable {
  /** The address actually bound (port 0 resolved to the real port). */
  readonly localAddr: SocketAddress;
  /** Counters since the socket was opened. */
  readonly metrics: SocketMetrics;
  /**
   * Sends a message. Sending to an address nobody listens on is not an
   * error, nor is a transient network failure (it is counted).
   *
   * @param to The destination.
   * @param message The message.
   * @throws {RangeError} if the message does not fit one datagram.
   * @throws {Error} if the socket is closed.
   */
  send(to: SocketAddress, message: ChitchatMessage): Promise<void>;
  /**
   * Waits for the next message.
   *
   * @returns The sender and the message.
   * @throws {Error} if the socket is closed (or breaks) while waiting.
   */
  receive(): Promise<readonly [SocketAddress, ChitchatMessage]>;
  /** Closes the socket and releases its address; pending receives end. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens sockets. Implementations: {@linkcode UdpTransport} (the real
 * network on `Deno.listenDatagram`), an internal one on `node:dgram` that
 * `spawnChitchat` picks where `Deno.listenDatagram` is unavailable (Node.js,
 * Bun, Deno without `--unstable-net`), and `ChannelTransport` from
 * `@chitchat/chitchat/testing` (in memory, with faults, for tests and
 * simulations).
 *
 * @example
 * ```ts ignore
 * const transport: Transport = new UdpTransport();
 * await using socket = await transport.open({ hostname: "127.0.0.1", port: 0 });
 * ```
 */
export interface Transport {
  /**
   * Binds a socket.
   *
   * @param listenAddr Where to listen; port 0 picks a free port.
   * @returns The open socket.
   * @throws {Deno.errors.AddrInUse} if the address is taken.
   */
  open(listenAddr: SocketAddress): Promise<Socket>;
}
