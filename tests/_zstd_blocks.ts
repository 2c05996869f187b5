// Copyright the chitchat for Deno authors. MIT license.
// Test and bench fixture: hand-made ACK datagrams and zstd frames, to probe
// the block-stream reader with hostile input, and the most compressible
// delta our own writer sends.

import { zstdCompressSync, type ZstdOptions } from "node:zlib";
import { ClusterState } from "../lib/core/cluster_state.ts";
import type { Delta } from "../lib/core/delta.ts";

/** A block of a delta's stream: a zstd frame (or several), or raw operations. */
export interface Block {
  readonly type: "compressed" | "stored";
  readonly body: Uint8Array;
}

/** The first bytes of every zstd frame. */
export const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** An ACK whose delta is `blocks`, then the end tag. */
export function ackWithBlocks(blocks: readonly Block[]): Uint8Array {
  const out = new Uint8Array(blocks.reduce((n, b) => n + 3 + b.body.length, 5));
  out.set([0x53, 0xb0, 0, 2]);
  let at = 4;
  for (const { type, body } of blocks) {
    out.set([type === "compressed" ? 1 : 2, body.length & 0xff, body.length >>> 8], at);
    out.set(body, at + 3);
    at += 3 + body.length;
  }
  out[at] = 0;
  return out;
}

/** An ACK whose delta is `frames`, each as one compressed block. */
export function ackWithZstdBlocks(frames: readonly Uint8Array[]): Uint8Array {
  return ackWithBlocks(frames.map((body) => ({ type: "compressed", body })));
}

/** A frame holding `content` in one raw block, with a hand-written header. */
export function rawFrame(
  content: Uint8Array,
  header: { windowDescriptor: number } | { contentSize: number },
): Uint8Array {
  const fields = "windowDescriptor" in header
    ? [0x00, header.windowDescriptor] // no content size, window descriptor
    : [0x80 | 0x20, ...u32(header.contentSize)]; // single segment, 4-byte content size
  const block = (content.length << 3) | 1; // last, raw
  return Uint8Array.from([
    ...ZSTD_MAGIC,
    ...fields,
    block & 0xff,
    (block >>> 8) & 0xff,
    block >>> 16,
    ...content,
  ]);
}

/** An empty frame declaring a window of 2^windowLog bytes. */
export function frameWithWindow(windowLog: number): Uint8Array {
  return rawFrame(new Uint8Array(0), { windowDescriptor: (windowLog - 10) << 3 });
}

function u32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
}

/** The delta our writer sends for 5,000 values of 10,000 repeated characters. */
export function mostCompressibleDelta(): Delta {
  const id = {
    nodeId: "n",
    generationId: 1n,
    gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 1 },
  };
  const ours = new ClusterState();
  const state = ours.nodeStateOrInit(id);
  for (let i = 0; i < 5_000; i++) state.set(`k${i}`, "x".repeat(10_000));
  const theirs = new ClusterState();
  theirs.nodeStateOrInit(id);
  return ours.computeDelta(theirs.computeDigest(), 65_000);
}

/**
 * An ACK whose delta mixes every shape of frame the block reader meets:
 * several frames to a block, sizes that end on 16 KiB and sizes that do
 * not, empty and skippable frames, stored blocks in between and one frame
 * (with `withUnsizedFrame`) one frame without a content size; and the
 * content it must read to.
 */
export function mixedFrameStream(
  withUnsizedFrame: boolean,
): { datagram: Uint8Array; content: Uint8Array } {
  const contentOf = (length: number, seed: number) =>
    Uint8Array.from({ length }, (_, i) => (i * seed + (i >>> 7)) % 251);
  const zstd = (content: Uint8Array) =>
    zstdCompressSync(content, { pledgedSrcSize: content.length } as ZstdOptions);
  const concat = (parts: readonly Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  };
  const pieces = [[16_384, 3], [5_000, 5], [16_384, 7], [0, 1], [1_000, 11], [300, 13]].map((
    [length, seed],
  ) => contentOf(length, seed));
  const stored = contentOf(700, 17);
  const unsized = contentOf(200, 19);
  const skippable = Uint8Array.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
  const blocks: Block[] = [
    { type: "compressed", body: concat([zstd(pieces[0]), zstd(pieces[1])]) },
    { type: "stored", body: stored },
    { type: "compressed", body: concat([zstd(pieces[2]), skippable, zstd(pieces[3])]) },
    { type: "compressed", body: concat([zstd(pieces[4]), zstd(pieces[5])]) },
  ];
  if (withUnsizedFrame) {
    blocks.push({ type: "compressed", body: rawFrame(unsized, { windowDescriptor: 0 }) });
  }
  return {
    datagram: ackWithBlocks(blocks),
    content: concat([
      pieces[0],
      pieces[1],
      stored,
      ...pieces.slice(2),
      ...(withUnsizedFrame ? [unsized] : []),
    ]),
  };
}
