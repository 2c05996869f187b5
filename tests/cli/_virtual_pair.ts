// Copyright the chitchat for Deno authors. MIT license.
// Two nodes on an in-memory network on virtual time, the second seeded by
// the first: what the HTTP handler tests serve from.

import { silentLogger } from "../../lib/core/logger.ts";
import { spawnChitchat, type SpawnChitchatConfig } from "../../lib/runtime/spawn_chitchat.ts";
import { ChannelTransport } from "../../lib/testing/channel_transport.ts";
import { VirtualScheduler } from "../../lib/testing/virtual_scheduler.ts";

/** A node `node-<port>` of `clusterId` at 100 ms rounds, seeded by `seedPort`. */
export function pairConfig(
  clusterId: string,
  port: number,
  seedPort: number,
  extra: Partial<SpawnChitchatConfig> = {},
): SpawnChitchatConfig {
  return {
    chitchatId: {
      nodeId: `node-${port}`,
      generationId: 1n,
      gossipAdvertiseAddr: { hostname: "127.0.0.1", port },
    },
    clusterId,
    gossipIntervalMs: 100,
    seedNodes: [`127.0.0.1:${seedPort}`],
    ...extra,
  };
}

/** `a` on `port` (no seeds) and `b` on `port + 1` (seeded by `a`), sharing one scheduler. */
export async function virtualPair(clusterId: string, port: number) {
  const scheduler = new VirtualScheduler();
  const transport = new ChannelTransport({ scheduler });
  const options = { transport, scheduler, logger: silentLogger };
  const a = await spawnChitchat(pairConfig(clusterId, port, port, { seedNodes: [] }), options);
  const b = await spawnChitchat(pairConfig(clusterId, port + 1, port), options);
  return { scheduler, a, b };
}
