// Copyright the chitchat for Deno authors. MIT license.
// Test support: clusters of spawned nodes on either network. The channel
// network runs on virtual time (fast, deterministic); the UDP one runs on
// 127.0.0.1 with real time and short intervals. Both expose the same
// waitUntil, so a scenario is written once and run on both.

import { ChannelTransport } from "../lib/testing/channel_transport.ts";
import type { ChitchatHandle } from "../lib/runtime/chitchat_handle.ts";
import { type ChitchatId, formatChitchatId } from "../lib/core/chitchat_id.ts";
import type { Logger } from "../lib/core/logger.ts";
import { seededRandom } from "../lib/core/random.ts";
import { type Scheduler, systemScheduler } from "../lib/runtime/scheduler.ts";
import { spawnChitchat, type SpawnChitchatConfig } from "../lib/runtime/spawn_chitchat.ts";
import type { SocketAddress } from "../lib/core/socket_address.ts";
import type { Transport } from "../lib/runtime/transport.ts";
import { UdpTransport } from "../lib/runtime/udp_transport.ts";
import { advanceUntil, pollUntil, RecordingLogger } from "./_deadline.ts";
import { VirtualScheduler } from "../lib/testing/virtual_scheduler.ts";

/** A network plus a clock, and how to wait on them. */
export interface ClusterEnv {
  readonly name: "channel" | "udp";
  readonly transport: Transport;
  readonly scheduler: Scheduler;
  readonly intervalMs: number;
  readonly logger: RecordingLogger;
  /** The ChannelTransport, on the channel network. */
  readonly channel: ChannelTransport | undefined;
  /** Waits (virtual or real time) until `predicate` holds; returns the ms spent. */
  waitUntil(predicate: () => boolean, label: string, timeoutMs: number): Promise<number>;
  /** Lets `ms` pass (virtual or real time). */
  sleep(ms: number): Promise<void>;
  /** Where node `index` listens (port 0 on UDP: the port is read back). */
  listenAddr(index: number): SocketAddress;
}

export function channelEnv(seed = 1, intervalMs = 100): ClusterEnv {
  const scheduler = new VirtualScheduler();
  const logger = new RecordingLogger();
  const channel = new ChannelTransport({ scheduler, random: seededRandom(seed), logger });
  return {
    name: "channel",
    transport: channel,
    scheduler,
    intervalMs,
    logger,
    channel,
    waitUntil: (predicate, label, timeoutMs) =>
      advanceUntil(scheduler, predicate, { timeoutMs, label, stepMs: intervalMs / 4 }),
    sleep: (ms) => scheduler.advance(ms),
    listenAddr: (index) => ({ hostname: "127.0.0.1", port: 10_000 + index }),
  };
}

export function udpEnv(intervalMs = 50): ClusterEnv {
  const logger = new RecordingLogger();
  return {
    name: "udp",
    transport: new UdpTransport({ logger }),
    scheduler: systemScheduler,
    intervalMs,
    logger,
    channel: undefined,
    waitUntil: (predicate, label, timeoutMs) =>
      pollUntil(predicate, { timeoutMs, label, intervalMs: 5 }),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    listenAddr: () => ({ hostname: "127.0.0.1", port: 0 }),
  };
}

/** Node settings a scenario may override. */
export type NodeOverrides = Partial<Omit<SpawnChitchatConfig, "chitchatId">> & {
  readonly generationId?: bigint;
  readonly port?: number;
  readonly logger?: Logger;
};

/** Spawned nodes sharing one environment; disposing shuts every one down. */
export class TestCluster implements AsyncDisposable {
  readonly env: ClusterEnv;
  readonly nodes: ChitchatHandle[] = [];
  readonly #defaults: NodeOverrides;
  #seed: string | undefined;

  constructor(env: ClusterEnv, defaults: NodeOverrides = {}) {
    this.env = env;
    this.#defaults = defaults;
  }

  /** Starts a node; the first one started is every later node's seed. */
  async spawn(nodeId: string, overrides: NodeOverrides = {}): Promise<ChitchatHandle> {
    const settings = { ...this.#defaults, ...overrides };
    const listen = settings.port === undefined
      ? this.env.listenAddr(this.nodes.length)
      : { hostname: "127.0.0.1", port: settings.port };
    const { generationId, port: _port, logger, ...config } = settings;
    const interval = this.env.intervalMs;
    const node = await spawnChitchat({
      clusterId: "test-cluster",
      gossipIntervalMs: interval,
      seedNodes: this.#seed === undefined ? [] : [this.#seed],
      ...config,
      failureDetector: {
        initialIntervalMs: interval,
        deadNodeGracePeriodMs: 3_600_000,
        ...config.failureDetector,
      },
      chitchatId: { nodeId, generationId: generationId ?? 1n, gossipAdvertiseAddr: listen },
    }, {
      transport: this.env.transport,
      scheduler: this.env.scheduler,
      random: this.env.name === "channel" ? seededRandom(this.nodes.length + 100) : undefined,
      logger: logger ?? this.env.logger,
    });
    this.#seed ??= `127.0.0.1:${node.localAddr.port}`;
    this.nodes.push(node);
    return node;
  }

  async spawnMany(count: number, overrides: NodeOverrides = {}): Promise<ChitchatHandle[]> {
    const out: ChitchatHandle[] = [];
    for (let i = 0; i < count; i++) out.push(await this.spawn(`node-${i}`, overrides));
    return out;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.shutdown({ leave: false })));
  }
}

export const idText = (id: ChitchatId): string => formatChitchatId(id);

/** The ids a node lists as live, as sorted text. */
export function liveSet(node: ChitchatHandle): string[] {
  return node.liveNodes().map(idText).sort();
}

/** Whether every node lists exactly `expected` as live and holds their exact key-values. */
export function converged(nodes: readonly ChitchatHandle[], expected = nodes): boolean {
  const want = expected.map((node) => idText(node.chitchatId)).sort();
  for (const observer of nodes) {
    const live = liveSet(observer);
    if (live.length !== want.length || live.some((id, i) => id !== want[i])) return false;
    for (const owner of expected) {
      const state = observer.chitchat.nodeState(owner.chitchatId);
      if (state === undefined) return false;
      if (!sameKeyValues(state.keyValues(), owner.selfNodeState().keyValues())) return false;
    }
  }
  return true;
}

function sameKeyValues(
  a: Iterable<readonly [string, string]>,
  b: Iterable<readonly [string, string]>,
): boolean {
  return JSON.stringify([...a]) === JSON.stringify([...b]);
}
