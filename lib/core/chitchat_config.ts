// Copyright the chitchat for Deno authors. MIT license.
/**
 * Configuration of the protocol state machine.
 *
 * @module
 */

import { utf8ByteLength } from "./wire/_binary.ts";
import { idInfo } from "./_chitchat_id_info.ts";
import type { ChitchatId } from "./chitchat_id.ts";
import { DEFAULT_FAILURE_DETECTOR_CONFIG, type FailureDetectorConfig } from "./failure_detector.ts";
import { NodeState } from "./node_state.ts";
import { DEFAULT_LIMITS, type ResolvedLimits } from "./_limits.ts";

/** Default tombstone and TTL grace period: 2 hours, as the reference. */
export const DEFAULT_MARKED_FOR_DELETION_GRACE_PERIOD_MS = 2 * 60 * 60 * 1_000;

/**
 * Configuration of a {@linkcode Chitchat} state machine. It is checked
 * once, when the node is built: a bad field throws, naming it.
 *
 * @example
 * ```ts
 * import { Chitchat, type ChitchatConfig } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const config: ChitchatConfig = {
 *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 10000 } },
 *   clusterId: "prod",
 *   initialKeyValues: [["role", "indexer"]],
 * };
 * assert(new Chitchat(config).selfNodeState().get("role") === "indexer");
 * assert.throws(() => new Chitchat({ ...config, failureDetector: { phiThreshold: 0 } }), RangeError);
 * assert.throws(() => new Chitchat({ ...config, clusterId: 7 as unknown as string }), TypeError);
 * ```
 */
export interface ChitchatConfig {
  /** This node's identity. */
  readonly chitchatId: ChitchatId;
  /** Nodes only gossip with nodes of the same cluster id. */
  readonly clusterId: string;
  /**
   * Failure detector settings; missing ones take the defaults listed on
   * {@linkcode FailureDetectorConfig}.
   *
   * @default {{}}
   */
  readonly failureDetector?: Partial<FailureDetectorConfig>;
  /**
   * How long tombstones and TTL'd keys are kept before collection.
   *
   * @default {7_200_000}
   */
  readonly markedForDeletionGracePeriodMs?: number;
  /**
   * Called when a node state had to be reset because a peer collected
   * tombstones we never saw: a hook to catch up out of band (then call
   * `Chitchat.resetNodeState`).
   *
   * @default {undefined}
   */
  readonly catchupCallback?: () => void;
  /**
   * An extra condition for a node to be listed as live (for example:
   * it has published a `READY` key).
   *
   * @default {undefined}
   */
  readonly extraLivenessPredicate?: (state: NodeState) => boolean;
  /**
   * Key-values this node starts with.
   *
   * @default {[]}
   */
  readonly initialKeyValues?: Iterable<readonly [string, string]>;
  /**
   * Caps that bound this node's memory whatever its peers announce. Each
   * refusal is counted in the metrics and logged (at most once a minute per
   * cap). The defaults sit well above what honest clusters reach.
   *
   * @default {{}}
   */
  readonly limits?: {
    /**
     * Nodes known at once; nodes announced beyond it are ignored.
     *
     * @default {10_000}
     */
    readonly maxNodes?: number;
    /**
     * Nodes one message may introduce (a full digest lists about 1,280).
     *
     * @default {2_000}
     */
    readonly maxNewNodesPerMessage?: number;
    /**
     * Nodes learned in any one second.
     *
     * @default {2_000}
     */
    readonly maxNewNodesPerSecond?: number;
    /**
     * Key-values (tombstones included) of one node: deltas that would go
     * beyond are refused, and so are this node's own writes.
     *
     * @default {100_000}
     */
    readonly maxKeyValuesPerNode?: number;
    /**
     * Characters of keys and values (UTF-16 code units) of one node, the
     * same way.
     *
     * @default {33_554_432}
     */
    readonly maxStateCharsPerNode?: number;
    /**
     * A node announced in a digest that never becomes live is forgotten
     * after this long (not after the 24 h dead-node grace period).
     *
     * @default {60_000}
     */
    readonly unconfirmedNodeTtlMs?: number;
  };
}

/** A configuration with every default filled in (internal: not re-exported by `mod.ts`). */
export interface ResolvedChitchatConfig {
  /** This node's identity (canonical). */
  readonly chitchatId: ChitchatId;
  /** The cluster id. */
  readonly clusterId: string;
  /** Failure detector settings. */
  readonly failureDetector: FailureDetectorConfig;
  /** Tombstone and TTL grace period. */
  readonly markedForDeletionGracePeriodMs: number;
  /** Catch-up hook. */
  readonly catchupCallback: (() => void) | undefined;
  /** Extra liveness condition. */
  readonly extraLivenessPredicate: ((state: NodeState) => boolean) | undefined;
  /** Initial key-values. */
  readonly initialKeyValues: readonly (readonly [string, string])[];
  /** Memory caps. */
  readonly limits: ResolvedLimits;
}

function positive(field: string, value: unknown, integer = false): number {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`Invalid ${field}: expected a number, got ${typeof value}`);
  }
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new RangeError(
      `Invalid ${field}: ${value} must be a positive${integer ? " integer" : " finite number"}`,
    );
  }
  return value;
}

/**
 * Checks a configuration and fills in the defaults (internal: the runtime
 * and `Chitchat` call it once per node).
 *
 * @param config The configuration.
 * @returns The resolved configuration.
 * @throws {TypeError} if a field has the wrong type.
 * @throws {RangeError} if a field is out of range (non-positive phi or period, node id over 65,535 bytes, ...).
 */
export function resolveChitchatConfig(config: ChitchatConfig): ResolvedChitchatConfig {
  if (config === null || typeof config !== "object") {
    throw new TypeError("Invalid config: expected an object");
  }
  const chitchatId = idInfo(config.chitchatId).id;
  if (typeof config.clusterId !== "string") {
    throw new TypeError("Invalid clusterId: expected a string");
  }
  if (utf8ByteLength(config.clusterId) > 0xffff) {
    throw new RangeError("Invalid clusterId: longer than 65535 bytes");
  }
  const failureDetector = { ...DEFAULT_FAILURE_DETECTOR_CONFIG, ...config.failureDetector };
  positive("failureDetector.phiThreshold", failureDetector.phiThreshold);
  positive("failureDetector.samplingWindowSize", failureDetector.samplingWindowSize, true);
  positive("failureDetector.maxIntervalMs", failureDetector.maxIntervalMs);
  positive("failureDetector.initialIntervalMs", failureDetector.initialIntervalMs);
  positive("failureDetector.deadNodeGracePeriodMs", failureDetector.deadNodeGracePeriodMs);
  const markedForDeletionGracePeriodMs = positive(
    "markedForDeletionGracePeriodMs",
    config.markedForDeletionGracePeriodMs ?? DEFAULT_MARKED_FOR_DELETION_GRACE_PERIOD_MS,
  );
  for (
    const [name, hook] of [
      ["catchupCallback", config.catchupCallback],
      ["extraLivenessPredicate", config.extraLivenessPredicate],
    ] as const
  ) {
    if (hook !== undefined && typeof hook !== "function") {
      throw new TypeError(`Invalid ${name}: expected a function`);
    }
  }
  const initialKeyValues = [...(config.initialKeyValues ?? [])].map(([key, value]) =>
    [key, value] as const
  );
  for (const [key] of initialKeyValues) {
    if (typeof key === "string" && key.startsWith(NodeState.RESERVED_KEY_PREFIX)) {
      throw new RangeError(
        `Invalid initialKeyValues: key "${key}" starts with "${NodeState.RESERVED_KEY_PREFIX}", reserved for the protocol`,
      );
    }
  }
  const given = config.limits ?? {};
  if (given === null || typeof given !== "object") {
    throw new TypeError("Invalid limits: expected an object");
  }
  const limits: { -readonly [K in keyof ResolvedLimits]: number } = { ...DEFAULT_LIMITS };
  for (const name of Object.keys(DEFAULT_LIMITS) as (keyof ResolvedLimits)[]) {
    const value = given[name];
    if (value !== undefined) {
      limits[name] = positive(`limits.${name}`, value, name !== "unconfirmedNodeTtlMs");
    }
  }
  return {
    limits: Object.freeze(limits),
    chitchatId,
    clusterId: config.clusterId,
    failureDetector: Object.freeze(failureDetector),
    markedForDeletionGracePeriodMs,
    catchupCallback: config.catchupCallback,
    extraLivenessPredicate: config.extraLivenessPredicate,
    initialKeyValues,
  };
}
