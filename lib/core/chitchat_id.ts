// Copyright the chitchat for Deno authors. MIT license.
/**
 * Node identity: {@linkcode ChitchatId}.
 *
 * @module
 */

import { compareIdInfos, idInfo } from "./_chitchat_id_info.ts";
import { formatSocketAddress, type SocketAddress } from "./socket_address.ts";

/**
 * Identifies one incarnation of a node. A restarted node keeps its `nodeId`
 * and takes a greater `generationId` (the start time, typically), so peers
 * tell the new incarnation from the old one.
 *
 * @example
 * ```ts
 * import { Chitchat, chitchatIdsEqual, type ChitchatId } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const first: ChitchatId = {
 *   nodeId: "indexer-1",
 *   generationId: 1_700_000_000n,
 *   gossipAdvertiseAddr: { hostname: "10.0.0.7", port: 7280 },
 * };
 * // A restart keeps the node id and takes a new generation: another id.
 * const restarted: ChitchatId = { ...first, generationId: 1_700_000_600n };
 * assert(!chitchatIdsEqual(first, restarted));
 * const node = new Chitchat({ chitchatId: restarted, clusterId: "prod" });
 * assert(chitchatIdsEqual(node.chitchatId, restarted));
 * ```
 */
export interface ChitchatId {
  /** Unique in the cluster; at most 65,535 UTF-8 bytes. */
  readonly nodeId: string;
  /** Any u64; a bigint, so every value survives exactly. */
  readonly generationId: bigint;
  /** Where peers gossip with this node: an IP literal and a port. */
  readonly gossipAdvertiseAddr: SocketAddress;
}

/**
 * Orders ids as the reference implementation does (this is the order of a
 * digest on the wire): node id as UTF-8 bytes, then generation, then
 * address with every IPv4 address before every IPv6 address, then address
 * bytes, then port.
 *
 * @param a First id.
 * @param b Second id.
 * @returns A negative number, zero or a positive number.
 * @throws {TypeError} or {RangeError} if an id is invalid.
 */
export function compareChitchatIds(a: ChitchatId, b: ChitchatId): number {
  return compareIdInfos(idInfo(a), idInfo(b));
}

/**
 * Whether two ids denote the same node incarnation (all three fields equal;
 * equivalent IP spellings are equal).
 *
 * @param a First id.
 * @param b Second id.
 * @returns `true` when equal.
 *
 * @example
 * ```ts
 * import { chitchatIdsEqual } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const a = { nodeId: "n", generationId: 1n, gossipAdvertiseAddr: { hostname: "::1", port: 1 } };
 * const b = { nodeId: "n", generationId: 1n, gossipAdvertiseAddr: { hostname: "0::1", port: 1 } };
 * assert(chitchatIdsEqual(a, b));
 * ```
 */
export function chitchatIdsEqual(a: ChitchatId, b: ChitchatId): boolean {
  return a === b || idInfo(a).key === idInfo(b).key;
}

/**
 * Formats an id as `nodeId:generation:host:port`, the reference's debug form.
 *
 * @param id The id.
 * @returns Its text form.
 *
 * @example
 * ```ts
 * import { formatChitchatId } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = { nodeId: "n1", generationId: 3n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7280 } };
 * assert(formatChitchatId(id) === "n1:3:127.0.0.1:7280");
 * ```
 */
export function formatChitchatId(id: ChitchatId): string {
  return `${id.nodeId}:${id.generationId}:${formatSocketAddress(id.gossipAdvertiseAddr)}`;
}

/**
 * Checks an id and returns it in canonical form (IP literal normalized, frozen).
 *
 * @param id The id to check.
 * @returns The canonical id.
 * @throws {TypeError} if a field has the wrong type or the hostname is not an IP literal.
 * @throws {RangeError} if the generation is not a u64, the port is out of range, or the node id is over 65,535 bytes.
 */
export function validateChitchatId(id: ChitchatId): ChitchatId {
  return idInfo(id).id;
}
