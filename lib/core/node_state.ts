// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode NodeState}: the replicated key-values of one node.
 *
 * @module
 */

import { MAX_WIRE_STRING_BYTES, utf8ByteLength } from "./wire/_binary.ts";
import {
  keyValueOpBytes,
  MAX_DATAGRAM_BYTES,
  MESSAGE_HEADER_BYTES,
  nodeOpBytes,
  worstBlockStreamBytes,
} from "./wire/wire_sizes.ts";
import { type IdInfo, idInfo } from "./_chitchat_id_info.ts";
import { KeyValueArena } from "./_key_value_arena.ts";
import { EntryIndex } from "./_entry_index.ts";
import { KeyValueEntry } from "./_key_value_entry.ts";
import type { LivenessRecord } from "./_liveness_record.ts";
import { compareUtf8 } from "./_utf8_order.ts";
import type { ChitchatId } from "./chitchat_id.ts";
import { type Clock, systemClock } from "./clock.ts";
import { KeyChangeListeners } from "./_key_change_listeners.ts";
import type { NodeDelta } from "./delta.ts";
import type { VersionedValue } from "./versioned_value.ts";
import { NO_LIMITS, type ResolvedLimits } from "./_limits.ts";
import {
  allowedGrowth,
  HEARTBEAT_RATE_PER_S,
  HEARTBEAT_REBASE_AFTER_MS,
  HEARTBEAT_REBASE_REPORTS,
  HEARTBEAT_SLACK,
  MAX_FIRST_SIGHT,
  MAX_OWN_COUNTER,
  VERSION_RATE_PER_S,
  VERSION_SLACK,
} from "./_plausibility.ts";

/** Nodes with fewer key-values encode them for each delta instead of caching the bytes. */
const ARENA_MIN_ENTRIES = 32;

/**
 * Keys under this prefix belong to the protocol: users cannot write them.
 * The Rust crate reserves nothing, so on the wire they are ordinary keys.
 */
const RESERVED_KEY_PREFIX = "__chitchat:";

/** The leave mark: a node that holds it visible is leaving the cluster. */
const LEAVING_KEY = "__chitchat:leaving";

/**
 * How a node delta relates to our copy of the node: `implausible` when its
 * max version jumps further than the node could have written since.
 */
export type DeltaApplication =
  | "rejected"
  | "applied"
  | "appliedAfterReset"
  | "implausible"
  | "oversized";

/**
 * What a heartbeat seen in a digest did: `first` (the first one, not an
 * update, as in the reference), `update`, `stale` (not above ours),
 * `implausible` (a jump no node can make: refused), or `rebased` (ours was
 * frozen by an earlier forged jump and follows the node's real one again).
 */
export type HeartbeatObservation = "first" | "update" | "stale" | "implausible" | "rebased";

/**
 * What the rest of the core may do to a node state beyond its public API:
 * the gossip machinery's bookkeeping. Not re-exported by `mod.ts`, so users
 * see only the public type.
 */
export interface NodeStateInternals {
  /** Creates a state that announces its changes to `listeners`. */
  create(
    chitchatId: ChitchatId,
    clock: Clock,
    listeners: KeyChangeListeners,
    limits: ResolvedLimits,
  ): NodeState;
  /** Characters of keys and values held (tombstones included). */
  stateChars(state: NodeState): number;
  /** UTF-8 bytes of keys and values held (tombstones included), computed once per change. */
  stateBytes(state: NodeState): number;
  /** The failure detector's record of the node, cached by `Chitchat`. */
  liveness(state: NodeState): LivenessRecord | undefined;
  /** Caches the failure detector's record of the node. */
  setLiveness(state: NodeState, record: LivenessRecord): void;
  /** The wire encoding of the node's id. */
  idInfo(state: NodeState): IdInfo;
  /** Number of entries (tombstones included) with a version above `floor`. */
  staleCount(state: NodeState, floor: number): number;
  /**
   * The entries above `floor` in version order and, for nodes with many
   * key-values, the arena caching their encoded operations (entry `i`
   * spans `offsets[i]..offsets[i + 1]`).
   */
  staleEntries(state: NodeState, floor: number): StaleEntries;
  /** Bumps the heartbeat (own node only). */
  incrementHeartbeat(state: NodeState): void;
  /** Records a heartbeat seen in a digest, within the plausibility bounds. */
  observeHeartbeat(state: NodeState, heartbeat: number, nowMs?: number): HeartbeatObservation;
  /**
   * Moves this node's own max version up to `claimed` (a version of it that
   * peers hold: a forgery or state from before a restart), so that its next
   * write wins everywhere; refused beyond the plausibility bound.
   */
  catchUpMaxVersion(state: NodeState, claimed: number): boolean;
  /** Applies a node delta already validated by the caller; returns how it was applied. */
  applyDelta(state: NodeState, delta: NodeDelta): DeltaApplication;
  /**
   * Replaces the key-values with an out-of-band snapshot (see
   * `Chitchat.resetNodeState`): newer values are stored and notified, keys
   * absent from the snapshot are dropped without a tombstone.
   */
  replaceWith(
    state: NodeState,
    keyValues: Iterable<readonly [string, VersionedValue]>,
    maxVersion: number,
    lastGcVersion: number,
  ): void;
  /** Collects tombstones and TTL'd keys whose grace period has elapsed. */
  collectGarbage(state: NodeState, gracePeriodMs: number): void;
  /** Whether the node holds a visible leave mark (`__chitchat:leaving`). */
  leaving(state: NodeState): boolean;
  /** Writes the leave mark on this node's own state; returns its version. */
  markLeaving(state: NodeState): number;
  /**
   * Writes a tombstone of the leave mark, known or not: after a
   * same-generation restart, peers may still hold a mark this process
   * never saw, and only a newer tombstone clears it there.
   */
  clearLeaving(state: NodeState): void;
  /**
   * Sets the largest message the node's writes must fit (own node only):
   * less than a datagram when the runtime seals datagrams.
   */
  setMaxMessageBytes(state: NodeState, bytes: number): void;
}

/** The result of {@linkcode NodeStateInternals.staleEntries}. */
export interface StaleEntries {
  /** Every entry, in version order. */
  readonly entries: KeyValueEntry[];
  /** Index of the first entry above the floor. */
  readonly from: number;
  /** Encoded operations of `entries`, for nodes with many key-values. */
  readonly arena: KeyValueArena | undefined;
}

let internals: NodeStateInternals;

/**
 * The state of one node as this node knows it: versioned key-values, a
 * heartbeat, the node's max version and the version of its last tombstone
 * collection. A node writes only its own state; the others are replicas
 * kept up to date by gossip.
 *
 * @example
 * ```ts
 * import { NodeState } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const state = new NodeState({ nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7280 } });
 * state.set("role", "searcher");
 * state.set("zone", "eu-west-1");
 * state.delete("zone");
 * assert(state.get("role") === "searcher");
 * assert(state.get("zone") === undefined);
 * assert(state.maxVersion === 3);
 * assert.deepStrictEqual([...state.keyValues()], [["role", "searcher"]]);
 * assert.deepStrictEqual([...state.iterPrefix("ro")], [["role", "searcher"]]);
 * assert(!state.delete("zone")); // already deleted: no new version
 * assert(state.maxVersion === 3);
 * ```
 */
export class NodeState {
  /**
   * The prefix of the keys the protocol writes (the leave mark,
   * `__chitchat:leaving`): `set`, `setWithTtl`, `delete` and
   * `deleteAfterTtl` refuse them. Peers store and replicate such keys like
   * any other; a visible `__chitchat:leaving` means the node is leaving.
   */
  static readonly RESERVED_KEY_PREFIX: string = RESERVED_KEY_PREFIX;

  // The two fields read for every digest line come first, so that they
  // share a cache line.
  #heartbeat = 0;
  #liveness: LivenessRecord | undefined;
  /** The node this state belongs to (canonical form). */
  readonly chitchatId: ChitchatId;
  readonly #info: IdInfo;
  readonly #clock: Clock;
  #listeners: KeyChangeListeners;
  #maxVersion = 0;
  #lastGcVersion = 0;
  #entries = new EntryIndex();
  // Entries in version order, with superseded ones swept lazily (#holes).
  #byVersion: KeyValueEntry[] = [];
  #holes = 0;
  #liveCount = 0;
  #sortedKeys: string[] | undefined;
  #scheduledCount = 0;
  // Meaningful only while #scheduledCount > 0 (0 keeps the field unboxed until then).
  #earliestDeletionAtMs = 0;
  #arena: KeyValueArena | undefined;
  // Plausibility bookkeeping (see _plausibility.ts): when the heartbeat and
  // the max version last advanced from peer data, and the rising reports
  // below a frozen heartbeat.
  #heartbeatAtMs = 0;
  #versionAtMs = 0;
  #lowerHeartbeat = 0;
  #lowerReports = 0;
  #limits: ResolvedLimits = NO_LIMITS;
  #maxMessageBytes = MAX_DATAGRAM_BYTES;
  // Characters of every key and value held, tombstones included.
  #chars = 0;
  // Bumped whenever an entry is added or removed; `#bytes` is valid while
  // `#bytesAt` equals it.
  #changes = 0;
  #bytes = 0;
  #bytesAt = 0;
  // Whether the leave mark is visible: read for every node each round.
  #leaving = false;

  /**
   * Creates an empty state (heartbeat 0, max version 0).
   *
   * @param chitchatId The node the state belongs to.
   * @param options `clock`: the time source of tombstones and TTLs
   * (default: `performance.now()`).
   * @throws {TypeError} or {RangeError} if the id is invalid.
   */
  constructor(chitchatId: ChitchatId, options: { readonly clock?: Clock } = {}) {
    this.#info = idInfo(chitchatId);
    this.chitchatId = this.#info.id;
    this.#clock = options.clock ?? systemClock;
    this.#listeners = new KeyChangeListeners();
    this.#versionAtMs = this.#clock.now();
  }

  static {
    internals = {
      create(chitchatId, clock, listeners, limits) {
        const state = new NodeState(chitchatId, { clock });
        state.#listeners = listeners;
        state.#limits = limits;
        return state;
      },
      stateChars: (state) => state.#chars,
      stateBytes(state) {
        // Counted on demand, not on every write: the hot path (applying a
        // delta) only keeps `#chars`, which the limits need.
        if (state.#bytesAt !== state.#changes) {
          let bytes = 0;
          for (const entry of state.#entries.values()) {
            bytes += utf8ByteLength(entry.key) + utf8ByteLength(entry.value);
          }
          state.#bytes = bytes;
          state.#bytesAt = state.#changes;
        }
        return state.#bytes;
      },
      setMaxMessageBytes(state, bytes) {
        state.#maxMessageBytes = bytes;
      },
      liveness: (state) => state.#liveness,
      setLiveness(state, record) {
        state.#liveness = record;
      },
      idInfo: (state) => state.#info,
      staleCount: (state, floor) => state.#staleCount(floor),
      staleEntries: (state, floor) => state.#staleEntries(floor),
      incrementHeartbeat(state) {
        if (state.#heartbeat < MAX_OWN_COUNTER) state.#heartbeat++;
      },
      observeHeartbeat: (state, heartbeat, nowMs) =>
        state.#observeHeartbeat(heartbeat, nowMs ?? state.#clock.now()),
      catchUpMaxVersion(state, claimed) {
        if (claimed <= state.#maxVersion) return false;
        const now = state.#clock.now();
        const allowed = allowedGrowth(VERSION_RATE_PER_S, VERSION_SLACK, now - state.#versionAtMs);
        if (claimed - state.#maxVersion > allowed || claimed >= MAX_OWN_COUNTER) return false;
        state.#maxVersion = claimed;
        state.#versionAtMs = now;
        return true;
      },
      applyDelta: (state, delta) => state.#applyDelta(delta),
      replaceWith(state, keyValues, maxVersion, lastGcVersion) {
        state.#replaceWith(keyValues, maxVersion, lastGcVersion);
      },
      collectGarbage(state, gracePeriodMs) {
        state.#collectGarbage(gracePeriodMs);
      },
      leaving: (state) => state.#leaving,
      markLeaving(state) {
        const mark = state.#entries.get(LEAVING_KEY);
        if (mark !== undefined && mark.status === "set") return mark.version;
        state.#checkVersion();
        state.#store(new KeyValueEntry(LEAVING_KEY, "true", state.#maxVersion + 1, "set", 0));
        return state.#maxVersion;
      },
      clearLeaving(state) {
        state.#checkVersion();
        state.#store(
          new KeyValueEntry(LEAVING_KEY, "", state.#maxVersion + 1, "deleted", state.#clock.now()),
        );
      },
    };
  }

  /** The node's heartbeat: it grows while the node is alive. */
  get heartbeat(): number {
    return this.#heartbeat;
  }

  /** The greatest version of any write of this node known here. */
  get maxVersion(): number {
    return this.#maxVersion;
  }

  /**
   * The greatest version whose tombstone was garbage collected: peers that
   * know less than this need a reset.
   */
  get lastGcVersion(): number {
    return this.#lastGcVersion;
  }

  /** Number of visible key-values (tombstones excluded; TTL'd keys included). */
  get size(): number {
    return this.#liveCount;
  }

  /**
   * Returns a visible value.
   *
   * @param key The key.
   * @returns The value, or `undefined` if absent or deleted.
   */
  get(key: string): string | undefined {
    const entry = this.#entries.get(key);
    return entry === undefined || entry.status === "deleted" ? undefined : entry.value;
  }

  /**
   * Returns a value with its version and status, tombstones included.
   *
   * @param key The key.
   * @returns The versioned value, or `undefined` if the key is unknown.
   */
  getVersioned(key: string): VersionedValue | undefined {
    return this.#entries.get(key);
  }

  /**
   * Whether a visible value exists for `key`.
   *
   * @param key The key.
   * @returns `true` if `get(key)` would return a value.
   */
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /**
   * Iterates over the visible key-values in key order (UTF-8 byte order).
   *
   * @returns `[key, value]` pairs.
   */
  *keyValues(): IterableIterator<[string, string]> {
    for (const key of this.#keys()) {
      const entry = this.#entries.get(key)!;
      if (entry.status !== "deleted") yield [key, entry.value];
    }
  }

  /**
   * Iterates over every key-value in key order, tombstones included.
   *
   * @returns `[key, versionedValue]` pairs.
   */
  *keyValuesIncludingDeleted(): IterableIterator<[string, VersionedValue]> {
    for (const key of this.#keys()) yield [key, this.#entries.get(key)!];
  }

  /**
   * Iterates over the visible key-values whose key starts with `prefix`, in
   * key order: the same `[key, value]` pairs as {@linkcode NodeState.keyValues},
   * filtered (use `getVersioned` for versions).
   *
   * @param prefix The key prefix.
   * @returns `[key, value]` pairs (full keys).
   */
  *iterPrefix(prefix: string): IterableIterator<[string, string]> {
    const keys = this.#keys();
    let low = 0;
    let high = keys.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareUtf8(keys[mid], prefix) < 0) low = mid + 1;
      else high = mid;
    }
    for (let i = low; i < keys.length && keys[i].startsWith(prefix); i++) {
      const entry = this.#entries.get(keys[i])!;
      if (entry.status !== "deleted") yield [keys[i], entry.value];
    }
  }

  /**
   * Sets a value under a new version. Setting the value a key already has
   * is a no-op.
   *
   * @param key The key (at most 65,535 UTF-8 bytes).
   * @param value The value (at most 65,535 UTF-8 bytes).
   * @throws {TypeError} if key or value is not a string.
   * @throws {RangeError} if the key starts with {@linkcode NodeState.RESERVED_KEY_PREFIX}, key or value is over 65,535 bytes, the pair cannot fit one datagram, or this node's versions reached 2^52.
   */
  set(key: string, value: string): void {
    this.#checkWrite(key, value);
    const previous = this.#entries.get(key);
    if (previous !== undefined && previous.status === "set" && previous.value === value) return;
    this.#store(new KeyValueEntry(key, value, this.#maxVersion + 1, "set", 0));
  }

  /**
   * Sets a value that stays visible until the grace period
   * (`markedForDeletionGracePeriodMs`) has elapsed, then is collected.
   *
   * @param key The key.
   * @param value The value.
   * @throws {TypeError} if key or value is not a string.
   * @throws {RangeError} if the key starts with {@linkcode NodeState.RESERVED_KEY_PREFIX}, key or value is over 65,535 bytes, the pair cannot fit one datagram, or this node's versions reached 2^52.
   */
  setWithTtl(key: string, value: string): void {
    this.#checkWrite(key, value);
    const previous = this.#entries.get(key);
    if (
      previous !== undefined && previous.status === "deleteAfterTtl" && previous.value === value
    ) {
      return;
    }
    this.#store(
      new KeyValueEntry(key, value, this.#maxVersion + 1, "deleteAfterTtl", this.#clock.now()),
    );
  }

  /**
   * Deletes a key: readers stop seeing it at once; a tombstone replicates
   * the deletion and is collected after the grace period.
   *
   * @param key The key; an unknown or already deleted key is left alone.
   * @returns `true` if a visible key was deleted, `false` (and no new version) otherwise.
   * @throws {RangeError} if the key starts with {@linkcode NodeState.RESERVED_KEY_PREFIX}.
   */
  delete(key: string): boolean {
    checkNotReserved(key);
    const previous = this.#entries.get(key);
    if (previous === undefined || previous.status === "deleted") return false;
    this.#checkVersion();
    this.#store(new KeyValueEntry(key, "", this.#maxVersion + 1, "deleted", this.#clock.now()));
    return true;
  }

  /**
   * Keeps a key visible for the grace period, then collects it.
   *
   * @param key The key; an unknown or deleted key is left alone.
   * @returns `true` if a visible key was scheduled, `false` (and no new version) otherwise.
   * @throws {RangeError} if the key starts with {@linkcode NodeState.RESERVED_KEY_PREFIX}.
   */
  deleteAfterTtl(key: string): boolean {
    checkNotReserved(key);
    const previous = this.#entries.get(key);
    if (previous === undefined || previous.status === "deleted") return false;
    this.#checkVersion();
    this.#store(
      new KeyValueEntry(
        key,
        previous.value,
        this.#maxVersion + 1,
        "deleteAfterTtl",
        this.#clock.now(),
      ),
    );
    return true;
  }

  /** Far below 2^53: peers must always be able to decode this node's versions. */
  #checkVersion(): void {
    if (this.#maxVersion + 1 >= MAX_OWN_COUNTER) {
      throw new RangeError(
        `Cannot write: version ${this.#maxVersion + 1} would reach ${MAX_OWN_COUNTER}`,
      );
    }
  }

  #checkWrite(key: string, value: string): void {
    this.#checkVersion();
    // Peers refuse a node beyond the caps: refuse the write that would cross them.
    const previous = this.#entries.get(key);
    if (previous === undefined && this.#entries.size >= this.#limits.maxKeyValuesPerNode) {
      throw new RangeError(
        `Cannot set key: this node holds ${this.#limits.maxKeyValuesPerNode} key-values (limits.maxKeyValuesPerNode)`,
      );
    }
    const chars = this.#chars - (previous === undefined ? 0 : key.length + previous.value.length) +
      key.length + value.length;
    if (chars > this.#limits.maxStateCharsPerNode) {
      throw new RangeError(
        `Cannot set key: this node's keys and values would exceed ${this.#limits.maxStateCharsPerNode} characters (limits.maxStateCharsPerNode)`,
      );
    }
    if (typeof key !== "string") throw new TypeError("Invalid key: expected a string");
    if (typeof value !== "string") throw new TypeError("Invalid value: expected a string");
    checkNotReserved(key);
    const keyBytes = utf8ByteLength(key);
    if (keyBytes > MAX_WIRE_STRING_BYTES) {
      throw new RangeError(
        `Cannot set key: length ${keyBytes} exceeds ${MAX_WIRE_STRING_BYTES} bytes`,
      );
    }
    const valueBytes = utf8ByteLength(value);
    if (valueBytes > MAX_WIRE_STRING_BYTES) {
      throw new RangeError(
        `Cannot set value: length ${valueBytes} exceeds ${MAX_WIRE_STRING_BYTES} bytes`,
      );
    }
    // A write must fit one datagram with its node header, or no peer could
    // ever receive it (and every later write of this node behind it).
    const raw = keyValueOpBytes(keyBytes, valueBytes) + nodeOpBytes(this.#info.bytes.length);
    const worst = MESSAGE_HEADER_BYTES + worstBlockStreamBytes(raw);
    if (worst > this.#maxMessageBytes) {
      throw new RangeError(
        `Cannot set key-value: ${
          keyBytes + valueBytes
        } bytes of key and value cannot fit one ${this.#maxMessageBytes}-byte datagram`,
      );
    }
  }

  #keys(): string[] {
    if (this.#sortedKeys === undefined) {
      this.#sortedKeys = this.#entries.keys().sort(compareUtf8);
    }
    return this.#sortedKeys;
  }

  /** Inserts `entry` if it is newer than what the key holds; returns whether it did. */
  #store(entry: KeyValueEntry): boolean {
    if (entry.version > this.#maxVersion) this.#maxVersion = entry.version;
    const previous = this.#entries.get(entry.key);
    if (previous !== undefined) {
      if (previous.version >= entry.version) return false;
      this.#forget(previous);
      this.#entries.set(entry);
    } else {
      this.#sortedKeys = undefined;
      this.#entries.add(entry);
    }
    this.#chars += entry.key.length + entry.value.length;
    this.#changes++;
    if (entry.key === LEAVING_KEY) this.#leaving = entry.status !== "deleted";
    const versions = this.#byVersion;
    if (versions.length === 0 || versions[versions.length - 1].version < entry.version) {
      versions.push(entry);
    } else {
      // Out-of-order versions only come from an out-of-band reset.
      let i = versions.length;
      while (i > 0 && versions[i - 1].version > entry.version) i--;
      versions.splice(i, 0, entry);
      this.#arena = undefined;
    }
    if (entry.status !== "deleted") this.#liveCount++;
    if (entry.status !== "set") {
      if (this.#scheduledCount === 0 || entry.deletionScheduledAtMs < this.#earliestDeletionAtMs) {
        this.#earliestDeletionAtMs = entry.deletionScheduledAtMs;
      }
      this.#scheduledCount++;
    }
    if (!this.#listeners.isEmpty) {
      this.#listeners.notify({
        key: entry.key,
        value: entry.value,
        version: entry.version,
        status: entry.status,
        node: this.chitchatId,
      });
    }
    return true;
  }

  /** Unlinks an entry from the indexes (not from the map). */
  #forget(entry: KeyValueEntry): void {
    this.#holes++;
    this.#chars -= entry.key.length + entry.value.length;
    this.#changes++;
    if (entry.status !== "deleted") this.#liveCount--;
    if (entry.status !== "set") this.#scheduledCount--;
    this.#arena = undefined;
  }

  /** The version-ordered entries, swept of superseded ones. */
  #versions(): KeyValueEntry[] {
    if (this.#holes > 0) {
      const entries = this.#entries;
      this.#byVersion = this.#byVersion.filter((entry) => entries.get(entry.key) === entry);
      this.#holes = 0;
    }
    return this.#byVersion;
  }

  /** Index of the first entry with a version above `floor`. */
  #firstAbove(versions: KeyValueEntry[], floor: number): number {
    let low = 0;
    let high = versions.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (versions[mid].version <= floor) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Number of entries (tombstones included) with a version above `floor`. */
  #staleCount(floor: number): number {
    const versions = this.#versions();
    return versions.length - this.#firstAbove(versions, floor);
  }

  /**
   * The entries above `floor` in version order and, for nodes with
   * many key-values, the arena caching their encoded operations (entry `i`
   * spans `offsets[i]..offsets[i + 1]`). Small nodes are cheaper to encode
   * on the fly than to cache: a simulation holds a million node states.
   */
  #staleEntries(floor: number): StaleEntries {
    const versions = this.#versions();
    let arena: KeyValueArena | undefined;
    if (versions.length >= ARENA_MIN_ENTRIES) {
      arena = this.#arena ??= new KeyValueArena();
      arena.sync(versions);
    }
    return { entries: versions, from: this.#firstAbove(versions, floor), arena };
  }

  /**
   * Records a heartbeat seen in a digest; returns whether it is an
   * update (the first one seen is not, as in the reference).
   */
  #observeHeartbeat(heartbeat: number, now: number): HeartbeatObservation {
    if (this.#heartbeat === 0) {
      if (heartbeat > MAX_FIRST_SIGHT) return "implausible";
      this.#heartbeat = heartbeat;
      this.#heartbeatAtMs = now;
      return "first";
    }
    if (heartbeat > this.#heartbeat) {
      const allowed = allowedGrowth(
        HEARTBEAT_RATE_PER_S,
        HEARTBEAT_SLACK,
        now - this.#heartbeatAtMs,
      );
      if (heartbeat - this.#heartbeat > allowed) return "implausible";
      this.#heartbeat = heartbeat;
      this.#heartbeatAtMs = now;
      this.#lowerReports = 0;
      this.#lowerHeartbeat = 0;
      return "update";
    }
    // A heartbeat that stopped while reports below it keep rising was
    // frozen by a forged jump that passed the bound: follow the node again.
    // Only reports arriving once it has been frozen for a while count, so a
    // dead node's lagging copies cannot revive it.
    if (heartbeat < this.#heartbeat && now - this.#heartbeatAtMs >= HEARTBEAT_REBASE_AFTER_MS) {
      if (heartbeat > this.#lowerHeartbeat) {
        this.#lowerHeartbeat = heartbeat;
        if (++this.#lowerReports >= HEARTBEAT_REBASE_REPORTS) {
          this.#heartbeat = heartbeat;
          this.#heartbeatAtMs = now;
          this.#lowerReports = 0;
          this.#lowerHeartbeat = 0;
          return "rebased";
        }
      }
    }
    return "stale";
  }

  /** Whether a node delta can be applied, following the reference's rules. */
  #classifyDelta(delta: NodeDelta): DeltaApplication {
    if (delta.fromVersionExcluded > this.#maxVersion) return "rejected"; // from the future
    if (this.#exceedsLimits(delta)) return "oversized";
    if (delta.maxVersion > this.#maxVersion) {
      const limit = this.#maxVersion === 0 ? MAX_FIRST_SIGHT : this.#maxVersion + allowedGrowth(
        VERSION_RATE_PER_S,
        VERSION_SLACK,
        this.#clock.now() - this.#versionAtMs,
      );
      if (delta.maxVersion > limit) return "implausible";
    }
    const compatibleWithoutReset = delta.lastGcVersion <= this.#lastGcVersion ||
      delta.lastGcVersion <= this.#maxVersion;
    if (!compatibleWithoutReset) {
      return delta.fromVersionExcluded === 0 ? "appliedAfterReset" : "rejected";
    }
    return this.#maxVersion < delta.maxVersion ? "applied" : "rejected";
  }

  /** Whether applying `delta` could take this node past its key-value or character caps. */
  #exceedsLimits(delta: NodeDelta): boolean {
    const limits = this.#limits;
    const mutations = delta.keyValues;
    if (limits === NO_LIMITS || mutations.length === 0) return false;
    const reset = delta.fromVersionExcluded === 0 && delta.lastGcVersion > this.#lastGcVersion;
    let entries = reset ? 0 : this.#entries.size;
    let chars = reset ? 0 : this.#chars;
    // First a bound that needs no lookup (every key new), then the exact count.
    let added = 0;
    for (let i = 0; i < mutations.length; i++) {
      added += mutations[i].key.length + mutations[i].value.length;
    }
    if (
      entries + mutations.length <= limits.maxKeyValuesPerNode &&
      chars + added <= limits.maxStateCharsPerNode
    ) {
      return false;
    }
    chars += added;
    for (const mutation of mutations) {
      const previous = reset ? undefined : this.#entries.get(mutation.key);
      if (previous === undefined) entries++;
      else chars -= previous.key.length + previous.value.length;
    }
    return entries > limits.maxKeyValuesPerNode || chars > limits.maxStateCharsPerNode;
  }

  /**
   * Applies a node delta already validated by the caller; returns
   * how it was applied.
   */
  #applyDelta(delta: NodeDelta): DeltaApplication {
    const application = this.#classifyDelta(delta);
    if (
      application === "rejected" || application === "implausible" || application === "oversized"
    ) {
      return application;
    }
    if (application === "appliedAfterReset") this.#reset(delta.lastGcVersion);
    const knownMax = this.#maxVersion;
    const now = this.#clock.now();
    for (const mutation of delta.keyValues) {
      if (mutation.version <= knownMax) continue;
      // A deletion at or below our GC horizon was already collected here.
      if (mutation.status !== "set" && mutation.version <= this.#lastGcVersion) continue;
      this.#store(
        mutation instanceof KeyValueEntry && mutation.status === "set"
          ? mutation
          : new KeyValueEntry(
            mutation.key,
            mutation.value,
            mutation.version,
            mutation.status,
            mutation.status === "set" ? 0 : now,
          ),
      );
    }
    this.#maxVersion = delta.maxVersion;
    this.#versionAtMs = now;
    return application;
  }

  /** Forgets every key-value and restarts from `lastGcVersion`. */
  #reset(lastGcVersion: number): void {
    this.#entries = new EntryIndex();
    this.#byVersion = [];
    this.#holes = 0;
    this.#liveCount = 0;
    this.#chars = 0;
    this.#changes++;
    this.#sortedKeys = undefined;
    this.#scheduledCount = 0;
    this.#earliestDeletionAtMs = 0;
    this.#arena = undefined;
    this.#maxVersion = 0;
    this.#lastGcVersion = lastGcVersion;
    this.#leaving = false;
  }

  /**
   * Replaces the key-values with an out-of-band snapshot (see
   * `Chitchat.resetNodeState`): newer values are stored and notified,
   * keys absent from the snapshot are dropped without a tombstone.
   */
  #replaceWith(
    keyValues: Iterable<readonly [string, VersionedValue]>,
    maxVersion: number,
    lastGcVersion: number,
  ): void {
    const now = this.#clock.now();
    const kept = new Set<string>();
    for (const [key, value] of keyValues) {
      kept.add(key);
      this.#store(
        new KeyValueEntry(
          key,
          value.value,
          value.version,
          value.status,
          value.status === "set" ? 0 : now,
        ),
      );
    }
    for (const entry of this.#entries.values()) {
      if (kept.has(entry.key)) continue;
      this.#forget(entry);
      this.#entries.delete(entry.key);
      this.#sortedKeys = undefined;
    }
    this.#recomputeEarliestDeletion();
    this.#maxVersion = Math.max(this.#maxVersion, maxVersion);
    this.#lastGcVersion = lastGcVersion;
    this.#leaving = this.has(LEAVING_KEY);
  }

  /**
   * Collects tombstones and TTL'd keys whose grace period has
   * elapsed, advancing `lastGcVersion`.
   */
  #collectGarbage(gracePeriodMs: number): void {
    if (this.#scheduledCount === 0) return;
    const now = this.#clock.now();
    if (now < this.#earliestDeletionAtMs + gracePeriodMs) return;
    let lastGc = this.#lastGcVersion;
    for (const entry of this.#entries.values()) {
      if (entry.status === "set" || now < entry.deletionScheduledAtMs + gracePeriodMs) continue;
      if (entry.version > lastGc) lastGc = entry.version;
      this.#forget(entry);
      this.#entries.delete(entry.key);
      this.#sortedKeys = undefined;
      if (entry.key === LEAVING_KEY) this.#leaving = false;
    }
    this.#lastGcVersion = lastGc;
    this.#recomputeEarliestDeletion();
  }

  #recomputeEarliestDeletion(): void {
    if (this.#scheduledCount === 0) {
      this.#earliestDeletionAtMs = 0;
      return;
    }
    let earliest = Infinity;
    for (const entry of this.#entries.values()) {
      if (entry.status !== "set" && entry.deletionScheduledAtMs < earliest) {
        earliest = entry.deletionScheduledAtMs;
      }
    }
    this.#earliestDeletionAtMs = earliest;
  }
}

function checkNotReserved(key: string): void {
  if (typeof key === "string" && key.startsWith(RESERVED_KEY_PREFIX)) {
    throw new RangeError(
      `Cannot write key "${key}": the prefix "${RESERVED_KEY_PREFIX}" is reserved for the protocol`,
    );
  }
}

/** Package-internal access to node states (see {@linkcode NodeStateInternals}). */
export const nodeStateInternals: NodeStateInternals = internals!;
