// Copyright the chitchat for Deno authors. MIT license.
// The rows of `deno task simulate`: each case is one scenario of
// tests/_simulation/scenarios.ts at one shape (N, interval, keys, loss), with the
// metrics it reports and the Rust reference's figure where it has one.
// The reference figures are the assertions of chitchat 0.10's
// chitchat/tests/perf_test.rs (300 ms interval, every node seeded with
// node 0, no keys, the dead node watched by one node, `handles[1]`).

import {
  bandwidth,
  bigState,
  churn,
  coldStart,
  failureDetection,
  falseDeaths,
  gracefulLeave,
  largeCluster,
  partitionHeal,
  propagation,
} from "./scenarios.ts";
import type { DigestMode } from "../../lib/core/chitchat.ts";

/** One reported metric of a case. */
export interface CaseMetric {
  /** Name in the table and the JSON rows. */
  readonly name: string;
  /** Unit after scaling. */
  readonly unit: string;
  /** Factor from the scenario's unit (milliseconds to seconds: 0.001). */
  readonly scale: number;
  /** The reference's figure for the same measurement, if any. */
  readonly reference?: string;
}

/** One run of a case: its metrics in the scenario's units, and why it missed its goal if it did. */
export interface CaseRun {
  /** Metric name -> value (`undefined`: goal not reached). */
  readonly values: ReadonlyMap<string, number | undefined>;
  /** Why a goal was missed. */
  readonly failure?: string;
}

/** A scenario at one shape. */
export interface SimulationCase {
  /** Scenario name (the `--scenario` value). */
  readonly scenario: string;
  /** Cluster size. */
  readonly n: number;
  /** What else distinguishes the case. */
  readonly setting: string;
  /** What it reports. */
  readonly metrics: readonly CaseMetric[];
  /**
   * Run only when `--scenario` names it, with this many seeds unless
   * `--seeds` says otherwise: for cases that take minutes.
   */
  readonly onRequest?: { readonly seeds: number };
  /** Runs it once; `progress` takes lines to show while a long run goes on. */
  run(seed: number, progress?: (line: string) => void): Promise<CaseRun>;
}

const SECONDS = 0.001;

function seconds(name: string, unit = "s", reference?: string): CaseMetric {
  return { name, unit, scale: SECONDS, reference };
}

function count(name: string, unit = "count", reference?: string): CaseMetric {
  return { name, unit, scale: 1, reference };
}

function interval(ms: number): string {
  return ms >= 1_000 ? `${ms / 1_000} s` : `${ms} ms`;
}

function outcome(
  values: Record<string, number | undefined>,
  failure: string | undefined,
): CaseRun {
  return { values: new Map(Object.entries(values)), failure };
}

const COLD_START = [10, 100, 1_000].map((n): SimulationCase => ({
  scenario: "cold-start",
  n,
  setting: "1 s, 10 keys, 3 seeds",
  metrics: [seconds("converged", "s after last start")],
  run: async (seed) => {
    const r = await coldStart({ seed, n });
    return outcome({ converged: r.convergedMs }, r.failure);
  },
}));

const PROPAGATION = [10, 100, 1_000].map((n): SimulationCase => ({
  scenario: "propagation",
  n,
  setting: "1 s, 10 keys",
  metrics: [seconds("median", "s over nodes"), seconds("max", "s")],
  run: async (seed) => {
    const r = await propagation({ seed, n });
    return outcome({ median: r.medianMs, max: r.maxMs }, r.failure);
  },
}));

function detectionCase(
  n: number,
  gossipIntervalMs: number,
  loss: number,
  reference?: string,
): SimulationCase {
  const lossText = loss > 0 ? `, ${loss * 100}% loss` : "";
  return {
    scenario: "failure-detection",
    n,
    setting: `${interval(gossipIntervalMs)}, 10 keys${lossText}`,
    metrics: [
      seconds("detected", "s, every node"),
      seconds("detectedByNode1", "s, one node", reference),
    ],
    run: async (seed) => {
      const r = await failureDetection({ seed, n, gossipIntervalMs, loss });
      return outcome({ detected: r.allMs, detectedByNode1: r.oneMs }, r.failure);
    },
  };
}

const FAILURE_DETECTION = [
  ...[10, 100, 1_000].map((n) => detectionCase(n, 1_000, 0)),
  ...[20, 40, 100].map((n) => detectionCase(n, 300, 0, "< 10 s")),
  detectionCase(100, 300, 0.5, "< 15 s"),
];

function leaveCase(n: number, gossipIntervalMs: number): SimulationCase {
  return {
    scenario: "graceful-leave",
    n,
    setting: `${interval(gossipIntervalMs)}, 10 keys`,
    metrics: [
      seconds("leftEverywhere", "s, every node"),
      count("acknowledged", "peers"),
      count("deadSightings", "observer checks"),
    ],
    run: async (seed) => {
      const r = await gracefulLeave({ seed, n, gossipIntervalMs });
      return outcome(
        { leftEverywhere: r.allMs, acknowledged: r.acknowledged, deadSightings: r.deadSightings },
        r.failure,
      );
    },
  };
}

const GRACEFUL_LEAVE = [
  ...[10, 100, 1_000].map((n) => leaveCase(n, 1_000)),
  leaveCase(100, 100),
];

function falseDeathsCase(n: number, loss: number, settleMs = 0): SimulationCase {
  const settled = settleMs > 0 ? `, loss after ${settleMs / 1_000} s steady` : "";
  return {
    scenario: "false-deaths",
    n,
    setting: `1 s, 10 keys, ${loss * 100}% loss, 300 s${settled}`,
    metrics: [
      count(
        "falseDeaths",
        "live->dead, all observers",
        n === 10 && loss === 0.5 ? "0 in 30 s (300 ms, one observer)" : undefined,
      ),
      count("nodesAffected", "nodes"),
    ],
    run: async (seed) => {
      const r = await falseDeaths({ seed, n, loss, settleMs });
      return outcome({ falseDeaths: r.falseDeaths, nodesAffected: r.nodesAffected }, r.failure);
    },
  };
}

const FALSE_DEATHS = [
  ...[10, 100].flatMap((n) => [0, 0.1, 0.5].map((loss) => falseDeathsCase(n, loss))),
  // The detectors' windows right after convergence still weigh the lenient
  // prior; a minute of loss-free rhythm first shows the settled behaviour.
  ...[0.1, 0.5].map((loss) => falseDeathsCase(100, loss, 60_000)),
];

function bandwidthCase(
  n: number,
  gossipIntervalMs: number,
  keys: number,
  references: { readonly bytes?: string; readonly messages?: string } = {},
): SimulationCase {
  return {
    scenario: "bandwidth",
    n,
    setting: `${interval(gossipIntervalMs)}, ${keys === 0 ? "no" : keys} keys`,
    metrics: [
      count("bytes", "B/node/s", references.bytes),
      count("messages", "msg/node/s", references.messages),
      count("falseDeaths", "in 10 s"),
    ],
    run: async (seed) => {
      const r = await bandwidth({ seed, n, gossipIntervalMs, keys });
      return outcome({
        bytes: r.bytesPerNodePerS,
        messages: r.messagesPerNodePerS,
        falseDeaths: r.falseDeaths,
      }, r.failure);
    },
  };
}

const BANDWIDTH = [
  ...[10, 100, 1_000].map((n) => bandwidthCase(n, 1_000, 10)),
  bandwidthCase(10, 300, 0, { bytes: "< 15,000", messages: "< 50" }),
  bandwidthCase(100, 300, 0, { bytes: "< 120,000", messages: "< 50" }),
];

const PARTITION_HEAL: SimulationCase = {
  scenario: "partition-heal",
  n: 1_000,
  setting: "1 s, 10 keys, halves apart 60 s, 1 write/node",
  metrics: [
    seconds("reconverged", "s after heal"),
    count("lostWrites", "writes"),
    count("crossedBeforeHeal", "(write, other side)"),
  ],
  run: async (seed) => {
    const r = await partitionHeal({ seed, n: 1_000 });
    return outcome({
      reconverged: r.reconvergedMs,
      lostWrites: r.lostWrites,
      crossedBeforeHeal: r.crossedBeforeHeal,
    }, r.failure);
  },
};

const CHURN: SimulationCase = {
  scenario: "churn",
  n: 100,
  setting: "1 s, 10 keys, 10 restarts 5 s apart",
  metrics: [
    seconds("converged", "s after last restart"),
    count("staleGenerationsLive", "(observer, old gen)"),
  ],
  run: async (seed) => {
    const r = await churn({ seed, n: 100 });
    return outcome(
      { converged: r.convergedMs, staleGenerationsLive: r.staleGenerationsLive },
      r.failure,
    );
  },
};

const BIG_STATE: SimulationCase = {
  scenario: "big-state",
  n: 10,
  setting: "1 s, 10 keys; joiner with 20,000 keys",
  metrics: [seconds("received", "s after join"), count("bytes", "B on the wire (zstd)")],
  run: async (seed) => {
    const r = await bigState({ seed, n: 10, bigKeys: 20_000 });
    return outcome({ received: r.receivedMs, bytes: r.bytes }, r.failure);
  },
};

function largeClusterCase(n: number, digestMode: DigestMode): SimulationCase {
  return {
    scenario: "large-cluster",
    n,
    setting: `1 s, 10 keys, ${digestMode} digests`,
    metrics: [
      seconds("converged", "s after last start"),
      seconds("propagation median", "s over nodes"),
      seconds("propagation max", "s"),
      seconds("detected", "s, every node"),
      count("bandwidth", "B/node/s"),
      count("largest datagram", "B (max 65,507)"),
    ],
    onRequest: { seeds: 1 },
    run: async (seed, progress) => {
      const r = await largeCluster({ seed, n, digestMode, progress });
      return outcome({
        "converged": r.convergedMs,
        "propagation median": r.propagationMedianMs,
        "propagation max": r.propagationMaxMs,
        "detected": r.detectedMs,
        "bandwidth": r.bytesPerNodePerS,
        "largest datagram": r.largestDatagramBytes,
      }, r.failure);
    },
  };
}

// Past one datagram's digest (about 1,285 nodes): the rotating window and
// the earlier random sample side by side, the smaller cluster first.
const LARGE_CLUSTER = [2_000, 3_000].flatMap((n) =>
  (["windowed", "sampled"] as const).map((mode) => largeClusterCase(n, mode))
);

/** Every case, in the order `deno task simulate` runs them. */
export const SIMULATION_CASES: readonly SimulationCase[] = [
  ...COLD_START,
  ...PROPAGATION,
  ...FAILURE_DETECTION,
  ...GRACEFUL_LEAVE,
  ...FALSE_DEATHS,
  ...BANDWIDTH,
  PARTITION_HEAL,
  CHURN,
  BIG_STATE,
  ...LARGE_CLUSTER,
];
