// Copyright the chitchat for Deno authors. MIT license.
// Internal: the caps that keep one node's memory bounded whatever its peers
// announce (issue: a few thousand forged SYNs once left 111,790 fake nodes
// in a victim). Defaults sit well above what honest clusters reach.

/** The caps, resolved (see `ChitchatConfig.limits` for their meaning). */
export interface ResolvedLimits {
  readonly maxNodes: number;
  readonly maxNewNodesPerMessage: number;
  readonly maxNewNodesPerSecond: number;
  readonly maxKeyValuesPerNode: number;
  readonly maxStateCharsPerNode: number;
  readonly unconfirmedNodeTtlMs: number;
}

/** The defaults: 10,000 nodes, 2,000 new a message and a second, 100,000 keys and 32 Mi characters a node, 60 s to become live. */
export const DEFAULT_LIMITS: ResolvedLimits = Object.freeze({
  maxNodes: 10_000,
  maxNewNodesPerMessage: 2_000,
  maxNewNodesPerSecond: 2_000,
  maxKeyValuesPerNode: 100_000,
  maxStateCharsPerNode: 32 * 1024 * 1024,
  unconfirmedNodeTtlMs: 60_000,
});

/** Limits that never refuse anything, for states built outside a `Chitchat`. */
export const NO_LIMITS: ResolvedLimits = Object.freeze({
  maxNodes: Infinity,
  maxNewNodesPerMessage: Infinity,
  maxNewNodesPerSecond: Infinity,
  maxKeyValuesPerNode: Infinity,
  maxStateCharsPerNode: Infinity,
  unconfirmedNodeTtlMs: Infinity,
});
