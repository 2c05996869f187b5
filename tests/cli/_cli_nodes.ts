// Copyright the chitchat for Deno authors. MIT license.
// Test support: CLI nodes as subprocesses on 127.0.0.1 with the HTTP API,
// for the leave test and the leave timing script (bench/leave_timing.ts).

import { fileURLToPath } from "node:url";
import type { MemberJson } from "../../lib/cli/http_api.ts";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BOUND_MS = 10_000;

export interface CliNode {
  readonly nodeId: string;
  readonly udp: string;
  readonly http: string;
  readonly child: Deno.ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Resolves when stdout ends. */
  readonly closed: Promise<void>;
  readonly stderr: Promise<string>;
}

export async function startNode(nodeId: string, seed?: string): Promise<CliNode> {
  const args = [
    "run",
    "-A",
    "lib/cli/cli.ts",
    "--listen=127.0.0.1:0",
    "--http=127.0.0.1:0",
    `--node-id=${nodeId}`,
    "--interval-ms=100",
    "--log-level=info",
    ...(seed === undefined ? [] : [`--seed=${seed}`]),
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  let ready: (() => void) | undefined;
  const started = new Promise<void>((resolve) => ready = resolve);
  const closed = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += value;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      lines.push(...parts);
      if (lines.some((line) => line.includes("HTTP API on"))) ready?.();
    }
    ready?.();
  })();
  const stderr = new Response(child.stderr).text();
  const timer = setTimeout(() => child.kill("SIGKILL"), BOUND_MS);
  await started;
  clearTimeout(timer);
  const udp = lines[0]?.match(/gossiping on (127\.0\.0\.1:\d+)/)?.[1];
  const http = lines.find((line) => line.includes("HTTP API on"))?.match(/(http:\/\/[^ ]+)/)?.[1];
  if (udp === undefined || http === undefined) {
    child.kill("SIGKILL");
    await closed;
    throw new Error(`The node did not start: ${lines.join("\n")}\n${await stderr}`);
  }
  return { nodeId, udp, http, child, lines, closed, stderr };
}

export async function members(node: CliNode): Promise<MemberJson[]> {
  const response = await fetch(`${node.http}members`);
  return await response.json();
}

export async function statusOf(node: CliNode, nodeId: string): Promise<string | undefined> {
  return (await members(node)).find((row) => row.nodeId === nodeId)?.status;
}

/** Polls every 5 ms until `check` holds; returns the ms spent since `since`. */
export async function until(check: () => Promise<boolean>, label: string, since: number) {
  while (!(await check())) {
    if (performance.now() - since > BOUND_MS) throw new Error(`Timed out: ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return Math.round(performance.now() - since);
}

export async function stopAll(nodes: CliNode[]): Promise<void> {
  for (const node of nodes) {
    try {
      node.child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await node.closed;
    await node.stderr;
    await node.child.status;
  }
}

export async function threeNodes(): Promise<CliNode[]> {
  const a = await startNode("leave-a");
  const nodes = [a];
  try {
    nodes.push(await startNode("leave-b", a.udp), await startNode("leave-c", a.udp));
    const start = performance.now();
    await until(
      async () => {
        for (const node of nodes) {
          const rows = await members(node);
          if (rows.filter((r) => r.status === "live" || r.status === "self").length !== 3) {
            return false;
          }
        }
        return true;
      },
      "three nodes live everywhere",
      start,
    );
    return nodes;
  } catch (error) {
    await stopAll(nodes);
    throw error;
  }
}
