// Copyright the chitchat for Deno authors. MIT license.
/**
 * The sizes of the wire format, in one place: every budget in the protocol
 * (what fits a datagram, how much room a delta gets, whether one write can
 * ever be sent) is derived from these. The layout they measure is written
 * down in `WIRE.md`, beside this file.
 *
 * @module
 */

/**
 * Largest datagram payload chitchat sends: the largest UDP payload over
 * IPv4 (65,535 minus the 8-byte UDP and 20-byte IP headers).
 *
 * @example
 * ```ts
 * import { Chitchat, encodeMessage, MAX_DATAGRAM_BYTES } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = (port: number) => ({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const a = new Chitchat({ chitchatId: id(1), clusterId: "demo" });
 * const b = new Chitchat({ chitchatId: id(2), clusterId: "demo" });
 * for (let i = 0; i < 2_000; i++) b.selfNodeState().set(`key-${i}`, "x".repeat(100));
 * a.processMessage(b.processMessage(a.createSynMessage())!);
 * // 220 KB of state: the SYN-ACK carries what fits one datagram.
 * const synAck = b.processMessage(a.createSynMessage())!;
 * assert(encodeMessage(synAck).length <= MAX_DATAGRAM_BYTES);
 * ```
 */
export const MAX_DATAGRAM_BYTES = 65_507;

/** The envelope of every message: magic number (u16), protocol version (u8), message type (u8). */
export const MESSAGE_HEADER_BYTES = 4;

/** A length prefix of a string or a digest (u16). */
export const LENGTH_PREFIX_BYTES = 2;

/** The fixed part of a digest line: heartbeat, last GC version, max version (three u64). */
export const DIGEST_LINE_FIXED_BYTES = 24;

/** The fixed part of a Node operation: tag (u8), last GC version and from version (two u64). */
export const NODE_OP_FIXED_BYTES = 17;

/** The fixed part of a KeyValue operation: tag, two u16 lengths, version (u64), status (u8). */
export const KEY_VALUE_OP_FIXED_BYTES = 14;

/** A SetMaxVersion operation: tag (u8) and version (u64). */
export const SET_MAX_VERSION_OP_BYTES = 9;

/** Operations are cut into blocks of this many bytes before compression, as the reference does. */
export const BLOCK_THRESHOLD_BYTES = 16_384;

/** The header of one block: tag (u8) and body length (u16). */
export const BLOCK_HEADER_BYTES = 3;

/** The end-of-stream tag that closes a delta. */
export const END_OF_STREAM_BYTES = 1;

/** Largest decompressed body of one block: the reference decompresses into a buffer this long. */
export const MAX_BLOCK_CONTENT_BYTES = 0xffff;

/**
 * Largest zstd window accepted in a block's frame: the smallest power of
 * two that holds a whole block (a compressor sizes its window to the
 * content). A frame declaring more (up to terabytes) is refused before the
 * decompressor allocates it.
 */
export const MAX_FRAME_WINDOW_BYTES = 0x10000;

/**
 * Operations one delta may carry when it is built for a datagram. Real
 * key-values compress 7 to 18 times in a full datagram (measured: 0.4 to
 * 0.9 MB of operations in 64 KB); only degenerate values (long runs of one character)
 * come near this, and are cut here so that every peer can read them back.
 */
export const MAX_DELTA_OPERATION_BYTES = 1024 * 1024;

/**
 * Operations a received delta may inflate to: twice what our writer sends.
 * It bounds the CPU and memory one datagram can cost (the cap was 16 MiB,
 * reached by a 7 KB datagram of bombs at 47 ms of CPU).
 */
export const MAX_INFLATED_DELTA_BYTES = 2 * MAX_DELTA_OPERATION_BYTES;

/**
 * What each zstd frame counts against MAX_INFLATED_DELTA_BYTES at least,
 * whatever it inflates to: one decompressor call costs about as much as
 * inflating this many bytes (20 to 40 microseconds), so a datagram of
 * thousands of empty frames (7,277 fit) costs no more than the cap. Every
 * block the reference writes but the last holds exactly this much, so a
 * real delta is charged at most this many bytes over what it inflates to.
 */
export const MIN_FRAME_CHARGE_BYTES = BLOCK_THRESHOLD_BYTES;

/**
 * Bytes of one digest line.
 *
 * @param idBytes Wire size of the node's id.
 * @returns The line's size.
 */
export function digestLineBytes(idBytes: number): number {
  return idBytes + DIGEST_LINE_FIXED_BYTES;
}

/**
 * Bytes of one KeyValue operation.
 *
 * @param keyBytes UTF-8 size of the key.
 * @param valueBytes UTF-8 size of the value.
 * @returns The operation's size.
 */
export function keyValueOpBytes(keyBytes: number, valueBytes: number): number {
  return KEY_VALUE_OP_FIXED_BYTES + keyBytes + valueBytes;
}

/**
 * Bytes of one Node operation.
 *
 * @param idBytes Wire size of the node's id.
 * @returns The operation's size.
 */
export function nodeOpBytes(idBytes: number): number {
  return NODE_OP_FIXED_BYTES + idBytes;
}

/**
 * Worst-case size of a block stream carrying `rawBytes` of operations:
 * every block stored uncompressed, each with its header, then the end tag.
 *
 * @param rawBytes Bytes of operations.
 * @param blockBytes Block size (smaller than the threshold only for tiny budgets).
 * @returns The stream's size at worst.
 */
export function worstBlockStreamBytes(
  rawBytes: number,
  blockBytes: number = BLOCK_THRESHOLD_BYTES,
): number {
  return rawBytes + BLOCK_HEADER_BYTES * Math.ceil(rawBytes / blockBytes) + END_OF_STREAM_BYTES;
}
