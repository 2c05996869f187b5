// Copyright the chitchat for Deno authors. MIT license.
// The worst a single datagram can cost to decode: zstd bombs (tiny frames
// that inflate to a full block each), a frame declaring a huge window, and
// the largest delta our own writer sends.

import { zstdCompressSync, type ZstdOptions } from "node:zlib";
import { ClusterState, decodeMessage, encodeMessage } from "../mod.ts";

function ackWithFrames(frames: Uint8Array[]): Uint8Array {
  const parts = [0x53, 0xb0, 0, 2];
  for (const frame of frames) parts.push(1, frame.length & 0xff, frame.length >>> 8, ...frame);
  parts.push(0);
  return new Uint8Array(parts);
}

const bomb = zstdCompressSync(new Uint8Array(65_535), { pledgedSrcSize: 65_535 } as ZstdOptions);
// As many bombs as one datagram holds, and the 7 KB variant of the issue.
const fullBombs = ackWithFrames(
  Array.from({ length: Math.floor(65_000 / (bomb.length + 3)) }, () => bomb),
);
const smallBombs = ackWithFrames(
  Array.from({ length: Math.floor(7_000 / (bomb.length + 3)) }, () => bomb),
);
const hugeWindow = ackWithFrames([
  new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0, (27 - 10) << 3, 1, 0, 0]),
]);

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
const largestDelta = encodeMessage({
  type: "ack",
  delta: ours.computeDelta(theirs.computeDigest(), 65_000),
});

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
];
for (const [name, bytes] of cases) {
  Deno.bench({
    name: `decode/worst-datagram: ${name} (${bytes.length} B)`,
    group: "decode/worst-datagram",
    baseline: name === "largest delta we send",
    fn: () => decodeOrRefuse(bytes),
  });
}
