// Copyright the chitchat for Deno authors. MIT license.
// Test support: a Scheduler on virtual time. Callbacks run only when the
// test advances time; after each one the promise work it started is
// drained, so async loops (gossip rounds, receive loops) make progress
// without a single real timer.

import { setImmediate } from "node:timers";
import type { Scheduler, Timer } from "../lib/runtime/scheduler.ts";

interface Entry {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Yields one real macrotask: every pending microtask has run when it resolves. */
export function drainMicrotasks(): Promise<void> {
  // setImmediate, not setTimeout(0): Deno clamps the latter to ~2 ms.
  return new Promise((resolve) => setImmediate(resolve));
}

/** Virtual time: `now()` moves only through `advance()`. */
export class VirtualScheduler implements Scheduler {
  #now: number;
  #seq = 0;
  #pending = 0;
  // Binary min-heap on (at, seq): equal deadlines run in scheduling order.
  readonly #heap: Entry[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Timers scheduled and neither run nor cancelled. */
  get pendingTimers(): number {
    return this.#pending;
  }

  setTimeout(callback: () => void, delayMs: number): Timer {
    const delay = Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0;
    const entry: Entry = { at: this.#now + delay, seq: this.#seq++, callback, cancelled: false };
    this.#push(entry);
    this.#pending++;
    return {
      cancel: () => {
        if (entry.cancelled) return;
        entry.cancelled = true;
        this.#pending--;
      },
    };
  }

  /**
   * Moves time forward by `ms`, running every callback due on the way in
   * time order, each followed by a drain of the promise work it started.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + Math.max(0, ms);
    // Work started before the call (a send, a resolved promise) may schedule timers due now.
    await drainMicrotasks();
    for (;;) {
      const next = this.#heap[0];
      if (next === undefined || next.at > target) break;
      this.#pop();
      if (next.cancelled) continue;
      next.cancelled = true;
      this.#pending--;
      if (next.at > this.#now) this.#now = next.at;
      next.callback();
      await drainMicrotasks();
    }
    this.#now = target;
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    let i = heap.push(entry) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left], heap[smallest])) smallest = left;
      if (right < heap.length && before(heap[right], heap[smallest])) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest], heap[i]];
      i = smallest;
    }
  }
}
