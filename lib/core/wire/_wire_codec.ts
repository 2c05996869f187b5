// Copyright the chitchat for Deno authors. MIT license.
// Internal: digest and delta bodies of the wire format (WIRE.md beside this file).

import { ByteReader, type ByteWriter, writeU64 } from "./_binary.ts";
import { readBlockStream } from "./_block_stream.ts";
import { compareIdInfos, type IdInfo, idInfo, readChitchatId } from "../_chitchat_id_info.ts";
import type { ChitchatId } from "../chitchat_id.ts";
import { DecodeError } from "./decode_error.ts";
import { type Delta, deltaInternals, type NodeDelta } from "../delta.ts";
import { Digest, type DigestEntry, digestInternals } from "../digest.ts";
import type { DeletionStatus, KeyValueMutation } from "../versioned_value.ts";
import { LENGTH_PREFIX_BYTES } from "./wire_sizes.ts";

/** Wire status codes, indexed by code. */
const DELETION_STATUS_CODES: readonly DeletionStatus[] = ["set", "deleted", "deleteAfterTtl"];

export function writeDigest(writer: ByteWriter, digest: Digest): void {
  const ids = digestInternals.ids(digest);
  const numbers = digestInternals.numbers(digest);
  if (ids.length > 0xffff) {
    throw new RangeError(`Cannot encode digest: ${ids.length} entries exceed 65535`);
  }
  const size = digest.byteLength;
  const buf = writer.reserveRaw(size);
  let pos = writer.length;
  buf[pos++] = ids.length & 0xff;
  buf[pos++] = ids.length >>> 8;
  for (const i of digestInternals.idOrder(digest)) {
    const idBytes = idInfo(ids[i]).bytes;
    for (let j = 0; j < idBytes.length; j++) buf[pos + j] = idBytes[j];
    pos = writeU64(buf, pos + idBytes.length, numbers[3 * i]);
    pos = writeU64(buf, pos, numbers[3 * i + 1]);
    pos = writeU64(buf, pos, numbers[3 * i + 2]);
  }
  writer.advance(size);
}

export function readDigest(reader: ByteReader): Digest {
  const count = reader.u16("digest length");
  const ids: ChitchatId[] = [];
  const keys: string[] = [];
  const numbers: number[] = [];
  const start = reader.pos;
  let sorted = true;
  let previous: IdInfo | undefined;
  for (let i = 0; i < count; i++) {
    const info = readChitchatId(reader);
    // Reference writers emit id order; anything else (including a repeated
    // id, which the reference accepts: the last one wins) takes the slow path.
    if (previous !== undefined && sorted && compareIdInfos(previous, info) >= 0) sorted = false;
    previous = info;
    ids.push(info.id);
    keys.push(info.key);
    numbers.push(
      reader.safeU64("heartbeat"),
      reader.safeU64("last GC version"),
      reader.safeU64("max version"),
    );
  }
  if (sorted) {
    return digestInternals.fromArrays(
      ids,
      keys,
      numbers,
      true,
      LENGTH_PREFIX_BYTES + reader.pos - start,
    );
  }
  const lines: DigestEntry[] = ids.map((chitchatId, i) => ({
    chitchatId,
    heartbeat: numbers[3 * i],
    lastGcVersion: numbers[3 * i + 1],
    maxVersion: numbers[3 * i + 2],
  }));
  return new Digest(lines);
}

interface MutableNodeDelta {
  chitchatId: NodeDelta["chitchatId"];
  fromVersionExcluded: number;
  lastGcVersion: number;
  keyValues: KeyValueMutation[];
  maxVersion: number;
}

export function readDelta(outer: ByteReader): Delta {
  const streamStart = outer.pos;
  const stream = readBlockStream(outer);
  try {
    return parseOperations(stream);
  } catch (error) {
    if (error instanceof DecodeError) {
      // Offsets inside the decompressed stream mean little to a reader of
      // the datagram: report where the delta starts, keep the detail.
      throw new DecodeError(`Invalid delta operation: ${error.message}`, streamStart, {
        cause: error,
      });
    }
    throw error;
  }
}

export function parseOperations(stream: Uint8Array): Delta {
  const reader: ByteReader = new ByteReader(stream);
  const nodeDeltas: MutableNodeDelta[] = [];
  const seen = new Set<string>();
  let current: MutableNodeDelta | undefined;
  while (reader.pos < reader.end) {
    const tagOffset = reader.pos;
    const tag = stream[reader.pos++];
    if (tag === 1) {
      if (current === undefined) {
        reader.fail("Key-value operation before any node operation", tagOffset);
      }
      const key = reader.string("key", true);
      const value = reader.string("value");
      const version = reader.safeU64("version");
      const code = reader.u8("deletion status");
      const status = DELETION_STATUS_CODES[code];
      if (status === undefined) reader.fail(`Invalid deletion status ${code}`, reader.pos - 1);
      if (version <= current.maxVersion) {
        reader.fail(
          `Key-value versions must strictly increase (${version} after ${current.maxVersion})`,
          tagOffset,
        );
      }
      current.keyValues.push({ key, value, version, status });
      current.maxVersion = version;
    } else if (tag === 0) {
      const info = readChitchatId(reader);
      const lastGcVersion = reader.safeU64("last GC version");
      const fromVersionExcluded = reader.safeU64("from version");
      if (seen.has(info.key)) reader.fail("The same node appears twice in the delta", tagOffset);
      seen.add(info.key);
      current = {
        chitchatId: info.id,
        fromVersionExcluded,
        lastGcVersion,
        keyValues: [],
        maxVersion: 0,
      };
      nodeDeltas.push(current);
    } else if (tag === 2) {
      if (current === undefined) {
        reader.fail("Set-max-version operation before any node operation", tagOffset);
      }
      current.maxVersion = reader.safeU64("max version");
    } else {
      reader.fail(`Unknown delta operation ${tag}`, tagOffset);
    }
  }
  return deltaInternals.unchecked(nodeDeltas);
}
