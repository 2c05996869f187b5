// Copyright the chitchat for Deno authors. MIT license.
// Bench helper: the cluster shape used by the reference measurements.
// Node n is `node-%05d`, generation 1, 127.0.0.1:(10000+n), heartbeat n+1,
// keys `key-%03d` = `value-%05d-%03d` set in order (versions 1..K).

import { Chitchat, type ChitchatId, ClusterState, Digest, type DigestEntry } from "../mod.ts";
import { nodeStateInternals } from "../lib/core/node_state.ts";
import { seededRandom } from "../lib/core/random.ts";

export const MTU = 65_507;

export function benchId(n: number): ChitchatId {
  return {
    nodeId: `node-${String(n).padStart(5, "0")}`,
    generationId: 1n,
    gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 10_000 + n },
  };
}

function fill(state: ClusterState, nodes: number, keys: number, skipFirst = false): void {
  for (let n = skipFirst ? 1 : 0; n < nodes; n++) {
    const node = state.nodeStateOrInit(benchId(n));
    nodeStateInternals.observeHeartbeat(node, n + 1);
    const nodeLabel = String(n).padStart(5, "0");
    for (let k = 0; k < keys; k++) {
      const keyLabel = String(k).padStart(3, "0");
      node.set(`key-${keyLabel}`, `value-${nodeLabel}-${keyLabel}`);
    }
  }
}

const clusters = new Map<string, ClusterState>();

/** A cluster state of `nodes` x `keys` (cached: building 5,000 x 100 takes a while). */
export function benchCluster(nodes: number, keys: number): ClusterState {
  const cacheKey = `${nodes}x${keys}`;
  let state = clusters.get(cacheKey);
  if (state === undefined) {
    state = new ClusterState({ random: seededRandom(1) });
    fill(state, nodes, keys);
    clusters.set(cacheKey, state);
  }
  return state;
}

/** A node of the same shape, as a state machine: node 0 is itself. */
export function benchChitchat(nodes: number, keys: number): Chitchat {
  const chitchat = new Chitchat({ chitchatId: benchId(0), clusterId: "bench" }, {
    random: seededRandom(2),
  });
  const self = chitchat.selfNodeState();
  for (let k = 0; k < keys; k++) {
    const keyLabel = String(k).padStart(3, "0");
    self.set(`key-${keyLabel}`, `value-00000-${keyLabel}`);
  }
  fill(chitchat.clusterState, nodes, keys, true);
  return chitchat;
}

/** A peer that knows every node at max version `keys / 2`. */
export function halfDigest(nodes: number, keys: number): Digest {
  const entries: DigestEntry[] = [];
  for (let n = 0; n < nodes; n++) {
    entries.push({
      chitchatId: benchId(n),
      heartbeat: n + 1,
      lastGcVersion: 0,
      maxVersion: keys / 2,
    });
  }
  return new Digest(entries);
}

export const NODE_COUNTS = [100, 1_000, 5_000] as const;
export const KEY_COUNTS = [10, 100] as const;
