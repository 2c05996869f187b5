// Copyright the chitchat for Deno authors. MIT license.
/**
 * A flood of one million fake nodes against a three-node CLI cluster over
 * UDP on 127.0.0.1 at a 100 ms interval: SYNs whose digests each announce
 * 1,100 fresh node ids are sent to the first node (the victim) at a fixed
 * rate, while this script asks the victim's `GET /health` every 20 ms and
 * the two honest nodes' `GET /members` every 250 ms (any honest node seen
 * `dead` is a false death), and samples the victim's resident memory.
 *
 * ```sh
 * deno run -A bench/syn_flood.ts [syns=910] [per-second=50]
 * ```
 *
 * Linux only (the victim's memory is read from /proc). The datagrams are
 * made before the clock starts, so making them costs the victim nothing.
 *
 * @module
 */

import dgram from "node:dgram";
import { Digest, encodeMessage } from "../mod.ts";

const SYNS = Number(Deno.args[0] ?? 910);
const PER_SECOND = Number(Deno.args[1] ?? 50);
const IDS_PER_SYN = 1_100;
const CLUSTER = "flood";
const cli = new URL("../lib/cli/cli.ts", import.meta.url).pathname;

interface Node {
  readonly child: Deno.ChildProcess;
  readonly gossip: number;
  readonly http: string;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function startNode(gossip: number, seed: number): Node {
  const httpPort = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      cli,
      `--listen=127.0.0.1:${gossip}`,
      `--seed=127.0.0.1:${seed}`,
      `--cluster-id=${CLUSTER}`,
      "--interval-ms=100",
      `--http=127.0.0.1:${httpPort}`,
      "--log-level=error",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return { child, gossip, http: `http://127.0.0.1:${httpPort}` };
}

function fakeSyns(): Uint8Array[] {
  const syns: Uint8Array[] = [];
  let n = 0;
  for (let s = 0; s < SYNS; s++) {
    const entries = [];
    for (let i = 0; i < IDS_PER_SYN; i++, n++) {
      entries.push({
        chitchatId: {
          nodeId: `fake-node-${n}`,
          generationId: 1n,
          gossipAdvertiseAddr: { hostname: "127.0.0.2", port: 1 + (n % 60_000) },
        },
        heartbeat: 5,
        lastGcVersion: 0,
        maxVersion: 3,
      });
    }
    syns.push(encodeMessage({ type: "syn", clusterId: CLUSTER, digest: new Digest(entries) }));
  }
  return syns;
}

async function residentMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const syns = fakeSyns();
const ports = [freePort(), freePort(), freePort()];
// The victim does not seed itself: with a seed of its own it would count
// the flood's first SYN as an answer.
const nodes = ports.map((port, i) => startNode(port, ports[i === 0 ? 1 : 0]));
const [victim, ...honest] = nodes;
// node:dgram, so no --unstable-net is needed.
const socket = dgram.createSocket("udp4");
await new Promise<void>((bound) => socket.bind(0, "127.0.0.1", bound));
const send = (bytes: Uint8Array, port: number) =>
  new Promise<void>((sent, failed) =>
    socket.send(bytes, port, "127.0.0.1", (error) => error ? failed(error) : sent())
  );
try {
  await sleep(4_000);
  const rssBefore = await residentMiB(victim.child.pid);
  let flooding = true;
  const latencies: number[] = [];
  let falseDeaths = 0;
  let rssPeak = rssBefore;
  const health = (async () => {
    while (flooding) {
      const started = performance.now();
      try {
        const response = await fetch(`${victim.http}/health`, {
          signal: AbortSignal.timeout(5_000),
        });
        await response.body?.cancel();
      } catch {
        // A timeout counts as the 5 s it took.
      }
      latencies.push(performance.now() - started);
      await sleep(20);
    }
  })();
  const watch = (async () => {
    while (flooding) {
      for (const node of honest) {
        try {
          const rows = await (await fetch(`${node.http}/members`)).json() as {
            nodeId: string;
            status: string;
          }[];
          falseDeaths += rows.filter((row) =>
            row.status === "dead" && !row.nodeId.startsWith("fake-node-")
          ).length;
        } catch {
          // A node too busy to answer is not a death.
        }
      }
      rssPeak = Math.max(rssPeak, await residentMiB(victim.child.pid));
      await sleep(250);
    }
  })();
  const started = performance.now();
  for (let i = 0; i < syns.length; i++) {
    await send(syns[i], victim.gossip);
    const wait = started + ((i + 1) * 1_000) / PER_SECOND - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const seconds = (performance.now() - started) / 1_000;
  await sleep(2_000);
  flooding = false;
  await Promise.all([health, watch]);
  latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    syns: SYNS,
    fakeNodes: SYNS * IDS_PER_SYN,
    seconds: Number(seconds.toFixed(1)),
    healthProbes: latencies.length,
    healthMedianMs: Number(quantile(latencies, 0.5).toFixed(1)),
    healthP99Ms: Number(quantile(latencies, 0.99).toFixed(1)),
    healthMaxMs: Number(latencies.at(-1)!.toFixed(1)),
    victimRssGrowthMiB: Math.round(rssPeak - rssBefore),
    falseDeathSightings: falseDeaths,
  }));
} finally {
  socket.close();
  for (const node of nodes) node.child.kill("SIGTERM");
  await Promise.all(nodes.map((node) => node.child.status));
}
