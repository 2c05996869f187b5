// Copyright the chitchat for Deno authors. MIT license.
// What one datagram may cost to inflate: frames are checked before the
// decompressor sees them, every decompressor call is charged against the
// delta's budget, and a whole delta stops at 2 MiB of operations, while the
// deltas our writer sends for real state still decode. Run as a script,
// this file is the probe of the memory test below.

import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { zstdCompressSync, zstdDecompressSync, type ZstdOptions } from "node:zlib";
import {
  ClusterState,
  DecodeError,
  decodeMessage,
  type Delta,
  Digest,
  encodeMessage,
  MAX_DATAGRAM_BYTES,
} from "../../mod.ts";
import { ByteReader } from "../../lib/core/wire/_binary.ts";
import { readBlockStream } from "../../lib/core/wire/_block_stream.ts";
import {
  MAX_INFLATED_DELTA_BYTES,
  MIN_FRAME_CHARGE_BYTES,
} from "../../lib/core/wire/wire_sizes.ts";
import { testId } from "../_protocol.ts";
import {
  ackWithBlocks,
  ackWithZstdBlocks,
  type Block,
  frameWithWindow,
  mixedFrameStream,
  mostCompressibleDelta,
  rawFrame,
  ZSTD_MAGIC,
} from "../_zstd_blocks.ts";

const pledged = (length: number) => ({ pledgedSrcSize: length }) as ZstdOptions;

Deno.test("a frame declaring a 128 MiB window is refused before anything is allocated", () => {
  const datagram = ackWithZstdBlocks([frameWithWindow(27)]);
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
  const ok16 = decodeMessage(ackWithZstdBlocks([frameWithWindow(16)]));
  equal(ok16.type, "ack");
});

Deno.test("a frame declaring more content than a block holds is refused", () => {
  const frame = zstdCompressSync(new Uint8Array(70_000), pledged(70_000));
  throws(
    () => decodeMessage(ackWithZstdBlocks([frame])),
    (error: unknown) =>
      error instanceof DecodeError && error.message.includes("content size of 70000 bytes"),
  );
});

Deno.test("a 7 KB datagram inflating past 2 MiB is refused", () => {
  const bomb = zstdCompressSync(new Uint8Array(65_535), pledged(65_535));
  const count = Math.ceil(7_000 / (bomb.length + 3));
  const datagram = ackWithZstdBlocks(Array.from({ length: count }, () => bomb));
  ok(datagram.length <= 7_500 && count * 65_535 > MAX_INFLATED_DELTA_BYTES);
  // Its cost is measured by bench/decode_bench.ts (decode/worst-datagram).
  throws(
    () => decodeMessage(datagram),
    (error: unknown) =>
      error instanceof DecodeError && /more than 2097152 bytes/.test(error.message),
  );
});

Deno.test("the most compressible delta our writer puts in a datagram reads back whole", () => {
  const delta = mostCompressibleDelta();
  ok(delta.keyValueCount > 50);
  const decoded = decodeMessage(encodeMessage({ type: "ack", delta }));
  ok(decoded.type === "ack");
  equal(decoded.delta.keyValueCount, delta.keyValueCount);
});

const ENVELOPE = [0x53, 0xb0, 0, 2];

const compressed = (body: Uint8Array | number[]): Block => ({
  type: "compressed",
  body: Uint8Array.from(body),
});

/**
 * The operations a delta is written as (the stream its blocks inflate to),
 * read here without the decoder's budget: our writer puts one frame in a
 * compressed block.
 */
function opsOf(delta: Delta): Uint8Array {
  const datagram = encodeMessage({ type: "ack", delta });
  const parts: Uint8Array[] = [];
  for (let at = 4; datagram[at] !== 0;) {
    const length = datagram[at + 1] | (datagram[at + 2] << 8);
    const body = datagram.subarray(at + 3, at + 3 + length);
    parts.push(datagram[at] === 2 ? body : zstdDecompressSync(body));
    at += 3 + length;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const zstd = (content: Uint8Array) =>
  zstdCompressSync(content, { pledgedSrcSize: content.length } as ZstdOptions);

const refusedAt = (offset: number, pattern: RegExp) => (error: unknown) =>
  error instanceof DecodeError && error.offset === offset && pattern.test(error.message);

// The first frame of `ackWithBlocks([...])` starts after the envelope and one block header.
const FIRST_FRAME = 7;

// Window descriptor 0x88: exponent 17, so 2^27 bytes (128 MiB).
const WINDOW_128_MIB = 0x88;

/** 200 one-byte frames declaring a 128 MiB window: the decompressor sized a window for each. */
function hugeWindowDatagram(): Uint8Array {
  const frame = rawFrame(new Uint8Array([0x78]), { windowDescriptor: WINDOW_128_MIB });
  const body = new Uint8Array(200 * frame.length);
  for (let i = 0; i < 200; i++) body.set(frame, i * frame.length);
  return ackWithBlocks([compressed(body)]);
}

Deno.test("frames declaring a 128 MiB window are refused without allocating it", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", new URL(import.meta.url).pathname, "--rss-probe"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(code, 0, new TextDecoder().decode(stderr));
  const report = JSON.parse(new TextDecoder().decode(stdout));
  equal(report.refusedFromHeader, 20);
  // Before headers were read, 20 decodes of these 200 frames grew RSS by about 23 MB.
  ok(report.rssGrowthBytes < 10e6, `RSS grew by ${(report.rssGrowthBytes / 1e6).toFixed(1)} MB`);
});

Deno.test("a datagram of thousands of empty zstd frames is refused", () => {
  const empty = [...ZSTD_MAGIC, 0x20, 0x00, 0x01, 0x00, 0x00]; // single segment, size 0, empty raw block
  const frames = Math.floor((MAX_DATAGRAM_BYTES - ENVELOPE.length - 3 - 1) / empty.length);
  const body = new Uint8Array(frames * empty.length);
  for (let i = 0; i < frames; i++) body.set(empty, i * empty.length);
  const datagram = ackWithBlocks([compressed(body)]);
  ok(datagram.length <= MAX_DATAGRAM_BYTES);
  // Each frame is charged one decompressor call: the budget runs out after this many.
  const allowed = Math.floor(MAX_INFLATED_DELTA_BYTES / MIN_FRAME_CHARGE_BYTES);
  throws(
    () => decodeMessage(datagram),
    refusedAt(FIRST_FRAME + allowed * empty.length, /Delta decompresses to more than/),
  );
});

Deno.test("a delta inflating to exactly the budget is read, one byte more is refused", () => {
  const full = Array.from(
    { length: MAX_INFLATED_DELTA_BYTES / MIN_FRAME_CHARGE_BYTES },
    () => compressed(zstd(new Uint8Array(MIN_FRAME_CHARGE_BYTES))),
  );
  const read = (blocks: Block[]) => readBlockStream(new ByteReader(ackWithBlocks(blocks), 4));
  equal(read(full).length, MAX_INFLATED_DELTA_BYTES);
  const stored: Block = { type: "stored", body: new Uint8Array(1) };
  throws(() => read([...full, stored]), /Delta decompresses to more than/);
  throws(
    () => read([...full, compressed(zstd(new Uint8Array(1)))]),
    /Delta decompresses to more than/,
  );
});

Deno.test("the fullest deltas our writer sends for real state are read", async (t) => {
  const id = (port: number) => testId(port);
  const shapes: Record<string, (state: ClusterState) => void> = {
    "200,000 tiny key-values": (state) => {
      const node = state.nodeStateOrInit(id(1));
      for (let i = 0; i < 200_000; i++) node.set(`k${i}`, "v");
    },
    "20,000 nodes": (state) => {
      for (let i = 0; i < 20_000; i++) state.nodeStateOrInit(id(1 + i)).set("k", "v");
    },
    "Quickwit-like keys with JSON values": (state) => {
      const node = state.nodeStateOrInit(id(1));
      for (let i = 0; i < 50_000; i++) {
        node.set(
          `indexer:split:${i}`,
          JSON.stringify({ host: `10.0.0.${i % 250}`, port: 7280, status: "ready" }),
        );
      }
    },
    // Twice as compressible as the JSON state: still read, with 20 % to spare.
    "values of 100 repeated characters": (state) => {
      const node = state.nodeStateOrInit(id(1));
      for (let i = 0; i < 20_000; i++) node.set(`k${i}`, "x".repeat(100));
    },
  };
  for (const [name, fill] of Object.entries(shapes)) {
    await t.step(name, () => {
      const state = new ClusterState();
      fill(state);
      const delta = state.computeDelta(Digest.empty, MAX_DATAGRAM_BYTES - 4);
      const datagram = encodeMessage({ type: "ack", delta });
      ok(datagram.length <= MAX_DATAGRAM_BYTES);
      const inflated = opsOf(delta).length;
      const sent = delta.nodeDeltas.reduce((n, d) => n + d.keyValues.length, 0);
      // The state did not fit: the delta is as full as our writer makes one.
      ok(sent < [...state.nodeStates()].reduce((n, s) => n + s.size, 0));
      const decoded = decodeMessage(datagram);
      ok(decoded.type === "ack");
      equal(decoded.delta.nodeDeltas.reduce((n, d) => n + d.keyValues.length, 0), sent);
      ok(inflated < MAX_INFLATED_DELTA_BYTES * 0.8, `${inflated} bytes inflated`);
      if (name !== "values of 100 repeated characters") {
        ok(inflated * 2 < MAX_INFLATED_DELTA_BYTES, `${inflated} bytes inflated`);
      }
    });
  }
});

if (import.meta.main && Deno.args.includes("--rss-probe")) {
  const datagram = hugeWindowDatagram();
  const before = Deno.memoryUsage().rss;
  let refusedFromHeader = 0;
  for (let i = 0; i < 20; i++) {
    try {
      decodeMessage(datagram);
    } catch (error) {
      if (error instanceof DecodeError && /window of \d+ bytes exceeds/.test(error.message)) {
        refusedFromHeader++;
      }
    }
  }
  const rssGrowthBytes = Deno.memoryUsage().rss - before;
  console.log(JSON.stringify({ refusedFromHeader, rssGrowthBytes }));
}

Deno.test("frames of every shape, with and without content sizes, read to their content", () => {
  for (const withUnsizedFrame of [false, true]) {
    const { datagram, content } = mixedFrameStream(withUnsizedFrame);
    const reader = new ByteReader(datagram, 4);
    deepStrictEqual(readBlockStream(reader), content);
    equal(reader.pos, datagram.length);
  }
});

Deno.test("a frame declaring more or less than it holds is refused among well-formed ones", () => {
  const good = zstd(new Uint8Array(20_000).fill(7));
  for (const declared of [199, 201]) {
    const liar = rawFrame(new Uint8Array(200), { contentSize: declared });
    const datagram = ackWithBlocks([compressed(good), compressed(liar), compressed(good)]);
    throws(
      () => decodeMessage(datagram),
      (error) => error instanceof DecodeError && /content size|decompress/.test(error.message),
    );
  }
});
