// Copyright the chitchat for Deno authors. MIT license.
/**
 * Key change notifications.
 *
 * @module
 */

import type { ChitchatId } from "./chitchat_id.ts";
import type { DeletionStatus } from "./versioned_value.ts";

/**
 * A key-value of some node changed (locally or through gossip).
 *
 * @example
 * ```ts
 * import { Chitchat, type KeyChangeEvent } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const chitchat = new Chitchat({
 *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7280 } },
 *   clusterId: "demo",
 * });
 * const events: KeyChangeEvent[] = [];
 * using _subscription = chitchat.subscribeEvent("app:", (event) => events.push(event));
 * chitchat.selfNodeState().set("app:color", "red");
 * assert(events.length === 1);
 * assert(events[0].key === "color"); // the prefix is stripped
 * assert(events[0].value === "red" && events[0].status === "set");
 * assert(events[0].node.nodeId === "n1");
 * ```
 */
export interface KeyChangeEvent {
  /** The key, without the prefix the subscriber asked for. */
  readonly key: string;
  /** The new value (empty for a deletion). */
  readonly value: string;
  /** The owner's version of the write. */
  readonly version: number;
  /** `"deleted"` events reach only subscribers that asked for deletions. */
  readonly status: DeletionStatus;
  /** The node owning the key. */
  readonly node: ChitchatId;
}

/** Options of `subscribeEvent`. */
export interface SubscribeEventOptions {
  /**
   * Also notify deletions (`status: "deleted"`, empty value).
   *
   * @default {false}
   */
  readonly includeDeleted?: boolean;
}

/**
 * A live key-change subscription, as returned by `subscribeEvent`.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const chitchat = new Chitchat({
 *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7280 } },
 *   clusterId: "demo",
 * });
 * const seen: string[] = [];
 * const subscription = chitchat.subscribeEvent("", (event) => seen.push(event.key));
 * chitchat.selfNodeState().set("a", "1");
 * subscription.unsubscribe();
 * chitchat.selfNodeState().set("b", "2");
 * assert.deepStrictEqual(seen, ["a"]);
 * ```
 */
export interface KeyChangeSubscription extends Disposable {
  /** Stops the notifications (same as disposing). */
  unsubscribe(): void;
}
