// Copyright the chitchat for Deno authors. MIT license.
/**
 * Times a graceful leave against a crash: three CLI processes over UDP on
 * 127.0.0.1 at a 100 ms interval; one is stopped with SIGTERM (it leaves)
 * or SIGKILL (its peers' failure detector finds it dead), and the time
 * until both peers' `GET /members` show it `left` (or `dead`) is printed.
 *
 * ```sh
 * deno run -A bench/leave_timing.ts [trials]
 * ```
 *
 * @module
 */

import { statusOf, stopAll, threeNodes, until } from "../tests/cli/_cli_nodes.ts";

const trials = Number(Deno.args[0] ?? 5);

/** Acknowledgements the leaving node reported, per SIGTERM trial. */
const acknowledgements: string[] = [];

async function trial(signal: "SIGTERM" | "SIGKILL"): Promise<number> {
  const want = signal === "SIGTERM" ? "left" : "dead";
  const nodes = await threeNodes();
  try {
    const [a, b, c] = nodes;
    const since = performance.now();
    c.child.kill(signal);
    const times = await Promise.all(
      [a, b].map((peer) =>
        until(async () => (await statusOf(peer, c.nodeId)) === want, `${c.nodeId} ${want}`, since)
      ),
    );
    if (signal === "SIGTERM") {
      await c.child.status;
      await c.closed;
      const line = c.lines.find((l) => l.includes("peers acknowledging"));
      acknowledgements.push(line?.match(/acknowledging: (\d+)/)?.[1] ?? "?");
    }
    return Math.max(...times);
  } finally {
    await stopAll(nodes);
  }
}

const median = (values: number[]): number => [...values].sort((x, y) => x - y)[values.length >> 1];
for (const signal of ["SIGTERM", "SIGKILL"] as const) {
  const times: number[] = [];
  for (let i = 0; i < trials; i++) times.push(await trial(signal));
  console.log(
    `${signal}: off both peers' live sets (${signal === "SIGTERM" ? "left" : "dead"}) after ` +
      `${times.join(", ")} ms (median ${median(times)}, max ${Math.max(...times)})`,
  );
  if (signal === "SIGTERM") {
    console.log(`  peers acknowledging the leave: ${acknowledgements.join(", ")}`);
  }
}
