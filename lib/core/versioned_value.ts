// Copyright the chitchat for Deno authors. MIT license.
/**
 * Versioned values and their deletion status.
 *
 * @module
 */

/**
 * Where a key-value stands with regard to deletion:
 * - `"set"`: a live value;
 * - `"deleted"`: a tombstone (the value is gone, the key is hidden), collected after the grace period;
 * - `"deleteAfterTtl"`: still visible, collected after the grace period.
 *
 * On the wire these are the status codes 0, 1 and 2.
 *
 * @example
 * ```ts
 * import type { DeletionStatus } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const isVisible = (status: DeletionStatus): boolean => status !== "deleted";
 * assert(isVisible("deleteAfterTtl") && !isVisible("deleted"));
 * ```
 */
export type DeletionStatus = "set" | "deleted" | "deleteAfterTtl";

/**
 * A value with the version its owner gave it.
 *
 * @example
 * ```ts
 * import { NodeState } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const state = new NodeState({ nodeId: "n", generationId: 0n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 1 } });
 * state.set("role", "indexer");
 * const versioned = state.getVersioned("role");
 * assert(versioned?.value === "indexer" && versioned.version === 1 && versioned.status === "set");
 * ```
 */
export interface VersionedValue {
  /** The value (empty for a tombstone). */
  readonly value: string;
  /** The owner's version of this write; versions of one node are unique and increasing. */
  readonly version: number;
  /** Deletion status. */
  readonly status: DeletionStatus;
  /**
   * When this node learned of the deletion or TTL (its clock, in ms); the
   * grace period counts from here. `0` for `"set"`.
   */
  readonly deletionScheduledAtMs: number;
}

/**
 * A key-value write as carried in a delta.
 *
 * @example
 * ```ts
 * import { ClusterState } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = { nodeId: "a", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7001 } };
 * const ours = new ClusterState();
 * ours.nodeStateOrInit(id).set("k", "v");
 * const theirs = new ClusterState();
 * theirs.nodeStateOrInit(id);
 * const [nodeDelta] = ours.computeDelta(theirs.computeDigest(), 65_000).nodeDeltas;
 * const mutation = nodeDelta.keyValues[0];
 * assert.deepStrictEqual(
 *   { key: mutation.key, value: mutation.value, version: mutation.version, status: mutation.status },
 *   { key: "k", value: "v", version: 1, status: "set" },
 * );
 * ```
 */
export interface KeyValueMutation {
  /** The key. */
  readonly key: string;
  /** The value (empty for a tombstone). */
  readonly value: string;
  /** The owner's version of this write. */
  readonly version: number;
  /** Deletion status. */
  readonly status: DeletionStatus;
}
