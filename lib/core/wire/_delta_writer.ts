// Copyright the chitchat for Deno authors. MIT license.
// Internal: writes delta operations into the block stream while keeping an
// exact upper bound of its final size, so a delta is cut at the first
// operation that would not fit its datagram (WIRE.md beside this file,
// "What fits a datagram").

import { zstdCompressSync, type ZstdOptions } from "node:zlib";
import { writeU64 } from "./_binary.ts";
import {
  BLOCK_HEADER_BYTES,
  BLOCK_THRESHOLD_BYTES,
  END_OF_STREAM_BYTES,
  MAX_DELTA_OPERATION_BYTES,
  nodeOpBytes,
  SET_MAX_VERSION_OP_BYTES,
  worstBlockStreamBytes,
} from "./wire_sizes.ts";

export class DeltaWriter {
  readonly #budgetBytes: number;
  // Operations written so far, against MAX_DELTA_OPERATION_BYTES (only for
  // deltas cut to a datagram: a delta built by hand is written whole).
  #operationBytes = 0;
  readonly #operationLimit: number;
  readonly #threshold: number;
  #output: Uint8Array;
  #outputLength = 0;
  #pending: Uint8Array;
  #pendingLength = 0;
  readonly #scratch = new Uint8Array(32);

  /** @param budgetBytes Budget of the whole block stream in bytes (`Infinity`: no limit). */
  constructor(budgetBytes: number) {
    this.#budgetBytes = budgetBytes;
    this.#operationLimit = Number.isFinite(budgetBytes) ? MAX_DELTA_OPERATION_BYTES : Infinity;
    this.#threshold = Math.max(1, Math.min(BLOCK_THRESHOLD_BYTES, Math.floor(budgetBytes)));
    this.#output = new Uint8Array(1024);
    this.#pending = new Uint8Array(2 * this.#threshold + 64);
  }

  /** Bytes of the stream, at worst, if `extra` more bytes of operations were added and it were finished. */
  #boundWith(extra: number): number {
    // Every future block stored raw in the worst case, plus its header.
    return this.#outputLength + worstBlockStreamBytes(this.#pendingLength + extra, this.#threshold);
  }

  /** Whether `length` more bytes of operations would keep the stream within the budget. */
  fits(length: number): boolean {
    return this.#boundWith(length) <= this.#budgetBytes &&
      this.#operationBytes + length <= this.#operationLimit;
  }

  /** Appends operation bytes (no budget check: call `fits` first). */
  append(bytes: Uint8Array, start: number, end: number): void {
    const length = end - start;
    this.#operationBytes += length;
    this.#reservePending(length);
    const pending = this.#pending;
    let at = this.#pendingLength;
    if (length <= 64) {
      for (let i = start; i < end; i++) pending[at++] = bytes[i];
    } else {
      pending.set(bytes.subarray(start, end), at);
      at += length;
    }
    this.#pendingLength = at;
    while (this.#pendingLength > this.#threshold) this.#flushBlock(this.#threshold);
  }

  /** Appends an operation if it fits; returns whether it did. */
  tryAppend(bytes: Uint8Array, start = 0, end: number = bytes.length): boolean {
    if (!this.fits(end - start)) return false;
    this.append(bytes, start, end);
    return true;
  }

  /** A Node operation: tag 0, the id's wire bytes, last GC version, from version. */
  tryAddNode(idBytes: Uint8Array, lastGcVersion: number, fromVersionExcluded: number): boolean {
    const length = nodeOpBytes(idBytes.length);
    if (!this.fits(length)) return false;
    this.#scratch[0] = 0;
    this.append(this.#scratch, 0, 1);
    this.append(idBytes, 0, idBytes.length);
    writeU64(this.#scratch, 0, lastGcVersion);
    writeU64(this.#scratch, 8, fromVersionExcluded);
    this.append(this.#scratch, 0, 16);
    return true;
  }

  /** A SetMaxVersion operation: tag 2, the version. */
  trySetMaxVersion(maxVersion: number): boolean {
    this.#scratch[0] = 2;
    writeU64(this.#scratch, 1, maxVersion);
    return this.tryAppend(this.#scratch, 0, SET_MAX_VERSION_OP_BYTES);
  }

  /** Flushes the last block, writes the end tag and returns the stream. */
  finish(): Uint8Array {
    if (this.#pendingLength > 0) this.#flushBlock(this.#pendingLength);
    this.#reserveOutput(END_OF_STREAM_BYTES);
    this.#output[this.#outputLength++] = 0;
    return this.#output.slice(0, this.#outputLength);
  }

  #flushBlock(length: number): void {
    const chunk = this.#pending.subarray(0, length);
    // The pledged size makes zstd write the content size in the frame
    // header, as the reference's one-shot compression does.
    const options = { pledgedSrcSize: length } as ZstdOptions;
    const compressed = zstdCompressSync(chunk, options);
    const stored = !referenceKeepsFrame(length, compressed);
    const body = stored ? chunk : compressed;
    this.#reserveOutput(BLOCK_HEADER_BYTES + body.length);
    const out = this.#output;
    out[this.#outputLength] = stored ? 2 : 1;
    out[this.#outputLength + 1] = body.length & 0xff;
    out[this.#outputLength + 2] = body.length >>> 8;
    out.set(body, this.#outputLength + BLOCK_HEADER_BYTES);
    this.#outputLength += BLOCK_HEADER_BYTES + body.length;
    this.#pending.copyWithin(0, length, this.#pendingLength);
    this.#pendingLength -= length;
  }

  #reservePending(extra: number): void {
    const needed = this.#pendingLength + extra;
    if (needed <= this.#pending.length) return;
    const grown = new Uint8Array(Math.max(needed, this.#pending.length * 2));
    grown.set(this.#pending.subarray(0, this.#pendingLength));
    this.#pending = grown;
  }

  #reserveOutput(extra: number): void {
    const needed = this.#outputLength + extra;
    if (needed <= this.#output.length) return;
    const grown = new Uint8Array(Math.max(needed, this.#output.length * 2));
    grown.set(this.#output.subarray(0, this.#outputLength));
    this.#output = grown;
  }
}

/**
 * Whether the reference stores this zstd frame rather than the raw chunk.
 * It compresses into a buffer exactly as long as the chunk and falls back
 * to raw bytes when that fails. libzstd's bitstream writer needs 8 bytes of
 * slack past the end of its last full byte, so the call succeeds when the
 * frame is at least 9 bytes shorter than the chunk, or exactly 8 shorter
 * with a partial last byte (its end-mark bit below bit 7). Checked against
 * libzstd 1.5.7 on 60,000 delta-like chunks.
 */
function referenceKeepsFrame(rawLength: number, frame: Uint8Array): boolean {
  const gap = rawLength - frame.length;
  return gap >= 9 || (gap === 8 && frame[frame.length - 1] < 0x80);
}
