// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode Digest}: what a node knows about every node, in one line each.
 *
 * @module
 */

import { compareIdInfos, idInfo, idKey } from "./_chitchat_id_info.ts";
import type { ChitchatId } from "./chitchat_id.ts";

/**
 * The summary of one node's state in a digest.
 *
 * @example
 * ```ts
 * import type { NodeDigest } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const summary: NodeDigest = { heartbeat: 12, lastGcVersion: 0, maxVersion: 4 };
 * assert(summary.maxVersion === 4);
 * ```
 */
export interface NodeDigest {
  /** The node's heartbeat as known by the sender. */
  readonly heartbeat: number;
  /** The node's last tombstone-collection version as known by the sender. */
  readonly lastGcVersion: number;
  /** The node's max version as known by the sender. */
  readonly maxVersion: number;
}

/**
 * A digest line: a node and its summary.
 *
 * @example
 * ```ts
 * import type { DigestEntry } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const entry: DigestEntry = {
 *   chitchatId: { nodeId: "n", generationId: 0n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 1 } },
 *   heartbeat: 1,
 *   lastGcVersion: 0,
 *   maxVersion: 0,
 * };
 * assert(entry.heartbeat === 1);
 * ```
 */
export interface DigestEntry extends NodeDigest {
  /** The node. */
  readonly chitchatId: ChitchatId;
}

/**
 * The Scuttlebutt digest: for every node the sender knows, its heartbeat,
 * last GC version and max version. A node appears at most once (a later
 * entry for the same id replaces an earlier one, as in the reference).
 *
 * @example
 * ```ts
 * import { Digest } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const a = { nodeId: "a", generationId: 0n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 1 } };
 * const b = { nodeId: "b", generationId: 0n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 2 } };
 * const digest = new Digest([
 *   { chitchatId: b, heartbeat: 3, lastGcVersion: 0, maxVersion: 2 },
 *   { chitchatId: a, heartbeat: 5, lastGcVersion: 0, maxVersion: 7 },
 * ]);
 * assert(digest.size === 2);
 * assert(digest.get(a)?.maxVersion === 7);
 * assert.deepStrictEqual(digest.entries().map((e) => e.chitchatId.nodeId), ["a", "b"]);
 * ```
 */
export class Digest {
  /** A digest with no entry. */
  static readonly empty: Digest = new Digest([]);

  // Either the map (built from entries or by the decoder) or the sorted
  // entries with their keys (our own digests) come first; the other view is
  // derived on demand: a digest we send is usually never looked up.
  #byKey: Map<string, DigestEntry> | undefined;
  #sorted: readonly DigestEntry[] | undefined;
  #sortedKeys: readonly string[] | undefined;
  #byteLength = -1;

  /**
   * Builds a digest.
   *
   * @param entries The lines, in any order; for a repeated id the last wins.
   * @throws {TypeError} or {RangeError} if an id is invalid.
   */
  constructor(entries: Iterable<DigestEntry>) {
    const byKey = new Map<string, DigestEntry>();
    for (const entry of entries) {
      const info = idInfo(entry.chitchatId);
      const canonical = info.id === entry.chitchatId ? entry : { ...entry, chitchatId: info.id };
      byKey.delete(info.key);
      byKey.set(info.key, canonical);
    }
    this.#byKey = byKey;
  }

  /** @ignore Wraps a map of entries keyed by id key (the decoder's output). */
  static _fromMap(byKey: Map<string, DigestEntry>): Digest {
    const digest = new Digest([]);
    digest.#byKey = byKey;
    return digest;
  }

  /** @ignore Wraps entries already in id order, with their id keys. */
  static _fromSorted(sorted: readonly DigestEntry[], keys: readonly string[]): Digest {
    const digest = new Digest([]);
    digest.#byKey = undefined;
    digest.#sorted = sorted;
    digest.#sortedKeys = keys;
    return digest;
  }

  #map(): Map<string, DigestEntry> {
    if (this.#byKey === undefined) {
      const byKey = new Map<string, DigestEntry>();
      const sorted = this.#sorted!;
      const keys = this.#sortedKeys!;
      for (let i = 0; i < sorted.length; i++) byKey.set(keys[i], sorted[i]);
      this.#byKey = byKey;
    }
    return this.#byKey;
  }

  /** Number of nodes. */
  get size(): number {
    return this.#sorted?.length ?? this.#byKey!.size;
  }

  /**
   * The summary of a node.
   *
   * @param chitchatId The node.
   * @returns Its line, or `undefined` if the digest does not list it.
   */
  get(chitchatId: ChitchatId): DigestEntry | undefined {
    return this.#map().get(idKey(chitchatId));
  }

  /** @ignore The lines with their internal id keys, in no particular order. */
  *_keyedEntries(): IterableIterator<[string, DigestEntry]> {
    if (this.#byKey === undefined) {
      const sorted = this.#sorted!;
      const keys = this.#sortedKeys!;
      for (let i = 0; i < sorted.length; i++) yield [keys[i], sorted[i]];
      return;
    }
    yield* this.#byKey.entries();
  }

  /** @ignore Lookup by internal id key. */
  _getByKey(key: string): DigestEntry | undefined {
    return this.#map().get(key);
  }

  /**
   * The lines in id order (the order they are written on the wire).
   *
   * @returns The entries.
   */
  entries(): readonly DigestEntry[] {
    if (this.#sorted === undefined) {
      this.#sorted = [...this.#byKey!.values()].sort((a, b) =>
        compareIdInfos(idInfo(a.chitchatId), idInfo(b.chitchatId))
      );
    }
    return this.#sorted;
  }

  /** Iterates over the lines in id order. */
  [Symbol.iterator](): Iterator<DigestEntry> {
    return this.entries()[Symbol.iterator]();
  }

  /** Size of the digest on the wire, in bytes. */
  get byteLength(): number {
    if (this.#byteLength < 0) {
      let length = 2;
      for (const entry of this.#sorted ?? this.#byKey!.values()) {
        length += idInfo(entry.chitchatId).bytes.length + 24;
      }
      this.#byteLength = length;
    }
    return this.#byteLength;
  }
}
