// Copyright the chitchat for Deno authors. MIT license.
// A test harness that needs nothing but the language and `node:process`, so
// the same file runs on Deno, Node.js (type stripping) and Bun: checks run
// one after another, each bounded in time, and the run ends with one line
// "compat <runtime> <version>: N passed, N failed" for .ci/run to read.

import process from "node:process";

interface Check {
  readonly name: string;
  readonly timeoutMs: number;
  readonly fn: () => void | Promise<void>;
}

const checks: Check[] = [];

/** Registers a check; it fails if `fn` throws or has not settled within `timeoutMs`. */
export function check(name: string, fn: () => void | Promise<void>, timeoutMs = 10_000): void {
  checks.push({ name, timeoutMs, fn });
}

/** The runtime this process is: `deno`, `bun` or `node`, with its version. */
export function runtimeName(): { readonly name: string; readonly version: string } {
  const global = globalThis as {
    Deno?: { version?: { deno?: string } };
    Bun?: { version?: string };
  };
  if (global.Deno?.version?.deno !== undefined) {
    return { name: "deno", version: global.Deno.version.deno };
  }
  if (global.Bun?.version !== undefined) return { name: "bun", version: global.Bun.version };
  return { name: "node", version: process.versions.node ?? "unknown" };
}

async function withTimeout(fn: () => void | Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms`)), ms);
  });
  try {
    await Promise.race([Promise.resolve().then(fn), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every registered check, prints one line each and the tally; sets the exit code. */
export async function runChecks(): Promise<void> {
  const runtime = runtimeName();
  let passed = 0;
  let failed = 0;
  for (const { name, timeoutMs, fn } of checks) {
    const start = performance.now();
    try {
      await withTimeout(fn, timeoutMs);
      passed++;
      console.log(`ok - ${name} (${Math.round(performance.now() - start)} ms)`);
    } catch (error) {
      failed++;
      const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
      console.log(`not ok - ${name}\n  ${reason.replaceAll("\n", "\n  ")}`);
    }
  }
  console.log(`compat ${runtime.name} ${runtime.version}: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}
