// Copyright the chitchat for Deno authors. MIT license.
// Three CLI processes over real UDP on 127.0.0.1 at a 100 ms interval: a
// node stopped with SIGTERM leaves (its peers list it `left`, never
// `dead`); one killed with SIGKILL is found dead by phi. The times are
// printed, not asserted: speed targets belong to benches.

import { equal, match, ok } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { MemberJson } from "../../lib/cli/http_api.ts";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BOUND_MS = 10_000;

interface CliNode {
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

async function startNode(nodeId: string, seed?: string): Promise<CliNode> {
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

async function members(node: CliNode): Promise<MemberJson[]> {
  const response = await fetch(`${node.http}members`);
  return await response.json();
}

async function statusOf(node: CliNode, nodeId: string): Promise<string | undefined> {
  return (await members(node)).find((row) => row.nodeId === nodeId)?.status;
}

/** Polls every 5 ms until `check` holds; returns the ms spent since `since`. */
async function until(check: () => Promise<boolean>, label: string, since: number) {
  while (!(await check())) {
    if (performance.now() - since > BOUND_MS) throw new Error(`Timed out: ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return Math.round(performance.now() - since);
}

async function stopAll(nodes: CliNode[]): Promise<void> {
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

async function threeNodes(): Promise<CliNode[]> {
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

Deno.test({
  name:
    "a CLI node stopped with SIGTERM is listed left (not dead) by every peer; SIGKILL is found dead",
  ignore: Deno.build.os === "windows",
  sanitizeOps: true,
  sanitizeResources: true,
}, async (t) => {
  await t.step("SIGTERM: left at once", async () => {
    const nodes = await threeNodes();
    try {
      const [a, b, c] = nodes;
      const since = performance.now();
      c.child.kill("SIGTERM");
      const times = await Promise.all(
        [a, b].map((peer) =>
          until(async () => (await statusOf(peer, "leave-c")) === "left", "c left", since)
        ),
      );
      const status = await c.child.status;
      await c.closed;
      const log = await c.stderr;
      equal(status.code, 0, log);
      match(
        c.lines.at(-2)!,
        // Both peers hold the mark (above); how many confirmed it within the
        // deadline depends on the load of the machine.
        /^chitchat: left the cluster \(peers acknowledging: [0-2]\), shutting down$/,
        log,
      );
      for (const peer of [a, b]) {
        // stdout is read concurrently: the line may trail the HTTP answer a little.
        await until(
          () =>
            Promise.resolve(
              peer.lines.some((line) =>
                /^chitchat: node leave-c\/\d+@127\.0\.0\.1:\d+ left the cluster$/.test(line)
              ),
            ),
          "the peer printed the departure",
          performance.now(),
        );
        const state = await (await fetch(peer.http)).json();
        ok(state.leftNodes.some((id: { nodeId: string }) => id.nodeId === "leave-c"));
        ok(!state.liveNodes.some((id: { nodeId: string }) => id.nodeId === "leave-c"));
        ok(!state.deadNodes.some((id: { nodeId: string }) => id.nodeId === "leave-c"));
        const metrics = await (await fetch(`${peer.http}metrics`)).text();
        match(metrics, /^chitchat_left_nodes 1$/m);
        match(metrics, /^chitchat_dead_nodes 0$/m);
      }
      console.log(
        `SIGTERM: off both peers' live sets, listed left, after ${times.join(" and ")} ms`,
      );
      // Well past a phi conviction, still left, never dead.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      for (const peer of [a, b]) equal(await statusOf(peer, "leave-c"), "left");
    } finally {
      await stopAll(nodes);
    }
  });

  await t.step("SIGKILL: dead through phi", async () => {
    const nodes = await threeNodes();
    try {
      const [a, b, c] = nodes;
      const since = performance.now();
      c.child.kill("SIGKILL");
      const times = await Promise.all(
        [a, b].map((peer) =>
          until(async () => (await statusOf(peer, "leave-c")) === "dead", "c dead", since)
        ),
      );
      console.log(`SIGKILL: found dead by both peers after ${times.join(" and ")} ms`);
    } finally {
      await stopAll(nodes);
    }
  });
});
