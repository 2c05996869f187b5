// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode Digest}: what a node knows about every node, in one line each.
 *
 * @module
 */

import { compareIdInfos, idInfo, idKey } from "./_chitchat_id_info.ts";
import type { ChitchatId } from "./chitchat_id.ts";
import { digestLineBytes, LENGTH_PREFIX_BYTES } from "./wire/wire_sizes.ts";

/**
 * A digest line: a node and what the sender knows of it.
 *
 * @example
 * ```ts
 * import { Digest, type DigestEntry } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const entry: DigestEntry = {
 *   chitchatId: { nodeId: "n", generationId: 0n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 1 } },
 *   heartbeat: 12,
 *   lastGcVersion: 0,
 *   maxVersion: 4,
 * };
 * const digest = new Digest([entry]);
 * assert(digest.get(entry.chitchatId)?.maxVersion === 4);
 * // The count, the id (name, generation, IPv4 address and port), three u64.
 * assert(digest.byteLength === 2 + (2 + 1 + 8 + 1 + 4 + 2) + 3 * 8);
 * ```
 */
export interface DigestEntry {
  /** The node. */
  readonly chitchatId: ChitchatId;
  /** The node's heartbeat as known by the sender. */
  readonly heartbeat: number;
  /** The node's last tombstone-collection version as known by the sender. */
  readonly lastGcVersion: number;
  /** The node's max version as known by the sender. */
  readonly maxVersion: number;
}

/**
 * What the rest of the core may do with a digest beyond its public API:
 * read its lines as parallel arrays without building line objects. Not
 * re-exported by `mod.ts`.
 */
export interface DigestInternals {
  /**
   * Wraps parallel arrays (taken over, not copied). `inIdOrder` says the
   * lines are already in id order; keys must be unique.
   */
  fromArrays(
    ids: readonly ChitchatId[],
    keys: readonly string[],
    numbers: readonly number[],
    inIdOrder: boolean,
    byteLength?: number,
  ): Digest;
  /** Id keys of the lines, in natural order. */
  keys(digest: Digest): readonly string[];
  /** Ids of the lines, in natural order. */
  ids(digest: Digest): readonly ChitchatId[];
  /** heartbeat, lastGcVersion, maxVersion of line i at 3i, 3i + 1, 3i + 2. */
  numbers(digest: Digest): readonly number[];
  /** Index of the line with this id key, or -1. */
  indexOfKey(digest: Digest, key: string): number;
  /** Line indexes in id order (the wire order). */
  idOrder(digest: Digest): readonly number[];
}

let internals: DigestInternals;

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

  // Struct of arrays, in the lines' natural order (id order for digests we
  // compute, wire order for decoded ones): ids, their keys, and three
  // numbers per line. Thousands of digests a second cross a simulated
  // cluster; line objects, the lookup map and the id-ordered view are only
  // built when asked for.
  #ids: readonly ChitchatId[];
  #keys: readonly string[];
  /** heartbeat, lastGcVersion, maxVersion of line i at 3i, 3i + 1, 3i + 2. */
  #numbers: readonly number[];
  #inIdOrder: boolean;
  #index: Map<string, number> | undefined;
  #lines: DigestEntry[] | undefined;
  #sorted: readonly DigestEntry[] | undefined;
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
      byKey.delete(info.key);
      byKey.set(info.key, info.id === entry.chitchatId ? entry : { ...entry, chitchatId: info.id });
    }
    const ids: ChitchatId[] = [];
    const numbers: number[] = [];
    for (const entry of byKey.values()) {
      ids.push(entry.chitchatId);
      numbers.push(entry.heartbeat, entry.lastGcVersion, entry.maxVersion);
    }
    this.#ids = ids;
    this.#keys = [...byKey.keys()];
    this.#numbers = numbers;
    this.#inIdOrder = false;
  }

  static {
    internals = {
      fromArrays(ids, keys, numbers, inIdOrder, byteLength = -1) {
        const digest = new Digest([]);
        digest.#ids = ids;
        digest.#keys = keys;
        digest.#numbers = numbers;
        digest.#inIdOrder = inIdOrder;
        digest.#byteLength = byteLength;
        return digest;
      },
      keys: (digest) => digest.#keys,
      ids: (digest) => digest.#ids,
      numbers: (digest) => digest.#numbers,
      indexOfKey: (digest, key) => digest.#indexOf(key),
      idOrder: (digest) => digest.#idOrder(),
    };
  }

  /** Number of nodes. */
  get size(): number {
    return this.#ids.length;
  }

  #indexOf(key: string): number {
    if (this.#index === undefined) {
      const index = new Map<string, number>();
      for (let i = 0; i < this.#keys.length; i++) index.set(this.#keys[i], i);
      this.#index = index;
    }
    return this.#index.get(key) ?? -1;
  }

  #line(i: number): DigestEntry {
    this.#lines ??= new Array(this.#ids.length);
    return this.#lines[i] ??= {
      chitchatId: this.#ids[i],
      heartbeat: this.#numbers[3 * i],
      lastGcVersion: this.#numbers[3 * i + 1],
      maxVersion: this.#numbers[3 * i + 2],
    };
  }

  /**
   * The summary of a node.
   *
   * @param chitchatId The node.
   * @returns Its line, or `undefined` if the digest does not list it.
   */
  get(chitchatId: ChitchatId): DigestEntry | undefined {
    const i = this.#indexOf(idKey(chitchatId));
    return i === -1 ? undefined : this.#line(i);
  }

  /**
   * The lines in id order (the order they are written on the wire).
   *
   * @returns The entries.
   */
  entries(): readonly DigestEntry[] {
    if (this.#sorted === undefined) {
      const lines = this.#ids.map((_, i) => this.#line(i));
      this.#sorted = this.#inIdOrder
        ? lines
        : lines.sort((a, b) => compareIdInfos(idInfo(a.chitchatId), idInfo(b.chitchatId)));
    }
    return this.#sorted;
  }

  /** Line indexes in id order (the wire order), without building line objects. */
  #idOrder(): readonly number[] {
    const order = this.#ids.map((_, i) => i);
    if (!this.#inIdOrder) {
      const ids = this.#ids;
      order.sort((a, b) => compareIdInfos(idInfo(ids[a]), idInfo(ids[b])));
    }
    return order;
  }

  /** Iterates over the lines in id order. */
  [Symbol.iterator](): Iterator<DigestEntry> {
    return this.entries()[Symbol.iterator]();
  }

  /** Size of the digest on the wire, in bytes. */
  get byteLength(): number {
    if (this.#byteLength < 0) {
      let length = LENGTH_PREFIX_BYTES;
      for (const id of this.#ids) length += digestLineBytes(idInfo(id).bytes.length);
      this.#byteLength = length;
    }
    return this.#byteLength;
  }
}

/** Package-internal access to digests (see {@linkcode DigestInternals}). */
export const digestInternals: DigestInternals = internals!;
