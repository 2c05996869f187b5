// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode Simulator}: many real chitchat nodes in one process, on an
 * in-memory network and virtual time, reproducible from a seed.
 *
 * @module
 */

import { ChannelTransport, type DelayFunction } from "./channel_transport.ts";
import type { ChitchatHandle } from "../runtime/chitchat_handle.ts";
import type { ChitchatId } from "../core/chitchat_id.ts";
import type { FailureDetectorConfig } from "../core/failure_detector.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import type { NodeState } from "../core/node_state.ts";
import { type RandomSource, seededRandom } from "../core/random.ts";
import { formatSocketAddress, type SocketAddress } from "../core/socket_address.ts";
import { spawnChitchat } from "../runtime/spawn_chitchat.ts";
import { VirtualScheduler } from "./virtual_scheduler.ts";
import { chitchatInternals } from "../core/chitchat.ts";

/** Options of the {@linkcode Simulator} constructor. */
export interface SimulatorOptions {
  /**
   * Seed of every random choice (peer selection, tie-breaking, drops, delays).
   *
   * @default {1}
   */
  readonly seed?: number;
  /**
   * Cluster id of every node.
   *
   * @default {"simulation"}
   */
  readonly clusterId?: string;
  /**
   * Gossip interval of every node.
   *
   * @default {1_000}
   */
  readonly gossipIntervalMs?: number;
  /**
   * Failure detector settings; `initialIntervalMs` defaults to the gossip
   * interval, as the reference scales it in its tests.
   *
   * @default {{ initialIntervalMs: gossipIntervalMs }}
   */
  readonly failureDetector?: Partial<FailureDetectorConfig>;
  /**
   * Tombstone and TTL grace period.
   *
   * @default {7_200_000}
   */
  readonly markedForDeletionGracePeriodMs?: number;
  /**
   * Delay of every message (per-link delays override it).
   *
   * @default {undefined (no delay)}
   */
  readonly delay?: DelayFunction;
  /**
   * Probability that a message is lost (per-link settings override it).
   *
   * @default {0}
   */
  readonly dropProbability?: number;
  /**
   * Where the nodes log.
   *
   * @default {silentLogger}
   */
  readonly logger?: Logger;
}

/** Options of {@linkcode Simulator.addNode}. */
export interface AddNodeOptions {
  /**
   * Node id; defaults to `node-<index>`.
   *
   * @default {`node-${index}`}
   */
  readonly nodeId?: string;
  /**
   * Nodes (or addresses) this node is given as seeds.
   *
   * @default {[]}
   */
  readonly seeds?: readonly (SimulatedNode | SocketAddress)[];
  /**
   * Key-values the node starts with.
   *
   * @default {[]}
   */
  readonly keyValues?: Iterable<readonly [string, string]>;
  /**
   * An extra condition for nodes to be listed live by this node.
   *
   * @default {undefined}
   */
  readonly extraLivenessPredicate?: (state: NodeState) => boolean;
}

// What the simulator does to its nodes and watches beyond their public API.
let nodeAccess: {
  create(
    index: number,
    nodeId: string,
    address: SocketAddress,
    options: AddNodeOptions,
  ): SimulatedNode;
  options(node: SimulatedNode): AddNodeOptions;
  started(node: SimulatedNode, handle: ChitchatHandle, generation: bigint): void;
  stopped(node: SimulatedNode): ChitchatHandle | undefined;
};
let watchAccess: {
  create(): FalseDeathWatch;
  record(watch: FalseDeathWatch, death: FalseDeath): void;
  hold(watch: FalseDeathWatch, subscription: { unsubscribe(): void }): void;
};

/**
 * One simulated node: an address and, while running, a chitchat handle.
 * Restarting it keeps the node id and address and takes a new generation.
 *
 * @example
 * ```ts
 * import { Simulator } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * await using sim = new Simulator();
 * const node = await sim.addNode();
 * assert(node.running);
 * assert.strictEqual(node.generation, 1n);
 * await sim.restartNode(node);
 * assert.strictEqual(node.generation, 2n);
 * ```
 */
export class SimulatedNode {
  /** The node id (stable across restarts). */
  readonly nodeId: string;
  /** Its address on the simulated network. */
  readonly address: SocketAddress;
  /** Position in creation order. */
  readonly index: number;
  #handle: ChitchatHandle | undefined;
  #lastChitchatId: ChitchatId | undefined;
  #generation = 0n;
  #options: AddNodeOptions;

  /** Nodes come from {@linkcode Simulator.addNode}. */
  private constructor(
    index: number,
    nodeId: string,
    address: SocketAddress,
    options: AddNodeOptions,
  ) {
    this.index = index;
    this.nodeId = nodeId;
    this.address = address;
    this.#options = options;
  }

  static {
    nodeAccess = {
      create: (index, nodeId, address, options) =>
        new SimulatedNode(index, nodeId, address, options),
      options: (node) => node.#options,
      started(node, handle, generation) {
        node.#handle = handle;
        node.#lastChitchatId = handle.chitchatId;
        node.#generation = generation;
      },
      stopped(node) {
        const handle = node.#handle;
        node.#handle = undefined;
        return handle;
      },
    };
  }

  /** Whether the node is running. */
  get running(): boolean {
    return this.#handle !== undefined;
  }

  /** Current (or last) generation. */
  get generation(): bigint {
    return this.#generation;
  }

  /**
   * The id of the current incarnation, or of the last one once stopped.
   *
   * @throws {Error} if the node never ran.
   */
  get chitchatId(): ChitchatId {
    if (this.#lastChitchatId === undefined) throw new Error(`Node ${this.nodeId} never ran`);
    return this.#lastChitchatId;
  }

  /**
   * The running node's handle.
   *
   * @throws {Error} if the node is stopped.
   */
  get handle(): ChitchatHandle {
    if (this.#handle === undefined) throw new Error(`Node ${this.nodeId} is stopped`);
    return this.#handle;
  }
}

/**
 * Message and byte counters of one node (or of all of them).
 *
 * @example
 * ```ts
 * import { Simulator } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * await using sim = new Simulator({ seed: 1 });
 * const [a, b] = [await sim.addNode(), await sim.addNode()];
 * await sim.addSeeds([b], [a]);
 * await sim.advance(10_000);
 * const total = sim.traffic();
 * assert(total.messagesSent > 0 && total.bytesSent > 0 && total.messagesDropped === 0);
 * assert(sim.traffic(a).messagesSent + sim.traffic(b).messagesSent === total.messagesSent);
 * ```
 */
export interface TrafficStats {
  /** Messages sent (lost ones included). */
  readonly messagesSent: number;
  /** Bytes of those messages. */
  readonly bytesSent: number;
  /** Messages lost on the way. */
  readonly messagesDropped: number;
  /** Bytes of the largest message sent. */
  readonly largestMessageBytes: number;
}

/**
 * One live -> dead transition of a running node, as one observer saw it.
 *
 * @example
 * ```ts
 * import { Simulator } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * await using sim = new Simulator({ seed: 2 });
 * const [a, b] = [await sim.addNode(), await sim.addNode()];
 * await sim.addSeeds([b], [a]);
 * await sim.runUntil(() => sim.isConverged(), 30_000);
 * using watch = sim.watchFalseDeaths();
 * sim.cut(a, b); // both run: whatever death they see now is false
 * await sim.advance(60_000);
 * const [death] = watch.deaths;
 * assert(death !== undefined && watch.count >= 2);
 * assert(death.observer !== death.subject && death.atMs > 0);
 * ```
 */
export interface FalseDeath {
  /** Virtual time of the transition. */
  readonly atMs: number;
  /** The node that declared the subject dead (`nodeId@generation`). */
  readonly observer: string;
  /** The running node declared dead (`nodeId@generation`). */
  readonly subject: string;
}

/**
 * Records false deaths (see {@linkcode Simulator.watchFalseDeaths}) until
 * disposed.
 *
 * @example
 * ```ts
 * import { Simulator } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * await using sim = new Simulator();
 * await sim.addNode();
 * using watch = sim.watchFalseDeaths();
 * await sim.advance(10_000);
 * assert(watch.count === 0 && watch.deaths.length === 0);
 * ```
 */
export class FalseDeathWatch implements Disposable {
  readonly #deaths: FalseDeath[] = [];
  readonly #subscriptions: { unsubscribe(): void }[] = [];

  /** Watches come from {@linkcode Simulator.watchFalseDeaths}. */
  private constructor() {}

  static {
    watchAccess = {
      create: () => new FalseDeathWatch(),
      record(watch, death) {
        watch.#deaths.push(death);
      },
      hold(watch, subscription) {
        watch.#subscriptions.push(subscription);
      },
    };
  }

  /** Number of false deaths seen so far. */
  get count(): number {
    return this.#deaths.length;
  }

  /** The false deaths seen so far, in time order. */
  get deaths(): readonly FalseDeath[] {
    return this.#deaths;
  }

  /** Stops watching (the deaths recorded so far stay readable). */
  [Symbol.dispose](): void {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#subscriptions.length = 0;
  }
}

/**
 * Runs N real chitchat nodes (the same state machine and server loop as in
 * production) on an in-memory network with faults and on virtual time:
 * no real timer, no sleep, and a run is reproducible from its seed.
 *
 * @example Three nodes converge, then one dies
 * ```ts
 * import { Simulator } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * await using sim = new Simulator({ seed: 7 });
 * const [seed, b, c] = [await sim.addNode(), await sim.addNode(), await sim.addNode()];
 * for (const node of [b, c]) node.handle.chitchat.selfNodeState().set("role", "worker");
 * await sim.addSeeds([b, c], [seed]);
 * const convergedAt = await sim.runUntil(() => sim.isConverged(), 30_000);
 * assert(convergedAt !== undefined);
 * await sim.stopNode(c);
 * const detectedAt = await sim.runUntil(() => sim.everyoneSeesDead(c), 60_000);
 * assert(detectedAt !== undefined && detectedAt > convergedAt);
 * ```
 */
export class Simulator implements AsyncDisposable {
  /** The virtual clock every node runs on. */
  readonly scheduler: VirtualScheduler;
  /** The in-memory network. */
  readonly transport: ChannelTransport;
  /** The simulator's own random source (derived from the seed). */
  readonly random: RandomSource;
  readonly #options: SimulatorOptions;
  readonly #seed: number;
  readonly #logger: Logger;
  readonly #nodes: SimulatedNode[] = [];
  readonly #seeds = new Map<SimulatedNode, SocketAddress[]>();
  readonly #byId = new Map<string, SimulatedNode>();
  #indexed = 0;
  #spawned = 0;

  /**
   * Creates an empty simulation.
   *
   * @param options Seed, gossip interval, failure detector, network faults.
   */
  constructor(options: SimulatorOptions = {}) {
    this.#options = options;
    this.#seed = options.seed ?? 1;
    this.#logger = options.logger ?? silentLogger;
    this.random = seededRandom(this.#seed);
    this.scheduler = new VirtualScheduler();
    this.transport = new ChannelTransport({
      scheduler: this.scheduler,
      random: seededRandom(this.#seed ^ 0x5eed),
      logger: this.#logger,
      delay: options.delay,
      dropProbability: options.dropProbability,
      // Nodes of a simulated cluster can receive a burst from every peer at once.
      queueCapacity: 1 << 20,
    });
  }

  /** Virtual time in milliseconds. */
  get now(): number {
    return this.scheduler.now();
  }

  /** Gossip interval of the nodes. */
  get gossipIntervalMs(): number {
    return this.#options.gossipIntervalMs ?? 1_000;
  }

  /**
   * Every node ever added, running or not, in creation order.
   *
   * @returns The nodes.
   */
  nodes(): readonly SimulatedNode[] {
    return this.#nodes;
  }

  /**
   * The running nodes.
   *
   * @returns The nodes.
   */
  runningNodes(): SimulatedNode[] {
    return this.#nodes.filter((node) => node.running);
  }

  /**
   * Adds and starts a node (its first gossip round runs at the current virtual time).
   *
   * @param options Id, seeds, initial key-values.
   * @returns The node.
   */
  async addNode(options: AddNodeOptions = {}): Promise<SimulatedNode> {
    const index = this.#nodes.length;
    const address = {
      hostname: `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`,
      port: 7280,
    };
    const node = nodeAccess.create(index, options.nodeId ?? `node-${index}`, address, options);
    this.#nodes.push(node);
    this.#seeds.set(node, (options.seeds ?? []).map(addressOf));
    await this.#start(node, 1n);
    return node;
  }

  /**
   * Adds `count` nodes with the same options, their starts spread evenly
   * over `spreadMs` of virtual time (real nodes do not start in lockstep;
   * nodes started at the same instant would also gossip in lockstep).
   *
   * @param count How many.
   * @param options Options of each (ids default to `node-<index>`).
   * @param spreadMs Virtual time over which the starts are spread.
   * @returns The nodes.
   */
  async addNodes(
    count: number,
    options: Omit<AddNodeOptions, "nodeId"> = {},
    spreadMs: number = this.gossipIntervalMs,
  ): Promise<SimulatedNode[]> {
    const added: SimulatedNode[] = [];
    for (let i = 0; i < count; i++) {
      if (i > 0 && spreadMs > 0) await this.advance(spreadMs / count);
      added.push(await this.addNode(options));
    }
    return added;
  }

  /**
   * Gives running nodes more seeds: they take effect at their next restart
   * and right now through a handshake with each seed.
   *
   * @param nodes The nodes.
   * @param seeds Their new seeds.
   */
  async addSeeds(
    nodes: readonly SimulatedNode[],
    seeds: readonly (SimulatedNode | SocketAddress)[],
  ): Promise<void> {
    for (const node of nodes) {
      const addresses = seeds.map(addressOf);
      this.#seeds.get(node)!.push(...addresses);
      if (!node.running) continue;
      for (const address of addresses) await node.handle.gossip(address);
    }
  }

  async #start(node: SimulatedNode, generation: bigint): Promise<void> {
    const options = nodeAccess.options(node);
    const interval = this.gossipIntervalMs;
    const handle = await spawnChitchat({
      chitchatId: {
        nodeId: node.nodeId,
        generationId: generation,
        gossipAdvertiseAddr: node.address,
      },
      clusterId: this.#options.clusterId ?? "simulation",
      gossipIntervalMs: interval,
      seedNodes: this.#seeds.get(node)!.map(formatSocketAddress),
      failureDetector: { initialIntervalMs: interval, ...this.#options.failureDetector },
      markedForDeletionGracePeriodMs: this.#options.markedForDeletionGracePeriodMs,
      initialKeyValues: options.keyValues,
      extraLivenessPredicate: options.extraLivenessPredicate,
    }, {
      transport: this.transport,
      scheduler: this.scheduler,
      random: seededRandom(this.#seed * 1_000_003 + this.#spawned++),
      logger: this.#logger,
      resolveDns: () => Promise.resolve([]),
    });
    nodeAccess.started(node, handle, generation);
  }

  /**
   * Stops a node as a crash does (no leave): its socket closes, messages to
   * it are lost, peers see it die through their failure detector.
   *
   * @param node The node.
   */
  async stopNode(node: SimulatedNode): Promise<void> {
    await nodeAccess.stopped(node)?.shutdown({ leave: false });
  }

  /**
   * Stops a node gracefully ({@linkcode ChitchatHandle.leave}): it marks
   * itself leaving, tells its peers, and stops once 3 of them acknowledged
   * or 2 gossip intervals passed. The node counts as stopped at once;
   * advance virtual time for the leave to complete.
   *
   * @param node The node.
   * @returns The peers that acknowledged, once virtual time has advanced far enough (0 for a stopped node).
   *
   * @example
   * ```ts
   * import { Simulator } from "@chitchat/chitchat/testing";
   * import assert from "node:assert";
   *
   * await using sim = new Simulator({ seed: 1, gossipIntervalMs: 100 });
   * const a = await sim.addNode();
   * const b = await sim.addNode({ seeds: [a] });
   * assert(await sim.runUntil(() => sim.isConverged(), 30_000) !== undefined);
   * const acknowledged = sim.leaveNode(b);
   * assert(await sim.runUntil(() => sim.everyoneSeesLeft(b), 1_000) !== undefined);
   * assert.strictEqual(await acknowledged, 1);
   * assert.strictEqual(sim.deadSet(a).size, 0);
   * ```
   */
  leaveNode(node: SimulatedNode): Promise<number> {
    return nodeAccess.stopped(node)?.leave() ?? Promise.resolve(0);
  }

  /**
   * Restarts a node with the next generation (stopping it first if needed).
   *
   * @param node The node.
   */
  async restartNode(node: SimulatedNode): Promise<void> {
    const generation = node.generation + 1n;
    await this.stopNode(node);
    await this.#start(node, generation);
  }

  /**
   * Cuts the link between two nodes (both ways unless `oneWay`).
   *
   * @param a A node.
   * @param b Another node.
   * @param options `oneWay: true` cuts only a -> b.
   */
  cut(a: SimulatedNode, b: SimulatedNode, options: { readonly oneWay?: boolean } = {}): void {
    this.transport.cut(a.address, b.address, options);
  }

  /**
   * Heals the link between two nodes.
   *
   * @param a A node.
   * @param b Another node.
   * @param options `oneWay: true` heals only a -> b.
   */
  heal(a: SimulatedNode, b: SimulatedNode, options: { readonly oneWay?: boolean } = {}): void {
    this.transport.heal(a.address, b.address, options);
  }

  /**
   * Cuts every link between two groups.
   *
   * @param groupA One side.
   * @param groupB The other side.
   */
  partition(groupA: readonly SimulatedNode[], groupB: readonly SimulatedNode[]): void {
    this.transport.partition(groupA.map((n) => n.address), groupB.map((n) => n.address));
  }

  /** Heals every link. */
  healAll(): void {
    this.transport.healAll();
  }

  /**
   * Sets the probability that a message on one link is dropped (`undefined`: back to the global one).
   *
   * @param from Sender.
   * @param to Receiver.
   * @param probability In `[0, 1]`.
   */
  setLinkDropProbability(
    from: SimulatedNode,
    to: SimulatedNode,
    probability: number | undefined,
  ): void {
    this.transport.setLinkDropProbability(from.address, to.address, probability);
  }

  /**
   * Sets the probability that a message is dropped, on every link without its own.
   *
   * @param probability In `[0, 1]`.
   */
  setDropProbability(probability: number): void {
    this.transport.setDropProbability(probability);
  }

  /**
   * Sets the delay distribution of one link (`undefined`: back to the global one).
   *
   * @param from Sender.
   * @param to Receiver.
   * @param delay Draws a delay in ms.
   */
  setLinkDelay(from: SimulatedNode, to: SimulatedNode, delay: DelayFunction | undefined): void {
    this.transport.setLinkDelay(from.address, to.address, delay);
  }

  /**
   * Sets the delay distribution of every link without its own.
   *
   * @param delay Draws a delay in ms (`undefined`: no delay).
   */
  setDelay(delay: DelayFunction | undefined): void {
    this.transport.setDelay(delay);
  }

  /**
   * Advances virtual time, running everything due.
   *
   * @param ms Virtual milliseconds.
   */
  async advance(ms: number): Promise<void> {
    await this.scheduler.advance(ms);
  }

  /**
   * Advances virtual time until `predicate` holds, checking it every
   * `checkEveryMs` of virtual time (a tenth of the gossip interval by
   * default: checks like {@linkcode Simulator.isConverged} cost a pass over
   * every pair of nodes).
   *
   * @param predicate The condition.
   * @param limitMs Give up after this much virtual time.
   * @param checkEveryMs Resolution of the answer.
   * @returns The virtual time at which the predicate was first seen to
   * hold, or `undefined` if it did not within the limit.
   */
  async runUntil(
    predicate: () => boolean,
    limitMs: number,
    checkEveryMs: number = this.gossipIntervalMs / 10,
  ): Promise<number | undefined> {
    const deadline = this.now + limitMs;
    if (predicate()) return this.now;
    while (this.now < deadline) {
      await this.scheduler.advanceTo(Math.min(deadline, this.now + checkEveryMs));
      if (predicate()) return this.now;
    }
    return undefined;
  }

  /**
   * The ids (`nodeId@generation`) a running node considers live, itself included.
   *
   * @param node The observer.
   * @returns The live set.
   */
  liveSet(node: SimulatedNode): Set<string> {
    return new Set(node.handle.chitchat.liveNodes().map(label));
  }

  /**
   * The ids (`nodeId@generation`) a running node considers dead.
   *
   * @param node The observer.
   * @returns The dead set.
   */
  deadSet(node: SimulatedNode): Set<string> {
    return new Set(node.handle.chitchat.deadNodes().map(label));
  }

  /**
   * A running node's view of every node's visible key-values.
   *
   * @param node The observer.
   * @returns `nodeId@generation` -> key -> value.
   */
  view(node: SimulatedNode): Map<string, Map<string, string>> {
    const out = new Map<string, Map<string, string>>();
    for (const state of node.handle.chitchat.nodeStates()) {
      out.set(label(state.chitchatId), new Map(state.keyValues()));
    }
    return out;
  }

  /**
   * Whether the cluster has converged: every running node sees exactly the
   * running nodes as live, and holds every running node's state at that
   * node's own version (so the same key-values).
   *
   * @returns `true` when converged.
   */
  isConverged(): boolean {
    const running = this.runningNodes();
    // The cheap check first: counting live peers on every node rules out
    // most non-converged clusters before any state is compared.
    for (const observer of running) {
      const chitchat = observer.handle.chitchat;
      if (chitchatInternals.failureDetector(chitchat).liveCount !== running.length - 1) {
        return false;
      }
    }
    for (const observer of running) {
      const chitchat = observer.handle.chitchat;
      for (const subject of running) {
        if (subject === observer) continue;
        const id = subject.handle.chitchatId;
        if (!chitchatInternals.failureDetector(chitchat).isLive(id)) return false;
        const own = subject.handle.chitchat.selfNodeState();
        const seen = chitchat.nodeState(id);
        if (
          seen === undefined || seen.maxVersion !== own.maxVersion ||
          seen.lastGcVersion !== own.lastGcVersion
        ) {
          return false;
        }
      }
    }
    return true;
  }

  /**
   * Whether every running node holds `node`'s key `key` with `value`.
   *
   * @param node The owner (running).
   * @param key The key.
   * @param value The expected value.
   * @returns `true` when everyone has it.
   */
  everyoneHas(node: SimulatedNode, key: string, value: string): boolean {
    const id = node.handle.chitchatId;
    return this.runningNodes().every((observer) =>
      observer.handle.chitchat.nodeState(id)?.get(key) === value
    );
  }

  /**
   * Whether every running node considers `node`'s last incarnation dead (or
   * has already forgotten it).
   *
   * @param node The node (usually stopped).
   * @returns `true` when detected everywhere.
   */
  everyoneSeesDead(node: SimulatedNode): boolean {
    const id = node.chitchatId;
    return this.runningNodes().every((observer) => {
      if (observer === node) return true;
      const chitchat = observer.handle.chitchat;
      return !chitchatInternals.failureDetector(chitchat).isLive(id);
    });
  }

  /**
   * Whether every running node lists `node`'s last incarnation as left (or
   * has already forgotten it), and none as live or dead.
   *
   * @param node The node (usually one that left).
   * @returns `true` when its leave is known everywhere.
   */
  everyoneSeesLeft(node: SimulatedNode): boolean {
    const id = node.chitchatId;
    return this.runningNodes().every((observer) => {
      if (observer === node) return true;
      const detector = chitchatInternals.failureDetector(observer.handle.chitchat);
      return detector.isLeft(id) ||
        (observer.handle.chitchat.nodeState(id) === undefined && !detector.isDead(id));
    });
  }

  /**
   * Starts counting false deaths: every time a node running now (the
   * observer) moves a node from live to dead while that node's incarnation
   * is still running. Each observer counts separately, so one death seen
   * by 40 nodes counts 40. Observers restarted later are not followed (the
   * watch holds their old incarnation). It uses `watchLiveNodes`, which
   * fires on every change of the failure detector's live set, so no
   * transition between two checks is missed.
   *
   * @returns The watch; dispose it to stop.
   *
   * @example A partition makes each side declare the other dead
   * ```ts
   * import { Simulator } from "@chitchat/chitchat/testing";
   * import assert from "node:assert";
   *
   * await using sim = new Simulator({ seed: 2 });
   * const a = await sim.addNode();
   * const b = await sim.addNode({ seeds: [a] });
   * assert(await sim.runUntil(() => sim.isConverged(), 30_000) !== undefined);
   * using watch = sim.watchFalseDeaths();
   * sim.partition([a], [b]);
   * await sim.advance(60_000);
   * assert.deepStrictEqual(watch.deaths.map((d) => d.subject).sort(), ["node-0@1", "node-1@1"]);
   * ```
   */
  watchFalseDeaths(): FalseDeathWatch {
    const watch = watchAccess.create();
    for (const observer of this.runningNodes()) {
      const chitchat = observer.handle.chitchat;
      const observerLabel = label(observer.chitchatId);
      const liveLabels = (): Set<string> =>
        new Set(Array.from(chitchatInternals.failureDetector(chitchat).liveNodes(), label));
      let previous = liveLabels();
      // The callback fires on a live-set or max-version change; the diff
      // reads the failure detector itself so `extraLivenessPredicate`
      // (a user filter, not a death) cannot count.
      watchAccess.hold(
        watch,
        chitchat.watchLiveNodes(() => {
          const current = liveLabels();
          for (const subject of previous) {
            if (current.has(subject)) continue;
            const node = this.#nodeById(subject.slice(0, subject.lastIndexOf("@")));
            if (node?.running && label(node.chitchatId) === subject) {
              watchAccess.record(watch, { atMs: this.now, observer: observerLabel, subject });
            }
          }
          previous = current;
        }),
      );
    }
    return watch;
  }

  /** The node with this id (the first one, should ids repeat). */
  #nodeById(nodeId: string): SimulatedNode | undefined {
    // Index the nodes added since the last lookup.
    for (; this.#indexed < this.#nodes.length; this.#indexed++) {
      const node = this.#nodes[this.#indexed];
      if (!this.#byId.has(node.nodeId)) this.#byId.set(node.nodeId, node);
    }
    return this.#byId.get(nodeId);
  }

  /**
   * Traffic of one node (messages it sent), or of the whole network.
   *
   * @param node The node, or `undefined` for all.
   * @returns Its counters.
   */
  traffic(node?: SimulatedNode): TrafficStats {
    const stats = node === undefined
      ? this.transport.stats()
      : this.transport.addressStats(node.address);
    return {
      messagesSent: stats.messagesSent,
      bytesSent: stats.bytesSent,
      messagesDropped: stats.messagesDropped,
      largestMessageBytes: stats.largestMessageBytes,
    };
  }

  /** Resets the traffic counters. */
  resetTraffic(): void {
    this.transport.resetStats();
  }

  /** Stops every node. */
  async shutdown(): Promise<void> {
    for (const node of this.#nodes) await this.stopNode(node);
  }

  /** Same as {@linkcode Simulator.shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}

function label(id: ChitchatId): string {
  return `${id.nodeId}@${id.generationId}`;
}

function addressOf(target: SimulatedNode | SocketAddress): SocketAddress {
  return target instanceof SimulatedNode ? target.address : target;
}
