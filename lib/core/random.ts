// Copyright the chitchat for Deno authors. MIT license.
/**
 * The source of randomness used by the protocol core.
 *
 * @module
 */

/**
 * Returns a float in `[0, 1)`, like `Math.random`. Injected wherever the
 * protocol makes a random choice, so runs can be reproduced from a seed.
 *
 * @example
 * ```ts
 * import { ClusterState, type RandomSource } from "@chitchat/chitchat";
 * import { seededRandom } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * // Ties between equally stale nodes are broken at random: a seeded source
 * // makes the choice reproducible.
 * const order = (random: RandomSource) => {
 *   const ours = new ClusterState({ random });
 *   for (let port = 1; port <= 5; port++) {
 *     ours.nodeStateOrInit({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } }).set("k", "v");
 *   }
 *   return ours.computeDelta(new ClusterState().computeDigest(), 65_000).nodeDeltas.map((d) => d.chitchatId.nodeId);
 * };
 * assert.deepStrictEqual(order(seededRandom(7)), order(seededRandom(7)));
 * ```
 */
export type RandomSource = () => number;

/** The default random source (`Math.random`): the one place the library reaches for it. */
export const systemRandom: RandomSource = () => Math.random();

/**
 * Creates a fast deterministic random source (sfc32) from a 32-bit seed.
 *
 * @param seed Any number; equal seeds give equal sequences.
 * @returns A {@linkcode RandomSource}.
 *
 * @example Two sources with the same seed agree
 * ```ts
 * import { seededRandom } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * const a = seededRandom(42);
 * const b = seededRandom(42);
 * assert(a() === b() && a() === b());
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // Mix the seed in before the first output.
  for (let i = 0; i < 12; i++) next();
  return next;
}
