// Copyright the chitchat for Deno authors. MIT license.
// Test support, runtime-neutral (the Deno suite and tests/compat/ on Node.js
// and Bun run it): the check of every reference vector. Decoding gives its
// content, encoding gives its bytes (or, for zstd blocks, its decompressed
// stream), decode/* vectors are accepted or rejected as expected, and the
// mtu/* and compute/* vectors reproduce the reference's decisions.

import { deepStrictEqual, equal, ok as assert, throws } from "node:assert/strict";
import { ByteReader, ByteWriter } from "../lib/core/wire/_binary.ts";
import { readBlockStream } from "../lib/core/wire/_block_stream.ts";
import { idInfo, readChitchatId } from "../lib/core/_chitchat_id_info.ts";
import { DeltaWriter } from "../lib/core/wire/_delta_writer.ts";
import { KeyValueArena } from "../lib/core/_key_value_arena.ts";
import { readDelta, readDigest, writeDigest } from "../lib/core/wire/_wire_codec.ts";
import {
  type ChitchatMessage,
  ClusterState,
  DecodeError,
  decodeMessage,
  encodeMessage,
  parseSocketAddress,
} from "../mod.ts";
import {
  fromHex,
  hasUnsafeVersion,
  type JsonBlock,
  plainDelta,
  plainDigest,
  plainId,
  toDelta,
  toDigest,
  toHex,
  toId,
  toKeyValue,
  toStatus,
  type Vector,
} from "./_vectors.ts";
import { deltaInternals } from "../lib/core/delta.ts";
import { nodeStateInternals } from "../lib/core/node_state.ts";

/** Splits a block stream into its blocks, checking it against the vector's block list. */
function blocksOf(stream: Uint8Array): { type: JsonBlock["type"]; decompressedLength: number }[] {
  const out: { type: JsonBlock["type"]; decompressedLength: number }[] = [];
  let pos = 0;
  for (;;) {
    const tag = stream[pos];
    if (tag === 0) {
      out.push({ type: "end", decompressedLength: 0 });
      return out;
    }
    const length = stream[pos + 1] | (stream[pos + 2] << 8);
    const sub = new Uint8Array([
      tag,
      stream[pos + 1],
      stream[pos + 2],
      ...stream.subarray(pos + 3, pos + 3 + length),
      0,
    ]);
    const content = readBlockStream(new ByteReader(sub));
    out.push({
      type: tag === 1 ? "compressed" : "uncompressed",
      decompressedLength: content.length,
    });
    pos += 3 + length;
  }
}

/** Compares a block stream we wrote with the vector's: byte for byte, or by content for zstd blocks. */
function assertSameStream(ours: Uint8Array, vector: Vector, streamHex: string, offset = 0): void {
  const theirs = fromHex(vector.hex).subarray(offset);
  if (!vector.compressed) {
    equal(toHex(ours), toHex(theirs.subarray(0, ours.length)));
    return;
  }
  // zstd output may legitimately differ between library versions: compare
  // the decompressed operations and the block layout instead.
  equal(toHex(readBlockStream(new ByteReader(ours))), streamHex);
  deepStrictEqual(
    blocksOf(ours),
    vector.blocks!.map((block) => ({
      type: block.type,
      decompressedLength: block.decompressed_len,
    })),
  );
}

function plainMessage(message: ChitchatMessage): unknown {
  switch (message.type) {
    case "syn":
      return { type: "syn", clusterId: message.clusterId, digest: plainDigest(message.digest) };
    case "synAck":
      return {
        type: "synAck",
        digest: plainDigest(message.digest),
        delta: plainDelta(message.delta),
      };
    case "ack":
      return { type: "ack", delta: plainDelta(message.delta) };
    default:
      return { type: message.type };
  }
}

// deno-lint-ignore no-explicit-any
function toMessage(content: any): ChitchatMessage {
  switch (content.type) {
    case "Syn":
      return { type: "syn", clusterId: content.cluster_id, digest: toDigest(content.digest) };
    case "SynAck":
      return { type: "synAck", digest: toDigest(content.digest), delta: toDelta(content.delta) };
    case "Ack":
      return { type: "ack", delta: toDelta(content.delta) };
    default:
      return { type: "badCluster" };
  }
}

function testPrimitive(vector: Vector): void {
  const bytes = fromHex(vector.hex);
  const reader = new ByteReader(bytes);
  const writer = new ByteWriter();
  const name = vector.name.slice("prim/".length);
  if (name === "u16_le") {
    equal(reader.u16(), Number(vector.content));
    writer.u16(Number(vector.content));
  } else if (name.startsWith("u64") || name === "heartbeat") {
    const value = BigInt(vector.content);
    equal(new ByteReader(bytes).u64Big("u64"), value);
    writer.u64Big(value);
    if (value <= BigInt(Number.MAX_SAFE_INTEGER)) {
      equal(reader.safeU64("version"), Number(value));
    } else {
      // A version or heartbeat this large is refused, never rounded.
      throws(() => reader.safeU64("version"), DecodeError);
    }
  } else if (name.startsWith("string")) {
    equal(reader.string("string"), vector.content);
    writer.string(vector.content);
  } else if (name.startsWith("socket_addr")) {
    // A socket address is the tail of a ChitchatId's encoding.
    const addr = parseSocketAddress(vector.content);
    const info = idInfo({ nodeId: "", generationId: 0n, gossipAdvertiseAddr: addr });
    const tail = info.bytes.subarray(info.bytes.length - bytes.length);
    equal(toHex(tail), vector.hex);
    const decoded = readChitchatId(
      new ByteReader(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...bytes])),
    );
    deepStrictEqual(decoded.id.gossipAdvertiseAddr, addr);
    return;
  } else {
    throw new Error(`unknown primitive vector ${vector.name}`);
  }
  equal(toHex(writer.finish()), vector.hex);
}

function testChitchatId(vector: Vector): void {
  const id = toId(vector.content);
  equal(toHex(idInfo(id).bytes), vector.hex);
  const decoded = readChitchatId(new ByteReader(fromHex(vector.hex)));
  deepStrictEqual(plainId(decoded.id), plainId(id));
}

function testDigest(vector: Vector): void {
  if (hasUnsafeVersion(vector)) {
    throws(() => readDigest(new ByteReader(fromHex(vector.hex))), DecodeError);
    return;
  }
  const digest = toDigest(vector.content);
  const writer = new ByteWriter();
  writeDigest(writer, digest);
  equal(toHex(writer.finish()), vector.hex);
  deepStrictEqual(
    plainDigest(readDigest(new ByteReader(fromHex(vector.hex)))),
    plainDigest(digest),
  );
}

function testDelta(vector: Vector): void {
  if (hasUnsafeVersion(vector)) {
    throws(() => readDelta(new ByteReader(fromHex(vector.hex))), DecodeError);
    return;
  }
  const expected = toDelta(vector.content);
  const decoded = readDelta(new ByteReader(fromHex(vector.hex)));
  deepStrictEqual(plainDelta(decoded), plainDelta(expected));
  assertSameStream(deltaInternals.encode(expected), vector, vector.decompressed_stream_hex!);
}

function testMessage(vector: Vector): void {
  const bytes = fromHex(vector.hex);
  if (hasUnsafeVersion(vector)) {
    // Versions and heartbeats above 2^53 - 1 are refused, never rounded.
    throws(() => decodeMessage(bytes), DecodeError);
    return;
  }
  const message = toMessage(vector.content);
  deepStrictEqual(plainMessage(decodeMessage(bytes)), plainMessage(message));
  const encoded = encodeMessage(message);
  if (vector.delta_offset === undefined) {
    equal(toHex(encoded), vector.hex);
    return;
  }
  // Envelope and digest byte for byte; the delta as a block stream.
  equal(
    toHex(encoded.subarray(0, vector.delta_offset)),
    vector.hex.slice(0, 2 * vector.delta_offset),
  );
  const ourDelta = encoded.subarray(vector.delta_offset);
  if (vector.compressed) {
    equal(
      toHex(readBlockStream(new ByteReader(ourDelta))),
      vector.decompressed_stream_hex,
    );
  } else {
    equal(toHex(ourDelta), vector.hex.slice(2 * vector.delta_offset));
  }
}

function testDecode(vector: Vector): void {
  const bytes = fromHex(vector.hex);
  if (vector.expect === "error" || hasUnsafeVersion(vector)) {
    throws(() => decodeMessage(bytes), DecodeError);
    return;
  }
  deepStrictEqual(plainMessage(decodeMessage(bytes)), plainMessage(toMessage(vector.content)));
}

function testMtu(vector: Vector): void {
  const writer = new DeltaWriter(vector.mtu!);
  const arena = new KeyValueArena();
  for (const attempt of vector.attempts!) {
    let accepted: boolean;
    if (attempt.op === "Node") {
      accepted = writer.tryAddNode(
        idInfo(toId(attempt.chitchat_id!)).bytes,
        Number(attempt.last_gc_version),
        Number(attempt.from_version_excluded),
      );
    } else if (attempt.op === "KeyValue") {
      const start = arena.count;
      arena.push({
        key: attempt.key!,
        value: attempt.value!,
        version: Number(attempt.version),
        status: toStatus(attempt.status!),
      });
      accepted = writer.tryAppend(arena.bytes, arena.offsets[start], arena.offsets[start + 1]);
    } else {
      accepted = writer.trySetMaxVersion(Number(attempt.max_version));
    }
    equal(accepted, attempt.accepted, `${attempt.op} ${attempt.key ?? ""}`);
  }
  const stream = writer.finish();
  assert(stream.length <= vector.mtu!);
  assertSameStream(stream, vector, vector.decompressed_stream_hex!);
}

function testComputation(vector: Vector): void {
  const content = vector.content;
  const state = new ClusterState({ random: () => 0 });
  for (const node of content.cluster_state) {
    const nodeState = state.nodeStateOrInit(toId(node.chitchat_id));
    for (const [op, key, value] of node.build_ops as string[][]) {
      if (op === "set") nodeState.set(key, value);
      else if (op === "set_with_ttl") nodeState.setWithTtl(key, value);
      else if (op === "delete") nodeState.delete(key);
      else if (op === "delete_after_ttl") nodeState.deleteAfterTtl(key);
      else if (op === "gc_all_tombstones") nodeStateInternals.collectGarbage(nodeState, 0);
      else throw new Error(`unknown build op ${op}`);
    }
    // The state we built is the reference's.
    deepStrictEqual(
      [...nodeState.keyValuesIncludingDeleted()].map(([key, v]) => ({
        key,
        value: v.value,
        version: v.version,
        status: v.status,
      })),
      node.state.key_values.map(toKeyValue),
    );
    equal(nodeState.maxVersion, Number(node.state.max_version));
    equal(nodeState.lastGcVersion, Number(node.state.last_gc_version));
  }
  const delta = state.computeDelta(toDigest(content.peer_digest), content.mtu);
  deepStrictEqual(plainDelta(delta), plainDelta(toDelta(content.expected_delta)));
  assertSameStream(deltaInternals.encode(delta), vector, vector.decompressed_stream_hex!);
  // The delta survives the wire unchanged.
  deepStrictEqual(
    plainDelta(readDelta(new ByteReader(deltaInternals.encode(delta)))),
    plainDelta(toDelta(content.expected_delta)),
  );
}

/** The check of each vector kind. */
export const vectorRunners: Record<string, (vector: Vector) => void> = {
  primitive: testPrimitive,
  chitchat_id: testChitchatId,
  digest: testDigest,
  delta: testDelta,
  message: testMessage,
  decode: testDecode,
  mtu: testMtu,
  delta_computation: testComputation,
};

/** Runs the check of a vector's kind; throws an AssertionError if it does not hold. */
export function runVector(vector: Vector): void {
  const run = vectorRunners[vector.kind];
  assert(run !== undefined, `no runner for kind ${vector.kind}`);
  run(vector);
}
