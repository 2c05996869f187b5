// Copyright the chitchat for Deno authors. MIT license.
// What one datagram may cost to inflate: frames are checked before the
// decompressor sees them, and a whole delta stops at 2 MiB of operations.

import { equal, ok, throws } from "node:assert/strict";
import { zstdCompressSync, type ZstdOptions } from "node:zlib";
import { ClusterState, DecodeError, decodeMessage, encodeMessage } from "../../mod.ts";
import { MAX_INFLATED_DELTA_BYTES } from "../../lib/core/wire/wire_sizes.ts";

/** An ACK whose delta is the given zstd blocks, then the end tag. */
function ackWithFrames(...frames: Uint8Array[]): Uint8Array {
  const parts = [0x53, 0xb0, 0, 2];
  for (const frame of frames) parts.push(1, frame.length & 0xff, frame.length >>> 8, ...frame);
  parts.push(0);
  return new Uint8Array(parts);
}

/** A valid zstd frame declaring a window of 2^windowLog bytes, holding nothing. */
function frameWithWindow(windowLog: number): Uint8Array {
  const descriptor = 0x00; // no content size, not single segment, no checksum
  const window = (windowLog - 10) << 3;
  const block = [1, 0, 0]; // last, raw, empty: no operation
  return new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, descriptor, window, ...block]);
}

const pledged = (length: number) => ({ pledgedSrcSize: length }) as ZstdOptions;

Deno.test("a frame declaring a 128 MiB window is refused before anything is allocated", () => {
  const datagram = ackWithFrames(frameWithWindow(27));
  const before = Deno.memoryUsage().rss;
  for (let i = 0; i < 20; i++) {
    throws(
      () => decodeMessage(datagram),
      (error: unknown) =>
        error instanceof DecodeError && error.message.includes("window of 134217728 bytes"),
    );
  }
  ok(Deno.memoryUsage().rss - before < 10e6, "no window was allocated");
  // The largest accepted window still decodes.
  const ok16 = decodeMessage(ackWithFrames(frameWithWindow(16)));
  equal(ok16.type, "ack");
});

Deno.test("a frame declaring more content than a block holds is refused", () => {
  const frame = zstdCompressSync(new Uint8Array(70_000), pledged(70_000));
  throws(
    () => decodeMessage(ackWithFrames(frame)),
    (error: unknown) =>
      error instanceof DecodeError && error.message.includes("content size of 70000 bytes"),
  );
});

Deno.test("a 7 KB datagram inflating past 2 MiB is refused", () => {
  const bomb = zstdCompressSync(new Uint8Array(65_535), pledged(65_535));
  const count = Math.ceil(7_000 / (bomb.length + 3));
  const datagram = ackWithFrames(...Array.from({ length: count }, () => bomb));
  ok(datagram.length <= 7_500 && count * 65_535 > MAX_INFLATED_DELTA_BYTES);
  // Its cost is measured by bench/decode_bench.ts (decode/worst-datagram).
  throws(
    () => decodeMessage(datagram),
    (error: unknown) =>
      error instanceof DecodeError && /more than 2097152 bytes/.test(error.message),
  );
});

Deno.test("the most compressible delta our writer puts in a datagram reads back whole", () => {
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
  const delta = ours.computeDelta(theirs.computeDigest(), 65_000);
  ok(delta.keyValueCount > 50);
  const decoded = decodeMessage(encodeMessage({ type: "ack", delta }));
  ok(decoded.type === "ack");
  equal(decoded.delta.keyValueCount, delta.keyValueCount);
});
