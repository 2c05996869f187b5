// Copyright the chitchat for Deno authors. MIT license.
// Internal: how far a node's heartbeat and max version can move in a given
// time. Peer data is unauthenticated: one datagram claiming heartbeat
// 2^53 - 1 for a node would otherwise freeze its liveness everywhere (its
// real heartbeat never catches up), and one claiming version 2^53 - 1
// would make its next writes undecodable. Jumps beyond these bounds are
// refused and counted; a node's own counters never get near them.

/** Heartbeats a node may gain per second: it bumps once a round and at most once a millisecond for messages. */
export const HEARTBEAT_RATE_PER_S = 5_000;
/** Heartbeats a node may gain on top of the rate (clock drift, bursts). */
export const HEARTBEAT_SLACK = 1_000;
/** Versions a node may gain per second (writes are not rate-limited, so this is generous). */
export const VERSION_RATE_PER_S = 1_000_000;
/** Versions a node may gain on top of the rate. */
export const VERSION_SLACK = 1_000_000;
/**
 * The largest heartbeat or max version accepted for a node seen for the
 * first time: far below 2^53, so that a node told of a forged version of
 * itself can still move past it.
 */
export const MAX_FIRST_SIGHT = 2 ** 50;
/** A node's own counters stop here: its writes are refused beyond (2^52, half of 2^53). */
export const MAX_OWN_COUNTER = 2 ** 52;
/**
 * A heartbeat frozen by a forged jump is rebased on the node's real one
 * after this long without an accepted heartbeat, once the lower reports
 * kept rising that many times.
 */
export const HEARTBEAT_REBASE_AFTER_MS = 5_000;
/** Rising lower reports needed before a rebase. */
export const HEARTBEAT_REBASE_REPORTS = 3;

/**
 * The most a counter may have grown in `elapsedMs`.
 *
 * @param ratePerS Growth per second.
 * @param slack Growth allowed at once.
 * @param elapsedMs Time since the counter last advanced (negative counts as 0).
 */
export function allowedGrowth(ratePerS: number, slack: number, elapsedMs: number): number {
  return slack + ratePerS * Math.max(0, elapsedMs) / 1_000;
}
