// Copyright the chitchat for Deno authors. MIT license.
// Internal: the receive queue of a socket that reads faster than its node
// handles messages (node:dgram hands over every datagram at once). Bounded
// in bytes, and fair between senders: one sender may hold only a share of
// it, and senders are served in turn. First come, first served, a flood
// from one address filled the queue and the few datagrams of honest peers
// were dropped, or waited behind hundreds of the flood's, until the node
// declared its peers dead.

import type { SocketAddress } from "../core/socket_address.ts";

/** A datagram waiting to be handled. */
export interface QueuedDatagram {
  /** Its sender. */
  readonly from: SocketAddress;
  /** Its bytes. */
  readonly bytes: Uint8Array;
}

/** Why {@linkcode FairDatagramQueue.push} refused a datagram. */
export type QueueRefusal = "queue full" | "sender over its share";

interface SenderQueue {
  readonly datagrams: QueuedDatagram[];
  bytes: number;
}

/** Datagrams by sender, served round-robin, within a byte budget. */
export class FairDatagramQueue {
  readonly #maxBytes: number;
  readonly #maxSenderBytes: number;
  readonly #entryOverheadBytes: number;
  // Insertion order is the service order: a sender served goes to the back.
  readonly #senders = new Map<string, SenderQueue>();
  #bytes = 0;
  #length = 0;

  /**
   * @param maxBytes The budget, each datagram charged its length plus `entryOverheadBytes`.
   * @param maxSenderBytes What one sender may hold of it.
   */
  constructor(maxBytes: number, maxSenderBytes: number, entryOverheadBytes: number) {
    this.#maxBytes = maxBytes;
    this.#maxSenderBytes = maxSenderBytes;
    this.#entryOverheadBytes = entryOverheadBytes;
  }

  /** Datagrams waiting. */
  get length(): number {
    return this.#length;
  }

  /** Bytes charged for them. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queues a datagram of the sender keyed `senderKey`.
   *
   * @returns `undefined` if queued, or why it was refused.
   */
  push(senderKey: string, datagram: QueuedDatagram): QueueRefusal | undefined {
    const charge = datagram.bytes.length + this.#entryOverheadBytes;
    if (this.#bytes + charge > this.#maxBytes) return "queue full";
    let sender = this.#senders.get(senderKey);
    if ((sender?.bytes ?? 0) + charge > this.#maxSenderBytes) return "sender over its share";
    if (sender === undefined) {
      sender = { datagrams: [], bytes: 0 };
      this.#senders.set(senderKey, sender);
    }
    sender.datagrams.push(datagram);
    sender.bytes += charge;
    this.#bytes += charge;
    this.#length++;
    return undefined;
  }

  /** The next datagram: the oldest of the sender whose turn it is. */
  shift(): QueuedDatagram | undefined {
    const next = this.#senders.entries().next();
    if (next.done) return undefined;
    const [key, sender] = next.value;
    const datagram = sender.datagrams.shift()!;
    const charge = datagram.bytes.length + this.#entryOverheadBytes;
    sender.bytes -= charge;
    this.#bytes -= charge;
    this.#length--;
    this.#senders.delete(key);
    if (sender.datagrams.length > 0) this.#senders.set(key, sender);
    return datagram;
  }

  /** Drops everything. */
  clear(): void {
    this.#senders.clear();
    this.#bytes = 0;
    this.#length = 0;
  }
}
