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
 * import { Digest, type SynMessage } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const syn: SynMessage = { type: "syn", clusterId: "prod", digest: Digest.empty };
 * assert(syn.type === "syn");
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
 * import { Delta, Digest, type SynAckMessage } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const synAck: SynAckMessage = { type: "synAck", digest: Digest.empty, delta: Delta.empty };
 * assert(synAck.delta.isEmpty);
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
 * import { Delta, type AckMessage } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const ack: AckMessage = { type: "ack", delta: Delta.empty };
 * assert(ack.type === "ack");
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
 * import type { BadClusterMessage } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const reply: BadClusterMessage = { type: "badCluster" };
 * assert(reply.type === "badCluster");
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
 * import type { ChitchatMessage } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const describe = (message: ChitchatMessage): string => message.type;
 * assert(describe({ type: "badCluster" }) === "badCluster");
 * ```
 */
export type ChitchatMessage = SynMessage | SynAckMessage | AckMessage | BadClusterMessage;
