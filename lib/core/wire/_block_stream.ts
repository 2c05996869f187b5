// Copyright the chitchat for Deno authors. MIT license.
// Internal: reading the block stream that carries a delta (WIRE.md beside
// this file, "Delta"): stored and zstd blocks, concatenated.

import { zstdDecompressSync } from "node:zlib";
import type { ByteReader } from "./_binary.ts";
import {
  MAX_BLOCK_CONTENT_BYTES,
  MAX_FRAME_WINDOW_BYTES,
  MAX_INFLATED_DELTA_BYTES,
  MIN_FRAME_CHARGE_BYTES,
} from "./wire_sizes.ts";

const ZSTD_MAGIC = 0xfd2fb528;

/** Reads blocks up to the end tag and returns their concatenated content. */
export function readBlockStream(reader: ByteReader): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  // What the budget has been charged: the content, but at least
  // MIN_FRAME_CHARGE_BYTES per decompressor call.
  const charged = { bytes: 0 };
  for (;;) {
    const tagOffset = reader.pos;
    const tag = reader.u8("block type");
    if (tag === 0) break;
    if (tag !== 1 && tag !== 2) reader.fail(`Invalid block type ${tag}`, tagOffset);
    const length = reader.u16("block length");
    const payloadOffset = reader.pos;
    const payload = reader.view(length, tag === 1 ? "compressed block" : "stored block");
    const content = tag === 2 ? payload : decompressBlock(reader, payload, payloadOffset, charged);
    if (tag === 2) charged.bytes += content.length;
    total += content.length;
    if (charged.bytes > MAX_INFLATED_DELTA_BYTES) {
      reader.fail(`Delta decompresses to more than ${MAX_INFLATED_DELTA_BYTES} bytes`, tagOffset);
    }
    if (content.length > 0) parts.push(content);
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let pos = 0;
  for (const part of parts) {
    out.set(part, pos);
    pos += part.length;
  }
  return out;
}

/** Decompresses every zstd frame of a block (the reference accepts several). */
function decompressBlock(
  reader: ByteReader,
  payload: Uint8Array,
  payloadOffset: number,
  charged: { bytes: number },
): Uint8Array {
  if (payload.length === 0) reader.fail("Empty compressed block", payloadOffset);
  const frames: Uint8Array[] = [];
  let produced = 0;
  let pos = 0;
  while (pos < payload.length) {
    const frame = scanFrame(payload, pos);
    if (typeof frame === "string") reader.fail(`Invalid zstd frame: ${frame}`, payloadOffset + pos);
    if (!frame.skippable) {
      // Never inflate past what the delta as a whole may still hold, and
      // charge the call before making it.
      const room = MAX_INFLATED_DELTA_BYTES - charged.bytes;
      const budget = Math.min(MAX_BLOCK_CONTENT_BYTES - produced, room + 1);
      if (room < MIN_FRAME_CHARGE_BYTES) {
        reader.fail(
          `Delta decompresses to more than ${MAX_INFLATED_DELTA_BYTES} bytes`,
          payloadOffset + pos,
        );
      }
      let content: Uint8Array;
      try {
        content = zstdDecompressSync(payload.subarray(pos, frame.end), { maxOutputLength: budget });
      } catch (error) {
        if (error instanceof RangeError) {
          reader.fail(
            budget < MAX_BLOCK_CONTENT_BYTES - produced
              ? `Delta decompresses to more than ${MAX_INFLATED_DELTA_BYTES} bytes`
              : `Compressed block decompresses to more than ${MAX_BLOCK_CONTENT_BYTES} bytes`,
            payloadOffset + pos,
          );
        }
        reader.fail(`Failed to decompress block: ${(error as Error).message}`, payloadOffset + pos);
      }
      if (frame.contentSize !== undefined && content.length !== frame.contentSize) {
        reader.fail(
          `Invalid zstd frame: content size ${frame.contentSize} declared, ${content.length} decoded`,
          payloadOffset + pos,
        );
      }
      produced += content.length;
      charged.bytes += Math.max(content.length, MIN_FRAME_CHARGE_BYTES);
      frames.push(content);
    }
    pos = frame.end;
  }
  if (frames.length === 1) return frames[0];
  const out = new Uint8Array(produced);
  let at = 0;
  for (const frame of frames) {
    out.set(frame, at);
    at += frame.length;
  }
  return out;
}

interface FrameExtent {
  readonly end: number;
  readonly skippable: boolean;
  readonly contentSize: number | undefined;
}

/**
 * Finds where the zstd frame starting at `start` ends, following the frame
 * format (RFC 8878), so a truncated or trailing-garbage block is caught
 * here: the one-shot decompressor silently returns nothing for the former.
 */
function scanFrame(bytes: Uint8Array, start: number): FrameExtent | string {
  if (bytes.length - start < 4) return "truncated magic number";
  const magic = (bytes[start] | (bytes[start + 1] << 8) | (bytes[start + 2] << 16) |
    (bytes[start + 3] << 24)) >>> 0;
  if ((magic & 0xfffffff0) === 0x184d2a50) {
    if (bytes.length - start < 8) return "truncated skippable frame";
    const size = (bytes[start + 4] | (bytes[start + 5] << 8) | (bytes[start + 6] << 16)) +
      bytes[start + 7] * 0x100_0000;
    const end = start + 8 + size;
    if (end > bytes.length) return "truncated skippable frame";
    return { end, skippable: true, contentSize: undefined };
  }
  if (magic !== ZSTD_MAGIC) return "bad magic number";
  let pos = start + 4;
  if (pos >= bytes.length) return "truncated frame header";
  const descriptor = bytes[pos++];
  const fcsFlag = descriptor >>> 6;
  const singleSegment = (descriptor & 0x20) !== 0;
  if ((descriptor & 0x08) !== 0) return "reserved bit set";
  const hasChecksum = (descriptor & 0x04) !== 0;
  const dictIdBytes = [0, 1, 2, 4][descriptor & 0x03];
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag];
  const headerRest = (singleSegment ? 0 : 1) + dictIdBytes + fcsBytes;
  if (pos + headerRest > bytes.length) return "truncated frame header";
  if (!singleSegment) {
    // Window_Descriptor: 2^(10 + exponent) plus mantissa eighths of it.
    const descriptorByte = bytes[pos];
    const base = 2 ** (10 + (descriptorByte >>> 3));
    const window = base + (base / 8) * (descriptorByte & 7);
    if (window > MAX_FRAME_WINDOW_BYTES) {
      return `window of ${window} bytes exceeds ${MAX_FRAME_WINDOW_BYTES}`;
    }
  }
  pos += (singleSegment ? 0 : 1) + dictIdBytes;
  let contentSize: number | undefined;
  if (fcsBytes > 0) {
    let value = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) value = value * 256 + bytes[pos + i];
    contentSize = fcsBytes === 2 ? value + 256 : value;
    pos += fcsBytes;
    // A single-segment frame's window is its content size: both are bounded here.
    if (contentSize > MAX_BLOCK_CONTENT_BYTES) {
      return `content size of ${contentSize} bytes exceeds ${MAX_BLOCK_CONTENT_BYTES}`;
    }
  }
  for (;;) {
    if (pos + 3 > bytes.length) return "truncated block header";
    const header = bytes[pos] | (bytes[pos + 1] << 8) | (bytes[pos + 2] << 16);
    pos += 3;
    const last = (header & 1) !== 0;
    const type = (header >>> 1) & 3;
    const size = header >>> 3;
    if (type === 3) return "reserved block type";
    pos += type === 1 ? 1 : size;
    if (pos > bytes.length) return "truncated block";
    if (last) break;
  }
  if (hasChecksum) {
    pos += 4;
    if (pos > bytes.length) return "truncated checksum";
  }
  return { end: pos, skippable: false, contentSize };
}
