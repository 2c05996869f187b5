// Copyright the chitchat for Deno authors. MIT license.
// Test helpers for the protocol state machine: a hand-driven clock and a
// handshake that goes through the wire codec.

import type { Logger } from "../lib/core/logger.ts";
import {
  Chitchat,
  type ChitchatConfig,
  type ChitchatId,
  type ChitchatMessage,
  type Clock,
  decodeMessage,
  encodeMessage,
} from "../mod.ts";
import { seededRandom } from "../lib/core/random.ts";

export class ManualClock implements Clock {
  #now = 0;
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

export function testId(port: number, generation = 1n): ChitchatId {
  return {
    nodeId: `node-${port}`,
    generationId: generation,
    gossipAdvertiseAddr: { hostname: "127.0.0.1", port },
  };
}

export function testNode(
  port: number,
  clock: Clock,
  config: Partial<ChitchatConfig> = {},
  logger?: Logger,
): Chitchat {
  return new Chitchat(
    {
      chitchatId: testId(port),
      clusterId: "test-cluster",
      failureDetector: { initialIntervalMs: 1_000 },
      ...config,
    },
    { clock, random: seededRandom(port), logger },
  );
}

/** Encodes and decodes, as if the message crossed the network. */
export function wire(message: ChitchatMessage): ChitchatMessage {
  return decodeMessage(encodeMessage(message));
}

/** One SYN / SYN-ACK / ACK exchange initiated by `a`, through the codec. */
export function handshake(a: Chitchat, b: Chitchat): void {
  const synAck = b.processMessage(wire(a.createSynMessage()));
  if (synAck === undefined) throw new Error("no SYN-ACK");
  const ack = a.processMessage(wire(synAck));
  if (ack === undefined) return;
  b.processMessage(wire(ack));
}

/**
 * One 100 ms round seen from `observer`: every peer beats and shakes hands
 * with it, then the observer updates liveness.
 */
export function observedRound(clock: ManualClock, observer: Chitchat, ...peers: Chitchat[]): void {
  clock.advance(100);
  for (const peer of peers) {
    peer.updateSelfHeartbeat();
    handshake(observer, peer);
  }
  observer.updateNodesLiveness();
}

/** Key-values (tombstones included) of `id` as `node` knows them. */
export function knownKeyValues(node: Chitchat, id: ChitchatId): [string, string, number, string][] {
  const state = node.nodeState(id);
  if (state === undefined) return [];
  return [...state.keyValuesIncludingDeleted()].map((
    [key, v],
  ) => [key, v.value, v.version, v.status]);
}
