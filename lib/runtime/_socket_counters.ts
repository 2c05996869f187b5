// Copyright the chitchat for Deno authors. MIT license.
// Internal: the counters every Socket keeps, and their SocketMetrics snapshot.

import { type DropReason, emptyDropCounts } from "./_drop_log.ts";
import type { SocketMetrics } from "./transport.ts";

/** Counts a socket's traffic and drops; `snapshot()` is its `metrics`. */
export class SocketCounters {
  #messagesSent = 0;
  #bytesSent = 0;
  #messagesReceived = 0;
  #bytesReceived = 0;
  #sendErrors = 0;
  #datagramsDropped = 0;
  readonly #droppedByReason = emptyDropCounts();

  /** A message of `bytes` handed to the network. */
  sent(bytes: number): void {
    this.#messagesSent++;
    this.#bytesSent += bytes;
  }

  /** A send that failed with a transient error (swallowed). */
  sendFailed(): void {
    this.#sendErrors++;
  }

  /** A message of `bytes` received and decoded. */
  received(bytes: number): void {
    this.#messagesReceived++;
    this.#bytesReceived += bytes;
  }

  /** A datagram dropped on receipt. */
  dropped(reason: DropReason): void {
    this.#datagramsDropped++;
    this.#droppedByReason[reason]++;
  }

  /** The counters as `SocketMetrics`, with the kernel's drops where the socket can read them. */
  snapshot(kernelDrops?: number): SocketMetrics {
    const metrics: SocketMetrics = {
      messagesSent: this.#messagesSent,
      bytesSent: this.#bytesSent,
      messagesReceived: this.#messagesReceived,
      bytesReceived: this.#bytesReceived,
      datagramsDropped: this.#datagramsDropped,
      datagramsDroppedByReason: { ...this.#droppedByReason },
      sendErrors: this.#sendErrors,
    };
    return kernelDrops === undefined ? metrics : { ...metrics, kernelDrops };
  }
}
