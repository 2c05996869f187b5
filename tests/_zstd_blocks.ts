// Copyright the chitchat for Deno authors. MIT license.
// Test and bench fixture: hand-made ACK datagrams and zstd frames, to probe
// the block-stream reader with hostile input, and the most compressible
// delta our own writer sends.

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
