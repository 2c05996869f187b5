// Copyright the chitchat for Deno authors. MIT license.
// A node whose process stops (SIGSTOP, a frozen VM) and resumes: its own
// timers run late and every peer looks silent, yet it must convict nobody
// until it has heard fresh gossip. And a node nobody answers says so.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import type { ChitchatMessage } from "../../lib/core/message.ts";
import type { SocketAddress } from "../../lib/core/socket_address.ts";
import type { Scheduler, Timer } from "../../lib/runtime/scheduler.ts";
import { spawnChitchat, type SpawnChitchatConfig } from "../../lib/runtime/spawn_chitchat.ts";
import type { Socket, SocketMetrics, Transport } from "../../lib/runtime/transport.ts";
import { ChannelTransport } from "../../lib/testing/channel_transport.ts";
import { VirtualScheduler } from "../../lib/testing/virtual_scheduler.ts";
import { advanceUntil, RecordingLogger } from "../_deadline.ts";
import { silentLogger } from "../../lib/core/logger.ts";

/** One process that can be frozen: its timers and its socket reads wait while paused. */
class FreezableProcess implements Scheduler, Transport {
  #paused = false;
  #held: (() => void)[] = [];
  #resumed = Promise.withResolvers<void>();

  constructor(readonly scheduler: VirtualScheduler, readonly transport: Transport) {}

  now(): number {
    return this.scheduler.now();
  }

  setTimeout(callback: () => void, delayMs: number): Timer {
    return this.scheduler.setTimeout(() => {
      if (this.#paused) this.#held.push(callback);
      else callback();
    }, delayMs);
  }

  async open(listenAddr: SocketAddress): Promise<Socket> {
    const inner = await this.transport.open(listenAddr);
    // deno-lint-ignore no-this-alias -- the generator method below has its own `this`.
    const process = this;
    return {
      get localAddr(): SocketAddress {
        return inner.localAddr;
      },
      get metrics(): SocketMetrics {
        return inner.metrics;
      },
      send: (to: SocketAddress, message: ChitchatMessage) => inner.send(to, message),
      receive: () => inner.receive(),
      close: () => inner.close(),
      [Symbol.asyncDispose]: () => inner.close(),
      async *[Symbol.asyncIterator]() {
        for await (const item of inner) {
          // Datagrams queue up in the kernel while the process is stopped.
          while (process.#paused) await process.#resumed.promise;
          yield item;
        }
      },
    };
  }

  pause(): void {
    this.#paused = true;
    this.#resumed = Promise.withResolvers<void>();
  }

  resume(): void {
    this.#paused = false;
    this.#resumed.resolve();
    for (const callback of this.#held.splice(0)) callback();
  }
}

function config(port: number): SpawnChitchatConfig {
  return {
    chitchatId: {
      nodeId: `node-${port}`,
      generationId: 1n,
      gossipAdvertiseAddr: { hostname: "127.0.0.1", port },
    },
    clusterId: "pause-test",
    gossipIntervalMs: 100,
    seedNodes: ["127.0.0.1:7101"],
  };
}

Deno.test("a node paused for 15 s convicts nobody on its return, and its peers revive it at once", async () => {
  const scheduler = new VirtualScheduler();
  const transport = new ChannelTransport({ scheduler });
  const frozen = new FreezableProcess(scheduler, transport);
  const logger = new RecordingLogger();
  const options = { transport, scheduler, logger: silentLogger };
  await using a = await spawnChitchat(config(7101), options);
  await using b = await spawnChitchat(config(7102), options);
  await using c = await spawnChitchat(config(7103), {
    transport: frozen,
    scheduler: frozen,
    logger,
  });
  const sees = (node: typeof a, port: number) =>
    node.liveNodes().some((id) => id.gossipAdvertiseAddr.port === port);
  await advanceUntil(scheduler, () => [a, b, c].every((node) => node.liveNodes().length === 3), {
    timeoutMs: 30_000,
    label: "three live nodes",
  });
  await scheduler.advance(5_000);

  frozen.pause();
  await advanceUntil(scheduler, () => !sees(a, 7103) && !sees(b, 7103), {
    timeoutMs: 15_000,
    label: "the peers see the paused node dead",
  });
  await scheduler.advance(15_000 - 0);
  frozen.resume();
  const resumedAt = scheduler.now();
  const deadSeenByC: string[] = [];
  let revivedAt: number | undefined;
  while (scheduler.now() - resumedAt < 3_000) {
    await scheduler.advance(10);
    for (const id of c.chitchat.deadNodes()) deadSeenByC.push(id.nodeId);
    if (revivedAt === undefined && sees(a, 7103) && sees(b, 7103)) {
      revivedAt = scheduler.now() - resumedAt;
    }
  }
  deepStrictEqual(deadSeenByC, [], "the paused node declared nobody dead");
  ok(sees(c, 7101) && sees(c, 7102));
  ok(revivedAt !== undefined && revivedAt <= 1_000, `peers revived it after ${revivedAt} ms`);
  ok(logger.lines.some((line) => line.message.includes("Timers ran late")));
});

Deno.test("a node whose only seed is dead warns once that it is isolated, and again on recovery", async () => {
  const scheduler = new VirtualScheduler();
  const transport = new ChannelTransport({ scheduler });
  const logger = new RecordingLogger();
  const lonely = await spawnChitchat({ ...config(7202), seedNodes: ["127.0.0.1:7201"] }, {
    transport,
    scheduler,
    logger,
  });
  try {
    await scheduler.advance(5_000); // 50 rounds, nobody at the seed address
    const warnings = logger.lines.filter((line) => line.message.includes("isolated"));
    equal(warnings.length, 1, "one warning, not one a round");
    await using seed = await spawnChitchat({ ...config(7201), seedNodes: [] }, {
      transport,
      scheduler,
      logger: silentLogger,
    });
    await advanceUntil(scheduler, () => lonely.liveNodes().length === 2, {
      timeoutMs: 10_000,
      label: "the seed comes up",
    });
    await scheduler.advance(500);
    ok(logger.lines.some((line) => line.message.includes("no longer isolated")));
    ok(seed.liveNodes().length === 2);
  } finally {
    await lonely.shutdown({ leave: false });
  }
});

Deno.test("a node alone by configuration does not call itself isolated", async () => {
  const scheduler = new VirtualScheduler();
  const logger = new RecordingLogger();
  await using _alone = await spawnChitchat({ ...config(7301), seedNodes: [] }, {
    transport: new ChannelTransport({ scheduler }),
    scheduler,
    logger,
  });
  await scheduler.advance(5_000);
  deepStrictEqual(logger.lines.filter((line) => line.message.includes("isolated")), []);
});
