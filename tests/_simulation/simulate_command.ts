// Copyright the chitchat for Deno authors. MIT license.
/**
 * `deno task simulate`: runs the simulation scenarios of
 * `tests/_simulation/scenarios.ts` (real chitchat nodes, in-memory network, virtual
 * time) for several seeds and prints one table, each row the median over
 * the seeds, next to the Rust reference's figures where it has one.
 *
 * ```sh
 * deno run -A bench/simulate.ts                       # everything, 5 seeds (about 16 min on 2 cores)
 * deno run -A bench/simulate.ts --scenario churn --seeds 3
 * deno task simulate --scenario large-cluster --max-n 2000   # only on request: minutes a run
 * deno run -A bench/simulate.ts --max-n 100 --json figures.json
 * ```
 *
 * Times are virtual seconds; `real ms` is the wall-clock cost of one run
 * (median). A run that misses its goal within the scenario's virtual-time
 * limit counts as "above the limit": a row whose median is such a run shows
 * no value, and every row notes how many runs missed. Progress goes to
 * stderr, the table to stdout.
 *
 * Exit codes: 0 when every run reached its goal, 1 when some did not, 2 for
 * a bad command line.
 *
 * @example Asking for an unknown scenario
 * ```ts
 * import { main } from "./simulate_command.ts";
 * import assert from "node:assert";
 *
 * const errors: string[] = [];
 * assert(await main(["--scenario", "nope"], { stderr: (line) => errors.push(line) }) === 2);
 * assert(errors.length === 1 && errors[0].includes("unknown scenario"));
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./scenarios.ts";
import { type CaseRun, SIMULATION_CASES, type SimulationCase } from "./cases.ts";

/** The scenario names, in the order they run. */
export const SCENARIO_NAMES: readonly string[] = [
  ...new Set(SIMULATION_CASES.map((c) => c.scenario)),
];

/** One row of the table and of the `--json` file. */
export interface SimulationRow {
  /** Scenario name. */
  readonly scenario: string;
  /** Cluster size. */
  readonly n: number;
  /** Interval, keys, loss: what distinguishes rows of one scenario. */
  readonly setting: string;
  /** What is measured. */
  readonly metric: string;
  /** Median over the seeds; `null` when that median run missed its goal. */
  readonly value: number | null;
  /** Unit of `value`. */
  readonly unit: string;
  /** Median wall-clock time of one run, in milliseconds. */
  readonly realMs: number;
  /** Runs that reached their goal, out of all runs. */
  readonly runs: string;
  /** The Rust reference's figure, if it has one. */
  readonly reference?: string;
  /** Why runs missed their goal (the first reason), if some did. */
  readonly note?: string;
}

/** Output sinks of {@linkcode main}. */
export interface SimulateOptions {
  /**
   * Receives the table.
   *
   * @default {console.log}
   */
  readonly stdout?: (line: string) => void;
  /**
   * Receives progress and error lines.
   *
   * @default {console.error}
   */
  readonly stderr?: (line: string) => void;
}

const USAGE = `Usage: deno run -A bench/simulate.ts [options]

Runs chitchat clusters on virtual time and prints one table of medians.

Options:
  --scenario NAME  run one scenario: ${SCENARIO_NAMES.join(", ")}
                   (large-cluster runs only when named)
  --seeds K        seeds per row (default 5; large-cluster 1)
  --max-n N        skip the rows of clusters larger than N
  --json FILE      also write { "rows": [...] } to FILE
  -h, --help       print this help`;

interface Command {
  readonly cases: readonly SimulationCase[];
  /** `undefined`: 5, or a case's own `onRequest.seeds`. */
  readonly seeds: number | undefined;
  readonly json: string | undefined;
}

class UsageError extends Error {
  override name = "UsageError";
}

function parseCommand(args: readonly string[]): Command | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        scenario: { type: "string" },
        seeds: { type: "string" },
        "max-n": { type: "string" },
        json: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(String((error as Error).message).split("\n")[0]);
  }
  if (values.help) return "help";
  const scenario = values.scenario;
  if (scenario !== undefined && !SCENARIO_NAMES.includes(scenario)) {
    throw new UsageError(
      `unknown scenario "${scenario}" (expected one of ${SCENARIO_NAMES.join(", ")})`,
    );
  }
  const seeds = values.seeds === undefined ? undefined : positiveInteger("seeds", values.seeds);
  const maxN = values["max-n"] === undefined ? Infinity : positiveInteger("max-n", values["max-n"]);
  // Cases run on request only are left out unless named.
  const cases = SIMULATION_CASES.filter((c) =>
    (scenario === undefined ? c.onRequest === undefined : c.scenario === scenario) && c.n <= maxN
  );
  return { cases, seeds, json: values.json };
}

function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`invalid --${flag} "${text}": expected a positive integer`);
  }
  return value;
}

/**
 * Runs the simulation command: every selected case for every seed, one
 * simulator at a time (each shut down before the next starts), then the
 * table and, with `--json`, the rows as JSON.
 *
 * @param args The arguments, without the program name.
 * @param options Output sinks.
 * @returns 0 when every run reached its goal, 1 otherwise, 2 for a bad command line.
 *
 * @example The smallest cold start, once
 * ```ts
 * import { main } from "./simulate_command.ts";
 * import assert from "node:assert";
 *
 * const table: string[] = [];
 * const code = await main(
 *   ["--scenario", "cold-start", "--max-n", "10", "--seeds", "1"],
 *   { stdout: (line) => table.push(line), stderr: () => {} },
 * );
 * assert(code === 0 && table[2].startsWith("| cold-start"));
 * ```
 */
export async function main(
  args: readonly string[],
  options: SimulateOptions = {},
): Promise<number> {
  const stdout = options.stdout ?? ((line: string): void => console.log(line));
  const stderr = options.stderr ?? ((line: string): void => console.error(line));
  let command: Command | "help";
  try {
    command = parseCommand(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    stderr(`simulate: ${error.message}`);
    return 2;
  }
  if (command === "help") {
    stdout(USAGE);
    return 0;
  }
  const rows: SimulationRow[] = [];
  const realByScenario = new Map<string, number>();
  let missed = 0;
  for (const simulationCase of command.cases) {
    const label = `${simulationCase.scenario} N=${simulationCase.n} (${simulationCase.setting})`;
    const runs: CaseRun[] = [];
    const realMs: number[] = [];
    const seeds = command.seeds ?? simulationCase.onRequest?.seeds ?? 5;
    for (let seed = 1; seed <= seeds; seed++) {
      const started = performance.now();
      const run = await simulationCase.run(seed, stderr);
      const elapsed = performance.now() - started;
      realMs.push(elapsed);
      runs.push(run);
      if (run.failure !== undefined) missed++;
      realByScenario.set(
        simulationCase.scenario,
        (realByScenario.get(simulationCase.scenario) ?? 0) + elapsed,
      );
      const shown = simulationCase.metrics.map((m) =>
        `${m.name}=${format(run.values.get(m.name), m.scale)}`
      );
      const heapMb = Math.round(Deno.memoryUsage().heapUsed / 1e6);
      stderr(
        `${label} seed ${seed}/${seeds}: ${shown.join(" ")}` +
          `${run.failure === undefined ? "" : ` [${run.failure}]`}` +
          ` (real ${Math.round(elapsed)} ms, heap ${heapMb} MB)`,
      );
    }
    rows.push(...summarize(simulationCase, runs, realMs));
  }
  for (const line of renderTable(rows)) stdout(line);
  stdout("");
  stdout(
    `Real time per scenario (${command.seeds ?? "default"} seed${
      command.seeds === 1 ? "" : "s"
    }): ` +
      [...realByScenario].map(([name, ms]) => `${name} ${(ms / 1_000).toFixed(1)} s`).join(", "),
  );
  if (command.json !== undefined) {
    await Deno.writeTextFile(command.json, JSON.stringify({ rows }, null, 2) + "\n");
  }
  return missed === 0 ? 0 : 1;
}

/**
 * The table rows of one case: per metric, the median over the runs. A run
 * that missed its goal counts as above every run that reached it, so the
 * median is `null` when it falls on such a run; the row then notes why.
 *
 * @param simulationCase The case.
 * @param runs Its runs, one per seed.
 * @param realMs Wall-clock time of each run.
 * @returns One row per metric.
 *
 * @example Two runs of three missed the goal: no median
 * ```ts
 * import { summarize } from "./simulate_command.ts";
 * import assert from "node:assert";
 *
 * const simulationCase = {
 *   scenario: "demo", n: 3, setting: "", run: () => Promise.reject(new Error("unused")),
 *   metrics: [{ name: "t", unit: "s", scale: 0.001 }],
 * };
 * const missed = { values: new Map([["t", undefined]]), failure: "too slow" };
 * const [row] = summarize(simulationCase, [{ values: new Map([["t", 1_500]]) }, missed, missed], [1, 2, 3]);
 * assert(row.value === null && row.runs === "1/3" && row.note === "too slow");
 * ```
 */
export function summarize(
  simulationCase: SimulationCase,
  runs: readonly CaseRun[],
  realMs: readonly number[],
): SimulationRow[] {
  const failures = runs.flatMap((run) => run.failure === undefined ? [] : [run.failure]);
  return simulationCase.metrics.map((metric) => {
    const mid = median(runs.map((run) => run.values.get(metric.name) ?? Infinity));
    return {
      scenario: simulationCase.scenario,
      n: simulationCase.n,
      setting: simulationCase.setting,
      metric: metric.name,
      value: Number.isFinite(mid) ? round(mid * metric.scale) : null,
      unit: metric.unit,
      realMs: Math.round(median(realMs)),
      runs: `${runs.length - failures.length}/${runs.length}`,
      ...(metric.reference === undefined ? {} : { reference: metric.reference }),
      ...(failures.length === 0 ? {} : { note: failures[0] }),
    };
  });
}

function round(value: number): number {
  const abs = Math.abs(value);
  const digits = abs >= 1_000 ? 0 : abs >= 10 ? 1 : 2;
  return Number(value.toFixed(digits));
}

function format(value: number | undefined, scale: number): string {
  return value === undefined ? "-" : String(round(value * scale));
}

/** Table columns: title, right-aligned (numbers), cell. */
const COLUMNS: readonly (readonly [string, boolean, (row: SimulationRow) => string])[] = [
  ["scenario", false, (row) => row.scenario],
  ["N", true, (row) => String(row.n)],
  ["setting", false, (row) => row.setting],
  ["metric", false, (row) => row.metric],
  ["value", true, (row) => row.value === null ? "-" : row.value.toLocaleString("en-US")],
  ["unit", false, (row) => row.unit],
  ["runs", false, (row) => row.runs],
  ["real ms/run", true, (row) => row.realMs.toLocaleString("en-US")],
  ["reference", false, (row) => row.reference ?? ""],
  ["note", false, (row) => row.note ?? ""],
];

/** A Markdown table, padded so it also reads as plain text; empty columns are left out. */
function renderTable(rows: readonly SimulationRow[]): string[] {
  const columns = COLUMNS.filter(([, , cell]) => rows.some((row) => cell(row) !== ""));
  const cells = rows.map((row) => columns.map(([, , cell]) => cell(row)));
  const widths = columns.map(([title], i) =>
    Math.max(title.length, ...cells.map((line) => line[i].length))
  );
  const line = (values: readonly string[]): string =>
    `| ${
      values.map((v, i) => columns[i][1] ? v.padStart(widths[i]) : v.padEnd(widths[i])).join(" | ")
    } |`;
  const rule = widths.map((w, i) => columns[i][1] ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2));
  return [line(columns.map(([title]) => title)), `|${rule.join("|")}|`, ...cells.map(line)];
}
