// Copyright the chitchat for Deno authors. MIT license.
/**
 * The phi-accrual failure detector.
 *
 * @module
 */

import { idInfo } from "./_chitchat_id_info.ts";
import type { ChitchatId } from "./chitchat_id.ts";
import { type Clock, systemClock } from "./clock.ts";
import { IntervalPool } from "./_interval_pool.ts";
import { LivenessRecord, RecordTimes } from "./_liveness_record.ts";

/**
 * Settings of the phi-accrual failure detector. Every field is optional in
 * a {@linkcode ChitchatConfig}; the defaults are the reference's.
 *
 * @example Scaled for a 100 ms gossip interval: a stopped peer is dead within seconds
 * ```ts
 * import { Chitchat, type FailureDetectorConfig } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * let now = 0;
 * const clock = { now: () => now };
 * const failureDetector: Partial<FailureDetectorConfig> = { initialIntervalMs: 100 };
 * const id = (port: number) => ({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const a = new Chitchat({ chitchatId: id(1), clusterId: "demo", failureDetector }, { clock });
 * const b = new Chitchat({ chitchatId: id(2), clusterId: "demo", failureDetector }, { clock });
 * for (let round = 0; round < 20; round++) {
 *   now += 100;
 *   b.updateSelfHeartbeat();
 *   a.processMessage(b.processMessage(a.createSynMessage())!);
 *   a.updateNodesLiveness();
 * }
 * assert(a.liveNodes().length === 2);
 * now += 2_000; // b stops
 * a.updateNodesLiveness();
 * assert(a.deadNodes().some((node) => node.nodeId === "n2"));
 * ```
 */
export interface FailureDetectorConfig {
  /**
   * A node whose phi exceeds this is dead.
   *
   * @default {8}
   */
  readonly phiThreshold: number;
  /**
   * How many heartbeat intervals are averaged.
   *
   * @default {1_000}
   */
  readonly samplingWindowSize: number;
  /**
   * Intervals longer than this are not sampled (a pause, not a rhythm).
   *
   * @default {10_000}
   */
  readonly maxIntervalMs: number;
  /**
   * The prior mean interval, weighted like 5 samples, so young windows
   * are lenient. Set it near the gossip interval: `spawnChitchat` does.
   *
   * @default {5_000 (the gossip interval under spawnChitchat)}
   */
  readonly initialIntervalMs: number;
  /**
   * How long a dead node is kept; it stops being gossiped after half of it.
   *
   * @default {86_400_000}
   */
  readonly deadNodeGracePeriodMs: number;
}

/**
 * The reference's defaults: phi 8, 1,000 samples, 10 s max interval, 5 s
 * prior interval, 24 h dead-node grace period.
 */
export const DEFAULT_FAILURE_DETECTOR_CONFIG: FailureDetectorConfig = Object.freeze({
  phiThreshold: 8,
  samplingWindowSize: 1_000,
  maxIntervalMs: 10_000,
  initialIntervalMs: 5_000,
  deadNodeGracePeriodMs: 24 * 60 * 60 * 1_000,
});

/**
 * Decides which nodes are live from the rhythm of their heartbeats
 * (phi-accrual): phi is the time since the last heartbeat divided by the
 * smoothed mean interval; above the threshold the node is dead. A node
 * needs two sampled intervals' worth of heartbeats before it can be live.
 * Dead nodes are scheduled for deletion after half the grace period and
 * garbage collected after all of it.
 */
export class FailureDetector {
  readonly #config: FailureDetectorConfig;
  readonly #clock: Clock;
  readonly #records = new Map<string, LivenessRecord>();
  readonly #pool = new IntervalPool();
  readonly #times = new RecordTimes();
  readonly #live = new Map<string, ChitchatId>();
  readonly #dead = new Map<string, { readonly id: ChitchatId; readonly sinceMs: number }>();
  // Nodes that announced their leave: neither live nor dead, collected like the dead.
  readonly #left = new Map<string, { readonly id: ChitchatId; readonly sinceMs: number }>();

  /**
   * Creates a detector.
   *
   * @param config Settings; missing ones take {@linkcode DEFAULT_FAILURE_DETECTOR_CONFIG}.
   * @param clock Time source.
   */
  constructor(config: Partial<FailureDetectorConfig> = {}, clock: Clock = systemClock) {
    this.#config = { ...DEFAULT_FAILURE_DETECTOR_CONFIG, ...config };
    this.#clock = clock;
  }

  /** The settings in use. */
  get config(): FailureDetectorConfig {
    return this.#config;
  }

  /**
   * The detector's record of a node, created on first use. Callers that
   * evaluate the same nodes every round keep it, and use the record
   * methods below without a lookup (until `dropped` is set).
   */
  record(chitchatId: ChitchatId): LivenessRecord {
    const info = idInfo(chitchatId);
    let record = this.#records.get(info.key);
    if (record === undefined) {
      record = new LivenessRecord(
        info.id,
        info.key,
        this.#pool,
        this.#times,
        this.#config.samplingWindowSize,
      );
      this.#records.set(info.key, record);
    }
    return record;
  }

  #drop(key: string): void {
    const record = this.#records.get(key);
    if (record === undefined) return;
    record.release();
    record.dropped = true;
    this.#records.delete(key);
  }

  /** Records a heartbeat of the record's node, seen now. */
  reportRecord(record: LivenessRecord): void {
    record.report(this.#clock.now(), this.#config.maxIntervalMs);
  }

  /** Re-evaluates the record's node; returns whether it is live. */
  updateRecord(record: LivenessRecord): boolean {
    const phi = record.phi(this.#clock.now(), this.#config.initialIntervalMs);
    if (phi !== undefined && phi <= this.#config.phiThreshold) {
      if (!record.live) {
        record.live = true;
        this.#live.set(record.key, record.id);
        this.#dead.delete(record.key);
      }
      return true;
    }
    if (record.live) {
      record.live = false;
      this.#live.delete(record.key);
    }
    if (!this.#dead.has(record.key)) {
      this.#dead.set(record.key, { id: record.id, sinceMs: this.#clock.now() });
    }
    record.clear();
    return false;
  }

  /**
   * Moves the record's node to the left set (out of the live and dead
   * sets): it announced its leave, so no phi is waited for.
   *
   * @returns `true` if it was not in the left set already.
   */
  markLeft(record: LivenessRecord): boolean {
    if (this.#left.has(record.key)) return false;
    record.live = false;
    this.#live.delete(record.key);
    this.#dead.delete(record.key);
    this.#left.set(record.key, { id: record.id, sinceMs: this.#clock.now() });
    // A node that comes back starts its rhythm afresh, as after a death.
    record.clear();
    return true;
  }

  /**
   * Takes the record's node out of the left set (its leave mark is gone);
   * the next evaluation finds it live or dead.
   *
   * @returns `true` if it was in the left set.
   */
  unmarkLeft(record: LivenessRecord): boolean {
    return this.#left.delete(record.key);
  }

  /**
   * Records that a new heartbeat of the node was seen now.
   *
   * @param chitchatId The node.
   */
  reportHeartbeat(chitchatId: ChitchatId): void {
    this.reportRecord(this.record(chitchatId));
  }

  /**
   * Makes sure the node is tracked (so it is eventually garbage collected)
   * without counting a heartbeat.
   *
   * @param chitchatId The node.
   */
  track(chitchatId: ChitchatId): void {
    this.record(chitchatId);
  }

  /**
   * The node's current phi.
   *
   * @param chitchatId The node.
   * @returns Phi, or `undefined` until an interval has been sampled.
   */
  phi(chitchatId: ChitchatId): number | undefined {
    return this.#records.get(idInfo(chitchatId).key)?.phi(
      this.#clock.now(),
      this.#config.initialIntervalMs,
    );
  }

  /**
   * When the node's last heartbeat was seen.
   *
   * @param chitchatId The node.
   * @returns The time on the detector's clock, or `undefined` if none was seen.
   */
  lastHeartbeatAt(chitchatId: ChitchatId): number | undefined {
    const record = this.#records.get(idInfo(chitchatId).key);
    if (record === undefined) return undefined;
    const at = record.times.values[2 * record.slot];
    return Number.isNaN(at) ? undefined : at;
  }

  /**
   * Re-evaluates a node: live if phi is at most the threshold, dead
   * otherwise (its sampled intervals are then dropped, so a node coming
   * back starts afresh).
   *
   * @param chitchatId The node.
   * @returns Whether the node is live.
   */
  updateNodeLiveness(chitchatId: ChitchatId): boolean {
    return this.updateRecord(this.record(chitchatId));
  }

  /**
   * Removes the nodes dead for the whole grace period.
   *
   * @returns The removed nodes.
   */
  garbageCollect(): ChitchatId[] {
    const now = this.#clock.now();
    const removed: ChitchatId[] = [];
    for (const set of [this.#dead, this.#left]) {
      for (const [key, { id, sinceMs }] of set) {
        if (now >= sinceMs + this.#config.deadNodeGracePeriodMs) {
          removed.push(id);
          set.delete(key);
          this.#drop(key);
        }
      }
    }
    return removed;
  }

  /**
   * Forgets a node entirely.
   *
   * @param chitchatId The node.
   */
  forget(chitchatId: ChitchatId): void {
    const key = idInfo(chitchatId).key;
    this.#drop(key);
    this.#live.delete(key);
    this.#dead.delete(key);
    this.#left.delete(key);
  }

  /**
   * Whether the node is currently considered live.
   *
   * @param chitchatId The node.
   * @returns `true` if live.
   */
  isLive(chitchatId: ChitchatId): boolean {
    return this.#live.has(idInfo(chitchatId).key);
  }

  /**
   * Whether the node is currently considered dead.
   *
   * @param chitchatId The node.
   * @returns `true` if dead.
   */
  isDead(chitchatId: ChitchatId): boolean {
    return this.#dead.has(idInfo(chitchatId).key);
  }

  /**
   * The live nodes, in the order they became live.
   *
   * @returns The nodes.
   */
  liveNodes(): IterableIterator<ChitchatId> {
    return this.#live.values();
  }

  /** Number of live nodes. */
  get liveCount(): number {
    return this.#live.size;
  }

  /**
   * The dead nodes, in the order they died.
   *
   * @returns The nodes.
   */
  *deadNodes(): IterableIterator<ChitchatId> {
    for (const { id } of this.#dead.values()) yield id;
  }

  /** Number of dead nodes. */
  get deadCount(): number {
    return this.#dead.size;
  }

  /**
   * Whether the node is in the left set.
   *
   * @param chitchatId The node.
   * @returns `true` if it announced its leave and was not collected yet.
   */
  isLeft(chitchatId: ChitchatId): boolean {
    return this.#left.has(idInfo(chitchatId).key);
  }

  /**
   * The nodes that announced their leave, in the order they left.
   *
   * @returns The nodes.
   */
  *leftNodes(): IterableIterator<ChitchatId> {
    for (const { id } of this.#left.values()) yield id;
  }

  /** Number of nodes in the left set. */
  get leftCount(): number {
    return this.#left.size;
  }

  /**
   * The dead and left nodes past half the grace period: they are no longer gossiped.
   *
   * @returns The nodes.
   */
  scheduledForDeletionNodes(): ChitchatId[] {
    const now = this.#clock.now();
    const half = this.#config.deadNodeGracePeriodMs / 2;
    const out: ChitchatId[] = [];
    for (const set of [this.#dead, this.#left]) {
      for (const { id, sinceMs } of set.values()) {
        if (sinceMs + half < now) out.push(id);
      }
    }
    return out;
  }
}
