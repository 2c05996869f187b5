// Copyright the chitchat for Deno authors. MIT license.
/**
 * chitchat for Deno: cluster membership, failure detection and shared
 * per-node key-value state over gossip (Scuttlebutt reconciliation with a
 * phi-accrual failure detector). Wire-compatible with the Rust crate
 * `chitchat` 0.10.
 *
 * Start a node with {@linkcode spawnChitchat}: it gossips over UDP by
 * default; the in-memory transport of `@chitchat/chitchat/testing` runs a
 * whole cluster in one process. Write this node's key-values with
 * `selfNodeState().set()`, read any node's with `nodeState()`, and follow
 * membership with `liveNodesUpdates()`.
 *
 * @example Three nodes meet and share a key
 * ```ts
 * import { spawnChitchat, type SpawnChitchatConfig } from "@chitchat/chitchat";
 * import { ChannelTransport } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * const transport = new ChannelTransport();
 * const config = (port: number): SpawnChitchatConfig => ({
 *   chitchatId: { nodeId: `node-${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } },
 *   clusterId: "demo",
 *   gossipIntervalMs: 20,
 *   seedNodes: ["127.0.0.1:7001"],
 * });
 * await using a = await spawnChitchat(config(7001), { transport });
 * await using b = await spawnChitchat(config(7002), { transport });
 * await using c = await spawnChitchat(config(7003), { transport });
 * c.selfNodeState().set("role", "searcher");
 *
 * for await (const live of a.liveNodesUpdates()) {
 *   if (live.length === 3 && live.some((node) => node.get("role") === "searcher")) break;
 * }
 * assert.deepStrictEqual(a.liveNodes().map((id) => id.nodeId), ["node-7001", "node-7002", "node-7003"]);
 * assert(a.chitchat.nodeState("node-7003")?.get("role") === "searcher");
 * assert(b.chitchat.nodeState("node-7001") !== undefined);
 * ```
 *
 * @module
 */

export { Chitchat, type ChitchatMetrics } from "./lib/core/chitchat.ts";
export type { ChitchatConfig } from "./lib/core/chitchat_config.ts";
export type { ChitchatOptions } from "./lib/core/chitchat_options.ts";
export { type ChitchatId, chitchatIdsEqual, formatChitchatId } from "./lib/core/chitchat_id.ts";
export type { Clock } from "./lib/core/clock.ts";
export { type ApplyDeltaResult, ClusterState } from "./lib/core/cluster_state.ts";
export { Delta, type NodeDelta } from "./lib/core/delta.ts";
export { Digest, type DigestEntry } from "./lib/core/digest.ts";
export type { FailureDetectorConfig } from "./lib/core/failure_detector.ts";
export type {
  KeyChangeEvent,
  KeyChangeSubscription,
  SubscribeEventOptions,
} from "./lib/core/key_change_event.ts";
export { consoleLogger, type Logger, type LogLevel, silentLogger } from "./lib/core/logger.ts";
export type {
  AckMessage,
  BadClusterMessage,
  ChitchatMessage,
  SynAckMessage,
  SynMessage,
} from "./lib/core/message.ts";
export { decodeMessage, encodeMessage } from "./lib/core/message_codec.ts";
export { NodeState } from "./lib/core/node_state.ts";
export type { RandomSource } from "./lib/core/random.ts";
export {
  formatSocketAddress,
  parseSocketAddress,
  type SocketAddress,
} from "./lib/core/socket_address.ts";
export type {
  DeletionStatus,
  KeyValueMutation,
  VersionedValue,
} from "./lib/core/versioned_value.ts";
export { DecodeError } from "./lib/core/wire/decode_error.ts";
export { MAX_DATAGRAM_BYTES } from "./lib/core/wire/wire_sizes.ts";
export { ChitchatHandle, type ChitchatHandleMetrics } from "./lib/runtime/chitchat_handle.ts";
export { NodeUdpTransport } from "./lib/runtime/node_udp_transport.ts";
export type { Scheduler, Timer } from "./lib/runtime/scheduler.ts";
export {
  spawnChitchat,
  type SpawnChitchatConfig,
  type SpawnChitchatOptions,
} from "./lib/runtime/spawn_chitchat.ts";
export type { Socket, SocketMetrics, Transport } from "./lib/runtime/transport.ts";
export { UdpTransport } from "./lib/runtime/udp_transport.ts";
