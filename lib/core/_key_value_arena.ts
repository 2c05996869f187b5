// Copyright the chitchat for Deno authors. MIT license.
// Internal: the KeyValue operations of one node, encoded once and kept in
// version order in one buffer, so a delta copies byte ranges instead of
// re-encoding every key-value it sends.

import { MAX_WIRE_STRING_BYTES, writeU64 } from "./wire/_binary.ts";
import type { DeletionStatus } from "./versioned_value.ts";

const encoder = new TextEncoder();
const STATUS_CODE: Record<DeletionStatus, number> = { set: 0, deleted: 1, deleteAfterTtl: 2 };

interface EncodableKeyValue {
  readonly key: string;
  readonly value: string;
  readonly version: number;
  readonly status: DeletionStatus;
}

export class KeyValueArena {
  bytes: Uint8Array = new Uint8Array(256);
  /** `offsets[i]` is where entry `i` starts; `offsets[count]` is the end. */
  offsets: number[] = [0];
  count = 0;

  /** Forgets every entry (the buffer is kept for reuse). */
  reset(): void {
    this.count = 0;
    this.offsets.length = 1;
  }

  /** Encodes the entries not encoded yet (the arena only ever grows at the tail). */
  sync(entries: readonly EncodableKeyValue[]): void {
    for (let i = this.count; i < entries.length; i++) this.push(entries[i]);
  }

  /** Encodes one more entry at the tail. */
  push(entry: EncodableKeyValue): void {
    const start = this.offsets[this.count];
    // tag + 2 lengths + version + status, and at most 3 bytes per UTF-16 unit.
    this.#reserve(start + 14 + 3 * (entry.key.length + entry.value.length));
    const buf = this.bytes;
    let pos = start;
    buf[pos++] = 1;
    pos = writeString(buf, pos, entry.key);
    pos = writeString(buf, pos, entry.value);
    pos = writeU64(buf, pos, entry.version);
    buf[pos++] = STATUS_CODE[entry.status];
    this.count++;
    this.offsets[this.count] = pos;
  }

  #reserve(needed: number): void {
    if (needed <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.bytes.subarray(0, this.offsets[this.count]));
    this.bytes = grown;
  }
}

function writeString(buf: Uint8Array, pos: number, s: string): number {
  let written: number;
  if (isShortAscii(s)) {
    for (let i = 0; i < s.length; i++) buf[pos + 2 + i] = s.charCodeAt(i);
    written = s.length;
  } else {
    written = encoder.encodeInto(s, buf.subarray(pos + 2)).written;
  }
  if (written > MAX_WIRE_STRING_BYTES) {
    // NodeState refuses such writes; this guards against a bypass.
    throw new RangeError(
      `Cannot encode string: length ${written} exceeds ${MAX_WIRE_STRING_BYTES} bytes`,
    );
  }
  buf[pos] = written & 0xff;
  buf[pos + 1] = written >>> 8;
  return pos + 2 + written;
}

function isShortAscii(s: string): boolean {
  if (s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return false;
  }
  return true;
}
