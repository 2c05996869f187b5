// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode Delta}: the key-values one node sends another to bring it up to date.
 *
 * @module
 */

import { idInfo } from "./_chitchat_id_info.ts";
import { KeyValueArena } from "./_key_value_arena.ts";
import { DeltaWriter } from "./wire/_delta_writer.ts";
import type { ChitchatId } from "./chitchat_id.ts";
import type { KeyValueMutation } from "./versioned_value.ts";

/**
 * The part of a delta about one node.
 *
 * `fromVersionExcluded` and `lastGcVersion` say which states the delta
 * applies to: it holds every write of the node in
 * `(fromVersionExcluded, maxVersion]`, except tombstones at or below
 * `lastGcVersion` that were collected. `fromVersionExcluded = 0` with a
 * `lastGcVersion` above the receiver's knowledge asks it to reset its copy.
 *
 * @example
 * ```ts
 * import { ClusterState } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = { nodeId: "n", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7001 } };
 * const ours = new ClusterState();
 * const state = ours.nodeStateOrInit(id);
 * for (const key of ["a", "b", "c"]) state.set(key, key.toUpperCase());
 * const theirs = new ClusterState();
 * theirs.nodeStateOrInit(id); // known from a digest, no key-value yet
 * const [nodeDelta] = ours.computeDelta(theirs.computeDigest(), 65_000).nodeDeltas;
 * assert(nodeDelta.fromVersionExcluded === 0 && nodeDelta.maxVersion === 3);
 * assert.deepStrictEqual(nodeDelta.keyValues.map((kv) => kv.key), ["a", "b", "c"]);
 * ```
 */
export interface NodeDelta {
  /** The node the key-values belong to. */
  readonly chitchatId: ChitchatId;
  /** Writes above this version are all included (but for collected tombstones). */
  readonly fromVersionExcluded: number;
  /** The sender's last GC version for the node. */
  readonly lastGcVersion: number;
  /** Writes in strictly increasing version order. */
  readonly keyValues: readonly KeyValueMutation[];
  /** The node's max version once the delta is applied. */
  readonly maxVersion: number;
}

/**
 * What the rest of the core may do with a delta beyond its public API. Not
 * re-exported by `mod.ts`.
 */
export interface DeltaInternals {
  /** A delta whose block stream is already written. */
  withEncoding(nodeDeltas: readonly NodeDelta[], encoded: Uint8Array): Delta;
  /** A delta from the decoder: its node deltas are checked when applied, not here. */
  unchecked(nodeDeltas: readonly NodeDelta[]): Delta;
  /** The block stream (cached). */
  encode(delta: Delta): Uint8Array;
}

let internals: DeltaInternals;
// Set only while internals build a delta whose contents are checked elsewhere.
let trusted = false;

function checkMaxVersions(nodeDeltas: readonly NodeDelta[]): void {
  for (const { maxVersion } of nodeDeltas) {
    if (!Number.isSafeInteger(maxVersion) || maxVersion < 0) {
      throw new RangeError(`Invalid maxVersion: ${maxVersion} is not a version`);
    }
  }
}

/**
 * A delta: node deltas in the order they are written on the wire.
 *
 * @example Building and sizing a delta
 * ```ts
 * import { Delta } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const delta = new Delta([{
 *   chitchatId: { nodeId: "node-10001", generationId: 0n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 10001 } },
 *   fromVersionExcluded: 50,
 *   lastGcVersion: 80,
 *   keyValues: [],
 *   maxVersion: 100,
 * }]);
 * assert(delta.byteLength === 57);
 * assert(Delta.empty.byteLength === 1);
 * ```
 */
export class Delta {
  /** The empty delta (one end-of-stream byte on the wire). */
  static readonly empty: Delta = new Delta([]);

  /** The node deltas, in wire order. */
  readonly nodeDeltas: readonly NodeDelta[];
  #encoded: Uint8Array | undefined;

  /**
   * Creates a delta.
   *
   * @param nodeDeltas The node deltas, in the order to write them.
   * @throws {RangeError} if a node delta's `maxVersion` is not a version
   * (a non-negative safe integer). Any version is carried as given, also
   * one that differs from the last key-value's.
   */
  constructor(nodeDeltas: readonly NodeDelta[]) {
    if (!trusted) checkMaxVersions(nodeDeltas);
    this.nodeDeltas = nodeDeltas;
  }

  static {
    internals = {
      withEncoding(nodeDeltas, encoded) {
        const delta = internals.unchecked(nodeDeltas);
        delta.#encoded = encoded;
        return delta;
      },
      unchecked(nodeDeltas) {
        trusted = true;
        try {
          return new Delta(nodeDeltas);
        } finally {
          trusted = false;
        }
      },
      encode: (delta) => delta.#encode(),
    };
  }

  /** Whether there is nothing in it. */
  get isEmpty(): boolean {
    return this.nodeDeltas.length === 0;
  }

  /** Total number of key-values carried. */
  get keyValueCount(): number {
    let count = 0;
    for (const nodeDelta of this.nodeDeltas) count += nodeDelta.keyValues.length;
    return count;
  }

  /** Size of the delta's block stream on the wire, in bytes. */
  get byteLength(): number {
    return this.#encode().length;
  }

  /**
   * The block stream (cached): operations as the reference writes them,
   * cut into 16 KiB blocks, each zstd-compressed unless that would make it
   * longer.
   */
  #encode(): Uint8Array {
    if (this.#encoded !== undefined) return this.#encoded;
    const writer = new DeltaWriter(Infinity);
    const arena = new KeyValueArena();
    for (const nodeDelta of this.nodeDeltas) {
      writer.tryAddNode(
        idInfo(nodeDelta.chitchatId).bytes,
        nodeDelta.lastGcVersion,
        nodeDelta.fromVersionExcluded,
      );
      if (nodeDelta.keyValues.length === 0) {
        if (nodeDelta.maxVersion > 0) writer.trySetMaxVersion(nodeDelta.maxVersion);
        continue;
      }
      const first = arena.count;
      for (const keyValue of nodeDelta.keyValues) arena.push(keyValue);
      writer.append(arena.bytes, arena.offsets[first], arena.offsets[arena.count]);
      const last = nodeDelta.keyValues[nodeDelta.keyValues.length - 1].version;
      // A receiver takes the last write's version as the max version unless
      // an explicit operation follows: write one whenever they differ.
      if (nodeDelta.maxVersion !== last) writer.trySetMaxVersion(nodeDelta.maxVersion);
    }
    this.#encoded = writer.finish();
    return this.#encoded;
  }
}

/** Package-internal access to deltas (see {@linkcode DeltaInternals}). */
export const deltaInternals: DeltaInternals = internals!;
