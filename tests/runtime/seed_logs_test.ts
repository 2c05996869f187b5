// Copyright the chitchat for Deno authors. MIT license.
// What a running node says about its seeds: the first exchange with each
// (info, once), and a seed of an address family its socket cannot reach
// (warning, once).

import { deepStrictEqual, equal } from "node:assert/strict";
import { spawnChitchat, type SpawnChitchatConfig } from "../../lib/runtime/spawn_chitchat.ts";
import { ChannelTransport } from "../../lib/testing/channel_transport.ts";
import { VirtualScheduler } from "../../lib/testing/virtual_scheduler.ts";
import { silentLogger } from "../../lib/core/logger.ts";
import { advanceUntil, RecordingLogger } from "../_deadline.ts";

function config(port: number, seedNodes: string[]): SpawnChitchatConfig {
  return {
    chitchatId: {
      nodeId: `node-${port}`,
      generationId: 1n,
      gossipAdvertiseAddr: { hostname: "127.0.0.1", port },
    },
    clusterId: "seeds",
    gossipIntervalMs: 100,
    seedNodes,
  };
}

Deno.test("the first exchange with each seed is logged once, other peers not at all", async () => {
  const scheduler = new VirtualScheduler();
  const transport = new ChannelTransport({ scheduler });
  const quiet = { transport, scheduler, logger: silentLogger };
  await using _s1 = await spawnChitchat(config(7701, []), quiet);
  await using _s2 = await spawnChitchat(config(7702, []), quiet);
  // A peer that is no seed: it learns of the joiner through the seeds.
  await using _peer = await spawnChitchat(config(7703, ["127.0.0.1:7701"]), quiet);
  const logger = new RecordingLogger();
  await using joiner = await spawnChitchat(
    config(7704, ["127.0.0.1:7701", "127.0.0.1:7702"]),
    { transport, scheduler, logger },
  );
  await advanceUntil(scheduler, () => joiner.liveNodes().length === 4, {
    timeoutMs: 10_000,
    label: "all four meet",
  });
  await scheduler.advance(2_000);
  const lines = logger.lines.filter((line) => line.message === "First exchange with a seed");
  deepStrictEqual(lines.map((line) => [line.level, line.fields?.seed]).sort(), [
    ["info", "127.0.0.1:7701"],
    ["info", "127.0.0.1:7702"],
  ]);
});

Deno.test("a seed the socket's address family cannot reach is a warning, once", async () => {
  const scheduler = new VirtualScheduler();
  const transport = new ChannelTransport({ scheduler });
  const logger = new RecordingLogger();
  await using _node = await spawnChitchat(
    config(7711, ["[::1]:7712", "127.0.0.1:7713"]),
    { transport, scheduler, logger },
  );
  await scheduler.advance(3_000); // 30 rounds
  const warnings = logger.lines.filter((line) =>
    line.message === "A seed's address family cannot be reached from this socket"
  );
  equal(warnings.length, 1, "one warning, not one a round");
  equal(warnings[0].level, "warn");
  deepStrictEqual(warnings[0].fields, { seed: "[::1]:7712", socket: "127.0.0.1:7711" });
});
