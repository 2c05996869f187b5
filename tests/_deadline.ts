// Copyright the chitchat for Deno authors. MIT license.
// Test support: bounded waits. Every timer started here is cleared, so the
// op sanitizer stays quiet whichever side of a race wins.

import type { Logger } from "../lib/core/logger.ts";

type LogFields = Parameters<Logger["info"]>[1];
import { setImmediate } from "node:timers";
import type { VirtualScheduler } from "../lib/testing/virtual_scheduler.ts";

/** Yields one real macrotask: every pending microtask has run when it resolves, no timer has. */
export function drainMicrotasks(): Promise<void> {
  // setImmediate, not setTimeout(0): Deno clamps the latter to ~2 ms.
  return new Promise((resolve) => setImmediate(resolve));
}

/** Rejects with a labelled error if `promise` has not settled within `ms` (real time). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${label}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `promise` settles within `ms` of real time (it keeps running either way). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `predicate` on real time until it holds; returns the elapsed ms. */
export async function pollUntil(
  predicate: () => boolean,
  options: { readonly timeoutMs: number; readonly label: string; readonly intervalMs?: number },
): Promise<number> {
  const start = performance.now();
  const interval = options.intervalMs ?? 10;
  for (;;) {
    if (predicate()) return performance.now() - start;
    if (performance.now() - start > options.timeoutMs) {
      throw new Error(`Timed out after ${options.timeoutMs} ms: ${options.label}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Polls `check` every 10 ms on real time until it returns a value, for at most `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Advances virtual time in steps until `predicate` holds; returns the virtual ms spent. */
export async function advanceUntil(
  scheduler: VirtualScheduler,
  predicate: () => boolean,
  options: { readonly timeoutMs: number; readonly label: string; readonly stepMs?: number },
): Promise<number> {
  const start = scheduler.now();
  const step = options.stepMs ?? 10;
  await drainMicrotasks();
  for (;;) {
    if (predicate()) return scheduler.now() - start;
    if (scheduler.now() - start >= options.timeoutMs) {
      throw new Error(`Timed out after ${options.timeoutMs} virtual ms: ${options.label}`);
    }
    await scheduler.advance(step);
  }
}

/** One captured log line. */
export interface LogLine {
  readonly level: "debug" | "info" | "warn" | "error";
  readonly message: string;
  readonly fields: LogFields | undefined;
}

/** A logger that records every line, for assertions. */
export class RecordingLogger implements Logger {
  readonly lines: LogLine[] = [];
  debug(message: string, fields?: LogFields): void {
    this.lines.push({ level: "debug", message, fields });
  }
  info(message: string, fields?: LogFields): void {
    this.lines.push({ level: "info", message, fields });
  }
  warn(message: string, fields?: LogFields): void {
    this.lines.push({ level: "warn", message, fields });
  }
  error(message: string, fields?: LogFields): void {
    this.lines.push({ level: "error", message, fields });
  }
  /** Lines at `level` and above. */
  atLeast(level: "info" | "warn" | "error"): LogLine[] {
    const order = { debug: 0, info: 1, warn: 2, error: 3 };
    return this.lines.filter((line) => order[line.level] >= order[level]);
  }
}
