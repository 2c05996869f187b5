// Copyright the chitchat for Deno authors. MIT license.
/**
 * chitchat for Deno: cluster membership, failure detection and shared
 * per-node key-value state over gossip (Scuttlebutt reconciliation with a
 * phi-accrual failure detector). Wire-compatible with the Rust crate
 * `chitchat` 0.10.
 *
 * @example Two nodes reconciling by hand
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = (port: number) => ({ nodeId: `node-${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const a = new Chitchat({ chitchatId: id(1), clusterId: "demo" });
 * const b = new Chitchat({ chitchatId: id(2), clusterId: "demo" });
 * a.selfNodeState().set("role", "indexer");
 * for (let round = 0; round < 2; round++) {
 *   b.processMessage(a.processMessage(b.processMessage(a.createSynMessage())!)!);
 * }
 * assert(b.nodeState(id(1))?.get("role") === "indexer");
 * ```
 *
 * @module
 */

export * from "./lib/channel_transport.ts";
export * from "./lib/chitchat.ts";
export * from "./lib/chitchat_config.ts";
export * from "./lib/chitchat_handle.ts";
export * from "./lib/chitchat_id.ts";
export * from "./lib/clock.ts";
export * from "./lib/cluster_state.ts";
export * from "./lib/decode_error.ts";
export * from "./lib/delta.ts";
export * from "./lib/digest.ts";
export * from "./lib/failure_detector.ts";
export * from "./lib/http_api.ts";
export * from "./lib/key_change_event.ts";
export * from "./lib/logger.ts";
export * from "./lib/message.ts";
export * from "./lib/message_codec.ts";
export * from "./lib/node_state.ts";
export * from "./lib/random.ts";
export * from "./lib/scheduler.ts";
export * from "./lib/seed_resolver.ts";
export * from "./lib/socket_address.ts";
export * from "./lib/spawn_chitchat.ts";
export * from "./lib/transport.ts";
export * from "./lib/udp_transport.ts";
export * from "./lib/versioned_value.ts";
