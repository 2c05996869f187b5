// Copyright the chitchat for Deno authors. MIT license.
// The worst a single datagram can cost to decode: zstd bombs (tiny frames
// that inflate to a full block each), a frame declaring a huge window, and
// the largest delta our own writer sends; then floods of frames that each
// cost a decompressor call (empty frames, reference-shaped 16 KiB blocks)
// and a datagram full of huge-window frames.

import { zstdCompressSync, type ZstdOptions } from "node:zlib";
import { decodeMessage, encodeMessage } from "../mod.ts";
import {
  ackWithZstdBlocks,
  frameWithWindow,
  mostCompressibleDelta,
} from "../tests/_zstd_blocks.ts";

const bomb = zstdCompressSync(new Uint8Array(65_535), { pledgedSrcSize: 65_535 } as ZstdOptions);
// As many bombs as one datagram holds, and the 7 KB variant of the issue.
const fullBombs = ackWithZstdBlocks(
  Array.from({ length: Math.floor(65_000 / (bomb.length + 3)) }, () => bomb),
);
const smallBombs = ackWithZstdBlocks(
  Array.from({ length: Math.floor(7_000 / (bomb.length + 3)) }, () => bomb),
);
const hugeWindow = ackWithZstdBlocks([frameWithWindow(27)]);

const largestDelta = encodeMessage({ type: "ack", delta: mostCompressibleDelta() });

/** As many copies of `frame` as one datagram holds, packed in blocks of up to 65,535 bytes. */
function framesFillingDatagram(frame: Uint8Array, oneFramePerBlock: boolean): Uint8Array {
  const perBlock = oneFramePerBlock ? 1 : Math.floor(0xffff / frame.length);
  const blocks: Uint8Array[] = [];
  for (let room = 65_507 - 5; room >= 3 + frame.length;) {
    const n = Math.min(perBlock, Math.floor((room - 3) / frame.length));
    const block = new Uint8Array(n * frame.length);
    for (let i = 0; i < n; i++) block.set(frame, i * frame.length);
    blocks.push(block);
    room -= 3 + block.length;
  }
  return ackWithZstdBlocks(blocks);
}

// Single segment, content size 0, one empty raw block: 9 bytes, 7,277 of them.
const emptyFrames = framesFillingDatagram(
  new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0, 1, 0, 0]),
  false,
);
const blocksOf16KiB = framesFillingDatagram(
  zstdCompressSync(new Uint8Array(16_384), { pledgedSrcSize: 16_384 } as ZstdOptions),
  true,
);
// One RLE byte under a 128 MiB window, 6,000 times.
const hugeWindows = framesFillingDatagram(
  new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0, (27 - 10) << 3, 0x0b, 0, 0, 0x78]),
  false,
);

function decodeOrRefuse(bytes: Uint8Array): void {
  try {
    decodeMessage(bytes);
  } catch {
    // Refused: that is the point; the time to refuse is what counts.
  }
}

const cases: [string, Uint8Array][] = [
  ["bombs filling a datagram", fullBombs],
  ["bombs in 7 KB", smallBombs],
  ["128 MiB window", hugeWindow],
  ["largest delta we send", largestDelta],
  ["empty frames filling a datagram", emptyFrames],
  ["16 KiB blocks filling a datagram", blocksOf16KiB],
  ["128 MiB windows filling a datagram", hugeWindows],
];
for (const [name, bytes] of cases) {
  Deno.bench({
    name: `decode/worst-datagram: ${name} (${bytes.length} B)`,
    group: "decode/worst-datagram",
    baseline: name === "largest delta we send",
    fn: () => decodeOrRefuse(bytes),
  });
}
