// Copyright the chitchat for Deno authors. MIT license.
// Simulation suite: small versions of the scenarios behind
// `deno task simulate` (the same code, tests/_simulation/scenarios.ts), asserting on
// outcomes (converged, detected, nothing lost, all state received), never
// on wall-clock time; then the Simulator itself: reproducibility from the
// seed, one-way cuts, per-link loss and delay, restarts, false-death
// counting; and the simulate command's command line and JSON output.

import { deepStrictEqual, equal, match, notDeepStrictEqual, ok } from "node:assert/strict";
import {
  bigState,
  coldStart,
  failureDetection,
  gracefulLeave,
  largeCluster,
  partitionHeal,
  startCluster,
} from "../_simulation/scenarios.ts";
import { main as simulate, summarize } from "../_simulation/simulate_command.ts";
import type { CaseRun, SimulationCase } from "../_simulation/cases.ts";
import { type SimulatedNode, Simulator } from "../../lib/testing/mod.ts";

Deno.test("cold start: 20 nodes knowing 3 seeds each converge", async () => {
  for (const seed of [1, 2]) {
    const result = await coldStart({ seed, n: 20 });
    equal(result.failure, undefined);
    ok(result.convergedMs !== undefined && result.convergedMs > 0);
  }
});

Deno.test("a run that misses its goal reports no value and why, at its limit", async () => {
  const result = await coldStart({ seed: 1, n: 20, limitMs: 500 });
  equal(result.convergedMs, undefined);
  match(result.failure ?? "", /did not converge within 0\.5 s/);
});

Deno.test("failure detection: every other node declares a stopped node dead", async (t) => {
  await t.step("300 ms interval", async () => {
    const result = await failureDetection({ seed: 1, n: 20, gossipIntervalMs: 300 });
    equal(result.failure, undefined);
    ok(result.allMs !== undefined && result.oneMs !== undefined);
    // One observer cannot be later than all of them.
    ok(result.oneMs <= result.allMs);
  });
  await t.step("300 ms interval, 50% message loss from the start", async () => {
    const result = await failureDetection({ seed: 1, n: 20, gossipIntervalMs: 300, loss: 0.5 });
    equal(result.failure, undefined);
    ok(result.allMs !== undefined);
  });
});

Deno.test("graceful leave: every other node lists the node left, none dead, 3 peers acknowledged", async () => {
  const result = await gracefulLeave({ seed: 1, n: 20, gossipIntervalMs: 300 });
  equal(result.failure, undefined);
  ok(result.allMs !== undefined);
  equal(result.acknowledged, 3);
  equal(result.deadSightings, 0);
});

Deno.test("large cluster: 40 nodes in 1,500-byte datagrams, windowed and sampled digests", async () => {
  for (const digestMode of ["windowed", "sampled"] as const) {
    const result = await largeCluster({ seed: 1, n: 40, digestMode, maxMessageBytes: 1_500 });
    // Windows reach every goal; the sample may not (the scenario exists to compare them),
    // but every phase still runs and reports.
    if (digestMode === "windowed") {
      equal(result.failure, undefined);
      ok(result.convergedMs !== undefined && result.propagationMaxMs !== undefined);
    }
    ok(result.detectedMs !== undefined && result.bytesPerNodePerS !== undefined);
    ok(result.largestDatagramBytes > 1_000 && result.largestDatagramBytes <= 1_500);
    // Only windowed nodes read windows; the 40 nodes' digests do not fit.
    equal(result.digestsReadAsWindows > 0, digestMode === "windowed");
  }
});

Deno.test("partition and heal: both halves write, nothing crosses, nothing is lost", async () => {
  const result = await partitionHeal({ seed: 1, n: 20, splitMs: 30_000 });
  equal(result.failure, undefined);
  ok(result.reconvergedMs !== undefined);
  equal(result.crossedBeforeHeal, 0);
  equal(result.lostWrites, 0);
});

Deno.test("big state: a node with 2,000 keys joining 10 nodes reaches all of them", async () => {
  const big = await bigState({ seed: 1, n: 10, bigKeys: 2_000 });
  equal(big.failure, undefined);
  ok(big.receivedMs !== undefined && big.bytes !== undefined);
  // The keys did cross the network: the same join with 10 keys costs far
  // less (sizes are zstd-compressed, as on the wire, so no per-key floor).
  const small = await bigState({ seed: 1, n: 10, bigKeys: 10 });
  ok(small.bytes !== undefined && big.bytes > 5 * small.bytes, `${big.bytes} vs ${small.bytes}`);
});

/** Everything observable about a run: traffic, protocol counters, views. */
async function fingerprint(seed: number): Promise<unknown> {
  await using cluster = await startCluster({ seed, n: 12 });
  const { sim, nodes } = cluster;
  sim.setDropProbability(0.2);
  sim.setDelay((random) => 5 + 40 * random());
  await sim.advance(20_000);
  return {
    traffic: sim.traffic(),
    perNode: nodes.map((node) => ({
      traffic: sim.traffic(node),
      metrics: node.handle.metrics(),
      live: [...sim.liveSet(node)],
      heartbeats: node.handle.chitchat.nodeStates().map((state) => state.heartbeat),
    })),
  };
}

Deno.test("a run is reproducible from its seed", async () => {
  const first = await fingerprint(5);
  deepStrictEqual(await fingerprint(5), first);
  notDeepStrictEqual(await fingerprint(6), first);
});

async function twoNodes(sim: Simulator): Promise<[SimulatedNode, SimulatedNode]> {
  const a = await sim.addNode();
  await sim.advance(sim.gossipIntervalMs / 2);
  const b = await sim.addNode({ seeds: [a] });
  ok(await sim.runUntil(() => sim.isConverged(), 30_000) !== undefined);
  return [a, b];
}

Deno.test("a one-way cut drops one direction only", async () => {
  await using sim = new Simulator({ seed: 3 });
  const [a, b] = await twoNodes(sim);
  sim.cut(a, b, { oneWay: true });
  sim.resetTraffic();
  await sim.advance(30_000);
  const fromA = sim.traffic(a);
  const fromB = sim.traffic(b);
  ok(fromA.messagesSent > 0);
  equal(fromA.messagesDropped, fromA.messagesSent);
  ok(fromB.messagesSent > 0);
  equal(fromB.messagesDropped, 0);
  // b's SYNs still carry its heartbeat to a; nothing of a reaches b.
  ok(sim.liveSet(a).has("node-1@1"));
  ok(sim.deadSet(b).has("node-0@1"));
});

Deno.test("per-link loss overrides the global loss, one direction at a time", async (t) => {
  await using sim = new Simulator({ seed: 4 });
  const [a, b] = await twoNodes(sim);
  const window = async (): Promise<[number, number]> => {
    sim.resetTraffic();
    await sim.advance(20_000);
    const [fromA, fromB] = [sim.traffic(a), sim.traffic(b)];
    ok(fromA.messagesSent > 0 && fromB.messagesSent > 0);
    return [
      fromA.messagesDropped / fromA.messagesSent,
      fromB.messagesDropped / fromB.messagesSent,
    ];
  };
  await t.step("a link lost entirely", async () => {
    sim.setLinkDropProbability(a, b, 1);
    deepStrictEqual(await window(), [1, 0]);
  });
  await t.step("a link back to the global loss", async () => {
    sim.setLinkDropProbability(a, b, undefined);
    deepStrictEqual(await window(), [0, 0]);
  });
  await t.step("a link spared from a total global loss", async () => {
    sim.setDropProbability(1);
    sim.setLinkDropProbability(a, b, 0);
    deepStrictEqual(await window(), [0, 1]);
  });
  await t.step("a link losing half its messages", async () => {
    sim.setDropProbability(0);
    sim.setLinkDropProbability(a, b, 0.5);
    const [lossA, lossB] = await window();
    ok(lossA > 0.25 && lossA < 0.75, `a -> b lost ${lossA}`);
    equal(lossB, 0);
  });
});

Deno.test("per-link and global delays hold messages back", async (t) => {
  await using sim = new Simulator({ seed: 5 });
  const [a, b] = await twoNodes(sim);
  const delayMs = 2_500;
  /** Writes a key on a; the virtual time until b has it. */
  const arrival = async (key: string): Promise<number> => {
    const writtenAt = sim.now;
    a.handle.selfNodeState().set(key, "x");
    const at = await sim.runUntil(() => sim.everyoneHas(a, key, "x"), 30_000, 10);
    ok(at !== undefined, `${key} never reached b`);
    return at - writtenAt;
  };
  await t.step("no delay: within a gossip round", async () => {
    ok(await arrival("k1") < delayMs);
  });
  await t.step("a -> b delayed: every path to b waits", async () => {
    sim.setLinkDelay(a, b, () => delayMs);
    ok(await arrival("k2") >= delayMs);
  });
  await t.step("back to no delay", async () => {
    sim.setLinkDelay(a, b, undefined);
    // Let the messages already delayed land first.
    await sim.advance(delayMs);
    ok(await arrival("k3") < delayMs);
  });
  await t.step("a global delay", async () => {
    sim.setDelay(() => delayMs);
    ok(await arrival("k4") >= delayMs);
  });
});

Deno.test("a restart takes a new generation that replaces the old one everywhere", async () => {
  await using cluster = await startCluster({ seed: 7, n: 10 });
  const { sim, nodes } = cluster;
  ok(await sim.runUntil(() => sim.isConverged(), 60_000) !== undefined);
  const node = nodes[6];
  await sim.stopNode(node);
  equal(node.running, false);
  equal(node.chitchatId.generationId, 1n);
  await sim.restartNode(node);
  equal(node.generation, 2n);
  equal(node.chitchatId.generationId, 2n);
  ok(await sim.runUntil(() => sim.isConverged(), 60_000) !== undefined);
  for (const observer of sim.runningNodes()) {
    const live = sim.liveSet(observer);
    ok(live.has("node-6@2"));
    ok(!live.has("node-6@1"));
    // The new incarnation started over with its initial key-values.
    equal(sim.view(observer).get("node-6@2")?.get("key-0"), "value-6-0");
  }
});

Deno.test("watchFalseDeaths() counts running nodes declared dead, not stopped ones", async () => {
  await using sim = new Simulator({ seed: 8 });
  const [a, b] = await twoNodes(sim);
  const c = await sim.addNode({ seeds: [a] });
  ok(await sim.runUntil(() => sim.isConverged(), 30_000) !== undefined);
  const watch = sim.watchFalseDeaths();
  await sim.stopNode(c);
  ok(await sim.runUntil(() => sim.everyoneSeesDead(c), 60_000) !== undefined);
  equal(watch.count, 0);
  sim.partition([a], [b]);
  ok(await sim.runUntil(() => sim.everyoneSeesDead(a) && sim.everyoneSeesDead(b), 60_000));
  deepStrictEqual(
    watch.deaths.map((death) => `${death.observer} -> ${death.subject}`).sort(),
    ["node-0@1 -> node-1@1", "node-1@1 -> node-0@1"],
  );
  watch[Symbol.dispose]();
  sim.healAll();
  ok(await sim.runUntil(() => sim.isConverged(), 60_000) !== undefined);
  sim.partition([a], [b]);
  await sim.advance(60_000);
  equal(watch.count, 2);
});

Deno.test("deno task simulate runs one scenario and writes its JSON rows", async (t) => {
  await t.step("a run", async () => {
    const json = await Deno.makeTempFile({ suffix: ".json" });
    try {
      const out: string[] = [];
      const err: string[] = [];
      const code = await simulate(
        ["--scenario", "cold-start", "--max-n", "10", "--seeds", "2", "--json", json],
        { stdout: (line) => out.push(line), stderr: (line) => err.push(line) },
      );
      equal(code, 0);
      const { rows } = JSON.parse(await Deno.readTextFile(json));
      equal(rows.length, 1);
      const [row] = rows;
      deepStrictEqual(
        [row.scenario, row.n, row.metric, row.unit, row.runs],
        ["cold-start", 10, "converged", "s after last start", "2/2"],
      );
      ok(typeof row.value === "number" && row.value > 0);
      ok(typeof row.realMs === "number");
      // One progress line per seed; the table: header, rule, one row.
      equal(err.length, 2);
      match(out[0], /^\| scenario +\| +N \|/);
      match(out[2], /^\| cold-start +\| +10 \|/);
    } finally {
      await Deno.remove(json);
    }
  });
  await t.step("bad command lines exit with 2 and one line", async () => {
    for (
      const [args, reason] of [
        [["--scenario", "nope"], /unknown scenario "nope"/],
        [["--seeds", "0"], /invalid --seeds "0"/],
        [["--bogus"], /--bogus/],
      ] as const
    ) {
      const err: string[] = [];
      equal(await simulate(args, { stdout: () => {}, stderr: (line) => err.push(line) }), 2);
      equal(err.length, 1);
      match(err[0], reason);
    }
  });
  await t.step("--help", async () => {
    const out: string[] = [];
    equal(await simulate(["--help"], { stdout: (line) => out.push(line) }), 0);
    match(out.join("\n"), /--scenario NAME/);
  });
});

Deno.test("a table row is the median over seeds, a missed goal counting as above the limit", () => {
  const simulationCase: SimulationCase = {
    scenario: "demo",
    n: 3,
    setting: "",
    metrics: [{ name: "t", unit: "s", scale: 0.001 }, { name: "lost", unit: "writes", scale: 1 }],
    run: () => Promise.reject(new Error("not run here")),
  };
  const reached = (t: number): CaseRun => ({ values: new Map([["t", t], ["lost", 0]]) });
  const missed: CaseRun = {
    values: new Map([["t", undefined], ["lost", 2]]),
    failure: "not converged within 1 s",
  };
  const [oneMissed, lostWithOneMissed] = summarize(
    simulationCase,
    [reached(3_000), missed, reached(1_000)],
    [10, 30, 20],
  );
  // The missed run is the slowest, so the median is the slower of the others.
  deepStrictEqual(
    [oneMissed.value, oneMissed.runs, oneMissed.realMs, oneMissed.note],
    [3, "2/3", 20, "not converged within 1 s"],
  );
  equal(lostWithOneMissed.value, 0);
  const [twoMissed] = summarize(simulationCase, [reached(1_000), missed, missed], [1, 1, 1]);
  equal(twoMissed.value, null);
  equal(twoMissed.runs, "1/3");
});
