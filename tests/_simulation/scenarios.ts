// Copyright the chitchat for Deno authors. MIT license.
// Simulation scenarios behind `deno task simulate` (bench/simulate.ts) and
// tests/simulation_test.ts: one async function per scenario, taking its
// shape ({ seed, n, ... }) and returning its measurements in virtual
// milliseconds (or counts). Each builds its own Simulator and shuts it down
// before returning, so a run holds no memory afterwards. A goal not reached
// within the scenario's limit is `undefined`, with the reason in `failure`.

import { type SimulatedNode, Simulator } from "../../lib/testing/mod.ts";
import { chitchatInternals, type DigestMode } from "../../lib/core/chitchat.ts";

/** What every scenario takes. */
export interface ScenarioOptions {
  /** Seed of the simulation. */
  readonly seed: number;
  /** Cluster size. */
  readonly n: number;
  /** Gossip interval (the failure detector's prior interval follows it). Default 1,000 ms. */
  readonly gossipIntervalMs?: number;
  /** Key-values each node starts with. Default 10. */
  readonly keys?: number;
  /** Virtual time allowed to reach the scenario's goal. Default per scenario. */
  readonly limitMs?: number;
}

/** What every scenario returns besides its measurements. */
export interface ScenarioOutcome {
  /** Why a measurement is missing (a goal not reached in time), if one is. */
  readonly failure: string | undefined;
}

/** Nodes know this many seeds (the first nodes started). */
export const SEED_COUNT = 3;
/** Virtual time allowed for a cluster to converge before a scenario's own phase. */
export const CONVERGENCE_LIMIT_MS = 120_000;

/** A started cluster; disposing it shuts its simulator down. */
export interface Cluster extends AsyncDisposable {
  /** The simulation. */
  readonly sim: Simulator;
  /** The nodes, in start order (the first {@linkcode SEED_COUNT} are the seeds). */
  readonly nodes: SimulatedNode[];
  /** Virtual time at which the last node started. */
  readonly lastStartMs: number;
}

/** `key-<k>` = `value-<node>-<k>` for k < count: states differ per node, as in production. */
function keyValuesOf(index: number, count: number): [string, string][] {
  const out: [string, string][] = [];
  for (let k = 0; k < count; k++) out.push([`key-${k}`, `value-${index}-${k}`]);
  return out;
}

/**
 * Starts `n` nodes, their starts spread evenly over one gossip interval
 * (nodes started at the same instant would gossip in lockstep), every node
 * seeded with the first {@linkcode SEED_COUNT} nodes only.
 */
export async function startCluster(
  options: Omit<ScenarioOptions, "limitMs">,
  extra: {
    readonly dropProbability?: number;
    readonly digestMode?: DigestMode;
    readonly maxMessageBytes?: number;
  } = {},
): Promise<Cluster> {
  const interval = options.gossipIntervalMs ?? 1_000;
  const sim = new Simulator({
    seed: options.seed,
    gossipIntervalMs: interval,
    dropProbability: extra.dropProbability,
  });
  const nodes: SimulatedNode[] = [];
  const keys = options.keys ?? 10;
  try {
    for (let i = 0; i < options.n; i++) {
      if (i > 0) await sim.advance(interval / options.n);
      const seeds = i < SEED_COUNT ? [] : nodes.slice(0, SEED_COUNT);
      const node = await sim.addNode({ seeds, keyValues: keyValuesOf(i, keys) });
      if (extra.digestMode !== undefined) {
        chitchatInternals.setDigestMode(node.handle.chitchat, extra.digestMode);
      }
      if (extra.maxMessageBytes !== undefined) {
        chitchatInternals.setMaxMessageBytes(node.handle.chitchat, extra.maxMessageBytes);
      }
      nodes.push(node);
      // The seeds know each other too (also for their restarts).
      if (i === SEED_COUNT - 1) await sim.addSeeds(nodes, nodes);
    }
  } catch (error) {
    await sim.shutdown();
    throw error;
  }
  return { sim, nodes, lastStartMs: sim.now, [Symbol.asyncDispose]: () => sim.shutdown() };
}

/** Runs until converged; the time it took, or `undefined` past the limit. */
async function converge(sim: Simulator, limitMs: number): Promise<number | undefined> {
  const start = sim.now;
  const at = await sim.runUntil(() => sim.isConverged(), limitMs);
  return at === undefined ? undefined : at - start;
}

function notConverged(limitMs: number): string {
  return `the cluster did not converge within ${limitMs / 1_000} s`;
}

function pick<T>(sim: Simulator, items: readonly T[]): T {
  return items[Math.floor(sim.random() * items.length)];
}

/** Median of finite numbers (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("Cannot take the median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Result of {@linkcode coldStart}. */
export interface ColdStartResult extends ScenarioOutcome {
  /** From the last node's start until fully converged. */
  readonly convergedMs: number | undefined;
}

/** All nodes start (3 seeds each): time until fully converged, from the last start. */
export async function coldStart(options: ScenarioOptions): Promise<ColdStartResult> {
  const limitMs = options.limitMs ?? CONVERGENCE_LIMIT_MS;
  await using cluster = await startCluster(options);
  const { sim, lastStartMs } = cluster;
  const at = await sim.runUntil(() => sim.isConverged(), limitMs);
  return {
    convergedMs: at === undefined ? undefined : at - lastStartMs,
    failure: at === undefined ? notConverged(limitMs) : undefined,
  };
}

/** Result of {@linkcode propagation}. */
export interface PropagationResult extends ScenarioOutcome {
  /** Median over the other nodes of the time the key took to reach them. */
  readonly medianMs: number | undefined;
  /** Time until the last node had it. */
  readonly maxMs: number | undefined;
}

/** On a converged cluster, one node sets a key: arrival time at each other node. */
export async function propagation(options: ScenarioOptions): Promise<PropagationResult> {
  const limitMs = options.limitMs ?? 60_000;
  await using cluster = await startCluster(options);
  const { sim, nodes } = cluster;
  if (await converge(sim, CONVERGENCE_LIMIT_MS) === undefined) {
    return { medianMs: undefined, maxMs: undefined, failure: notConverged(CONVERGENCE_LIMIT_MS) };
  }
  const writer = pick(sim, nodes);
  const value = `probe-${options.seed}`;
  const writtenAt = sim.now;
  const arrivals = new Map<SimulatedNode, number>();
  const subscriptions = nodes.filter((node) => node !== writer).map((observer) =>
    observer.handle.subscribeEvent("probe", (event) => {
      // The prefix is stripped: "" is exactly the key "probe".
      if (event.key !== "" || event.node.nodeId !== writer.nodeId || event.value !== value) return;
      if (!arrivals.has(observer)) arrivals.set(observer, sim.now - writtenAt);
    })
  );
  writer.handle.selfNodeState().set("probe", value);
  const done = await sim.runUntil(() => arrivals.size === nodes.length - 1, limitMs);
  for (const subscription of subscriptions) subscription.unsubscribe();
  if (done === undefined) {
    return {
      medianMs: undefined,
      maxMs: undefined,
      failure: `${nodes.length - 1 - arrivals.size} nodes missed the key after ${
        limitMs / 1_000
      } s`,
    };
  }
  const times = [...arrivals.values()];
  return { medianMs: median(times), maxMs: Math.max(...times), failure: undefined };
}

/** Options of {@linkcode failureDetection}. */
export interface FailureDetectionOptions extends ScenarioOptions {
  /** Message loss from the very start, as in the reference's faulty-network test. Default 0. */
  readonly loss?: number;
}

/** Result of {@linkcode failureDetection}. */
export interface FailureDetectionResult extends ScenarioOutcome {
  /** From the stop until every other node considers the node dead. */
  readonly allMs: number | undefined;
  /** From the stop until node-1 considers it dead (the reference watches one node, `handles[1]`). */
  readonly oneMs: number | undefined;
}

/** On a converged cluster, a random non-seed node stops: time until it is declared dead. */
export async function failureDetection(
  options: FailureDetectionOptions,
): Promise<FailureDetectionResult> {
  const limitMs = options.limitMs ?? 120_000;
  await using cluster = await startCluster(options, { dropProbability: options.loss ?? 0 });
  const { sim, nodes } = cluster;
  if (await converge(sim, CONVERGENCE_LIMIT_MS) === undefined) {
    return { allMs: undefined, oneMs: undefined, failure: notConverged(CONVERGENCE_LIMIT_MS) };
  }
  const victim = pick(sim, nodes.slice(SEED_COUNT));
  const observer = nodes[1];
  const stoppedAt = sim.now;
  await sim.stopNode(victim);
  let oneMs: number | undefined;
  const done = await sim.runUntil(() => {
    if (
      oneMs === undefined &&
      !chitchatInternals.failureDetector(observer.handle.chitchat).isLive(victim.chitchatId)
    ) {
      oneMs = sim.now - stoppedAt;
    }
    return sim.everyoneSeesDead(victim);
  }, limitMs);
  return {
    allMs: done === undefined ? undefined : done - stoppedAt,
    oneMs,
    failure: done === undefined ? `not detected everywhere within ${limitMs / 1_000} s` : undefined,
  };
}

/** Result of {@linkcode gracefulLeave}. */
export interface GracefulLeaveResult extends ScenarioOutcome {
  /** From the leave until every other node lists the node as left. */
  readonly allMs: number | undefined;
  /** Peers that acknowledged the leave before the node stopped. */
  readonly acknowledged: number | undefined;
  /** Observers that listed the node dead at any check (a leave must not look like a death). */
  readonly deadSightings: number | undefined;
}

/** On a converged cluster, a random non-seed node leaves gracefully: time until all know it. */
export async function gracefulLeave(options: ScenarioOptions): Promise<GracefulLeaveResult> {
  const limitMs = options.limitMs ?? 60_000;
  await using cluster = await startCluster(options);
  const { sim, nodes } = cluster;
  if (await converge(sim, CONVERGENCE_LIMIT_MS) === undefined) {
    return {
      allMs: undefined,
      acknowledged: undefined,
      deadSightings: undefined,
      failure: notConverged(CONVERGENCE_LIMIT_MS),
    };
  }
  const leaver = pick(sim, nodes.slice(SEED_COUNT));
  const leftAt = sim.now;
  const leaving = sim.leaveNode(leaver);
  let deadSightings = 0;
  const done = await sim.runUntil(() => {
    for (const observer of sim.runningNodes()) {
      if (sim.deadSet(observer).has(`${leaver.nodeId}@${leaver.generation}`)) deadSightings++;
    }
    return sim.everyoneSeesLeft(leaver);
  }, limitMs);
  // The leave itself ends within its deadline, long before any limit.
  await sim.advance(2 * (options.gossipIntervalMs ?? 1_000));
  const acknowledged = await leaving;
  return {
    allMs: done === undefined ? undefined : done - leftAt,
    acknowledged,
    deadSightings,
    failure: done === undefined ? `not known everywhere within ${limitMs / 1_000} s` : undefined,
  };
}

/** Options of {@linkcode falseDeaths}. */
export interface FalseDeathsOptions extends ScenarioOptions {
  /** Message loss once converged. */
  readonly loss: number;
  /** How long to watch. Default 5 virtual minutes. */
  readonly durationMs?: number;
  /**
   * Loss-free time between convergence and the loss. Default 0. Longer
   * lets the failure detectors learn the loss-free heartbeat rhythm (a
   * shorter mean interval than under loss) instead of the lenient prior.
   */
  readonly settleMs?: number;
}

/** Result of {@linkcode falseDeaths}. */
export interface FalseDeathsResult extends ScenarioOutcome {
  /** Live -> dead transitions of running nodes, summed over observers. */
  readonly falseDeaths: number | undefined;
  /** Distinct running nodes declared dead at least once. */
  readonly nodesAffected: number | undefined;
}

/** A converged cluster under message loss: how often a running node is declared dead. */
export async function falseDeaths(options: FalseDeathsOptions): Promise<FalseDeathsResult> {
  await using cluster = await startCluster(options);
  const { sim } = cluster;
  if (await converge(sim, CONVERGENCE_LIMIT_MS) === undefined) {
    return {
      falseDeaths: undefined,
      nodesAffected: undefined,
      failure: notConverged(CONVERGENCE_LIMIT_MS),
    };
  }
  await sim.advance(options.settleMs ?? 0);
  sim.setDropProbability(options.loss);
  using watch = sim.watchFalseDeaths();
  await sim.advance(options.durationMs ?? 300_000);
  return {
    falseDeaths: watch.count,
    nodesAffected: new Set(watch.deaths.map((death) => death.subject)).size,
    failure: undefined,
  };
}

/** Options of {@linkcode bandwidth}. */
export interface BandwidthOptions extends ScenarioOptions {
  /** Length of the measured window. Default 10 virtual seconds. */
  readonly windowMs?: number;
}

/** Result of {@linkcode bandwidth}. */
export interface BandwidthResult extends ScenarioOutcome {
  /** Bytes sent per node per second at steady state. */
  readonly bytesPerNodePerS: number | undefined;
  /** Messages sent per node per second at steady state. */
  readonly messagesPerNodePerS: number | undefined;
  /** False deaths during the window (expected 0: no loss). */
  readonly falseDeaths: number | undefined;
}

/** Steady-state traffic of a converged cluster. */
export async function bandwidth(options: BandwidthOptions): Promise<BandwidthResult> {
  const windowMs = options.windowMs ?? 10_000;
  await using cluster = await startCluster(options);
  const { sim, nodes } = cluster;
  if (await converge(sim, CONVERGENCE_LIMIT_MS) === undefined) {
    return {
      bytesPerNodePerS: undefined,
      messagesPerNodePerS: undefined,
      falseDeaths: undefined,
      failure: notConverged(CONVERGENCE_LIMIT_MS),
    };
  }
  using watch = sim.watchFalseDeaths();
  sim.resetTraffic();
  await sim.advance(windowMs);
  const traffic = sim.traffic();
  const perNodePerS = nodes.length * windowMs / 1_000;
  return {
    bytesPerNodePerS: traffic.bytesSent / perNodePerS,
    messagesPerNodePerS: traffic.messagesSent / perNodePerS,
    falseDeaths: watch.count,
    failure: undefined,
  };
}

/** Options of {@linkcode partitionHeal}. */
export interface PartitionHealOptions extends ScenarioOptions {
  /** How long the halves stay apart. Default 60 virtual seconds. */
  readonly splitMs?: number;
}

/** Result of {@linkcode partitionHeal}. */
export interface PartitionHealResult extends ScenarioOutcome {
  /** From the heal until fully converged again. */
  readonly reconvergedMs: number | undefined;
  /** Writes made during the split and not on every node at the end (must be 0). */
  readonly lostWrites: number;
  /** Writes seen on the other side before the heal (must be 0: the split held). */
  readonly crossedBeforeHeal: number;
}

/**
 * A converged cluster split in two halves (first half of the nodes, second
 * half); during the split every node writes one key at a random time of
 * its first half; then the network heals.
 */
export async function partitionHeal(options: PartitionHealOptions): Promise<PartitionHealResult> {
  const limitMs = options.limitMs ?? 300_000;
  const splitMs = options.splitMs ?? 60_000;
  await using cluster = await startCluster(options);
  const { sim, nodes } = cluster;
  if (await converge(sim, CONVERGENCE_LIMIT_MS) === undefined) {
    return {
      reconvergedMs: undefined,
      lostWrites: 0,
      crossedBeforeHeal: 0,
      failure: notConverged(CONVERGENCE_LIMIT_MS),
    };
  }
  const half = nodes.length >> 1;
  sim.partition(nodes.slice(0, half), nodes.slice(half));
  const writes = nodes.map((node) => [node, `written-during-split-${node.index}`] as const);
  for (const [node, value] of writes) {
    sim.scheduler.setTimeout(
      () => node.handle.selfNodeState().set("split", value),
      sim.random() * splitMs / 2,
    );
  }
  await sim.advance(splitMs);
  const sideOf = (node: SimulatedNode): boolean => node.index < half;
  let crossedBeforeHeal = 0;
  for (const [writer, value] of writes) {
    const id = writer.handle.chitchatId;
    for (const observer of nodes) {
      if (sideOf(observer) === sideOf(writer)) continue;
      if (observer.handle.chitchat.nodeState(id)?.get("split") === value) crossedBeforeHeal++;
    }
  }
  sim.healAll();
  const reconvergedMs = await converge(sim, limitMs);
  const lostWrites =
    writes.filter(([node, value]) => !sim.everyoneHas(node, "split", value)).length;
  return {
    reconvergedMs,
    lostWrites,
    crossedBeforeHeal,
    failure: reconvergedMs === undefined
      ? `not reconverged within ${limitMs / 1_000} s`
      : undefined,
  };
}

/** Options of {@linkcode churn}. */
export interface ChurnOptions extends ScenarioOptions {
  /** Share of the nodes restarted. Default 0.1. */
  readonly fraction?: number;
  /** Time between two restarts. Default 5 virtual seconds. */
  readonly everyMs?: number;
}

/** Result of {@linkcode churn}. */
export interface ChurnResult extends ScenarioOutcome {
  /** From the last restart until every live set is exact (and every state current). */
  readonly convergedMs: number | undefined;
  /** (observer, old generation) pairs still listed live at that time (must be 0). */
  readonly staleGenerationsLive: number;
}

/** (observer, old incarnation) pairs where a running node lists an old generation as live. */
function staleGenerationsLive(sim: Simulator): number {
  const current = new Map(sim.nodes().map((node) => [node.nodeId, node.generation]));
  let stale = 0;
  for (const observer of sim.runningNodes()) {
    for (const id of observer.handle.liveNodes()) {
      if (id.generationId < (current.get(id.nodeId) ?? 0n)) stale++;
    }
  }
  return stale;
}

/** Rolling restart of part of a converged cluster, one node at a time. */
export async function churn(options: ChurnOptions): Promise<ChurnResult> {
  const limitMs = options.limitMs ?? 120_000;
  const everyMs = options.everyMs ?? 5_000;
  await using cluster = await startCluster(options);
  const { sim, nodes } = cluster;
  if (await converge(sim, CONVERGENCE_LIMIT_MS) === undefined) {
    return {
      convergedMs: undefined,
      staleGenerationsLive: 0,
      failure: notConverged(CONVERGENCE_LIMIT_MS),
    };
  }
  const pool = [...nodes];
  const restarts = Math.max(1, Math.round(nodes.length * (options.fraction ?? 0.1)));
  for (let i = 0; i < restarts; i++) {
    if (i > 0) await sim.advance(everyMs);
    const [node] = pool.splice(Math.floor(sim.random() * pool.length), 1);
    await sim.restartNode(node);
  }
  const convergedMs = await converge(sim, limitMs);
  return {
    convergedMs,
    staleGenerationsLive: staleGenerationsLive(sim),
    failure: convergedMs === undefined ? `not converged within ${limitMs / 1_000} s` : undefined,
  };
}

/** Options of {@linkcode bigState}. */
export interface BigStateOptions extends ScenarioOptions {
  /** Key-values of the joining node. Default 20,000. */
  readonly bigKeys?: number;
}

/** Result of {@linkcode bigState}. */
export interface BigStateResult extends ScenarioOutcome {
  /** From the join until every node holds all of the newcomer's state. */
  readonly receivedMs: number | undefined;
  /** Bytes the network carried in that time. */
  readonly bytes: number | undefined;
}

/** A node with a large state joins a converged cluster. */
export async function bigState(options: BigStateOptions): Promise<BigStateResult> {
  const limitMs = options.limitMs ?? 300_000;
  await using cluster = await startCluster(options);
  const { sim, nodes } = cluster;
  if (await converge(sim, CONVERGENCE_LIMIT_MS) === undefined) {
    return { receivedMs: undefined, bytes: undefined, failure: notConverged(CONVERGENCE_LIMIT_MS) };
  }
  sim.resetTraffic();
  const joinedAt = sim.now;
  const big = await sim.addNode({
    seeds: nodes.slice(0, SEED_COUNT),
    keyValues: keyValuesOf(nodes.length, options.bigKeys ?? 20_000),
  });
  const own = big.handle.selfNodeState();
  const done = await sim.runUntil(() =>
    nodes.every((node) => {
      const seen = node.handle.chitchat.nodeState(big.chitchatId);
      return seen !== undefined && seen.maxVersion === own.maxVersion && seen.size === own.size;
    }), limitMs);
  return {
    receivedMs: done === undefined ? undefined : done - joinedAt,
    bytes: done === undefined ? undefined : sim.traffic().bytesSent,
    failure: done === undefined ? `state not everywhere within ${limitMs / 1_000} s` : undefined,
  };
}

/** Options of {@linkcode largeCluster}. */
export interface LargeClusterOptions extends ScenarioOptions {
  /** How digests past one datagram are cut: the rotating window, or the earlier random sample. */
  readonly digestMode: DigestMode;
  /** Virtual time allowed for the cold start to converge. Default 40 s. */
  readonly convergeLimitMs?: number;
  /** Virtual time allowed for the probe key to reach every node. Default 15 s. */
  readonly propagationLimitMs?: number;
  /** Virtual time allowed for every node to see the stopped node dead. Default 40 s. */
  readonly detectionLimitMs?: number;
  /** Length of the bandwidth window. Default 5 virtual seconds. */
  readonly windowMs?: number;
  /**
   * Largest message the nodes build. Default one datagram (65,507 bytes);
   * smaller makes a small cluster "large" (for a quick test).
   */
  readonly maxMessageBytes?: number;
  /** Receives one line per phase (virtual and real time): runs take minutes. */
  readonly progress?: (line: string) => void;
}

/** Result of {@linkcode largeCluster}. */
export interface LargeClusterResult extends ScenarioOutcome {
  /** From the last node's start until fully converged. */
  readonly convergedMs: number | undefined;
  /** Median over the other nodes of the time the probe key took to reach them. */
  readonly propagationMedianMs: number | undefined;
  /** Time until the last node had the probe key. */
  readonly propagationMaxMs: number | undefined;
  /** From a node's stop until every other node considers it dead. */
  readonly detectedMs: number | undefined;
  /** Bytes sent per node per second after the cold start. */
  readonly bytesPerNodePerS: number | undefined;
  /** The largest message sent during the whole run. */
  readonly largestDatagramBytes: number;
  /** Received digests read as windows, summed over the nodes still running at the end. */
  readonly digestsReadAsWindows: number;
}

/**
 * A cluster past one datagram's digest, in one run to keep it affordable:
 * cold start until converged, a bandwidth window, one key's propagation,
 * then a stopped node's detection. Each phase runs even if an earlier one
 * missed its goal (the failure names the first miss), so the sampled
 * digest, which may never converge, still gets every row.
 */
export async function largeCluster(options: LargeClusterOptions): Promise<LargeClusterResult> {
  await using cluster = await startCluster(options, {
    digestMode: options.digestMode,
    maxMessageBytes: options.maxMessageBytes,
  });
  const { sim, nodes, lastStartMs } = cluster;
  const started = performance.now();
  const progress = (phase: string): void =>
    options.progress?.(
      `  ${phase} at ${(sim.now / 1_000).toFixed(1)} virtual s, real ${
        ((performance.now() - started) / 1_000).toFixed(0)
      } s, heap ${Math.round(Deno.memoryUsage().heapUsed / 1e6)} MB`,
    );
  progress("started");
  const failures: string[] = [];
  const convergeLimitMs = options.convergeLimitMs ?? 40_000;
  // A convergence check compares every pair of nodes: every half interval, not every tenth.
  const convergedAt = await sim.runUntil(
    () => sim.isConverged(),
    convergeLimitMs,
    sim.gossipIntervalMs / 2,
  );
  if (convergedAt === undefined) failures.push(notConverged(convergeLimitMs));
  progress(convergedAt === undefined ? "not converged" : "converged");

  // The cold start's messages count for the largest datagram, not for the bandwidth.
  let largestDatagramBytes = sim.traffic().largestMessageBytes;
  const windowMs = options.windowMs ?? 5_000;
  sim.resetTraffic();
  await sim.advance(windowMs);
  const bytesPerNodePerS = sim.traffic().bytesSent / (nodes.length * windowMs / 1_000);
  largestDatagramBytes = Math.max(largestDatagramBytes, sim.traffic().largestMessageBytes);
  progress("bandwidth measured");

  const writer = pick(sim, nodes);
  const value = `probe-${options.seed}`;
  const writtenAt = sim.now;
  const arrivals: number[] = [];
  const subscriptions = nodes.filter((node) => node !== writer).map((observer) => {
    let seen = false;
    return observer.handle.subscribeEvent("probe", (event) => {
      if (seen || event.key !== "" || event.node.nodeId !== writer.nodeId) return;
      if (event.value !== value) return;
      seen = true;
      arrivals.push(sim.now - writtenAt);
    });
  });
  writer.handle.selfNodeState().set("probe", value);
  const propagationLimitMs = options.propagationLimitMs ?? 15_000;
  const propagated = await sim.runUntil(
    () => arrivals.length === nodes.length - 1,
    propagationLimitMs,
  );
  for (const subscription of subscriptions) subscription.unsubscribe();
  if (propagated === undefined) {
    failures.push(
      `${nodes.length - 1 - arrivals.length} nodes missed the key after ${
        propagationLimitMs / 1_000
      } s`,
    );
  }
  largestDatagramBytes = Math.max(largestDatagramBytes, sim.traffic().largestMessageBytes);
  progress(propagated === undefined ? "key not everywhere" : "key everywhere");

  const victim = pick(sim, nodes.slice(SEED_COUNT).filter((node) => node !== writer));
  const stoppedAt = sim.now;
  await sim.stopNode(victim);
  const detectionLimitMs = options.detectionLimitMs ?? 40_000;
  const detected = await sim.runUntil(() => sim.everyoneSeesDead(victim), detectionLimitMs);
  progress(detected === undefined ? "not detected" : "detected");
  if (detected === undefined) {
    failures.push(`not detected everywhere within ${detectionLimitMs / 1_000} s`);
  }
  largestDatagramBytes = Math.max(largestDatagramBytes, sim.traffic().largestMessageBytes);
  return {
    convergedMs: convergedAt === undefined ? undefined : convergedAt - lastStartMs,
    propagationMedianMs: propagated === undefined ? undefined : median(arrivals),
    propagationMaxMs: propagated === undefined ? undefined : Math.max(...arrivals),
    detectedMs: detected === undefined ? undefined : detected - stoppedAt,
    bytesPerNodePerS,
    largestDatagramBytes,
    digestsReadAsWindows: sim.runningNodes().reduce(
      (sum, node) => sum + node.handle.chitchat.metrics().digestsReadAsWindows,
      0,
    ),
    failure: failures.length === 0 ? undefined : failures.join("; "),
  };
}
