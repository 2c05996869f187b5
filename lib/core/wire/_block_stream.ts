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
  const start = reader.pos;
  const content = readInFewCalls(reader);
  if (content !== undefined) return content;
  // Whatever the fast path could not vouch for is read again frame by
  // frame, which accepts and refuses exactly as before, with the same errors.
  reader.pos = start;
  return readBlockByBlock(reader);
}

/**
 * The common case, cheaper: when every zstd frame declares its content size
 * and the declared sizes fit the budgets, the frames of the whole stream go
 * to the decompressor together. Each call costs a fresh decompression
 * context, which costs more than the frames of a 16 KiB block decode in.
 * Returns `undefined` (having decompressed at most what the budgets allow)
 * whenever the result would not be exactly the per-frame one.
 */
function readInFewCalls(reader: ByteReader): Uint8Array | undefined {
  const bytes = reader.bytes;
  const end = reader.end;
  let pos = reader.pos;
  // Per block: its content length, and -1 - payload start for a stored one.
  const blocks: number[] = [];
  // Non-skippable frames: start, end (in `bytes`) and declared content size.
  const frames: number[] = [];
  let charged = 0;
  let declared = 0;
  let compressedBytes = 0;
  for (;;) {
    if (pos >= end) return undefined;
    const tag = bytes[pos++];
    if (tag === 0) break;
    if ((tag !== 1 && tag !== 2) || end - pos < 2) return undefined;
    const length = bytes[pos] | (bytes[pos + 1] << 8);
    pos += 2;
    if (end - pos < length) return undefined;
    if (tag === 2) {
      charged += length;
      blocks.push(length, -1 - pos);
    } else {
      if (length === 0) return undefined;
      const payload = bytes.subarray(pos, pos + length);
      let produced = 0;
      for (let at = 0; at < length;) {
        const frame = scanFrame(payload, at);
        if (typeof frame === "string") return undefined;
        if (!frame.skippable) {
          const size = frame.contentSize;
          if (size === undefined || MAX_INFLATED_DELTA_BYTES - charged < MIN_FRAME_CHARGE_BYTES) {
            return undefined;
          }
          produced += size;
          charged += Math.max(size, MIN_FRAME_CHARGE_BYTES);
          if (produced > MAX_BLOCK_CONTENT_BYTES || charged > MAX_INFLATED_DELTA_BYTES) {
            return undefined;
          }
          frames.push(pos + at, pos + frame.end, size);
          compressedBytes += frame.end - at;
        }
        at = frame.end;
      }
      declared += produced;
      blocks.push(produced, 0);
    }
    if (charged > MAX_INFLATED_DELTA_BYTES) return undefined;
    pos += length;
  }
  const inflated = inflateFrames(bytes, frames, compressedBytes, declared);
  if (inflated === undefined) return undefined;
  reader.pos = pos;
  if (blocks.length === 2 && blocks[1] === 0) return inflated;
  let total = 0;
  for (let i = 0; i < blocks.length; i += 2) total += blocks[i];
  const out = new Uint8Array(total);
  let at = 0;
  let from = 0;
  for (let i = 0; i < blocks.length; i += 2) {
    const length = blocks[i];
    if (blocks[i + 1] === 0) {
      out.set(inflated.subarray(from, from + length), at);
      from += length;
    } else {
      const payloadStart = -1 - blocks[i + 1];
      out.set(bytes.subarray(payloadStart, payloadStart + length), at);
    }
    at += length;
  }
  return out;
}

/**
 * Decompresses `frames` (start, end, declared size triples) in as few
 * calls as the runtime allows. Node.js and Bun decode concatenated frames
 * in one call; Deno stops after a frame that does not end on its 16 KiB
 * output chunk, so there each call's output is matched to the first frames
 * it covers, and the next call starts after them.
 */
function inflateFrames(
  bytes: Uint8Array,
  frames: number[],
  compressedBytes: number,
  declared: number,
): Uint8Array | undefined {
  const count = frames.length / 3;
  if (count === 0) return new Uint8Array(0);
  let input: Uint8Array;
  // starts[i]: where frame i begins in `input`.
  const starts = new Array<number>(count);
  if (frames[1] - frames[0] === compressedBytes) {
    input = bytes.subarray(frames[0], frames[1]);
    starts[0] = 0;
  } else {
    input = new Uint8Array(compressedBytes);
    let at = 0;
    for (let i = 0; i < count; i++) {
      starts[i] = at;
      input.set(bytes.subarray(frames[3 * i], frames[3 * i + 1]), at);
      at += frames[3 * i + 1] - frames[3 * i];
    }
  }
  decodesConcatenatedFrames ??= probeConcatenatedFrames();
  if (decodesConcatenatedFrames) {
    const content = inflate(input, declared);
    return content?.length === declared ? content : undefined;
  }
  const parts: Uint8Array[] = [];
  for (let first = 0; first < count;) {
    let remaining = 0;
    for (let i = first; i < count; i++) remaining += frames[3 * i + 2];
    const content = inflate(input.subarray(starts[first]), remaining);
    if (content === undefined) return undefined;
    let sum = frames[3 * first + 2];
    let next = first + 1;
    while (next < count && sum < content.length) sum += frames[3 * next++ + 2];
    if (sum !== content.length) return undefined;
    parts.push(content);
    first = next;
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(declared);
  let pos = 0;
  for (const part of parts) {
    out.set(part, pos);
    pos += part.length;
  }
  return out;
}

function inflate(input: Uint8Array, expected: number): Uint8Array | undefined {
  try {
    return zstdDecompressSync(input, { maxOutputLength: Math.max(expected, 1) });
  } catch {
    return undefined;
  }
}

let decodesConcatenatedFrames: boolean | undefined;

/** Whether one decompressor call reads every frame of its input (two 1-byte frames here). */
function probeConcatenatedFrames(): boolean {
  const frame = [0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x01, 0x09, 0x00, 0x00, 0x61];
  const content = inflate(new Uint8Array([...frame, ...frame]), 2);
  return content !== undefined && content.length === 2 && content[0] === 0x61 &&
    content[1] === 0x61;
}

/** Reads blocks up to the end tag, one decompressor call per zstd frame. */
function readBlockByBlock(reader: ByteReader): Uint8Array {
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
