#!/usr/bin/env -S deno run -A
// Copyright the chitchat for Deno authors. MIT license.
/**
 * A guided tour: three nodes on 127.0.0.1 in one process, over real UDP.
 * They find each other through the first node, share a couple of keys
 * each, then one node stops and the other two declare it dead. A table of
 * the membership as every node sees it is printed each time it changes.
 *
 * ```sh
 * deno task demo
 * ```
 *
 * The whole tour takes a few seconds. If the nodes have not converged, or
 * the stopped node has not been declared dead, 25 s after the start, the
 * demo says which step is missing and exits with code 1; start-up and
 * shutdown are bounded too, so it always exits within 30 s.
 *
 * @module
 */

import type { ChitchatHandle } from "../runtime/chitchat_handle.ts";
import type { ChitchatId } from "../core/chitchat_id.ts";
import type { NodeState } from "../core/node_state.ts";
import { formatSocketAddress } from "../core/socket_address.ts";
import { spawnChitchat } from "../runtime/spawn_chitchat.ts";

/** The keys each node publishes. */
const NODE_KEYS: readonly (readonly [string, string])[][] = [
  [["role", "indexer"], ["zone", "eu-west-1"]],
  [["role", "searcher"], ["zone", "us-east-1"]],
  [["role", "janitor"], ["zone", "ap-south-1"]],
];
const POLL_INTERVAL_MS = 50;

/** Options of the demo's {@linkcode main} (its example passes them). */
export interface DemoOptions {
  /**
   * Gossip interval of the three nodes; the failure detector's prior
   * interval is set to it too, so a stopped node is declared dead in a
   * couple of seconds.
   *
   * @default {200}
   */
  readonly gossipIntervalMs?: number;
  /**
   * Time allowed, from the start, for the nodes to converge and then to
   * declare the stopped node dead.
   *
   * @default {25_000}
   */
  readonly deadlineMs?: number;
  /**
   * Receives the output lines.
   *
   * @default {console.log}
   */
  readonly stdout?: (line: string) => void;
  /**
   * Receives the error line of a missed deadline.
   *
   * @default {console.error}
   */
  readonly stderr?: (line: string) => void;
}

/** A step that did not happen in time. */
class DeadlineError extends Error {
  override name = "DeadlineError";
}

/** One node of the demo, and what the others have seen of it. */
interface DemoNode {
  readonly nodeId: string;
  readonly handle: ChitchatHandle;
  running: boolean;
  /** Node ids this node has seen live at least once: before that, "dead" means "joining". */
  readonly everLive: Set<string>;
}

/** How one node sees another (or itself). */
interface View {
  readonly status: "self" | "live" | "dead" | "joining" | "unknown" | "stopped";
  /** The max version of the copy the observer holds. */
  readonly version: number;
}

/**
 * Runs the demo: starts three nodes, waits until they agree on membership
 * and keys, stops the third, waits until the other two declare it dead,
 * then shuts everything down.
 *
 * @param options Timing and output sinks.
 * @returns The exit code: 0 when every step happened in time, 1 otherwise.
 *
 * @example
 * ```ts
 * import { main } from "./demo.ts";
 * import assert from "node:assert";
 *
 * const lines: string[] = [];
 * assert(await main({ gossipIntervalMs: 100, stdout: (line) => lines.push(line) }) === 0);
 * assert(lines.some((line) => line.includes("node-1 and node-2 declared node-3 dead")));
 * ```
 */
export async function main(options: DemoOptions = {}): Promise<number> {
  const intervalMs = options.gossipIntervalMs ?? 200;
  const deadlineMs = options.deadlineMs ?? 25_000;
  const stdout = options.stdout ?? ((line: string): void => console.log(line));
  const stderr = options.stderr ?? ((line: string): void => console.error(line));
  const start = performance.now();
  const elapsed = (): string => `${((performance.now() - start) / 1_000).toFixed(2)}s`;
  const nodes: DemoNode[] = [];
  let shownViews = new Map<string, View>();
  let shownOnce = false;

  /** Prints the table, headed by what changed, if any view changed since the last one. */
  const showIfChanged = (): void => {
    const views = allViews(nodes);
    const changes = describeChanges(shownViews, views);
    if (shownOnce && changes.length === 0) return;
    const titles = shownOnce ? changes : ["the three nodes started"];
    shownViews = views;
    shownOnce = true;
    const stamp = `[${elapsed()}]`;
    stdout("");
    titles.forEach((title, i) => stdout(`${i === 0 ? stamp : " ".repeat(stamp.length)} ${title}`));
    for (const line of renderTable(membershipRows(nodes))) stdout(`  ${line}`);
  };

  /** Polls until `done()` holds, printing changes; throws past the deadline. */
  const waitFor = async (what: string, done: () => boolean): Promise<void> => {
    for (;;) {
      refreshEverLive(nodes);
      showIfChanged();
      if (done()) return;
      if (performance.now() - start > deadlineMs) {
        throw new DeadlineError(`${what} did not happen within ${deadlineMs / 1_000} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  };

  stdout(`chitchat demo: three nodes on 127.0.0.1 gossiping every ${intervalMs} ms over UDP`);
  try {
    for (let i = 0; i < NODE_KEYS.length; i++) {
      const nodeId = `node-${i + 1}`;
      const seed = nodes[0]?.handle.chitchatId.gossipAdvertiseAddr;
      const handle = await spawnChitchat({
        chitchatId: {
          nodeId,
          generationId: BigInt(Math.floor(Date.now() / 1_000)),
          // Port 0: the port actually bound is advertised.
          gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 0 },
        },
        clusterId: "demo",
        gossipIntervalMs: intervalMs,
        failureDetector: { initialIntervalMs: intervalMs },
        listenAddr: { hostname: "127.0.0.1", port: 0 },
        seedNodes: seed === undefined ? [] : [formatSocketAddress(seed)],
      });
      nodes.push({ nodeId, handle, running: true, everLive: new Set([nodeId]) });
      for (const [key, value] of NODE_KEYS[i]) handle.selfNodeState().set(key, value);
      const via = seed === undefined ? "the seed" : `seed ${formatSocketAddress(seed)}`;
      stdout(
        `started ${nodeId} on ${formatSocketAddress(handle.localAddr)} (${via}), ` +
          `keys ${keysText(handle.selfNodeState())}`,
      );
    }

    await waitFor(
      "the three nodes agreeing on membership and keys",
      () => nodes.every((observer) => nodes.every((node) => isCaughtUp(observer, node))),
    );
    stdout("");
    stdout(`[${elapsed()}] every node sees every node live, with all its keys`);

    const [first, second, third] = nodes;
    stdout("");
    stdout(`[${elapsed()}] stopping ${third.nodeId}`);
    await third.handle.shutdown({ leave: false });
    third.running = false;
    const stoppedAt = performance.now();
    await waitFor(
      `${first.nodeId} and ${second.nodeId} declaring ${third.nodeId} dead`,
      () => [first, second].every((observer) => isDeclaredDead(observer, third)),
    );
    const after = ((performance.now() - stoppedAt) / 1_000).toFixed(2);
    stdout("");
    stdout(
      `[${elapsed()}] ${first.nodeId} and ${second.nodeId} declared ${third.nodeId} dead, ` +
        `${after}s after it stopped`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof DeadlineError)) throw error;
    stderr(`chitchat demo: ${error.message}`);
    return 1;
  } finally {
    const running = nodes.filter((node) => node.running);
    await Promise.all(running.map((node) => node.handle.shutdown()));
    for (const node of running) node.running = false;
    stdout(`[${elapsed()}] shut down; bye`);
  }
}

function sameNode(id: ChitchatId, nodeId: string): boolean {
  return id.nodeId === nodeId;
}

function refreshEverLive(nodes: readonly DemoNode[]): void {
  for (const observer of nodes) {
    if (!observer.running) continue;
    for (const id of observer.handle.chitchat.liveNodes()) observer.everLive.add(id.nodeId);
  }
}

/** Whether `observer` sees `node` live with all of the node's writes. */
function isCaughtUp(observer: DemoNode, node: DemoNode): boolean {
  if (!observer.running || !node.running) return true;
  const chitchat = observer.handle.chitchat;
  const copy = chitchat.nodeStates().find((state) => sameNode(state.chitchatId, node.nodeId));
  return copy !== undefined &&
    copy.maxVersion === node.handle.selfNodeState().maxVersion &&
    chitchat.liveNodes().some((id) => sameNode(id, node.nodeId));
}

function isDeclaredDead(observer: DemoNode, node: DemoNode): boolean {
  return observer.handle.chitchat.deadNodes().some((id) => sameNode(id, node.nodeId));
}

function keysText(state: NodeState): string {
  return [...state.keyValues()].map(([key, value]) => `${key}=${value}`).join(" ");
}

const RIGHT_ALIGNED = new Set([2, 3]);

function viewOf(observer: DemoNode, node: DemoNode): View {
  if (!observer.running) return { status: "stopped", version: 0 };
  const chitchat = observer.handle.chitchat;
  const copy = chitchat.nodeStates().find((s) => sameNode(s.chitchatId, node.nodeId));
  if (copy === undefined) return { status: "unknown", version: 0 };
  let status: View["status"];
  if (observer === node) status = "self";
  else if (chitchat.liveNodes().some((id) => sameNode(id, node.nodeId))) status = "live";
  else if (observer.everLive.has(node.nodeId)) status = "dead";
  // Heard of but not yet heard from twice: no heartbeat interval, so not live yet.
  else status = "joining";
  return { status, version: copy.maxVersion };
}

function viewText(view: View): string {
  if (view.status === "unknown") return "-";
  if (view.status === "stopped") return "stopped";
  return `${view.status} v${view.version}`;
}

/** Every observer's view of every node, keyed `observer>node`. */
function allViews(nodes: readonly DemoNode[]): Map<string, View> {
  const views = new Map<string, View>();
  for (const observer of nodes) {
    for (const node of nodes) {
      views.set(`${observer.nodeId}>${node.nodeId}`, viewOf(observer, node));
    }
  }
  return views;
}

/** What changed between two sets of views, one short phrase each ("node-1 sees node-2 live"). */
function describeChanges(before: Map<string, View>, after: Map<string, View>): string[] {
  const phrases = new Set<string>();
  for (const [pair, view] of after) {
    const previous = before.get(pair) ?? { status: "unknown", version: 0 };
    const [observer, node] = pair.split(">");
    if (view.status === "stopped") {
      if (previous.status !== "stopped") phrases.add(`${observer} stopped`);
      continue;
    }
    if (observer === node) {
      if (view.version > previous.version) phrases.add(`${node} wrote up to v${view.version}`);
      continue;
    }
    if (view.status === "unknown") continue;
    if (previous.status === "unknown") {
      const keys = view.version > 0 ? `, with its keys up to v${view.version}` : "";
      phrases.add(`${observer} heard of ${node}${keys}`);
    } else if (view.version > previous.version) {
      phrases.add(`${observer} got ${node}'s keys up to v${view.version}`);
    }
    if (previous.status !== view.status && view.status === "live") {
      phrases.add(`${observer} sees ${node} live`);
    }
    if (previous.status !== view.status && view.status === "dead") {
      phrases.add(`${observer} declares ${node} dead`);
    }
  }
  return [...phrases];
}

/**
 * One row per node any running node knows: its own view of itself (or the
 * freshest copy once it stopped), then how each node sees it.
 */
function membershipRows(nodes: readonly DemoNode[]): string[][] {
  const header = ["NODE", "ADDRESS", "HEARTBEAT", "MAX VER", "KEYS"];
  for (const observer of nodes) header.push(`${observer.nodeId} view`);
  const rows = [header];
  for (const node of nodes) {
    const copies = nodes
      .filter((observer) => observer.running)
      .map((observer) =>
        observer.handle.chitchat.nodeStates().find((s) => sameNode(s.chitchatId, node.nodeId))
      )
      .filter((state) => state !== undefined);
    const best = node.running ? node.handle.selfNodeState() : copies.reduce<NodeState | undefined>(
      (a, b) => a === undefined || b.heartbeat > a.heartbeat ? b : a,
      undefined,
    );
    if (best === undefined) continue;
    const row = [
      node.nodeId,
      formatSocketAddress(node.handle.chitchatId.gossipAdvertiseAddr),
      String(best.heartbeat),
      String(best.maxVersion),
      keysText(best),
    ];
    for (const observer of nodes) row.push(viewText(viewOf(observer, node)));
    rows.push(row);
  }
  return rows;
}

function renderTable(rows: readonly string[][]): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) =>
    row.map((cell, column) =>
      RIGHT_ALIGNED.has(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column])
    ).join("  ").trimEnd()
  );
}

if (import.meta.main) {
  // The waits are bounded inside main(); this also bounds start-up and shutdown.
  const watchdog = setTimeout(() => {
    console.error("chitchat demo: did not finish within 30 s");
    Deno.exit(1);
  }, 30_000);
  Deno.unrefTimer(watchdog);
  Deno.exit(await main());
}
