// Copyright the chitchat for Deno authors. MIT license.
// Internal: a bounded async queue behind `membershipEvents()`. A reader that
// falls behind loses the oldest events, never the process.

/** Events kept for a slow reader; older ones are dropped. */
export const MAX_QUEUED_EVENTS = 10_000;

export class EventStream<T> implements AsyncIterableIterator<T> {
  #queue: T[] = [];
  #head = 0;
  #waiter: ((result: IteratorResult<T>) => void) | undefined;
  #done = false;
  readonly #onEnd: (stream: EventStream<T>) => void;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.end();

  constructor(onEnd: (stream: EventStream<T>) => void, signal?: AbortSignal) {
    this.#onEnd = onEnd;
    this.#signal = signal;
    if (signal?.aborted) this.end();
    else signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  push(value: T): void {
    if (this.#done) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter({ value, done: false });
      return;
    }
    if (this.#queue.length - this.#head >= MAX_QUEUED_EVENTS) {
      this.#head++;
    }
    this.#queue.push(value);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head++];
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiter = resolve);
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    this.#queue = [];
    this.#head = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Ends the stream: queued events are still read, then it is done. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.({ value: undefined, done: true });
    this.#onEnd(this);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
