// Copyright the chitchat for Deno authors. MIT license.
// Internal: the key-change subscribers of one cluster state. Users reach
// them through `subscribeEvent`; only node states notify.

import type {
  KeyChangeEvent,
  KeyChangeSubscription,
  SubscribeEventOptions,
} from "./key_change_event.ts";
import type { Logger } from "./logger.ts";

interface Subscription {
  readonly prefix: string;
  readonly callback: (event: KeyChangeEvent) => void;
  readonly includeDeleted: boolean;
}

/** The set of key-change subscribers of one cluster state. */
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
