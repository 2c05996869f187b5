// Copyright the chitchat for Deno authors. MIT license.
// Internal: whom a gossip round talks to, as the reference's
// select_nodes_for_gossip (server.rs). Addresses are keyed `host:port`
// (canonical), so several incarnations behind one address count once.

import type { RandomSource } from "../core/random.ts";
import type { SocketAddress } from "../core/socket_address.ts";

/** Number of live peers picked per round, as the reference's GOSSIP_COUNT. */
export const GOSSIP_COUNT = 3;

/** What a round knows, each map keyed by canonical `host:port`, self excluded. */
export interface GossipCandidates {
  /** Every known peer (may be left empty while some peer is live: it is not used then). */
  readonly peers: ReadonlyMap<string, SocketAddress>;
  /** Peers the failure detector considers live. */
  readonly live: ReadonlyMap<string, SocketAddress>;
  /** Peers the failure detector considers dead. */
  readonly dead: ReadonlyMap<string, SocketAddress>;
  /** Seed addresses. */
  readonly seeds: ReadonlyMap<string, SocketAddress>;
}

/** The addresses a round sends a SYN to. */
export interface GossipTargets {
  /** Up to {@linkcode GOSSIP_COUNT} live peers (any known peers while none is live). */
  readonly nodes: readonly SocketAddress[];
  /** A dead peer, with probability dead / (live + 1). */
  readonly deadNode: SocketAddress | undefined;
  /** A seed, when the round would otherwise miss the seeds. */
  readonly seedNode: SocketAddress | undefined;
}

function choose<T>(items: ReadonlyMap<string, T>, random: RandomSource): T | undefined {
  if (items.size === 0) return undefined;
  let index = Math.floor(random() * items.size);
  for (const item of items.values()) {
    if (index-- === 0) return item;
  }
  return undefined;
}

/** Up to `count` distinct values, uniformly (a partial Fisher-Yates shuffle). */
function sample<T>(items: ReadonlyMap<string, T>, count: number, random: RandomSource): T[] {
  const pool = [...items.values()];
  const n = Math.min(count, pool.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    const tmp = pool[i];
    pool[i] = pool[j];
    pool[j] = tmp;
  }
  pool.length = n;
  return pool;
}

/** Picks the targets of one gossip round. */
export function selectGossipTargets(
  candidates: GossipCandidates,
  random: RandomSource,
): GossipTargets {
  const { peers, live, dead, seeds } = candidates;
  const liveCount = live.size;
  const deadCount = dead.size;
  // At startup nobody is live yet: gossip with whoever we know.
  const nodes = sample(liveCount === 0 ? peers : live, GOSSIP_COUNT, random);
  const hasSeed = nodes.some((node) => seeds.has(`${node.hostname}:${node.port}`));

  let deadNode: SocketAddress | undefined;
  if (deadCount / (liveCount + 1) > random()) deadNode = choose(dead, random);

  // Gossiping with seeds now and then prevents a partition caused by the
  // seeds themselves (CASSANDRA-150).
  let seedNode: SocketAddress | undefined;
  if (!hasSeed || liveCount < seeds.size) {
    if (liveCount === 0 || random() <= seeds.size / (liveCount + deadCount)) {
      seedNode = choose(seeds, random);
    }
  }
  return { nodes, deadNode, seedNode };
}
