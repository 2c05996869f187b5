// Copyright the chitchat for Deno authors. MIT license.
// Internal: digest and delta bodies of the wire format (WIRE.md beside this file).

import { asciiOrUndefined, ByteReader, type ByteWriter, sameAscii, writeU64 } from "./_binary.ts";
import { KeyValueEntry } from "../_key_value_entry.ts";
import { readBlockStream } from "./_block_stream.ts";
import { compareIdInfos, type IdInfo, idInfo, readChitchatId } from "../_chitchat_id_info.ts";
import type { ChitchatId } from "../chitchat_id.ts";
import { DecodeError } from "./decode_error.ts";
import { type Delta, deltaInternals, type NodeDelta } from "../delta.ts";
import { Digest, type DigestEntry, digestInternals } from "../digest.ts";
import type { DeletionStatus } from "../versioned_value.ts";
import { LENGTH_PREFIX_BYTES } from "./wire_sizes.ts";

/** Wire status codes, indexed by code. */
const DELETION_STATUS_CODES: readonly DeletionStatus[] = ["set", "deleted", "deleteAfterTtl"];

/** 2^32, to join the halves of a u64. */
const TWO_POW_32 = 0x1_0000_0000;

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
  keyValues: KeyValueEntry[];
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
  const end = stream.length;
  const keysByPosition: (string | undefined)[] = [];
  let current: MutableNodeDelta | undefined;
  let pos = 0;
  while (pos < end) {
    const tagOffset = pos;
    const tag = stream[pos];
    if (tag === 1 && current !== undefined) {
      // The bulk of a delta, read without a bounds check per field: a
      // well-formed ASCII key-value. Anything else (short data, UTF-8, an
      // unsafe version, a bad status) takes the checked path below, which
      // refuses it with the precise error.
      const keyStart = pos + 3;
      if (keyStart <= end) {
        const keyLength = stream[pos + 1] | (stream[pos + 2] << 8);
        const valueStart = keyStart + keyLength + 2;
        if (valueStart <= end) {
          const valueLength = stream[valueStart - 2] | (stream[valueStart - 1] << 8);
          const at = valueStart + valueLength;
          if (at + 9 <= end) {
            const high = stream[at + 4] | (stream[at + 5] << 8) | (stream[at + 6] << 16) |
              (stream[at + 7] << 24);
            const code = stream[at + 8];
            if (high >= 0 && high <= 0x1f_ffff && code <= 2) {
              const low = stream[at] | (stream[at + 1] << 8) | (stream[at + 2] << 16) |
                (stream[at + 3] << 24);
              // Small versions stay small integers (no heap number per entry).
              const version = high === 0 && low >= 0 ? low : high * TWO_POW_32 + (low >>> 0);
              if (version > current.maxVersion) {
                // Nodes tend to hold the same keys in the same order: the key
                // at this position in the previous node is the likely one.
                const index = current.keyValues.length;
                const guess = keysByPosition[index];
                const key = guess !== undefined && guess.length === keyLength &&
                    sameAscii(guess, stream, keyStart)
                  ? guess
                  : (keysByPosition[index] = asciiOrUndefined(stream, keyStart, keyLength, true));
                const value = key === undefined
                  ? undefined
                  : asciiOrUndefined(stream, valueStart, valueLength, false);
                if (value !== undefined) {
                  current.keyValues.push(
                    new KeyValueEntry(key!, value, version, DELETION_STATUS_CODES[code], 0),
                  );
                  current.maxVersion = version;
                  pos = at + 9;
                  continue;
                }
              }
            }
          }
        }
      }
    }
    reader.pos = pos + 1;
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
      current.keyValues.push(new KeyValueEntry(key, value, version, status, 0));
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
    pos = reader.pos;
  }
  return deltaInternals.unchecked(nodeDeltas);
}
