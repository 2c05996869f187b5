// Copyright the chitchat for Deno authors. MIT license.
/**
 * The wire codec: {@linkcode encodeMessage} and {@linkcode decodeMessage},
 * byte-compatible with the reference implementation (the layout is
 * written down in `wire/WIRE.md`).
 *
 * @module
 */

import { ByteReader, ByteWriter, utf8ByteLength } from "./wire/_binary.ts";
import { readDelta, readDigest, writeDigest } from "./wire/_wire_codec.ts";
import { LENGTH_PREFIX_BYTES, MESSAGE_HEADER_BYTES } from "./wire/wire_sizes.ts";
import { deltaInternals } from "./delta.ts";
import { DecodeError } from "./wire/decode_error.ts";
import type { ChitchatMessage } from "./message.ts";

/** The first two bytes of every message (45139, little-endian). */
const MAGIC_NUMBER = 45_139;
const PROTOCOL_VERSION = 0;
const MESSAGE_TYPES = ["syn", "synAck", "ack", "badCluster"] as const;

/**
 * Encodes a message into one datagram payload.
 *
 * @param message The message.
 * @returns The bytes to send.
 * @throws {RangeError} if the cluster id is over 65,535 bytes or a digest has more than 65,535 entries.
 *
 * @example A SYN with an empty digest
 * ```ts
 * import { Digest, encodeMessage } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const bytes = encodeMessage({ type: "syn", clusterId: "", digest: Digest.empty });
 * assert.deepStrictEqual([...bytes], [0x53, 0xb0, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function encodeMessage(message: ChitchatMessage): Uint8Array {
  const writer = new ByteWriter(messageByteLength(message));
  writer.u16(MAGIC_NUMBER);
  writer.u8(PROTOCOL_VERSION);
  switch (message.type) {
    case "syn":
      writer.u8(0);
      writeDigest(writer, message.digest);
      writer.string(message.clusterId, "cluster id");
      break;
    case "synAck":
      writer.u8(1);
      writeDigest(writer, message.digest);
      writer.bytes(deltaInternals.encode(message.delta));
      break;
    case "ack":
      writer.u8(2);
      writer.bytes(deltaInternals.encode(message.delta));
      break;
    case "badCluster":
      writer.u8(3);
      break;
    default:
      throw new TypeError(
        `Cannot encode message: unknown type "${(message as { type: unknown }).type}"`,
      );
  }
  return writer.finish();
}

/**
 * Size of a message on the wire, in bytes, without building the datagram
 * (deltas built by this library know their size).
 *
 * @param message The message.
 * @returns Its encoded length.
 */
export function messageByteLength(message: ChitchatMessage): number {
  switch (message.type) {
    case "syn":
      return MESSAGE_HEADER_BYTES + message.digest.byteLength + LENGTH_PREFIX_BYTES +
        utf8ByteLength(message.clusterId);
    case "synAck":
      return MESSAGE_HEADER_BYTES + message.digest.byteLength + message.delta.byteLength;
    case "ack":
      return MESSAGE_HEADER_BYTES + message.delta.byteLength;
    default:
      return MESSAGE_HEADER_BYTES;
  }
}

/**
 * Decodes one datagram payload. Bytes after the message are ignored, as
 * the reference does.
 *
 * @param bytes The datagram.
 * @returns The message.
 * @throws {DecodeError} if the bytes are not a valid message; never another error.
 *
 * @example
 * ```ts
 * import { decodeMessage, DecodeError } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * assert(decodeMessage(new Uint8Array([0x53, 0xb0, 0, 3])).type === "badCluster");
 * assert.throws(() => decodeMessage(new Uint8Array([0xb0, 0x53, 0, 3])), DecodeError);
 * ```
 */
export function decodeMessage(bytes: Uint8Array): ChitchatMessage {
  try {
    return decodeUnchecked(bytes);
  } catch (error) {
    if (error instanceof DecodeError) throw error;
    // Defense in depth: whatever slipped through is still malformed input.
    throw new DecodeError(`Malformed message: ${(error as Error)?.message ?? String(error)}`, 0, {
      cause: error,
    });
  }
}

function decodeUnchecked(bytes: Uint8Array): ChitchatMessage {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError("Expected a Uint8Array", 0);
  const reader = new ByteReader(bytes);
  if (bytes.length < 3) {
    reader.fail("Message too short for the magic number and protocol version", 0);
  }
  if ((bytes[0] | (bytes[1] << 8)) !== MAGIC_NUMBER) reader.fail("Invalid magic number", 0);
  if (bytes[2] !== PROTOCOL_VERSION) reader.fail(`Unsupported protocol version ${bytes[2]}`, 2);
  reader.pos = 3;
  if (bytes.length < 4) reader.fail("Missing message type", 3);
  const type = MESSAGE_TYPES[bytes[3]];
  if (type === undefined) reader.fail(`Invalid message type ${bytes[3]}`, 3);
  reader.pos = 4;
  switch (type) {
    case "syn": {
      const digest = readDigest(reader);
      const clusterId = reader.string("cluster id");
      return { type, clusterId, digest };
    }
    case "synAck": {
      const digest = readDigest(reader);
      const delta = readDelta(reader);
      return { type, digest, delta };
    }
    case "ack":
      return { type, delta: readDelta(reader) };
    default:
      return { type: "badCluster" };
  }
}
