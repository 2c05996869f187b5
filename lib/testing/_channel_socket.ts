// Copyright the chitchat for Deno authors. MIT license.
// Internal: one endpoint of a ChannelTransport (its receive queue and
// metrics), and what it may ask of the network that owns it.

import { closedError, receiveUntilClosed } from "../runtime/_socket_common.ts";
import type { ChitchatMessage } from "../core/message.ts";
import {
  type CodecSocket,
  type DatagramCodec,
  plaintextCodec,
  useCodec,
} from "../runtime/_datagram_codec.ts";
import type { Timer } from "../runtime/scheduler.ts";
import type { SocketAddress } from "../core/socket_address.ts";
import type { SocketMetrics } from "../runtime/transport.ts";
import type { DropReason } from "../runtime/_drop_log.ts";
import { SocketCounters } from "../runtime/_socket_counters.ts";

/** A message on its way to a socket; cancelled if the socket closes first. */
export interface InFlight {
  readonly fromKey: string;
  readonly bytes: number;
  timer: Timer | undefined;
}

/** What a socket may ask of its network; kept off the public class. */
export interface NetworkPort {
  /** Sends `message`; returns its size on the wire (sealed, if sealing). */
  route(source: ChannelSocket, to: SocketAddress, message: ChitchatMessage): number;
  release(socket: ChannelSocket, inFlight: Iterable<InFlight>): void;
}

type Received = readonly [SocketAddress, ChitchatMessage];

export class ChannelSocket implements CodecSocket {
  readonly localAddr: SocketAddress;
  readonly addrKey: string;
  readonly #network: NetworkPort;
  readonly #capacity: number;
  readonly #counters = new SocketCounters();
  readonly #inFlight = new Set<InFlight>();
  #queue: (Received | undefined)[] = [];
  #head = 0;
  #waiters: { resolve: (item: Received) => void; reject: (error: Error) => void }[] = [];
  #closed = false;
  /** How this socket encodes and decodes datagrams; the plaintext one travels as objects. */
  codec: DatagramCodec = plaintextCodec;

  constructor(network: NetworkPort, localAddr: SocketAddress, key: string, capacity: number) {
    this.#network = network;
    this.localAddr = localAddr;
    this.addrKey = key;
    this.#capacity = capacity;
  }

  get metrics(): SocketMetrics {
    return this.#counters.snapshot();
  }

  [useCodec](codec: DatagramCodec): void {
    // Virtual time: this socket seals and opens synchronously.
    codec.requireSync?.();
    this.codec = codec;
  }

  send(to: SocketAddress, message: ChitchatMessage): Promise<void> {
    try {
      if (this.#closed) throw closedError(this.localAddr);
      const bytes = this.#network.route(this, to, message);
      this.#counters.sent(bytes);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  receive(): Promise<readonly [SocketAddress, ChitchatMessage]> {
    if (this.#head < this.#queue.length) {
      const item = this.#queue[this.#head]!;
      // Let the message be collected once received.
      this.#queue[this.#head++] = undefined;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
      return Promise.resolve(item);
    }
    if (this.#closed) return Promise.reject(closedError(this.localAddr));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Returns `false` when the queue is full (the message is lost). */
  enqueue(from: SocketAddress, message: ChitchatMessage, bytes: number): boolean {
    if (this.#closed) return false;
    const item = [from, message] as const;
    const waiter = this.#waiters.shift();
    if (waiter === undefined) {
      if (this.#queue.length - this.#head >= this.#capacity) return false;
      this.#queue.push(item);
    }
    this.#counters.received(bytes);
    waiter?.resolve(item);
    return true;
  }

  dropUndecodable(reason: DropReason): void {
    this.#counters.dropped(reason);
  }

  takeOff(flight: InFlight): void {
    this.#inFlight.add(flight);
  }

  land(flight: InFlight): void {
    this.#inFlight.delete(flight);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#network.release(this, this.#inFlight);
    this.#inFlight.clear();
    this.#queue = [];
    this.#head = 0;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(closedError(this.localAddr));
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
