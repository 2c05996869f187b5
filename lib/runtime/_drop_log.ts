// Copyright the chitchat for Deno authors. MIT license.
// Internal: decodes received datagrams and logs the dropped ones as one line per interval, not one per
// datagram (a 5 s flood once wrote 49,000 warnings). The first drop after a
// quiet interval is logged at once with its detail; later ones are counted
// by reason and summed up, with a sample sender, when the interval ends.

import type { Logger } from "../core/logger.ts";
import type { ChitchatMessage } from "../core/message.ts";
import { decodeMessage } from "../core/message_codec.ts";
import { DecodeError } from "../core/wire/decode_error.ts";
import { MAX_DATAGRAM_BYTES } from "../core/wire/wire_sizes.ts";
import { errorMessage } from "./_socket_common.ts";
import { formatSocketAddress, type SocketAddress } from "../core/socket_address.ts";

/**
 * Why a received datagram was dropped, the `reason` label of
 * `chitchat_datagrams_dropped_total`: larger than a datagram may be,
 * refused by the codec (not a message, or refused by the encryption layer),
 * or no room left in the receive queue.
 */
export type DropReason = "oversized" | "undecodable" | "queue_full";

/** Zeroed counters, one per reason, for a socket's `datagramsDroppedByReason`. */
export function emptyDropCounts(): Record<DropReason, number> {
  return { oversized: 0, undecodable: 0, queue_full: 0 };
}

/** The reason a datagram the codec refused is counted under. */
export function refusalReason(bytes: Uint8Array, maxBytes: number): DropReason {
  return bytes.length > maxBytes ? "oversized" : "undecodable";
}

/**
 * Decodes one received datagram, or says why it is dropped. Whatever a
 * datagram triggers must never end a receive loop.
 */
export function decodeDatagram(
  bytes: Uint8Array,
  maxBytes: number = MAX_DATAGRAM_BYTES,
): ChitchatMessage | string {
  if (bytes.length > maxBytes) return `Datagram of more than ${maxBytes} bytes`;
  try {
    return decodeMessage(bytes);
  } catch (error) {
    // decodeMessage throws DecodeError only; anything else is reported the same way.
    return error instanceof DecodeError ? error.message : errorMessage(error);
  }
}

/** Distinct reasons kept per summary; the rest are counted as "other". */
const MAX_REASONS = 16;

export class DropLog {
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #intervalMs: number;
  #windowStart = -Infinity;
  #count = 0;
  #byReason = new Map<string, number>();
  #sample: string | undefined;

  constructor(logger: Logger, now: () => number, intervalMs = 10_000) {
    this.#logger = logger;
    this.#now = now;
    this.#intervalMs = intervalMs;
  }

  record(from: SocketAddress, reason: string, bytes: number): void {
    const now = this.#now();
    if (now - this.#windowStart >= this.#intervalMs) {
      this.flush();
      this.#windowStart = now;
      this.#logger.warn("Dropped an undecodable datagram", {
        from: formatSocketAddress(from),
        reason,
        bytes,
      });
      return;
    }
    this.#count++;
    // Offsets and sizes vary from datagram to datagram: group without them.
    let key = reason.replace(/\d+/g, "N");
    if (!this.#byReason.has(key) && this.#byReason.size >= MAX_REASONS) key = "other";
    this.#byReason.set(key, (this.#byReason.get(key) ?? 0) + 1);
    this.#sample ??= formatSocketAddress(from);
  }

  /** Logs the summary of the drops counted since the last line, if any. */
  flush(): void {
    if (this.#count === 0) return;
    this.#logger.warn("Dropped undecodable datagrams", {
      count: this.#count,
      seconds: Math.round((this.#now() - this.#windowStart) / 1_000),
      byReason: Object.fromEntries(this.#byReason),
      sampleSender: this.#sample,
    });
    this.#count = 0;
    this.#byReason = new Map();
    this.#sample = undefined;
  }
}
