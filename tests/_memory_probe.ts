// Copyright the chitchat for Deno authors. MIT license.
// Run by memory_test.ts with --expose-gc: builds a 5,000 x 100 cluster
// state, warms every cache (encoded key-values, sorted keys, digest), and
// prints the memory it takes as JSON.

import { Digest } from "../mod.ts";
import { benchCluster } from "./_cluster_fixture.ts";
import { nodeStateInternals } from "../lib/core/node_state.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
gc();
const before = Deno.memoryUsage();
const state = benchCluster(5_000, 100);
for (const node of state.nodeStates()) {
  nodeStateInternals.staleEntries(node, 0);
  [...node.keyValues()];
}
const digest = state.computeDigest();
state.computeDelta(Digest.empty, 65_507);
gc();
const after = Deno.memoryUsage();
console.log(JSON.stringify({
  nodes: state.size,
  digestEntries: digest.size,
  heapUsedBytes: after.heapUsed - before.heapUsed,
  externalBytes: after.external - before.external,
}));
