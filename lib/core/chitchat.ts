// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode Chitchat}: the gossip protocol state machine, without I/O.
 *
 * @module
 */

import { utf8ByteLength } from "./wire/_binary.ts";
import { idInfo } from "./_chitchat_id_info.ts";
import { shuffleRange } from "./_shuffle.ts";
import { type ChitchatId, formatChitchatId } from "./chitchat_id.ts";
import {
  type ChitchatConfig,
  resolveChitchatConfig,
  type ResolvedChitchatConfig,
} from "./chitchat_config.ts";
import { type Clock, systemClock } from "./clock.ts";
import { ClusterState } from "./cluster_state.ts";
import type { Delta } from "./delta.ts";
import { type Digest, digestInternals } from "./digest.ts";
import { FailureDetector } from "./failure_detector.ts";
import type { LivenessRecord } from "./_liveness_record.ts";
import { clusterStateInternals } from "./cluster_state.ts";
import type {
  KeyChangeEvent,
  KeyChangeSubscription,
  SubscribeEventOptions,
} from "./key_change_event.ts";
import { type Logger, silentLogger } from "./logger.ts";
import type { ChitchatMessage, SynMessage } from "./message.ts";
import { type NodeState, nodeStateInternals as nodes } from "./node_state.ts";
import {
  digestLineBytes,
  LENGTH_PREFIX_BYTES,
  MAX_DATAGRAM_BYTES,
  MESSAGE_HEADER_BYTES,
} from "./wire/wire_sizes.ts";
import { type RandomSource, systemRandom } from "./random.ts";
import type { ChitchatOptions } from "./chitchat_options.ts";
import { EventStream } from "./_event_stream.ts";
import type { MembershipEvent } from "./membership_event.ts";
import type { VersionedValue } from "./versioned_value.ts";

/**
 * Counters of what the state machine processed.
 *
 * @example
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = (port: number) => ({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const a = new Chitchat({ chitchatId: id(1), clusterId: "demo" });
 * const b = new Chitchat({ chitchatId: id(2), clusterId: "demo" });
 * const stranger = new Chitchat({ chitchatId: id(3), clusterId: "other" });
 * a.processMessage(b.processMessage(a.createSynMessage())!);
 * b.processMessage(stranger.createSynMessage());
 * assert(b.metrics().synReceived === 2);
 * assert(b.metrics().badClusterSent === 1);
 * assert(a.metrics().synAckReceived === 1);
 * ```
 */
export interface ChitchatMetrics {
  /** SYN messages processed. */
  readonly synReceived: number;
  /** SYN-ACK messages processed. */
  readonly synAckReceived: number;
  /** ACK messages processed. */
  readonly ackReceived: number;
  /** BAD-CLUSTER replies received. */
  readonly badClusterReceived: number;
  /** SYNs from another cluster answered with BAD-CLUSTER. */
  readonly badClusterSent: number;
  /** Node deltas applied. */
  readonly nodeDeltasApplied: number;
  /** Node deltas refused by the acceptance rules. */
  readonly nodeDeltasRejected: number;
  /** Node deltas refused as inconsistent. */
  readonly nodeDeltasInvalid: number;
  /** Node states reset because a peer collected tombstones we had not seen. */
  readonly resets: number;
  /** Digests cut to a window (or a sample) because the whole digest could not fit one datagram. */
  readonly digestsTruncated: number;
  /**
   * Received digests read as windows: the delta answering them covered only
   * the nodes within their first and last ids.
   */
  readonly digestsReadAsWindows: number;
  /** Node deltas about this node, refused: only this node writes its state. */
  readonly ownDeltasRefused: number;
  /** Node deltas refused because their max version jumps further than plausible. */
  readonly implausibleDeltas: number;
  /** Digest heartbeats refused because they jump further than plausible. */
  readonly implausibleHeartbeats: number;
  /** Times this node moved its max version past a version of it held by peers. */
  readonly ownVersionCatchUps: number;
  /** Nodes announced in digests but not added: a cap of `limits` was reached. */
  readonly nodesRefused: number;
  /** Node deltas refused because they would take a node past its caps. */
  readonly nodeDeltasOversized: number;
  /** Announced nodes forgotten because they never became live in time. */
  readonly unconfirmedNodesCollected: number;
}

type MutableMetrics = { -readonly [K in keyof ChitchatMetrics]: ChitchatMetrics[K] };

/**
 * What the runtime and the simulator may do with a `Chitchat` beyond its
 * public API. Not re-exported by `mod.ts`.
 */
export interface ChitchatInternals {
  /** Builds a node from a configuration already checked by `resolveChitchatConfig`. */
  fromResolved(config: ResolvedChitchatConfig, options: ChitchatOptions): Chitchat;
  /** The configuration in use, with defaults filled in. */
  config(chitchat: Chitchat): ResolvedChitchatConfig;
  /** The failure detector. */
  failureDetector(chitchat: Chitchat): FailureDetector;
  /**
   * Sets the largest message the node builds (default 65,507, one
   * datagram): the runtime lowers it by the seal's overhead when it
   * encrypts, so sealed datagrams still fit.
   */
  setMaxMessageBytes(chitchat: Chitchat, bytes: number): void;
  /**
   * How digests too large for one datagram are cut: `"sampled"` (the
   * default: a random sample that keeps this node's own line, and every
   * digest read as whole) or `"windowed"` (a rotating window of the id
   * order, and received digests read as windows). Windows leave a node's
   * own line out of most digests: under a flood that made a node know
   * 10,000 fake nodes, its honest peers saw it dead (9 to 21 sightings a
   * run of bench/syn_flood.ts), so windows stay opt-in until they carry it.
   */
  setDigestMode(chitchat: Chitchat, mode: DigestMode): void;
}

/** How digests too large for one datagram are cut (see {@linkcode ChitchatInternals.setDigestMode}). */
export type DigestMode = "windowed" | "sampled";

let internals: ChitchatInternals;
// Set while `fromResolved` builds a node, so its configuration is not checked twice.
let preResolved: ResolvedChitchatConfig | undefined;

/**
 * The chitchat protocol, without I/O: feed it received messages, send
 * what it returns. The runtime ({@linkcode spawnChitchat}) drives it with a
 * socket and a timer; tests and simulations drive it by hand.
 *
 * @example A full handshake between two nodes
 * ```ts
 * import { Chitchat } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const id = (port: number) => ({ nodeId: `node-${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const a = new Chitchat({ chitchatId: id(1), clusterId: "demo" });
 * const b = new Chitchat({ chitchatId: id(2), clusterId: "demo" });
 * a.selfNodeState().set("role", "indexer");
 * b.selfNodeState().set("role", "searcher");
 *
 * const synAck = b.processMessage(a.createSynMessage())!;
 * const ack = a.processMessage(synAck)!;
 * b.processMessage(ack);
 * // One handshake makes each node known to the other; the next one carries their key-values.
 * b.processMessage(a.processMessage(b.processMessage(a.createSynMessage())!)!);
 * assert(a.nodeState(id(2))?.get("role") === "searcher");
 * assert(b.nodeState(id(1))?.get("role") === "indexer");
 * ```
 */
export class Chitchat {
  readonly #config: ResolvedChitchatConfig;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #logger: Logger;
  readonly #clusterState: ClusterState;
  readonly #failureDetector: FailureDetector;
  readonly #self: NodeState;
  readonly #selfKey: string;
  readonly #clusterIdBytes: number;
  #maxMessageBytes = MAX_DATAGRAM_BYTES;
  #digestMode: DigestMode = "sampled";
  // Where the next window starts, as an index into the id order: every
  // windowed digest (SYN or SYN-ACK) continues where the last one ended.
  #windowStart = 0;
  #previousLive: readonly NodeState[] = [];
  #previousVersions: readonly number[] = [];
  #liveSnapshot: readonly NodeState[] = [];
  #liveWatchers: ((nodes: readonly NodeState[]) => void)[] = [];
  readonly #metrics: MutableMetrics = {
    synReceived: 0,
    synAckReceived: 0,
    ackReceived: 0,
    badClusterReceived: 0,
    badClusterSent: 0,
    nodeDeltasApplied: 0,
    nodeDeltasRejected: 0,
    nodeDeltasInvalid: 0,
    resets: 0,
    digestsTruncated: 0,
    digestsReadAsWindows: 0,
    ownDeltasRefused: 0,
    implausibleDeltas: 0,
    implausibleHeartbeats: 0,
    ownVersionCatchUps: 0,
    nodesRefused: 0,
    nodeDeltasOversized: 0,
    unconfirmedNodesCollected: 0,
  };
  // Nodes learned from digests that have not been live yet, with when.
  readonly #unconfirmed = new Map<NodeState, number>();
  #newInMessage = 0;
  #newInSecond = 0;
  #secondStartedAt = -Infinity;
  readonly #capLoggedAt = new Map<string, number>();
  // Membership events: open streams, nodes seen live once (joined, then
  // revived), and the newest generation of each node id (restarts).
  readonly #eventStreams = new Set<EventStream<MembershipEvent>>();
  readonly #seenLive = new WeakSet<NodeState>();
  readonly #generations = new Map<string, bigint>();
  #lastMessageBeatAt = -Infinity;

  /**
   * Creates the state machine of one node; its heartbeat starts at 1 so
   * peers see it alive at once.
   *
   * @param config Identity, cluster, failure detector, grace periods, hooks.
   * @param options Clock, random source, logger.
   * @throws {TypeError} or {RangeError} naming the invalid config field.
   */
  constructor(config: ChitchatConfig, options: ChitchatOptions = {}) {
    this.#config = preResolved ?? resolveChitchatConfig(config);
    preResolved = undefined;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#logger = options.logger ?? silentLogger;
    this.#clusterState = new ClusterState({
      clock: this.#clock,
      random: this.#random,
      logger: this.#logger,
    });
    this.#failureDetector = new FailureDetector(this.#config.failureDetector, this.#clock);
    // Limits first: they bind this node's own state too.
    clusterStateInternals.setLimits(this.#clusterState, this.#config.limits);
    clusterStateInternals.setOwner(this.#clusterState, this.#config.chitchatId);
    this.#self = this.#clusterState.nodeStateOrInit(this.#config.chitchatId);
    this.#generations.set(this.#self.chitchatId.nodeId, this.#self.chitchatId.generationId);
    this.#selfKey = nodes.idInfo(this.#self).key;
    this.#clusterIdBytes = utf8ByteLength(this.#config.clusterId);
    nodes.incrementHeartbeat(this.#self);
    for (const [key, value] of this.#config.initialKeyValues) this.#self.set(key, value);
    this.#previousLive = [this.#self];
    this.#previousVersions = [this.#self.maxVersion];
    this.#liveSnapshot = this.#computeLiveSnapshot();
  }

  static {
    internals = {
      fromResolved(config, options) {
        preResolved = config;
        try {
          return new Chitchat(config, options);
        } finally {
          preResolved = undefined;
        }
      },
      config: (chitchat) => chitchat.#config,
      failureDetector: (chitchat) => chitchat.#failureDetector,
      setMaxMessageBytes(chitchat, bytes) {
        chitchat.#maxMessageBytes = bytes;
        nodes.setMaxMessageBytes(chitchat.#self, bytes);
      },
      setDigestMode(chitchat, mode) {
        chitchat.#digestMode = mode;
      },
    };
  }

  /** This node's id (canonical form). */
  get chitchatId(): ChitchatId {
    return this.#self.chitchatId;
  }

  /** The cluster this node belongs to. */
  get clusterId(): string {
    return this.#config.clusterId;
  }

  /** Every node's state. */
  get clusterState(): ClusterState {
    return this.#clusterState;
  }

  /** The clock in use. */
  get clock(): Clock {
    return this.#clock;
  }

  /**
   * Counters of processed messages and deltas.
   *
   * @returns A snapshot.
   */
  metrics(): ChitchatMetrics {
    return { ...this.#metrics };
  }

  /**
   * A node's current phi (suspicion level) in the failure detector: it
   * grows with the time since its last heartbeat; above
   * `failureDetector.phiThreshold` the node is dead.
   *
   * @param chitchatId The node.
   * @returns Phi, or `undefined` while too few heartbeats were seen (and for this node).
   */
  phi(chitchatId: ChitchatId): number | undefined {
    return this.#failureDetector.phi(chitchatId);
  }

  /**
   * This node's own state: write your key-values here.
   *
   * @returns The state.
   */
  selfNodeState(): NodeState {
    return this.#self;
  }

  /**
   * The state of a node: of that exact id, or, given a node id alone, of
   * its newest generation known here.
   *
   * @param node The node's id, or its `nodeId`.
   * @returns Its state, or `undefined` if unknown.
   */
  nodeState(node: ChitchatId | string): NodeState | undefined {
    return this.#clusterState.nodeState(node);
  }

  /**
   * Every known node's state, in id order.
   *
   * @returns The states.
   */
  nodeStates(): readonly NodeState[] {
    return this.#clusterState.nodeStates();
  }

  /** The nodes scheduled for deletion: dead past half the grace period, no longer gossiped. */
  scheduledForDeletionNodes(): ChitchatId[] {
    return this.#failureDetector.scheduledForDeletionNodes();
  }

  /**
   * The SYN that starts a handshake: our digest (nodes scheduled for
   * deletion left out). If the digest cannot fit one datagram (beyond
   * about 1,280 nodes) a window of it that fits is sent: consecutive nodes
   * in id order, each SYN continuing where the previous one ended (see
   * lib/core/wire/WIRE.md, "Windowed digests").
   *
   * @returns The message.
   */
  createSynMessage(): SynMessage {
    const excluded = this.scheduledForDeletionNodes();
    const digest = this.#fitDigest(this.#clusterState.computeDigest(excluded), this.#synBudget());
    return { type: "syn", clusterId: this.#config.clusterId, digest };
  }

  /** Room for the digest of our SYN: the datagram minus header, cluster id and its prefix. */
  #synBudget(): number {
    return this.#maxMessageBytes - MESSAGE_HEADER_BYTES - LENGTH_PREFIX_BYTES -
      this.#clusterIdBytes;
  }

  /**
   * Whether a received digest is read as a window. No marker says so (a
   * Rust peer must read the message as an ordinary one): a node reads
   * digests as windows while its own digest does not fit one SYN, that is
   * while it sends windows itself, unless the digest is too small to be
   * one. See lib/core/wire/WIRE.md, "Windowed digests".
   */
  #readsAsWindow(peerDigest: Digest, ownDigestBytes: number): boolean {
    if (this.#digestMode !== "windowed") return false;
    if (peerDigest.byteLength < this.#minWindowBytes() || ownDigestBytes <= this.#synBudget()) {
      return false;
    }
    this.#metrics.digestsReadAsWindows++;
    return true;
  }

  /**
   * A received digest smaller than this (a quarter of a datagram) is read
   * as whole even in windowed mode: windows fill their budget, half a
   * datagram at least, so a digest this small is the whole view of a peer
   * that knows few nodes (a newcomer), which should get every node it lacks.
   */
  #minWindowBytes(): number {
    return Math.floor(this.#maxMessageBytes / 4);
  }

  /** The delta a peer misses, over its window only when its digest reads as one. */
  #deltaFor(
    peerDigest: Digest,
    budget: number,
    excluded: ChitchatId[],
    ownDigestBytes: number,
  ): Delta {
    return this.#readsAsWindow(peerDigest, ownDigestBytes)
      ? clusterStateInternals.computeDeltaInWindow(this.#clusterState, peerDigest, budget, excluded)
      : this.#clusterState.computeDelta(peerDigest, budget, excluded);
  }

  /**
   * Bumps this node's heartbeat (the runtime does it once per round; every
   * processed message does it too).
   */
  updateSelfHeartbeat(): void {
    nodes.incrementHeartbeat(this.#self);
  }

  /**
   * Handles a received message and returns the reply to send, if any:
   * SYN from another cluster gets BAD-CLUSTER; SYN gets SYN-ACK (our
   * digest and what the peer misses); SYN-ACK is applied and gets ACK
   * (what the peer misses); ACK is applied. Invalid content is refused
   * and logged; this never throws on peer data.
   *
   * @param message A decoded message.
   * @returns The reply, or `undefined`.
   */
  processMessage(message: ChitchatMessage): ChitchatMessage | undefined {
    // At most one beat a millisecond for messages: a flood of SYNs must not
    // push the heartbeat past what peers accept as plausible.
    const now = this.#clock.now();
    if (now - this.#lastMessageBeatAt >= 1) {
      this.#lastMessageBeatAt = now;
      this.updateSelfHeartbeat();
    }
    switch (message.type) {
      case "syn": {
        this.#metrics.synReceived++;
        if (message.clusterId !== this.#config.clusterId) {
          this.#metrics.badClusterSent++;
          this.#logger.warn("Received a SYN addressed to another cluster", {
            ourClusterId: this.#config.clusterId,
            theirClusterId: message.clusterId,
          });
          return { type: "badCluster" };
        }
        this.#reportHeartbeats(message.digest);
        const excluded = this.scheduledForDeletionNodes();
        let digest = this.#clusterState.computeDigest(excluded);
        const ownDigestBytes = digest.byteLength;
        const room = this.#maxMessageBytes - MESSAGE_HEADER_BYTES;
        // The reference sends its whole digest; past one datagram it would
        // underflow its budget. Beyond that we keep half the room for the delta.
        if (digest.byteLength > room - 1) digest = this.#fitDigest(digest, Math.floor(room / 2));
        const delta = this.#deltaFor(
          message.digest,
          room - digest.byteLength,
          excluded,
          ownDigestBytes,
        );
        return { type: "synAck", digest, delta };
      }
      case "synAck": {
        this.#metrics.synAckReceived++;
        this.#reportHeartbeats(message.digest);
        this.#applyDelta(message);
        const excluded = this.scheduledForDeletionNodes();
        // Our own digest's size decides how the peer's reads; build it only
        // when the peer's is large enough to be a window.
        const ownDigestBytes = this.#digestMode === "windowed" &&
            message.digest.byteLength >= this.#minWindowBytes()
          ? this.#clusterState.computeDigest(excluded).byteLength
          : 0;
        const delta = this.#deltaFor(
          message.digest,
          this.#maxMessageBytes - MESSAGE_HEADER_BYTES,
          excluded,
          ownDigestBytes,
        );
        return { type: "ack", delta };
      }
      case "ack":
        this.#metrics.ackReceived++;
        this.#applyDelta(message);
        return undefined;
      case "badCluster":
        this.#metrics.badClusterReceived++;
        this.#logger.warn("A peer rejected our SYN: it belongs to another cluster");
        return undefined;
      default:
        this.#logger.warn("Ignored a message of unknown type", {
          type: String((message as { type: unknown }).type),
        });
        return undefined;
    }
  }

  #applyDelta(message: { readonly delta: Delta }): void {
    const result = this.#clusterState.applyDelta(message.delta);
    if (result.applied > 0) this.#noteLeaves(message.delta);
    this.#metrics.nodeDeltasApplied += result.applied;
    this.#metrics.nodeDeltasRejected += result.rejected;
    this.#metrics.nodeDeltasInvalid += result.invalid;
    this.#metrics.ownDeltasRefused += result.own;
    this.#metrics.implausibleDeltas += result.implausible;
    this.#metrics.nodeDeltasOversized += result.oversized;
    if (result.oversized > 0) {
      this.#logCap("node state", "Refused node deltas past the per-node caps");
    }
    if (!result.reset) return;
    this.#metrics.resets++;
    const callback = this.#config.catchupCallback;
    if (callback === undefined) return;
    try {
      callback();
    } catch (error) {
      this.#logger.error("The catch-up callback threw", { error });
    }
  }

  /**
   * Moves the nodes whose leave mark just arrived to the left set, and
   * publishes the live set at once: a leave needs no phi wait, and no
   * round. Only this transition happens here, so the runtime's pause guard
   * (which holds `updateNodesLiveness`) never convicts anyone through it;
   * a mark's removal waits for the next liveness update.
   */
  #noteLeaves(delta: Delta): void {
    let changed = false;
    for (const nodeDelta of delta.nodeDeltas) {
      const state = this.#clusterState.nodeState(nodeDelta.chitchatId);
      if (state === undefined || state === this.#self || !nodes.leaving(state)) continue;
      if (this.#markLeft(state, this.#clock.now())) changed = true;
    }
    if (!changed) return;
    const live: NodeState[] = [];
    const versions: number[] = [];
    for (const state of this.#clusterState.nodeStates()) {
      if (state === this.#self || nodes.liveness(state)?.live) {
        live.push(state);
        versions.push(state.maxVersion);
      }
    }
    this.#publishLive(live, versions);
  }

  /** Moves a node to the left set; returns whether it was not there yet. */
  #markLeft(state: NodeState, now: number): boolean {
    if (!this.#failureDetector.markLeft(this.#livenessOf(state))) return false;
    this.#logger.info("A node left the cluster", { node: formatChitchatId(state.chitchatId) });
    this.#emit({ type: "left", node: state.chitchatId, atMs: now });
    return true;
  }

  /** The digest itself if it fits `budget` bytes, else a window (or, in sampled mode, a sample) that fits. */
  #fitDigest(digest: Digest, budget: number): Digest {
    if (digest.byteLength <= budget) return digest;
    this.#metrics.digestsTruncated++;
    return this.#digestMode === "windowed"
      ? this.#windowOf(digest, budget)
      : this.#sampleOf(digest, budget);
  }

  /**
   * The lines of `digest` (ours, in id order) from the window cursor on,
   * as many as fit `budget` bytes. A window that reaches the end of the id
   * order is filled backwards from its start instead of wrapping: its
   * first and last ids must bound it (a wrapped one would claim every node
   * between). The next window starts after this one, or at the first id
   * after the last.
   */
  #windowOf(digest: Digest, budget: number): Digest {
    const ids = digestInternals.ids(digest);
    const keys = digestInternals.keys(digest);
    const numbers = digestInternals.numbers(digest);
    const count = ids.length;
    const lineBytes = (i: number): number => digestLineBytes(idInfo(ids[i]).bytes.length);
    let start = this.#windowStart < count ? this.#windowStart : 0;
    let end = start;
    let length = LENGTH_PREFIX_BYTES;
    while (end < count && length + lineBytes(end) <= budget) length += lineBytes(end++);
    if (end === count) {
      while (start > 0 && length + lineBytes(start - 1) <= budget) length += lineBytes(--start);
    }
    this.#windowStart = end === count ? 0 : end;
    return digestInternals.fromArrays(
      ids.slice(start, end),
      keys.slice(start, end),
      numbers.slice(3 * start, 3 * end),
      true,
      length,
    );
  }

  /** Keeps `self` and a random sample of the other lines that fits `budget` bytes. */
  #sampleOf(digest: Digest, budget: number): Digest {
    // The sample is drawn over line indexes in id order and kept in that
    // order, so the encoder does not sort it again (at 10,000 known nodes
    // that sort was the longest task of a gossip round), and it reads the
    // digest's arrays without building a line object per node.
    const ids = digestInternals.ids(digest);
    const keys = digestInternals.keys(digest);
    const numbers = digestInternals.numbers(digest);
    const idOrder = digestInternals.idOrder(digest);
    const order = idOrder.slice();
    const selfKey = this.#selfKey;
    const selfAt = order.findIndex((line) => keys[line] === selfKey);
    if (selfAt > 0) [order[0], order[selfAt]] = [order[selfAt], order[0]];
    shuffleRange(order, selfAt === -1 ? 0 : 1, order.length, this.#random);
    const kept = new Uint8Array(ids.length);
    let length = LENGTH_PREFIX_BYTES;
    for (const line of order) {
      const bytes = digestLineBytes(idInfo(ids[line]).bytes.length);
      if (length + bytes > budget) continue;
      length += bytes;
      kept[line] = 1;
    }
    const keptIds: ChitchatId[] = [];
    const keptKeys: string[] = [];
    const keptNumbers: number[] = [];
    for (const line of idOrder) {
      if (kept[line] === 0) continue;
      keptIds.push(ids[line]);
      keptKeys.push(keys[line]);
      keptNumbers.push(numbers[3 * line], numbers[3 * line + 1], numbers[3 * line + 2]);
    }
    return digestInternals.fromArrays(keptIds, keptKeys, keptNumbers, true, length);
  }

  #reportHeartbeats(digest: Digest): void {
    this.#reporting = digest;
    // One reading of the clock for the whole digest: it lists every node.
    this.#reportingAt = this.#clock.now();
    this.#newInMessage = 0;
    clusterStateInternals.forEachDigestLine(this.#clusterState, digest, this.#reportHeartbeat);
    this.#reporting = undefined;
  }

  /**
   * The membership changes this node sees from now on: `joined`, `dead`,
   * `revived`, `left`, `restarted`, `removed` (see {@linkcode MembershipEvent}).
   * Events are produced by {@linkcode Chitchat.updateNodesLiveness} and by
   * received digests; a reader that falls more than 10,000 events behind
   * loses the oldest. The iteration ends on `break` or when `signal` aborts
   * (the handle's version also ends on shutdown).
   *
   * @param options `signal`: ends the iteration when aborted.
   * @returns An async iterator of events.
   */
  membershipEvents(
    options: { readonly signal?: AbortSignal } = {},
  ): AsyncIterableIterator<MembershipEvent> {
    const stream = new EventStream<MembershipEvent>(
      (ended) => this.#eventStreams.delete(ended),
      options.signal,
    );
    if (!options.signal?.aborted) this.#eventStreams.add(stream);
    return stream;
  }

  #emit(event: MembershipEvent): void {
    for (const stream of this.#eventStreams) stream.push(event);
  }

  #emitLiveness(state: NodeState, isLive: boolean, atMs: number): void {
    if (!isLive) {
      this.#emit({ type: "dead", node: state.chitchatId, atMs });
      return;
    }
    const type = this.#seenLive.has(state) ? "revived" : "joined";
    this.#seenLive.add(state);
    this.#emit({ type, node: state.chitchatId, atMs });
  }

  /** Emits `restarted` when a newer generation of a known node id appears. */
  #noteGeneration(id: ChitchatId): void {
    const known = this.#generations.get(id.nodeId);
    if (known !== undefined && known >= id.generationId) return;
    this.#generations.set(id.nodeId, id.generationId);
    if (known !== undefined) this.#emit({ type: "restarted", node: id, atMs: this.#clock.now() });
  }

  /** Keeps the generations map as small as the membership. */
  #forgetGeneration(id: ChitchatId): void {
    if (this.#generations.get(id.nodeId) === id.generationId) this.#generations.delete(id.nodeId);
  }

  /** Whether one more node may be learned at `now`, within the caps of `limits`. */
  #admitNewNode(now: number): boolean {
    const limits = this.#config.limits;
    if (now - this.#secondStartedAt >= 1_000) {
      this.#secondStartedAt = now;
      this.#newInSecond = 0;
    }
    let cap: string | undefined;
    if (this.#clusterState.size >= limits.maxNodes) cap = "maxNodes";
    else if (this.#newInMessage >= limits.maxNewNodesPerMessage) cap = "maxNewNodesPerMessage";
    else if (this.#newInSecond >= limits.maxNewNodesPerSecond) cap = "maxNewNodesPerSecond";
    if (cap !== undefined) {
      this.#metrics.nodesRefused++;
      this.#logCap(cap, "Ignored nodes announced past a cap");
      return false;
    }
    this.#newInMessage++;
    this.#newInSecond++;
    return true;
  }

  /** Forgets announced nodes that never became live within `limits.unconfirmedNodeTtlMs`. */
  #collectUnconfirmed(): void {
    if (this.#unconfirmed.size === 0) return;
    const now = this.#clock.now();
    const ttl = this.#config.limits.unconfirmedNodeTtlMs;
    for (const [state, since] of this.#unconfirmed) {
      if (nodes.liveness(state)?.live) {
        this.#unconfirmed.delete(state);
      } else if (now - since >= ttl) {
        this.#unconfirmed.delete(state);
        this.#failureDetector.forget(state.chitchatId);
        this.#clusterState.removeNode(state.chitchatId);
        this.#forgetGeneration(state.chitchatId);
        this.#metrics.unconfirmedNodesCollected++;
      }
    }
  }

  /** Logs that a cap refused something, at most once a minute per cap. */
  #logCap(cap: string, message: string): void {
    const now = this.#clock.now();
    const last = this.#capLoggedAt.get(cap);
    if (last !== undefined && now - last < 60_000) return;
    this.#capLoggedAt.set(cap, now);
    this.#logger.warn(message, {
      cap,
      nodesRefused: this.#metrics.nodesRefused,
      nodeDeltasOversized: this.#metrics.nodeDeltasOversized,
    });
  }

  #reporting: Digest | undefined;
  #reportingAt = 0;

  #reportHeartbeat = (state: NodeState | undefined, line: number, key: string): void => {
    const digest = this.#reporting!;
    if (key === this.#selfKey) {
      // Peers hold a version of this node above its own (a forgery, or
      // state from before a same-generation restart): move past it, so the
      // next real write wins everywhere.
      const claimed = digestInternals.numbers(digest)[3 * line + 2];
      if (claimed > this.#self.maxVersion && nodes.catchUpMaxVersion(this.#self, claimed)) {
        this.#metrics.ownVersionCatchUps++;
        // What peers hold may carry a leave mark of an earlier run of this
        // generation: a newer tombstone clears it there (not while leaving).
        if (!nodes.leaving(this.#self)) nodes.clearLeaving(this.#self);
        this.#logger.info("Moved this node's max version past a version held by a peer", {
          maxVersion: claimed,
        });
      }
      return;
    }
    const heartbeat = digestInternals.numbers(digest)[3 * line];
    if (state === undefined) {
      const id = digestInternals.ids(digest)[line];
      const lastHeartbeat = this.#clusterState.lastHeartbeatIfDeleted(id);
      // A node we collected comes back only with a newer heartbeat.
      if (lastHeartbeat !== undefined && lastHeartbeat >= heartbeat) return;
      if (!this.#admitNewNode(this.#reportingAt)) return;
      state = this.#clusterState.nodeStateOrInit(id);
      this.#unconfirmed.set(state, this.#reportingAt);
      this.#noteGeneration(state.chitchatId);
    }
    const observation = nodes.observeHeartbeat(state, heartbeat, this.#reportingAt);
    if (observation === "update" || observation === "rebased") {
      this.#failureDetector.reportRecord(this.#livenessOf(state));
    } else if (observation === "implausible") {
      this.#metrics.implausibleHeartbeats++;
    }
  };

  /** The detector's record of a node, cached on its state: rounds visit every node. */
  #livenessOf(state: NodeState): LivenessRecord {
    let record = nodes.liveness(state);
    if (record === undefined || record.dropped) {
      record = this.#failureDetector.record(state.chitchatId);
      nodes.setLiveness(state, record);
    }
    return record;
  }

  /**
   * Collects tombstones and TTL'd keys past `markedForDeletionGracePeriodMs`.
   */
  gcKeysMarkedForDeletion(): void {
    this.#clusterState.gcKeysMarkedForDeletion(this.#config.markedForDeletionGracePeriodMs);
  }

  /**
   * Re-evaluates every node with the failure detector, notifies live-node
   * watchers if the set of live nodes or one of their max versions changed,
   * and removes nodes dead for the whole grace period.
   */
  updateNodesLiveness(): void {
    // One pass in id order; the live set is compared with the previous one
    // element by element, without building maps every round.
    const live: NodeState[] = [];
    const versions: number[] = [];
    const now = this.#clock.now();
    for (const state of this.#clusterState.nodeStates()) {
      if (state !== this.#self) {
        const record = this.#livenessOf(state);
        if (nodes.leaving(state)) {
          this.#markLeft(state, now);
          continue;
        }
        // A node whose mark was deleted (it came back) is judged by phi again.
        if (this.#failureDetector.leftCount > 0) this.#failureDetector.unmarkLeft(record);
        const wasLive = record.live;
        const isLive = this.#failureDetector.updateRecord(record);
        if (wasLive !== isLive && this.#eventStreams.size > 0) {
          this.#emitLiveness(state, isLive, now);
        } else if (isLive) {
          this.#seenLive.add(state);
        }
        if (!isLive) continue;
      }
      live.push(state);
      versions.push(state.maxVersion);
    }
    this.#publishLive(live, versions);
    this.#collectUnconfirmed();
    for (const id of this.#failureDetector.garbageCollect()) {
      if (idInfo(id).key === this.#selfKey) {
        this.#logger.error("The failure detector collected this node itself");
        continue;
      }
      this.#clusterState.removeNode(id);
      this.#logger.info("Garbage collected a dead or departed node", {
        node: formatChitchatId(id),
      });
      this.#forgetGeneration(id);
      this.#emit({ type: "removed", node: id, atMs: this.#clock.now() });
    }
  }

  /** Notifies the live-node watchers if the live set or one of its max versions changed. */
  #publishLive(live: NodeState[], versions: number[]): void {
    if (sameLiveSet(live, versions, this.#previousLive, this.#previousVersions)) return;
    this.#previousLive = live;
    this.#previousVersions = versions;
    this.#liveSnapshot = this.#computeLiveSnapshot();
    const snapshot = this.#liveSnapshot;
    for (const watcher of this.#liveWatchers) {
      try {
        watcher(snapshot);
      } catch (error) {
        this.#logger.error("A live-nodes watcher threw", { error });
      }
    }
  }

  #isLiveForUser(state: NodeState): boolean {
    const predicate = this.#config.extraLivenessPredicate;
    if (predicate === undefined) return true;
    try {
      return predicate(state);
    } catch (error) {
      this.#logger.error("The extra liveness predicate threw", { error });
      return false;
    }
  }

  #computeLiveSnapshot(): readonly NodeState[] {
    return Object.freeze(this.#liveStates().filter((state) => this.#isLiveForUser(state)));
  }

  /** This node and the nodes the failure detector considers live, in id order. */
  #liveStates(): NodeState[] {
    return this.#clusterState.nodeStates().filter((state) =>
      state === this.#self ||
      (nodes.liveness(state)?.live ?? this.#failureDetector.isLive(state.chitchatId))
    );
  }

  /**
   * The live nodes, in id order: this node and the nodes the failure
   * detector considers live, each kept only if `extraLivenessPredicate`
   * accepts it.
   *
   * @returns The ids.
   */
  liveNodes(): ChitchatId[] {
    return this.#liveStates()
      .filter((state) => this.#isLiveForUser(state))
      .map((state) => state.chitchatId);
  }

  /**
   * The nodes the failure detector considers dead (not yet collected).
   *
   * @returns The ids.
   */
  deadNodes(): ChitchatId[] {
    return [...this.#failureDetector.deadNodes()];
  }

  /**
   * The nodes that announced their leave ({@linkcode Chitchat.leave}) and
   * were not collected yet: out of the live set at once, never counted
   * dead, collected after `failureDetector.deadNodeGracePeriodMs` like the
   * dead.
   *
   * @returns The ids, in the order they left.
   *
   * @example
   * ```ts
   * import { Chitchat } from "@chitchat/chitchat";
   * import assert from "node:assert";
   *
   * let now = 0;
   * const clock = { now: () => now };
   * const failureDetector = { initialIntervalMs: 100 };
   * const id = (port: number) => ({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
   * const a = new Chitchat({ chitchatId: id(1), clusterId: "demo", failureDetector }, { clock });
   * const b = new Chitchat({ chitchatId: id(2), clusterId: "demo", failureDetector }, { clock });
   * const handshake = () => b.processMessage(a.processMessage(b.processMessage(a.createSynMessage())!)!);
   * for (let round = 0; round < 10; round++) {
   *   now += 100;
   *   b.updateSelfHeartbeat();
   *   handshake();
   *   a.updateNodesLiveness();
   * }
   * assert(a.liveNodes().length === 2);
   * b.leave();
   * handshake(); // a learns the mark: b leaves a's live set at once
   * assert.deepStrictEqual(a.leftNodes().map((node) => node.nodeId), ["n2"]);
   * assert(a.liveNodes().length === 1 && a.deadNodes().length === 0);
   * ```
   */
  leftNodes(): ChitchatId[] {
    return [...this.#failureDetector.leftNodes()];
  }

  /**
   * Marks this node as leaving: writes the reserved key
   * `__chitchat:leaving` (see {@linkcode NodeState.RESERVED_KEY_PREFIX}) in
   * its own state. Peers of this library that receive it move the node to
   * their left set at once; Rust peers store it as an ordinary key and see
   * the node die when it stops. Stop gossiping once peers hold the mark
   * (the runtime's {@linkcode ChitchatHandle.leave} does that). Idempotent.
   *
   * @returns The version of the mark: a peer whose digest shows this node's
   * max version at or above it has the mark.
   * @throws {RangeError} if this node's versions reached 2^52.
   */
  leave(): number {
    return nodes.markLeaving(this.#self);
  }

  /**
   * The live nodes' states as of the last liveness update.
   *
   * @returns The snapshot (the array is frozen; the states are live views).
   */
  liveNodesSnapshot(): readonly NodeState[] {
    return this.#liveSnapshot;
  }

  /**
   * Calls `callback` whenever the set of live nodes or the max version of
   * one of them changes (heartbeats alone do not count), with the new
   * snapshot.
   *
   * @param callback Receives the live nodes' states.
   * @returns A subscription to dispose.
   */
  watchLiveNodes(callback: (nodes: readonly NodeState[]) => void): KeyChangeSubscription {
    this.#liveWatchers = [...this.#liveWatchers, callback];
    const unsubscribe = (): void => {
      this.#liveWatchers = this.#liveWatchers.filter((w) => w !== callback);
    };
    return { unsubscribe, [Symbol.dispose]: unsubscribe };
  }

  /**
   * Calls `callback` for every change of a key starting with `prefix`, on
   * any node. Deletions reach only subscribers that pass `includeDeleted`.
   *
   * @param prefix Key prefix (`""` for all keys); stripped from the event's key.
   * @param callback Runs synchronously inside the state update: keep it short.
   * @param options Whether to include deletions.
   * @returns A subscription to dispose.
   */
  subscribeEvent(
    prefix: string,
    callback: (event: KeyChangeEvent) => void,
    options?: SubscribeEventOptions,
  ): KeyChangeSubscription {
    return clusterStateInternals.listeners(this.#clusterState).subscribe(prefix, callback, options);
  }

  /**
   * Replaces a node's state with a snapshot fetched out of band (after a
   * `catchupCallback`). Newer values are stored and notified; keys absent
   * from the snapshot are dropped without a tombstone. Refused (returns
   * `false`) when the node was garbage collected recently, when our copy is
   * already as recent, or when the snapshot is older than our GC horizon.
   *
   * @param chitchatId The node.
   * @param keyValues The snapshot's key-values.
   * @param maxVersion The snapshot's max version.
   * @param lastGcVersion The snapshot's last GC version.
   * @returns Whether the state was replaced.
   */
  resetNodeState(
    chitchatId: ChitchatId,
    keyValues: Iterable<readonly [string, VersionedValue]>,
    maxVersion: number,
    lastGcVersion: number,
  ): boolean {
    if (!Number.isSafeInteger(maxVersion) || maxVersion < 0) {
      throw new RangeError(`Invalid maxVersion: ${maxVersion}`);
    }
    if (!Number.isSafeInteger(lastGcVersion) || lastGcVersion < 0) {
      throw new RangeError(`Invalid lastGcVersion: ${lastGcVersion}`);
    }
    let state = this.#clusterState.nodeState(chitchatId);
    if (state === undefined) {
      if (this.#clusterState.lastHeartbeatIfDeleted(chitchatId) !== undefined) return false;
      state = this.#clusterState.nodeStateOrInit(chitchatId);
    }
    if (state.maxVersion >= maxVersion) return false;
    if (maxVersion < state.lastGcVersion) return false;
    const entries = [...keyValues];
    for (const [key, value] of entries) {
      if (
        typeof key !== "string" || !Number.isSafeInteger(value.version) || value.version < 1 ||
        value.version > maxVersion
      ) {
        throw new RangeError(`Invalid key-value "${key}": its version must be in [1, maxVersion]`);
      }
    }
    // Keep the node tracked so it is eventually collected, without a
    // heartbeat that would make it look alive.
    this.#failureDetector.track(state.chitchatId);
    nodes.replaceWith(state, entries, maxVersion, Math.max(lastGcVersion, state.lastGcVersion));
    return true;
  }
}

function sameLiveSet(
  live: readonly NodeState[],
  versions: readonly number[],
  previousLive: readonly NodeState[],
  previousVersions: readonly number[],
): boolean {
  if (live.length !== previousLive.length) return false;
  for (let i = 0; i < live.length; i++) {
    if (live[i] !== previousLive[i] || versions[i] !== previousVersions[i]) return false;
  }
  return true;
}

/** Package-internal access to `Chitchat` (see {@linkcode ChitchatInternals}). */
export const chitchatInternals: ChitchatInternals = internals!;
