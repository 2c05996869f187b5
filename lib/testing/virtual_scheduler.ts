// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode VirtualScheduler}: simulated time for tests and simulations.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Scheduler } from "../runtime/scheduler.ts";

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  callback: (() => void) | undefined;
}

/** Lets every pending promise continuation run (an immediate runs after the microtask queue drains). */
function settle(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A {@linkcode Scheduler} on virtual time: callbacks run only when the
 * owner advances the clock, in time order (FIFO among equal times), and
 * each one's promise continuations run to completion before the next.
 * Nothing waits for real time, so a simulated minute takes as long as the
 * work done in it.
 *
 * @example
 * ```ts
 * import { VirtualScheduler } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * const scheduler = new VirtualScheduler();
 * const fired: number[] = [];
 * scheduler.setTimeout(() => fired.push(scheduler.now()), 1_000);
 * scheduler.setTimeout(() => fired.push(scheduler.now()), 10);
 * await scheduler.advance(5_000);
 * assert.deepStrictEqual(fired, [10, 1_000]);
 * assert.strictEqual(scheduler.now(), 5_000);
 * ```
 */
export class VirtualScheduler implements Scheduler {
  #now: number;
  #seq = 0;
  #heap: Scheduled[] = [];
  #cancelled = 0;

  /**
   * Creates a scheduler.
   *
   * @param startMs The initial virtual time.
   */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  /** The virtual time, in milliseconds. */
  now(): number {
    return this.#now;
  }

  /** Number of callbacks waiting to run. */
  get pending(): number {
    return this.#heap.length - this.#cancelled;
  }

  /**
   * Schedules `callback` at `now() + delayMs`.
   *
   * @param callback The work.
   * @param delayMs Delay (negative or NaN counts as 0).
   * @returns A handle to cancel it.
   */
  setTimeout(callback: () => void, delayMs: number): { cancel(): void } {
    const entry: Scheduled = {
      at: this.#now + (delayMs > 0 ? delayMs : 0),
      seq: this.#seq++,
      callback,
    };
    this.#push(entry);
    return {
      cancel: () => {
        if (entry.callback === undefined) return;
        entry.callback = undefined;
        this.#cancelled++;
      },
    };
  }

  /**
   * Runs everything due in the next `ms` milliseconds and leaves the clock
   * at `now() + ms`.
   *
   * @param ms How far to go.
   */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.#now + Math.max(0, ms));
  }

  /**
   * Runs everything due up to time `t` (inclusive) and leaves the clock at `t`.
   *
   * @param t The target virtual time (ignored if in the past).
   */
  async advanceTo(t: number): Promise<void> {
    await settle();
    while (await this.#runNext(t));
    if (t > this.#now) this.#now = t;
  }

  /**
   * Runs callbacks until `predicate` holds (checked before the first and
   * after each callback) or until `limitMs` of virtual time have passed.
   *
   * @param predicate The condition.
   * @param limitMs Virtual time to give up after.
   * @returns The virtual time at which the predicate first held, or
   * `undefined` if it did not hold within the limit (the clock is then at the limit).
   */
  async runUntil(predicate: () => boolean, limitMs: number): Promise<number | undefined> {
    const deadline = this.#now + Math.max(0, limitMs);
    await settle();
    if (predicate()) return this.#now;
    while (await this.#runNext(deadline)) {
      if (predicate()) return this.#now;
    }
    this.#now = deadline;
    return predicate() ? this.#now : undefined;
  }

  /** Runs the earliest callback due by `limit`; returns false when there is none. */
  async #runNext(limit: number): Promise<boolean> {
    for (;;) {
      const next = this.#heap[0];
      if (next === undefined || next.at > limit) return false;
      this.#pop();
      const callback = next.callback;
      if (callback === undefined) {
        this.#cancelled--;
        continue;
      }
      next.callback = undefined;
      if (next.at > this.#now) this.#now = next.at;
      callback();
      await settle();
      return true;
    }
  }

  #push(entry: Scheduled): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right], heap[left]) ? right : left;
      if (!before(heap[child], last)) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = last;
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
