// Copyright the chitchat for Deno authors. MIT license.
/**
 * Key change notifications.
 *
 * @module
 */

import type { ChitchatId } from "./chitchat_id.ts";
import type { Logger } from "./logger.ts";
import type { DeletionStatus } from "./versioned_value.ts";

/**
 * A key-value of some node changed (locally or through gossip).
 *
 * @example
 * ```ts
 * import type { KeyChangeEvent } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const event: KeyChangeEvent = {
 *   key: "grpc_addr",
 *   value: "10.0.0.1:7281",
 *   version: 4,
 *   status: "set",
 *   node: { nodeId: "n", generationId: 0n, gossipAdvertiseAddr: { hostname: "10.0.0.1", port: 7280 } },
 * };
 * assert(event.status === "set");
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

/** Options of {@linkcode KeyChangeListeners.subscribe}. */
export interface SubscribeEventOptions {
  /**
   * Also notify deletions (`status: "deleted"`, empty value).
   *
   * @default {false}
   */
  readonly includeDeleted?: boolean;
}

interface Subscription {
  readonly prefix: string;
  readonly callback: (event: KeyChangeEvent) => void;
  readonly includeDeleted: boolean;
}

/**
 * The set of key-change subscribers of one cluster state.
 *
 * @example
 * ```ts
 * import { KeyChangeListeners } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const listeners = new KeyChangeListeners();
 * const seen: string[] = [];
 * using _sub = listeners.subscribe("app:", (event) => seen.push(event.key));
 * const node = { nodeId: "n", generationId: 0n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 1 } };
 * listeners.notify({ key: "app:color", value: "red", version: 1, status: "set", node });
 * listeners.notify({ key: "other", value: "x", version: 2, status: "set", node });
 * assert.deepStrictEqual(seen, ["color"]);
 * ```
 */
export class KeyChangeListeners {
  #subscriptions: Subscription[] = [];
  #logger: Logger | undefined;

  /**
   * Creates an empty registry.
   *
   * @param logger Where callback errors are reported.
   */
  constructor(logger?: Logger) {
    this.#logger = logger;
  }

  /** Whether anyone is subscribed (lets writers skip building events). */
  get isEmpty(): boolean {
    return this.#subscriptions.length === 0;
  }

  /**
   * Calls `callback` for every change of a key starting with `prefix`.
   *
   * @param prefix Key prefix; `""` matches every key.
   * @param callback Receives the event with the prefix stripped from the key. It runs synchronously inside the state update: keep it short. Errors it throws are logged and swallowed.
   * @param options Whether to include deletions.
   * @returns A subscription; dispose it (or call `unsubscribe()`) to stop.
   */
  subscribe(
    prefix: string,
    callback: (event: KeyChangeEvent) => void,
    options: SubscribeEventOptions = {},
  ): KeyChangeSubscription {
    const subscription: Subscription = {
      prefix,
      callback,
      includeDeleted: options.includeDeleted ?? false,
    };
    // Copy on write: notify() may be iterating the current array.
    this.#subscriptions = [...this.#subscriptions, subscription];
    const unsubscribe = (): void => {
      this.#subscriptions = this.#subscriptions.filter((s) => s !== subscription);
    };
    return { unsubscribe, [Symbol.dispose]: unsubscribe };
  }

  /**
   * Delivers an event (with its full key) to the matching subscribers.
   *
   * @param event The change, with the full key.
   */
  notify(event: KeyChangeEvent): void {
    const subscriptions = this.#subscriptions;
    for (let i = 0; i < subscriptions.length; i++) {
      const subscription = subscriptions[i];
      if (event.status === "deleted" && !subscription.includeDeleted) continue;
      if (!event.key.startsWith(subscription.prefix)) continue;
      try {
        subscription.callback(
          subscription.prefix === ""
            ? event
            : { ...event, key: event.key.slice(subscription.prefix.length) },
        );
      } catch (error) {
        this.#logger?.error("Key change callback threw", { error, key: event.key });
      }
    }
  }
}

/**
 * A live key-change subscription.
 *
 * @example
 * ```ts
 * import { KeyChangeListeners } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const listeners = new KeyChangeListeners();
 * const subscription = listeners.subscribe("", () => {});
 * assert(!listeners.isEmpty);
 * subscription.unsubscribe();
 * assert(listeners.isEmpty);
 * ```
 */
export interface KeyChangeSubscription extends Disposable {
  /** Stops the notifications (same as disposing). */
  unsubscribe(): void;
}
