// Copyright the chitchat for Deno authors. MIT license.
// Real time to simulate 60 virtual seconds of a cluster, one group per
// shape: `simulation N=<n> K=<keys>`. The bench name carries the virtual
// span, so the time per iteration reads directly as a speed ratio (60 s
// real per iteration: real time; 1.2 s: 50x faster). Starting the nodes
// (spread over one gossip interval, 3 seeds each) stays outside
// b.start()/b.end(); the measured minute begins with the cluster's cold
// start, then runs at steady state. CHITCHAT_BENCH_N=<n> runs one shape.

import { startCluster } from "../tests/_simulation/scenarios.ts";

const VIRTUAL_MS = 60_000;
const KEYS = 10;
const only = Deno.env.get("CHITCHAT_BENCH_N");

for (
  const [n, iterations] of [
    [100, 5],
    // About a minute of real time per run: once (deno bench adds one warmup run).
    [1_000, 1],
  ] as const
) {
  if (only !== undefined && String(n) !== only) continue;
  Deno.bench({
    name: `simulation N=${n} K=${KEYS}: 60 virtual s`,
    group: `simulation N=${n} K=${KEYS}`,
    baseline: true,
    n: iterations,
    warmup: iterations === 1 ? 0 : 1,
    async fn(b) {
      await using cluster = await startCluster({ seed: 1, n, keys: KEYS });
      b.start();
      await cluster.sim.advance(VIRTUAL_MS);
      b.end();
    },
  });
}
