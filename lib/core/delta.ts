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
 * import type { NodeDelta } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const nodeDelta: NodeDelta = {
 *   chitchatId: { nodeId: "n", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7001 } },
 *   fromVersionExcluded: 2,
 *   lastGcVersion: 0,
 *   keyValues: [{ key: "c", value: "3", version: 3, status: "set" }],
 *   maxVersion: 3,
 * };
 * assert(nodeDelta.keyValues.length === 1);
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
   */
  constructor(nodeDeltas: readonly NodeDelta[]) {
    this.nodeDeltas = nodeDeltas;
  }

  /** @ignore A delta whose block stream is already written. */
  static _withEncoding(nodeDeltas: readonly NodeDelta[], encoded: Uint8Array): Delta {
    const delta = new Delta(nodeDeltas);
    delta.#encoded = encoded;
    return delta;
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
    return this._encode().length;
  }

  /**
   * @ignore The block stream (cached): operations as the reference writes
   * them, cut into 16 KiB blocks, each zstd-compressed unless that would
   * make it longer.
   */
  _encode(): Uint8Array {
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
    }
    this.#encoded = writer.finish();
    return this.#encoded;
  }
}
