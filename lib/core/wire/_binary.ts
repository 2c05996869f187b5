// Copyright the chitchat for Deno authors. MIT license.
// Internal: the building blocks of WIRE.md beside this file (little-endian integers,
// u16-length-prefixed UTF-8 strings), written and read without DataView
// bounds exceptions leaking out.

import { asciiString } from "./_ascii_string.ts";
import { DecodeError } from "./decode_error.ts";

const encoder = new TextEncoder();
const fatalDecoder = new TextDecoder("utf-8", { fatal: true });
// Only used on bytes already checked to be ASCII, where windows-1252 is exact.
const latin1Decoder = new TextDecoder("latin1");

/** Largest byte length a wire `string` can carry (its length prefix is a u16). */
export const MAX_WIRE_STRING_BYTES = 0xffff;

/** 2^32, to split a u64 into two u32 halves. */
const TWO_POW_32 = 0x1_0000_0000;

/** Bytes taken by `s` once UTF-8 encoded. */
export function utf8ByteLength(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // A surrogate pair: 2 UTF-16 units become 4 UTF-8 bytes.
        bytes += 2;
        i++;
      } else {
        bytes += 2;
      }
    } else {
      // BMP character (or lone surrogate, encoded as U+FFFD): 3 bytes.
      bytes += 2;
    }
  }
  return bytes;
}

/** Encodes `s` as UTF-8. */
export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}

/** A growable little-endian byte buffer. */
export class ByteWriter {
  #buf: Uint8Array;
  #pos = 0;

  constructor(initialCapacity = 256) {
    this.#buf = new Uint8Array(Math.max(1, initialCapacity));
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  #reserve(n: number): void {
    const needed = this.#pos + n;
    if (needed <= this.#buf.length) return;
    let capacity = this.#buf.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#buf.subarray(0, this.#pos));
    this.#buf = grown;
  }

  u8(value: number): void {
    this.#reserve(1);
    this.#buf[this.#pos++] = value;
  }

  u16(value: number): void {
    this.#reserve(2);
    const buf = this.#buf;
    buf[this.#pos++] = value & 0xff;
    buf[this.#pos++] = (value >>> 8) & 0xff;
  }

  /** Writes a non-negative safe integer as a u64. */
  u64(value: number): void {
    this.#reserve(8);
    this.#pos = writeU64(this.#buf, this.#pos, value);
  }

  /** Writes a bigint in [0, 2^64) as a u64. */
  u64Big(value: bigint): void {
    this.#reserve(8);
    writeU32(this.#buf, this.#pos, Number(value & 0xffff_ffffn));
    writeU32(this.#buf, this.#pos + 4, Number((value >> 32n) & 0xffff_ffffn));
    this.#pos += 8;
  }

  bytes(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /**
   * Writes a u16-length-prefixed UTF-8 string.
   *
   * @throws {RangeError} if the string is longer than 65,535 bytes.
   */
  string(s: string, what = "string"): void {
    const length = utf8ByteLength(s);
    if (length > MAX_WIRE_STRING_BYTES) {
      throw new RangeError(
        `Cannot encode ${what}: length ${length} exceeds ${MAX_WIRE_STRING_BYTES} bytes`,
      );
    }
    this.#reserve(2 + length);
    const buf = this.#buf;
    buf[this.#pos] = length & 0xff;
    buf[this.#pos + 1] = length >>> 8;
    encoder.encodeInto(s, buf.subarray(this.#pos + 2, this.#pos + 2 + length));
    this.#pos += 2 + length;
  }

  /**
   * Reserves `n` bytes and returns the buffer to write them into, at
   * `length`; call `advance(n)` once written.
   */
  reserveRaw(n: number): Uint8Array {
    this.#reserve(n);
    return this.#buf;
  }

  /** Moves past `n` bytes written through {@linkcode ByteWriter.reserveRaw}. */
  advance(n: number): void {
    this.#pos += n;
  }

  /** The bytes written so far, sized exactly (no copy when the capacity was exact). */
  finish(): Uint8Array {
    return this.#pos === this.#buf.length ? this.#buf : this.#buf.slice(0, this.#pos);
  }
}

/**
 * Writes a non-negative safe integer as a little-endian u64 at `pos`
 * (the caller checked the room) and returns the position after it.
 */
export function writeU64(buf: Uint8Array, pos: number, value: number): number {
  const low = value % TWO_POW_32;
  writeU32(buf, pos, low);
  writeU32(buf, pos + 4, (value - low) / TWO_POW_32);
  return pos + 8;
}

function writeU32(buf: Uint8Array, pos: number, value: number): void {
  buf[pos] = value & 0xff;
  buf[pos + 1] = (value >>> 8) & 0xff;
  buf[pos + 2] = (value >>> 16) & 0xff;
  buf[pos + 3] = (value >>> 24) & 0xff;
}

/** Reads `u32` little-endian at `pos` (caller checked bounds). */
function readU32(buf: Uint8Array, pos: number): number {
  return (buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)) + buf[pos + 3] * 0x100_0000;
}

// A direct-mapped cache of short ASCII strings. Keys repeat across nodes
// ("service", "grpc_addr", ...), so decoding a large delta would otherwise
// allocate the same strings thousands of times.
const INTERN_SLOTS = 4096;
const INTERN_MAX_BYTES = 48;
const internStrings: (string | undefined)[] = new Array(INTERN_SLOTS);

/** A bounds-checked cursor over received bytes: every failure is a {@link DecodeError}. */
export class ByteReader {
  readonly bytes: Uint8Array;
  pos: number;
  readonly end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(message: string, offset: number = this.pos): never {
    throw new DecodeError(message, offset);
  }

  need(n: number, what: string): void {
    if (this.end - this.pos < n) {
      this.fail(
        `Unexpected end of data while reading ${what}: need ${n} bytes, have ${
          this.end - this.pos
        }`,
      );
    }
  }

  u8(what = "u8"): number {
    this.need(1, what);
    return this.bytes[this.pos++];
  }

  u16(what = "u16"): number {
    this.need(2, what);
    const b = this.bytes;
    const value = b[this.pos] | (b[this.pos + 1] << 8);
    this.pos += 2;
    return value;
  }

  /**
   * Reads a u64 that must be a safe integer (versions, heartbeats): larger
   * values are rejected rather than rounded.
   */
  safeU64(what: string): number {
    this.need(8, what);
    const low = readU32(this.bytes, this.pos);
    const high = readU32(this.bytes, this.pos + 4);
    if (high > 0x1f_ffff) {
      this.fail(`${what} exceeds Number.MAX_SAFE_INTEGER`);
    }
    this.pos += 8;
    return high * TWO_POW_32 + low;
  }

  /** Reads any u64 exactly, as a bigint. */
  u64Big(what: string): bigint {
    this.need(8, what);
    const low = readU32(this.bytes, this.pos);
    const high = readU32(this.bytes, this.pos + 4);
    this.pos += 8;
    return high === 0 ? BigInt(low) : (BigInt(high) << 32n) | BigInt(low);
  }

  /** Reads a u16-length-prefixed UTF-8 string. */
  string(what: string, intern = false): string {
    const start = this.pos;
    const length = this.u16(`${what} length`);
    if (this.end - this.pos < length) {
      this.fail(
        `Unexpected end of data while reading ${what}: length ${length}, have ${
          this.end - this.pos
        }`,
        start,
      );
    }
    const from = this.pos;
    this.pos += length;
    return decodeUtf8(this.bytes, from, length, what, intern);
  }

  /** Returns the next `n` bytes without copying. */
  view(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

function decodeUtf8(
  bytes: Uint8Array,
  from: number,
  length: number,
  what: string,
  intern: boolean,
): string {
  return asciiOrUndefined(bytes, from, length, intern) ??
    decodeNonAscii(bytes, from, from + length, what);
}

/**
 * The string of `bytes[from, from + length)` if they are all ASCII, else
 * `undefined` (the caller takes the checked path); short ones are interned
 * when `intern` is set, as {@linkcode ByteReader.string} does.
 */
export function asciiOrUndefined(
  bytes: Uint8Array,
  from: number,
  length: number,
  intern: boolean,
): string | undefined {
  const end = from + length;
  if (intern && length <= INTERN_MAX_BYTES) {
    let hash = 0x811c9dc5;
    for (let i = from; i < end; i++) {
      const c = bytes[i];
      if (c > 0x7f) return undefined;
      hash = Math.imul(hash ^ c, 0x01000193);
    }
    const slot = (hash >>> 0) & (INTERN_SLOTS - 1);
    const cached = internStrings[slot];
    if (cached !== undefined && cached.length === length && sameAscii(cached, bytes, from)) {
      return cached;
    }
    const fresh = asciiString(bytes, from, length);
    internStrings[slot] = fresh;
    return fresh;
  }
  let bits = 0;
  for (let i = from; i < end; i++) bits |= bytes[i];
  if (bits > 0x7f) return undefined;
  return length > 256
    ? latin1Decoder.decode(bytes.subarray(from, end))
    : asciiString(bytes, from, length);
}

/** Whether the ASCII string `s` is spelled by the bytes at `from` (the caller checked the room). */
export function sameAscii(s: string, bytes: Uint8Array, from: number): boolean {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) !== bytes[from + i]) return false;
  }
  return true;
}

function decodeNonAscii(bytes: Uint8Array, from: number, end: number, what: string): string {
  try {
    return fatalDecoder.decode(bytes.subarray(from, end));
  } catch {
    throw new DecodeError(`Invalid UTF-8 in ${what}`, from);
  }
}
