// Copyright the chitchat for Deno authors. MIT license.
// Internal: the iterator behind ChitchatHandle.liveNodesUpdates().

import type { Chitchat } from "../core/chitchat.ts";
import type { KeyChangeSubscription } from "../core/key_change_event.ts";
import type { NodeState } from "../core/node_state.ts";

/**
 * Latest-value iterator over `watchLiveNodes`: a reader that falls behind
 * gets the newest snapshot, never a backlog. Ended by `return()` (a
 * `break`) or by its handle; either way the watcher is removed and a
 * pending `next()` resolves as done, so nothing is left waiting.
 */
export class LiveNodesUpdates implements AsyncIterableIterator<readonly NodeState[]> {
  #pending: readonly NodeState[] | undefined;
  #waiter: ((result: IteratorResult<readonly NodeState[]>) => void) | undefined;
  #done = false;
  readonly #subscription: KeyChangeSubscription;
  readonly #onEnd: (updates: LiveNodesUpdates) => void;

  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.end();

  constructor(
    chitchat: Chitchat,
    onEnd: (updates: LiveNodesUpdates) => void,
    signal?: AbortSignal,
  ) {
    this.#pending = chitchat.liveNodesSnapshot();
    this.#onEnd = onEnd;
    this.#subscription = chitchat.watchLiveNodes((nodes) => this.#push(nodes));
    this.#signal = signal;
    if (signal?.aborted) this.end();
    else signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  #push(nodes: readonly NodeState[]): void {
    if (this.#done) return;
    const waiter = this.#waiter;
    if (waiter === undefined) {
      this.#pending = nodes;
      return;
    }
    this.#waiter = undefined;
    waiter({ value: nodes, done: false });
  }

  next(): Promise<IteratorResult<readonly NodeState[]>> {
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      return Promise.resolve({ value: pending, done: false });
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiter = resolve);
  }

  return(): Promise<IteratorResult<readonly NodeState[]>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#pending = undefined;
    this.#subscription.unsubscribe();
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.({ value: undefined, done: true });
    this.#onEnd(this);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<readonly NodeState[]> {
    return this;
  }
}
