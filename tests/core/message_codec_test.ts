// Copyright the chitchat for Deno authors. MIT license.

import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { zstdCompressSync, type ZstdOptions } from "node:zlib";
import { DecodeError, decodeMessage, Delta, Digest, encodeMessage } from "../../mod.ts";
import { testId } from "../_protocol.ts";
import { ackWithZstdBlocks } from "../_zstd_blocks.ts";
import { messageByteLength } from "../../lib/core/message_codec.ts";

Deno.test("a decompression bomb is refused before it is inflated", () => {
  // ~30 bytes that inflate to 64 KiB each, 400 times: 26 MB from 12 KB.
  const bomb = zstdCompressSync(new Uint8Array(65_535), { pledgedSrcSize: 65_535 } as ZstdOptions);
  const blocks = Array.from({ length: 400 }, () => bomb);
  throws(
    () => decodeMessage(ackWithZstdBlocks(blocks)),
    (error: unknown) =>
      error instanceof DecodeError && /more than 2097152 bytes/.test(error.message),
  );
});

Deno.test("a truncated zstd frame is refused, not read as empty", () => {
  const frame = zstdCompressSync(new TextEncoder().encode("x".repeat(1_000)));
  throws(
    () => decodeMessage(ackWithZstdBlocks([frame.subarray(0, frame.length - 2)])),
    DecodeError,
  );
});

Deno.test("bytes after a zstd frame inside a block are refused", () => {
  const frame = zstdCompressSync(new Uint8Array(10));
  throws(
    () => decodeMessage(ackWithZstdBlocks([new Uint8Array([...frame, 1, 2, 3])])),
    DecodeError,
  );
});

Deno.test("DecodeError carries the offset of the problem", () => {
  try {
    decodeMessage(new Uint8Array([0x53, 0xb0, 7, 0]));
    ok(false);
  } catch (error) {
    ok(error instanceof DecodeError && error instanceof SyntaxError);
    equal(error.offset, 2);
    equal(error.name, "DecodeError");
  }
});

Deno.test("non-Uint8Array input is a DecodeError, not a TypeError", () => {
  throws(() => decodeMessage("junk" as unknown as Uint8Array), DecodeError);
});

Deno.test("messageByteLength() is the encoded length", () => {
  const digest = new Digest([{
    chitchatId: testId(1),
    heartbeat: 3,
    lastGcVersion: 0,
    maxVersion: 2,
  }]);
  const delta = new Delta([{
    chitchatId: testId(1),
    fromVersionExcluded: 0,
    lastGcVersion: 0,
    keyValues: [{ key: "é", value: "v", version: 1, status: "set" }],
    maxVersion: 1,
  }]);
  for (
    const message of [
      { type: "syn", clusterId: "clüster", digest },
      { type: "synAck", digest, delta },
      { type: "ack", delta },
      { type: "badCluster" },
    ] as const
  ) {
    equal(messageByteLength(message), encodeMessage(message).length, message.type);
  }
});

Deno.test("encodeMessage() refuses a cluster id over 65,535 bytes", () => {
  throws(
    () => encodeMessage({ type: "syn", clusterId: "c".repeat(65_536), digest: Digest.empty }),
    RangeError,
  );
});

Deno.test("a generation id above 2^53 survives the wire exactly", () => {
  const id = { ...testId(1), generationId: 18_446_744_073_709_551_615n };
  const bytes = encodeMessage({
    type: "syn",
    clusterId: "c",
    digest: new Digest([{ chitchatId: id, heartbeat: 1, lastGcVersion: 0, maxVersion: 0 }]),
  });
  const message = decodeMessage(bytes);
  ok(message.type === "syn");
  deepStrictEqual(message.digest.entries()[0].chitchatId.generationId, 18_446_744_073_709_551_615n);
});

Deno.test("a delta's maxVersion survives the wire, also when it differs from its last write", () => {
  const node = (maxVersion: number) =>
    new Delta([{
      chitchatId: testId(1),
      fromVersionExcluded: 0,
      lastGcVersion: 0,
      keyValues: [{ key: "k", value: "v", version: 3, status: "set" }],
      maxVersion,
    }]);
  for (const maxVersion of [3, 5, 1]) {
    const decoded = decodeMessage(encodeMessage({ type: "ack", delta: node(maxVersion) }));
    ok(decoded.type === "ack");
    equal(decoded.delta.nodeDeltas[0].maxVersion, maxVersion);
    equal(decoded.delta.nodeDeltas[0].keyValues.length, 1);
  }
  for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
    throws(() => node(bad), RangeError, String(bad));
  }
});
