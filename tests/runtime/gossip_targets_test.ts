// Copyright the chitchat for Deno authors. MIT license.
// The peer selection of a gossip round, as the reference's
// select_nodes_for_gossip: sampled live peers, the dead-node probability
// and the seed rule.

import { deepStrictEqual, equal, ok as assert } from "node:assert/strict";
import { GOSSIP_COUNT, selectGossipTargets } from "../../lib/runtime/_gossip_targets.ts";
import { seededRandom } from "../../lib/core/random.ts";
import type { SocketAddress } from "../../lib/core/socket_address.ts";

const addrs = (...ports: number[]): Map<string, SocketAddress> =>
  new Map(ports.map((port) => [`127.0.0.1:${port}`, { hostname: "127.0.0.1", port }]));
const none = addrs();

/** How often `pick` holds over many rounds. */
function frequency(
  candidates: Parameters<typeof selectGossipTargets>[0],
  pick: (targets: ReturnType<typeof selectGossipTargets>) => boolean,
  rounds = 20_000,
): number {
  const random = seededRandom(11);
  let hits = 0;
  for (let i = 0; i < rounds; i++) if (pick(selectGossipTargets(candidates, random))) hits++;
  return hits / rounds;
}

Deno.test("selectGossipTargets() samples up to 3 distinct live peers, uniformly", () => {
  const live = addrs(1, 2, 3, 4, 5, 6);
  const counts = new Map<number, number>();
  const random = seededRandom(5);
  for (let i = 0; i < 6_000; i++) {
    const { nodes } = selectGossipTargets({
      peers: addrs(1, 2, 3, 4, 5, 6, 7),
      live,
      dead: none,
      seeds: none,
    }, random);
    equal(nodes.length, GOSSIP_COUNT);
    equal(new Set(nodes.map((n) => n.port)).size, GOSSIP_COUNT);
    for (const node of nodes) counts.set(node.port, (counts.get(node.port) ?? 0) + 1);
  }
  deepStrictEqual([...counts.keys()].sort(), [1, 2, 3, 4, 5, 6], "only live peers");
  for (const count of counts.values()) assert(Math.abs(count - 3_000) < 300, `count ${count}`);
  const few = selectGossipTargets({
    peers: addrs(1, 2),
    live: addrs(1, 2),
    dead: none,
    seeds: none,
  }, random);
  equal(few.nodes.length, 2);
});

Deno.test("selectGossipTargets() falls back to known peers while none is live", () => {
  const { nodes } = selectGossipTargets(
    { peers: addrs(1, 2), live: none, dead: addrs(3), seeds: none },
    seededRandom(1),
  );
  deepStrictEqual(nodes.map((n) => n.port).sort(), [1, 2]);
});

Deno.test("selectGossipTargets() adds a dead peer with probability dead / (live + 1)", () => {
  const oneDead = { peers: addrs(1, 2, 3, 9), live: addrs(1, 2, 3), dead: addrs(9), seeds: none };
  const p = frequency(oneDead, (t) => t.deadNode?.port === 9);
  assert(Math.abs(p - 0.25) < 0.02, `p = ${p}`);
  const allDead = { peers: addrs(8, 9), live: none, dead: addrs(8, 9), seeds: none };
  equal(frequency(allDead, (t) => t.deadNode !== undefined), 1);
  const noDead = { peers: addrs(1), live: addrs(1), dead: none, seeds: none };
  equal(frequency(noDead, (t) => t.deadNode !== undefined), 0);
});

Deno.test("selectGossipTargets() adds a seed as the reference does", async (t) => {
  await t.step("always while no peer is live", () => {
    const candidates = { peers: none, live: none, dead: none, seeds: addrs(7) };
    equal(frequency(candidates, (r) => r.seedNode?.port === 7), 1);
  });
  await t.step("with probability seeds / (live + dead) when no picked peer is a seed", () => {
    const candidates = {
      peers: addrs(1, 2, 3, 4, 5),
      live: addrs(1, 2, 3),
      dead: addrs(4),
      seeds: addrs(7),
    };
    const p = frequency(candidates, (r) => r.seedNode?.port === 7);
    assert(Math.abs(p - 0.25) < 0.02, `p = ${p}`);
  });
  await t.step("never when a picked peer is a seed and live peers outnumber seeds", () => {
    const candidates = { peers: addrs(1, 2, 7), live: addrs(1, 2, 7), dead: none, seeds: addrs(7) };
    equal(frequency(candidates, (r) => r.seedNode !== undefined), 0);
  });
  await t.step("still when fewer peers are live than there are seeds", () => {
    const candidates = { peers: addrs(7), live: addrs(7), dead: none, seeds: addrs(7, 8) };
    const p = frequency(candidates, (r) => r.seedNode !== undefined);
    equal(p, 1, "seeds / (live + dead) = 2 is a certainty");
  });
  await t.step("nothing to pick, nothing picked", () => {
    const empty = selectGossipTargets(
      { peers: none, live: none, dead: none, seeds: none },
      Math.random,
    );
    deepStrictEqual(empty, { nodes: [], deadNode: undefined, seedNode: undefined });
  });
});
