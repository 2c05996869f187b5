// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode ClusterState}: every node's state, and Scuttlebutt
 * reconciliation (digests and deltas) over it.
 *
 * @module
 */

import { compareIdInfos, idInfo, idKey, rememberId } from "./_chitchat_id_info.ts";
import { DeltaWriter } from "./wire/_delta_writer.ts";
import { shuffleRange } from "./_shuffle.ts";
import type { ChitchatId } from "./chitchat_id.ts";
import { type Clock, systemClock } from "./clock.ts";
import { Delta, type NodeDelta } from "./delta.ts";
import type { Digest } from "./digest.ts";
import { KeyChangeListeners } from "./_key_change_listeners.ts";
import { type Logger, silentLogger } from "./logger.ts";
import { type NodeState, nodeStateInternals as nodes } from "./node_state.ts";
import { digestInternals } from "./digest.ts";
import { deltaInternals } from "./delta.ts";
import { digestLineBytes, LENGTH_PREFIX_BYTES } from "./wire/wire_sizes.ts";
import { type RandomSource, systemRandom } from "./random.ts";
import { NO_LIMITS, type ResolvedLimits } from "./_limits.ts";
import type { ChitchatOptions } from "./chitchat_options.ts";
import { formatChitchatId } from "./chitchat_id.ts";

/** How many garbage-collected nodes are remembered, so peers lagging behind cannot resurrect them. */
export const GARBAGE_COLLECTED_NODE_HISTORY_SIZE = 500;

/**
 * What {@linkcode ClusterState.applyDelta} did.
 *
 * @example
 * ```ts
 * import { ClusterState } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = (port: number) => ({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const ours = new ClusterState();
 * ours.nodeStateOrInit(id(1)).set("color", "red");
 * ours.nodeStateOrInit(id(2)).set("color", "blue");
 * const theirs = new ClusterState();
 * theirs.nodeStateOrInit(id(1)); // they know node 1 only
 * const delta = ours.computeDelta(theirs.computeDigest(), 65_000);
 * const result = theirs.applyDelta(delta);
 * assert.deepStrictEqual(result, {
 *   reset: false,
 *   applied: 1,
 *   rejected: 0,
 *   invalid: 0,
 *   unknown: 1,
 *   own: 0,
 *   implausible: 0,
 *   oversized: 0,
 * });
 * assert(theirs.applyDelta(delta).rejected === 1); // nothing new the second time
 * ```
 */
export interface ApplyDeltaResult {
  /** Whether a node had to be reset (we were behind its tombstone collection). */
  readonly reset: boolean;
  /** Node deltas applied. */
  readonly applied: number;
  /** Node deltas refused by the acceptance rules (stale, from the future, inapplicable). */
  readonly rejected: number;
  /** Node deltas refused because they are inconsistent (versions out of order, bad values). */
  readonly invalid: number;
  /** Node deltas about nodes we do not know (ignored, as in the reference). */
  readonly unknown: number;
  /**
   * Node deltas about this cluster state's own node, refused: a node is the
   * only authority over its own state (the Rust crate applies them, so one
   * forged datagram rewrites a node everywhere).
   */
  readonly own: number;
  /** Node deltas whose max version jumps further than the node could have written since. */
  readonly implausible: number;
  /** Node deltas refused because they would take a node past its key-value or character caps. */
  readonly oversized: number;
}

/**
 * What the rest of the core may do to a cluster state beyond its public
 * API. Not re-exported by `mod.ts`.
 */
export interface ClusterStateInternals {
  /** The key-change subscribers shared by every node state. */
  listeners(cluster: ClusterState): KeyChangeListeners;
  /** Calls `visit` with our state (if any) for every line of a digest. */
  forEachDigestLine(
    cluster: ClusterState,
    digest: Digest,
    visit: (state: NodeState | undefined, index: number, key: string) => void,
  ): void;
  /** Makes `chitchatId` the node this state belongs to: deltas about it are refused. */
  setOwner(cluster: ClusterState, chitchatId: ChitchatId): void;
  /** Sets the caps of the node states created from now on. */
  setLimits(cluster: ClusterState, limits: ResolvedLimits): void;
  /**
   * {@linkcode ClusterState.computeDelta} for a windowed digest: only the
   * nodes whose ids fall within the digest's smallest and largest ids are
   * compared (see lib/core/wire/WIRE.md, "Windowed digests").
   */
  computeDeltaInWindow(
    cluster: ClusterState,
    peerDigest: Digest,
    budgetBytes: number,
    excluded: Iterable<ChitchatId>,
  ): Delta;
}

let internals: ClusterStateInternals;

interface StaleNode {
  readonly state: NodeState;
  readonly fromVersionExcluded: number;
  readonly unknown: boolean;
  /** Max version for unknown nodes (lower first), stale count for known ones (higher first). */
  readonly score: number;
}

function comparePriority(a: StaleNode, b: StaleNode): number {
  if (a.unknown !== b.unknown) return a.unknown ? -1 : 1;
  return a.unknown ? a.score - b.score : b.score - a.score;
}

/**
 * The states of every node this node knows about, with Scuttlebutt
 * reconciliation: {@linkcode ClusterState.computeDigest},
 * {@linkcode ClusterState.computeDelta} and {@linkcode ClusterState.applyDelta}.
 *
 * @example Bringing a peer up to date
 * ```ts
 * import { ClusterState, Digest } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = { nodeId: "a", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7001 } };
 * const ours = new ClusterState();
 * ours.nodeStateOrInit(id).set("color", "red");
 *
 * const theirs = new ClusterState();
 * theirs.nodeStateOrInit(id); // a peer learns of a node from a digest first
 * const delta = ours.computeDelta(theirs.computeDigest(), 65_503);
 * theirs.applyDelta(delta);
 * assert(theirs.nodeState(id)?.get("color") === "red");
 * assert(ours.computeDelta(theirs.computeDigest(), 65_503).isEmpty);
 * ```
 */
export class ClusterState {
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #listeners: KeyChangeListeners;
  readonly #logger: Logger;
  readonly #nodes = new Map<string, NodeState>();
  // Node states in id order. New nodes wait in #added and are merged in on
  // the next read: a digest can introduce a thousand nodes at once, and
  // readers walking the previous array keep a consistent snapshot.
  #sortedStates: readonly NodeState[] = [];
  #added: NodeState[] = [];
  // The ids and keys of #sorted(), for digests (rebuilt when membership changes).
  #digestIds: readonly ChitchatId[] | undefined;
  #digestKeys: readonly string[] | undefined;
  #digestIdBytes = 0;
  readonly #garbageCollected = new Map<string, number>();
  #ownerKey: string | undefined;
  #limits: ResolvedLimits = NO_LIMITS;
  #historySize = GARBAGE_COLLECTED_NODE_HISTORY_SIZE;

  /**
   * Creates an empty cluster state.
   *
   * @param options Clock, random source, listeners, logger.
   */
  constructor(options: ChitchatOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#listeners = new KeyChangeListeners(options.logger);
    this.#logger = options.logger ?? silentLogger;
  }

  static {
    internals = {
      listeners: (cluster) => cluster.#listeners,
      forEachDigestLine(cluster, digest, visit) {
        cluster.#forEachDigestLine(digest, visit);
      },
      setOwner(cluster, chitchatId) {
        cluster.#ownerKey = idKey(chitchatId);
      },
      setLimits(cluster, limits) {
        cluster.#limits = limits;
        // Forgotten unconfirmed nodes must not be taught back by peers that
        // still hold them: remember as many as can be known at once.
        cluster.#historySize = Math.max(GARBAGE_COLLECTED_NODE_HISTORY_SIZE, limits.maxNodes);
      },
      computeDeltaInWindow(cluster, peerDigest, budgetBytes, excluded) {
        const [from, to] = cluster.#windowRange(peerDigest);
        return cluster.#computeDelta(peerDigest, budgetBytes, excluded, from, to);
      },
    };
  }

  /** Number of nodes. */
  get size(): number {
    return this.#nodes.size;
  }

  /**
   * The state of a node: of that exact id, or, given a node id alone, of
   * its newest generation known here.
   *
   * @param node The node's id, or its `nodeId`.
   * @returns Its state, or `undefined` if unknown.
   */
  nodeState(node: ChitchatId | string): NodeState | undefined {
    if (typeof node !== "string") return this.#nodes.get(idKey(node));
    let newest: NodeState | undefined;
    for (const state of this.#sorted()) {
      if (state.chitchatId.nodeId !== node) continue;
      if (newest === undefined || state.chitchatId.generationId > newest.chitchatId.generationId) {
        newest = state;
      }
    }
    return newest;
  }

  /** The node states in id order, with the nodes added since the last read merged in. */
  #sorted(): readonly NodeState[] {
    if (this.#added.length > 0) {
      const added = this.#added.sort((a, b) => compareIdInfos(nodes.idInfo(a), nodes.idInfo(b)));
      const current = this.#sortedStates;
      const merged: NodeState[] = [];
      let i = 0;
      let j = 0;
      while (i < current.length || j < added.length) {
        if (
          j === added.length ||
          (i < current.length &&
            compareIdInfos(nodes.idInfo(current[i]), nodes.idInfo(added[j])) < 0)
        ) {
          merged.push(current[i++]);
        } else {
          merged.push(added[j++]);
        }
      }
      this.#sortedStates = merged;
      this.#added = [];
    }
    return this.#sortedStates;
  }

  /** Id keys of the sorted states (and their ids and digest bytes), rebuilt when the membership changes. */
  #sortedKeys(): readonly string[] {
    if (this.#digestKeys === undefined) {
      const sorted = this.#sorted();
      this.#digestIds = sorted.map((state) => state.chitchatId);
      this.#digestKeys = sorted.map((state) => nodes.idInfo(state).key);
      this.#digestIdBytes = sorted.reduce(
        (n, state) => n + digestLineBytes(nodes.idInfo(state).bytes.length),
        0,
      );
    }
    return this.#digestKeys;
  }

  /**
   * Calls `visit` with our state (if any) for every line of a digest.
   * Lines usually come in our id order, so the walk follows our sorted
   * states and looks up only on a mismatch.
   */
  #forEachDigestLine(
    digest: Digest,
    visit: (state: NodeState | undefined, index: number, key: string) => void,
  ): void {
    const keys = digestInternals.keys(digest);
    const sorted = this.#sorted();
    const ours = this.#sortedKeys();
    let next = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      let state: NodeState | undefined;
      if (ours[next] === key) {
        state = sorted[next++];
      } else if (ours[next + 1] === key) {
        // We know one node the peer does not list: step over it.
        state = sorted[next + 1];
        next += 2;
      } else {
        state = this.#nodes.get(key);
      }
      visit(state, i, key);
    }
  }

  /**
   * Every node state, in id order.
   *
   * @returns The states.
   */
  nodeStates(): readonly NodeState[] {
    return this.#sorted();
  }

  /**
   * Returns the state of a node, creating an empty one if needed (this
   * also forgets that the node was garbage collected).
   *
   * @param chitchatId The node.
   * @returns Its state.
   * @throws {TypeError} or {RangeError} if the id is invalid.
   */
  nodeStateOrInit(chitchatId: ChitchatId): NodeState {
    const info = idInfo(chitchatId);
    const existing = this.#nodes.get(info.key);
    if (existing !== undefined) return existing;
    this.#garbageCollected.delete(info.key);
    rememberId(info.id);
    const state = nodes.create(info.id, this.#clock, this.#listeners, this.#limits);
    this.#nodes.set(info.key, state);
    this.#added.push(state);
    this.#digestKeys = undefined;
    return state;
  }

  /**
   * Removes a node and remembers it (with its last heartbeat) among the
   * last {@linkcode GARBAGE_COLLECTED_NODE_HISTORY_SIZE} removed nodes.
   *
   * @param chitchatId The node.
   */
  removeNode(chitchatId: ChitchatId): void {
    const key = idKey(chitchatId);
    const state = this.#nodes.get(key);
    if (state === undefined) return;
    this.#nodes.delete(key);
    this.#sortedStates = this.#sortedStates.filter((other) => other !== state);
    this.#added = this.#added.filter((other) => other !== state);
    this.#digestKeys = undefined;
    this.#garbageCollected.delete(key);
    this.#garbageCollected.set(key, state.heartbeat);
    if (this.#garbageCollected.size > this.#historySize) {
      this.#garbageCollected.delete(this.#garbageCollected.keys().next().value!);
    }
  }

  /**
   * The last heartbeat of a node that was garbage collected recently.
   *
   * @param chitchatId The node.
   * @returns Its heartbeat when removed, or `undefined` if it was not removed recently.
   */
  lastHeartbeatIfDeleted(chitchatId: ChitchatId): number | undefined {
    return this.#garbageCollected.get(idKey(chitchatId));
  }

  /**
   * Summarizes every node (but `excluded` ones) for a peer.
   *
   * @param excluded Nodes to leave out (those scheduled for deletion).
   * @returns The digest, in id order.
   */
  computeDigest(excluded: Iterable<ChitchatId> = []): Digest {
    const skip = keySet(excluded);
    const sorted = this.#sorted();
    let ids: readonly ChitchatId[];
    let keys: readonly string[];
    const numbers: number[] = [];
    let byteLength = LENGTH_PREFIX_BYTES;
    if (skip === undefined) {
      // Reuse the id and key arrays until the membership changes.
      keys = this.#sortedKeys();
      ids = this.#digestIds!;
      byteLength += this.#digestIdBytes;
      for (const state of sorted) {
        numbers.push(state.heartbeat, state.lastGcVersion, state.maxVersion);
      }
    } else {
      const someIds: ChitchatId[] = [];
      const someKeys: string[] = [];
      for (const state of sorted) {
        const info = nodes.idInfo(state);
        if (skip.has(info.key)) continue;
        someIds.push(state.chitchatId);
        someKeys.push(info.key);
        numbers.push(state.heartbeat, state.lastGcVersion, state.maxVersion);
        byteLength += digestLineBytes(info.bytes.length);
      }
      ids = someIds;
      keys = someKeys;
    }
    return digestInternals.fromArrays(ids, keys, numbers, true, byteLength);
  }

  /**
   * Builds the delta a peer with digest `peerDigest` is missing, in the
   * reference's priority order and cut to fit `mtu` bytes: nodes the peer
   * does not know first (lowest max version first), then the nodes with
   * the most stale key-values; ties in random order. A peer behind one of
   * our tombstone collections gets a reset for that node.
   *
   * @param peerDigest The peer's digest.
   * @param budgetBytes Budget for the delta's bytes (the datagram minus the envelope and digest).
   * @param excluded Nodes not to send (those scheduled for deletion).
   * @returns The delta; it is never longer than `budgetBytes`.
   */
  computeDelta(
    peerDigest: Digest,
    budgetBytes: number,
    excluded: Iterable<ChitchatId> = [],
  ): Delta {
    return this.#computeDelta(peerDigest, budgetBytes, excluded, 0, this.#sorted().length);
  }

  /**
   * The range `[from, to)` of our sorted states whose ids fall within the
   * smallest and largest ids of `digest` (empty for an empty digest). The
   * bounds are taken over every line, not the first and last: a peer that
   * does not sort its lines must not widen or shrink its window by it.
   */
  #windowRange(digest: Digest): [number, number] {
    const ids = digestInternals.ids(digest);
    if (ids.length === 0) return [0, 0];
    let low = idInfo(ids[0]);
    let high = low;
    for (let i = 1; i < ids.length; i++) {
      const info = idInfo(ids[i]);
      if (compareIdInfos(info, low) < 0) low = info;
      else if (compareIdInfos(info, high) > 0) high = info;
    }
    const sorted = this.#sorted();
    // First state at or above `low`, first state above `high`.
    const search = (bound: typeof low, strict: boolean): number => {
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const order = compareIdInfos(nodes.idInfo(sorted[mid]), bound);
        if (order < 0 || (strict && order === 0)) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    return [search(low, false), search(high, true)];
  }

  #computeDelta(
    peerDigest: Digest,
    budgetBytes: number,
    excluded: Iterable<ChitchatId>,
    from: number,
    to: number,
  ): Delta {
    const skip = keySet(excluded);
    const stale: StaleNode[] = [];
    // Both sides are usually in id order with the same nodes: walk the
    // peer's lines alongside ours and fall back to a lookup on a mismatch.
    const peerKeys = digestInternals.keys(peerDigest);
    const peerNumbers = digestInternals.numbers(peerDigest);
    const ours = this.#sortedKeys();
    const sorted = this.#sorted();
    let next = 0;
    for (let i = from; i < to; i++) {
      const state = sorted[i];
      const key = ours[i];
      let line: number;
      if (peerKeys[next] === key) {
        line = next++;
      } else {
        line = digestInternals.indexOfKey(peerDigest, key);
      }
      if (skip !== undefined && skip.has(key)) continue;
      const peerMax = line === -1 ? 0 : peerNumbers[3 * line + 2];
      if (state.maxVersion <= peerMax) continue;
      const peerLastGc = line === -1 ? 0 : peerNumbers[3 * line + 1];
      const reset = peerLastGc < state.lastGcVersion && peerMax < state.lastGcVersion;
      const fromVersionExcluded = reset ? 0 : peerMax;
      const unknown = fromVersionExcluded === 0;
      stale.push({
        state,
        fromVersionExcluded,
        unknown,
        score: unknown ? state.maxVersion : nodes.staleCount(state, fromVersionExcluded),
      });
    }
    if (stale.length === 0) return Delta.empty;
    stale.sort(comparePriority);
    for (let start = 0; start < stale.length;) {
      let end = start + 1;
      while (end < stale.length && comparePriority(stale[start], stale[end]) === 0) end++;
      if (end - start > 1) shuffleRange(stale, start, end, this.#random);
      start = end;
    }

    const writer = new DeltaWriter(budgetBytes);
    const nodeDeltas: NodeDelta[] = [];
    for (const { state, fromVersionExcluded } of stale) {
      const idBytes = nodes.idInfo(state).bytes;
      if (!writer.tryAddNode(idBytes, state.lastGcVersion, fromVersionExcluded)) break;
      const { entries, from, arena } = nodes.staleEntries(state, fromVersionExcluded);
      let end = from;
      let full = false;
      if (arena !== undefined) {
        const offsets = arena.offsets;
        for (; end < entries.length; end++) {
          const start = offsets[end];
          const stop = offsets[end + 1];
          if (!writer.fits(stop - start)) {
            full = true;
            break;
          }
          writer.append(arena.bytes, start, stop);
        }
      } else {
        // A small node: each entry keeps its own encoding.
        for (; end < entries.length; end++) {
          const op = entries[end].encoded();
          if (!writer.fits(op.length)) {
            full = true;
            break;
          }
          writer.append(op, 0, op.length);
        }
      }
      let maxVersion = 0;
      if (end > from) {
        maxVersion = entries[end - 1].version;
      } else if (!full && writer.trySetMaxVersion(state.maxVersion)) {
        // No key-value left to send (all collected): carry the max version alone.
        maxVersion = state.maxVersion;
      }
      nodeDeltas.push({
        chitchatId: state.chitchatId,
        fromVersionExcluded,
        lastGcVersion: state.lastGcVersion,
        keyValues: entries.slice(from, end),
        maxVersion,
      });
      if (full) break;
    }
    return deltaInternals.withEncoding(nodeDeltas, writer.finish());
  }

  /**
   * Applies a peer's delta to the nodes we know (deltas about unknown nodes
   * are ignored). A node delta is refused when it comes from the future
   * (`fromVersionExcluded` above our max version), brings nothing new, or
   * needs a reset it does not allow; it resets our copy first when the
   * peer collected tombstones we never saw. Versions we already have and
   * deletions already collected are skipped. Inconsistent node deltas are
   * refused and logged, never trusted: a node's `(lastGcVersion,
   * maxVersion)` never decreases.
   *
   * @param delta The delta.
   * @returns What was applied, and whether a reset happened.
   */
  applyDelta(delta: Delta): ApplyDeltaResult {
    let reset = false;
    let applied = 0;
    let rejected = 0;
    let invalid = 0;
    let unknown = 0;
    let own = 0;
    let implausible = 0;
    let oversized = 0;
    for (const nodeDelta of delta.nodeDeltas) {
      const key = idKey(nodeDelta.chitchatId);
      if (key === this.#ownerKey) {
        own++;
        continue;
      }
      const state = this.#nodes.get(key);
      if (state === undefined) {
        unknown++;
        continue;
      }
      const problem = validateNodeDelta(nodeDelta);
      if (problem !== undefined) {
        invalid++;
        this.#logger.warn("Dropped an invalid node delta", {
          node: formatChitchatId(nodeDelta.chitchatId),
          reason: problem,
        });
        continue;
      }
      const beforeGc = state.lastGcVersion;
      const beforeMax = state.maxVersion;
      const application = nodes.applyDelta(state, nodeDelta);
      if (application === "rejected") {
        rejected++;
        continue;
      }
      if (application === "oversized") {
        oversized++;
        continue;
      }
      if (application === "implausible") {
        implausible++;
        this.#logger.debug("Refused a node delta: its max version jumps further than plausible", {
          node: formatChitchatId(nodeDelta.chitchatId),
          ours: state.maxVersion,
          theirs: nodeDelta.maxVersion,
        });
        continue;
      }
      applied++;
      if (application === "appliedAfterReset") {
        reset = true;
        this.#logger.info("Reset a node state after the peer's tombstone collection", {
          node: formatChitchatId(nodeDelta.chitchatId),
          lastGcVersion: nodeDelta.lastGcVersion,
        });
      }
      const after = state.lastGcVersion > beforeGc ||
        (state.lastGcVersion === beforeGc && state.maxVersion >= beforeMax);
      if (!after) {
        // Unreachable by construction; reported rather than asserted.
        this.#logger.error("Node state went backwards applying a delta", {
          node: formatChitchatId(nodeDelta.chitchatId),
        });
      }
    }
    return { reset, applied, rejected, invalid, unknown, own, implausible, oversized };
  }

  /**
   * Collects, on every node, the tombstones and TTL'd keys older than the
   * grace period.
   *
   * @param gracePeriodMs How long deletions are kept.
   */
  gcKeysMarkedForDeletion(gracePeriodMs: number): void {
    for (const state of this.#sorted()) nodes.collectGarbage(state, gracePeriodMs);
  }
}

function keySet(ids: Iterable<ChitchatId>): Set<string> | undefined {
  let keys: Set<string> | undefined;
  for (const id of ids) (keys ??= new Set()).add(idKey(id));
  return keys;
}

function isVersion(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Why a node delta cannot be trusted, or `undefined` if it is consistent. */
function validateNodeDelta(delta: NodeDelta): string | undefined {
  if (!isVersion(delta.fromVersionExcluded)) return "invalid fromVersionExcluded";
  if (!isVersion(delta.lastGcVersion)) return "invalid lastGcVersion";
  if (!isVersion(delta.maxVersion)) return "invalid maxVersion";
  let previous = 0;
  for (const mutation of delta.keyValues) {
    if (!isVersion(mutation.version) || mutation.version <= previous) {
      return "key-value versions not strictly increasing";
    }
    if (typeof mutation.key !== "string" || typeof mutation.value !== "string") {
      return "key or value is not a string";
    }
    if (
      mutation.status !== "set" && mutation.status !== "deleted" &&
      mutation.status !== "deleteAfterTtl"
    ) {
      return "invalid deletion status";
    }
    previous = mutation.version;
  }
  if (delta.maxVersion < previous) return "maxVersion below the last key-value version";
  return undefined;
}

/** Package-internal access to cluster states (see {@linkcode ClusterStateInternals}). */
export const clusterStateInternals: ClusterStateInternals = internals!;
