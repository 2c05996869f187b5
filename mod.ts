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

export * from "./lib/core/chitchat.ts";
export * from "./lib/core/chitchat_config.ts";
export * from "./lib/runtime/chitchat_handle.ts";
export * from "./lib/core/chitchat_id.ts";
export * from "./lib/core/clock.ts";
export * from "./lib/core/cluster_state.ts";
export * from "./lib/core/wire/decode_error.ts";
export * from "./lib/core/delta.ts";
export * from "./lib/core/digest.ts";
export * from "./lib/core/failure_detector.ts";

export * from "./lib/core/key_change_event.ts";
export * from "./lib/core/logger.ts";
export * from "./lib/core/message.ts";
export * from "./lib/core/message_codec.ts";
export * from "./lib/core/node_state.ts";
export * from "./lib/core/random.ts";
export * from "./lib/runtime/scheduler.ts";
export * from "./lib/runtime/seed_resolver.ts";
export * from "./lib/core/socket_address.ts";
export * from "./lib/runtime/spawn_chitchat.ts";
export * from "./lib/runtime/transport.ts";
export * from "./lib/runtime/udp_transport.ts";
export * from "./lib/core/versioned_value.ts";
