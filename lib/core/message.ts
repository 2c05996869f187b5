// Copyright the chitchat for Deno authors. MIT license.
/**
 * The four messages of the gossip handshake.
 *
 * @module
 */

import type { Delta } from "./delta.ts";
import type { Digest } from "./digest.ts";

/**
 * Scuttlebutt SYN: the initiator sends its digest.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = (port: number) => ({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const a = new Chitchat({ chitchatId: id(1), clusterId: "prod" });
 * const b = new Chitchat({ chitchatId: id(2), clusterId: "prod" });
 * const syn = a.createSynMessage();
 * assert(syn.type === "syn" && syn.clusterId === "prod");
 * assert.deepStrictEqual(syn.digest.entries().map((e) => e.chitchatId.nodeId), ["n1"]);
 * ```
 */
export interface SynMessage {
  /** Discriminant. */
  readonly type: "syn";
  /** The initiator's cluster; a peer of another cluster answers `badCluster`. */
  readonly clusterId: string;
  /** What the initiator knows. */
  readonly digest: Digest;
}

/**
 * Scuttlebutt SYN-ACK: the peer's digest and what the initiator is missing.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = (port: number) => ({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const a = new Chitchat({ chitchatId: id(1), clusterId: "prod" });
 * const b = new Chitchat({ chitchatId: id(2), clusterId: "prod" });
 * const synAck = b.processMessage(a.createSynMessage());
 * assert(synAck?.type === "synAck");
 * assert(synAck.digest.get(id(2))?.heartbeat === b.selfNodeState().heartbeat);
 * ```
 */
export interface SynAckMessage {
  /** Discriminant. */
  readonly type: "synAck";
  /** What the peer knows. */
  readonly digest: Digest;
  /** Updates for the initiator. */
  readonly delta: Delta;
}

/**
 * Scuttlebutt ACK: what the peer is missing, from the initiator.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = (port: number) => ({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const a = new Chitchat({ chitchatId: id(1), clusterId: "prod" });
 * const b = new Chitchat({ chitchatId: id(2), clusterId: "prod" });
 * const ack = a.processMessage(b.processMessage(a.createSynMessage())!);
 * assert(ack?.type === "ack");
 * assert(b.processMessage(ack) === undefined); // an ACK ends the handshake
 * ```
 */
export interface AckMessage {
  /** Discriminant. */
  readonly type: "ack";
  /** Updates for the peer. */
  readonly delta: Delta;
}

/**
 * The answer to a SYN from another cluster.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = (port: number) => ({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const prod = new Chitchat({ chitchatId: id(1), clusterId: "prod" });
 * const staging = new Chitchat({ chitchatId: id(2), clusterId: "staging" });
 * const reply = prod.processMessage(staging.createSynMessage());
 * assert(reply?.type === "badCluster");
 * assert(staging.processMessage(reply) === undefined && staging.metrics().badClusterReceived === 1);
 * ```
 */
export interface BadClusterMessage {
  /** Discriminant. */
  readonly type: "badCluster";
}

/**
 * Any chitchat message.
 *
 * @example
 * ```ts
 * import { type ChitchatMessage, decodeMessage, Delta, encodeMessage } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const describe = (message: ChitchatMessage): string =>
 *   message.type === "ack" ? `ack of ${message.delta.nodeDeltas.length} nodes` : message.type;
 * assert(describe(decodeMessage(encodeMessage({ type: "ack", delta: Delta.empty }))) === "ack of 0 nodes");
 * assert(describe(decodeMessage(new Uint8Array([0x53, 0xb0, 0, 3]))) === "badCluster");
 * ```
 */
export type ChitchatMessage = SynMessage | SynAckMessage | AckMessage | BadClusterMessage;
