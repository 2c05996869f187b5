// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode ChitchatHandle}: a running gossip server, as returned by
 * {@linkcode spawnChitchat}.
 *
 * @module
 */

import { badResourceError } from "./_socket_common.ts";
import { type GossipCandidates, selectGossipTargets } from "./_gossip_targets.ts";
import { LiveNodesUpdates } from "./_live_nodes_updates.ts";
import { type Chitchat, chitchatInternals, type ChitchatMetrics } from "../core/chitchat.ts";
import type { ChitchatId } from "../core/chitchat_id.ts";
import type {
  KeyChangeEvent,
  KeyChangeSubscription,
  SubscribeEventOptions,
} from "../core/key_change_event.ts";
import type { Logger, LogLevel } from "../core/logger.ts";
import type { ChitchatMessage } from "../core/message.ts";
import type { NodeState } from "../core/node_state.ts";
import type { MembershipEvent } from "../core/membership_event.ts";
import type { RandomSource } from "../core/random.ts";
import { shuffleRange } from "../core/_shuffle.ts";
import type { Scheduler, Timer } from "./scheduler.ts";
import type { SeedResolver } from "./seed_resolver.ts";
import {
  formatSocketAddress,
  parseSocketAddress,
  type SocketAddress,
} from "../core/socket_address.ts";
import type { Socket, SocketMetrics } from "./transport.ts";
import { type Keyring, startSealing } from "./_keyring.ts";
import { validateKey } from "./_datagram_seal.ts";

/** What a {@linkcode ChitchatHandle} runs; {@linkcode spawnChitchat} builds it. */
export interface ChitchatHandleInit {
  /** The state machine; its clock is `scheduler`. */
  readonly chitchat: Chitchat;
  /** An open socket; the handle owns it and closes it on shutdown. */
  readonly socket: Socket;
  /** Time between the starts of two gossip rounds, already checked. */
  readonly gossipIntervalMs: number;
  /** Seed addresses, already started; the handle closes it on shutdown. */
  readonly seeds: SeedResolver | undefined;
  /** Runs the gossip rounds, and is the state machine's clock. */
  readonly scheduler: Scheduler;
  /** Picks the peers of each round. */
  readonly random: RandomSource;
  /** Where failed sends and loop errors are reported. */
  readonly logger: Logger;
  /** Rounds without an answer from anyone before the node warns it is isolated. */
  readonly isolationWarningRounds: number;
  /** The node's keys and plaintext switches; already installed on the socket if it holds a key. */
  readonly keyring: Keyring;
}

/** What `spawnChitchat` may do with a handle beyond its public API. */
export interface ChitchatHandleInternals {
  /** Starts a node's loops (its only constructor). */
  create(init: ChitchatHandleInit): ChitchatHandle;
}

let internals: ChitchatHandleInternals;
// Set only while `create` runs: the constructor refuses every other caller.
let creating = false;

/**
 * The protocol counters of a node plus its socket's.
 *
 * @example
 * ```ts
 * import { spawnChitchat, type ChitchatHandleMetrics } from "@chitchat/chitchat";
 * import { ChannelTransport } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * const transport = new ChannelTransport();
 * const config = (port: number) => ({
 *   chitchatId: { nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } },
 *   clusterId: "demo",
 *   gossipIntervalMs: 10,
 *   seedNodes: ["127.0.0.1:7001"],
 * });
 * await using a = await spawnChitchat(config(7001), { transport });
 * await using b = await spawnChitchat(config(7002), { transport });
 * for await (const live of a.liveNodesUpdates()) if (live.length === 2) break;
 * const metrics: ChitchatHandleMetrics = a.metrics();
 * assert(metrics.synReceived > 0);
 * assert(metrics.socket.messagesReceived >= metrics.synReceived);
 * assert(b.metrics().socket.messagesSent > 0);
 * assert(b.metrics().messagesSentByType.syn > 0 && a.metrics().messagesSentByType.synAck > 0);
 * ```
 */
export interface ChitchatHandleMetrics extends ChitchatMetrics {
  /** The socket's counters. */
  readonly socket: SocketMetrics;
  /** Gossip rounds started. */
  readonly gossipRounds: number;
  /**
   * Datagrams refused by the encryption layer, by reason (all zero while
   * encryption is off); each is also in `socket.datagramsDropped`.
   */
  readonly decryptFailures: {
    /** Shorter than the seal's 37 bytes of overhead. */
    readonly truncated: number;
    /** Neither a sealed datagram of a known version nor chitchat plaintext. */
    readonly version: number;
    /** No key opens it: another key, or forged or altered bytes. */
    readonly authentication: number;
    /** Sent longer ago (or further ahead) than the replay window. */
    readonly expired: number;
    /** Its nonce was already seen within the replay window. */
    readonly replayed: number;
    /** Plaintext while `acceptPlaintext` is off. */
    readonly plaintextRefused: number;
  };
  /**
   * Messages handed to the socket, by type. A send the socket swallowed
   * (counted in `socket.sendErrors`) is included; one that threw is not.
   */
  readonly messagesSentByType: Readonly<Record<ChitchatMessage["type"], number>>;
}

const keys = new WeakMap<SocketAddress, string>();

/** A round this many intervals late (and at least MIN_PAUSE_MS) means the process was paused. */
const PAUSE_FACTOR = 3;
const MIN_PAUSE_MS = 1_000;
/** Rounds with answers needed after a pause before anyone is convicted. */
const FRESH_ROUNDS_AFTER_PAUSE = 2;
/** Peers that must acknowledge a leave by default (all of them if fewer are live). */
const LEAVE_ACKNOWLEDGEMENTS = 3;
/** Live peers told of a leave at once, per acknowledgement asked for. */
const LEAVE_FANOUT_FACTOR = 2;
/** SYNs sent to one peer on its replies during a leave, beyond the rounds' own. */
const LEAVE_RESENDS_PER_PEER = 3;

/** A leave under way: what acknowledges it, and who did. */
interface LeaveProgress {
  /** The version of the leave mark. */
  readonly version: number;
  /** Acknowledgements that end the wait. */
  readonly needed: number;
  /** Peers (`host:port`) whose digest showed the mark's version. */
  readonly acknowledged: Set<string>;
  /** SYNs sent to each peer on its replies. */
  readonly resends: Map<string, number>;
  /** Ends the wait. */
  readonly done: () => void;
}

/**
 * `host:port` of a canonical address. Ids are canonical and frozen, so
 * their addresses are cached: a round looks up every known node.
 */
function keyOf(addr: SocketAddress): string {
  let key = keys.get(addr);
  if (key === undefined) keys.set(addr, key = `${addr.hostname}:${addr.port}`);
  return key;
}

/**
 * A running chitchat node: a gossip round every `gossipIntervalMs` (the
 * first one at once), and a receive loop answering every message. Dispose
 * it (or call {@linkcode ChitchatHandle.shutdown}) to stop.
 *
 * Each round, as the reference's server: up to 3 random live peers (any
 * known peers while none is live), a random dead peer with probability
 * dead / (live + 1), and a seed when none of the picked peers is one or
 * fewer nodes are live than there are seeds; then the heartbeat is bumped,
 * expired tombstones are collected, a SYN goes to each pick, and liveness
 * is re-evaluated.
 *
 * @example Two nodes on an in-memory network
 * ```ts
 * import { spawnChitchat } from "@chitchat/chitchat";
 * import { ChannelTransport } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * const transport = new ChannelTransport();
 * const config = (port: number) => ({
 *   chitchatId: { nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } },
 *   clusterId: "demo",
 *   gossipIntervalMs: 10,
 *   seedNodes: ["127.0.0.1:7001"],
 * });
 * await using a = await spawnChitchat(config(7001), { transport });
 * await using b = await spawnChitchat(config(7002), { transport });
 * b.selfNodeState().set("role", "searcher");
 * for await (const live of a.liveNodesUpdates()) {
 *   if (live.some((node) => node.get("role") === "searcher")) break;
 * }
 * assert(a.liveNodes().length === 2);
 * ```
 */
export class ChitchatHandle implements AsyncDisposable {
  /** The protocol state machine (read states, write this node's key-values). */
  readonly chitchat: Chitchat;
  /** This node's id, with the port actually bound. */
  readonly chitchatId: ChitchatId;
  /** The address the socket is bound to. */
  readonly localAddr: SocketAddress;
  /**
   * Resolves when the node stops after {@linkcode ChitchatHandle.shutdown};
   * rejects with the error if the socket breaks. Never an unhandled rejection.
   */
  readonly terminated: Promise<void>;
  readonly #socket: Socket;
  readonly #seeds: SeedResolver | undefined;
  readonly #scheduler: Scheduler;
  readonly #random: RandomSource;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #selfKey: string;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #updates = new Set<LiveNodesUpdates>();
  readonly #eventControllers = new Set<AbortController>();
  readonly #receiveLoop: Promise<void>;
  readonly #settle: { resolve: () => void; reject: (error: unknown) => void };
  #timer: Timer | undefined;
  #stopping = false;
  // Pause guard: when this process stopped (SIGSTOP, a VM freeze, a long GC)
  // every peer looks silent; nobody is convicted until fresh gossip arrives.
  #lastRoundAt: number | undefined;
  #holdConvictions = false;
  #rounds = 0;
  readonly #sentByType: Record<ChitchatMessage["type"], number> = {
    syn: 0,
    synAck: 0,
    ack: 0,
    badCluster: 0,
  };
  #freshRoundsNeeded = 0;
  // Isolation: rounds since any message arrived.
  #heardThisRound = false;
  #askedLastRound = false;
  #silentRounds = 0;
  #warnedIsolated = false;
  readonly #isolationWarningRounds: number;
  readonly #keyring: Keyring;
  // Seeds this node exchanged gossip with, and seeds it warned about.
  readonly #seedsHeard = new Set<string>();
  readonly #seedsUnreachable = new Set<string>();
  #stopped: Promise<void> | undefined;
  #leaving: LeaveProgress | undefined;
  #left: Promise<number> | undefined;

  /**
   * Handles come only from {@linkcode spawnChitchat}, which checks the
   * configuration and makes the scheduler the state machine's clock.
   *
   * @throws {TypeError} when called directly.
   */
  private constructor(init: ChitchatHandleInit) {
    if (!creating) throw new TypeError("Cannot construct a ChitchatHandle: use spawnChitchat()");
    this.chitchat = init.chitchat;
    this.chitchatId = init.chitchat.chitchatId;
    this.#socket = init.socket;
    this.localAddr = init.socket.localAddr;
    this.#seeds = init.seeds;
    this.#scheduler = init.scheduler;
    this.#random = init.random;
    this.#logger = init.logger;
    this.#intervalMs = init.gossipIntervalMs;
    this.#isolationWarningRounds = init.isolationWarningRounds;
    this.#keyring = init.keyring;
    this.#selfKey = keyOf(this.chitchatId.gossipAdvertiseAddr);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    // A failure nobody awaits must not surface as an unhandled rejection.
    promise.catch(() => {});
    this.terminated = promise;
    this.#settle = { resolve, reject };
    this.#receiveLoop = this.#receive();
    this.#receiveLoop.then(
      () => this.#stop(undefined),
      (error) => this.#stop({ error }),
    );
    this.#round();
  }

  static {
    internals = {
      create(init) {
        creating = true;
        try {
          return new ChitchatHandle(init);
        } finally {
          creating = false;
        }
      },
    };
  }

  /**
   * This node's own state: write your key-values here.
   *
   * @returns The state.
   */
  selfNodeState(): NodeState {
    return this.chitchat.selfNodeState();
  }

  /**
   * The live nodes (this one included), filtered by `extraLivenessPredicate`.
   *
   * @returns Their ids.
   */
  liveNodes(): ChitchatId[] {
    return this.chitchat.liveNodes();
  }

  /**
   * The nodes that announced their leave (see {@linkcode Chitchat.leftNodes}).
   *
   * @returns Their ids, in the order they left.
   */
  leftNodes(): ChitchatId[] {
    return this.chitchat.leftNodes();
  }

  /**
   * The live nodes' states, now and after each change (a node joining,
   * leaving, or publishing a new version). Only the latest snapshot is
   * kept for a slow reader. The iteration ends on shutdown, on `break`, or
   * when `signal` aborts.
   *
   * @param options `signal`: ends the iteration when aborted.
   * @returns An async iterator of snapshots (frozen arrays of live states).
   */
  liveNodesUpdates(
    options: { readonly signal?: AbortSignal } = {},
  ): AsyncIterableIterator<readonly NodeState[]> {
    const updates = new LiveNodesUpdates(
      this.chitchat,
      (ended) => this.#updates.delete(ended),
      options.signal,
    );
    if (this.#stopping) updates.end();
    else this.#updates.add(updates);
    return updates;
  }

  /**
   * The membership changes this node sees from now on (`joined`, `dead`,
   * `revived`, `left`, `restarted`, `removed`), as typed events. The iteration ends
   * on shutdown, on `break`, or when `signal` aborts.
   *
   * @param options `signal`: ends the iteration when aborted.
   * @returns An async iterator of events.
   */
  membershipEvents(
    options: { readonly signal?: AbortSignal } = {},
  ): AsyncIterableIterator<MembershipEvent> {
    const controller = new AbortController();
    this.#eventControllers.add(controller);
    const signal = options.signal === undefined
      ? controller.signal
      : AbortSignal.any([controller.signal, options.signal]);
    if (this.#stopping) controller.abort();
    return this.chitchat.membershipEvents({ signal });
  }

  /**
   * Calls `callback` for every change of a key starting with `prefix`, on any node.
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
    return this.chitchat.subscribeEvent(prefix, callback, options);
  }

  /**
   * Starts a handshake with `addr` now (sends it a SYN).
   *
   * @param addr An address, or its `host:port` text.
   * @returns When the SYN is handed to the network.
   * @throws {TypeError} if `addr` is malformed text.
   * @throws {Deno.errors.BadResource} if the node is shut down.
   */
  async gossip(addr: SocketAddress | string): Promise<void> {
    const to = typeof addr === "string" ? parseSocketAddress(addr) : addr;
    if (this.#stopping) {
      throw badResourceError("Cannot gossip: the chitchat node is shut down");
    }
    await this.#track(this.#socket.send(to, this.chitchat.createSynMessage()));
    this.#sentByType.syn++;
  }

  /**
   * The protocol counters plus the socket's.
   *
   * @returns A snapshot.
   */
  metrics(): ChitchatHandleMetrics {
    return {
      ...this.chitchat.metrics(),
      socket: this.#socket.metrics,
      gossipRounds: this.#rounds,
      decryptFailures: this.#keyring.failures(),
      messagesSentByType: { ...this.#sentByType },
    };
  }

  /**
   * Adds an encryption key that opens received datagrams (see the README's
   * Encryption section). On a node without keys, the first key added also
   * seals, but both plaintext switches stay on until
   * {@linkcode ChitchatHandle.setEncryption} turns them off: that is step 1
   * of a rolling migration. Adding a key already held does nothing.
   *
   * @param key A raw AES key of 16, 24 or 32 bytes (not 24 on the in-memory network under Deno); copied.
   * @throws {RangeError} if the key's length is wrong (the message names the length only).
   * @throws {TypeError} if the transport cannot seal (a custom `Transport`).
   *
   * @example A key rotation: add, use, remove
   * ```ts
   * import { spawnChitchat } from "@chitchat/chitchat";
   * import { ChannelTransport } from "@chitchat/chitchat/testing";
   * import assert from "node:assert";
   *
   * const [oldKey, newKey] = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
   * await using node = await spawnChitchat({
   *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7001 } },
   *   clusterId: "demo",
   *   encryption: { keys: [oldKey] },
   * }, { transport: new ChannelTransport() });
   * node.addKey(newKey); // on every node first
   * node.useKey(newKey); // then on every node
   * node.removeKey(oldKey); // then on every node
   * assert.deepStrictEqual(node.encryptionStatus(), {
   *   keys: 1, sendPlaintext: false, acceptPlaintext: false, replayWindowMs: 60_000,
   * });
   * assert.throws(() => node.removeKey(newKey), RangeError); // never the primary key
   * ```
   */
  addKey(key: Uint8Array): void {
    validateKey(key);
    if (!this.#keyring.active) startSealing(this.#socket, this.chitchat, this.#keyring);
    this.#keyring.addKey(key);
  }

  /**
   * Makes a key already added the one that seals (step 2 of a rotation,
   * once every node holds it).
   *
   * @param key A key given to {@linkcode ChitchatHandle.addKey} or at start.
   * @throws {RangeError} if the key is not in the keyring.
   */
  useKey(key: Uint8Array): void {
    this.#keyring.useKey(key);
  }

  /**
   * Removes a key: datagrams sealed with it are refused from now on.
   *
   * @param key A key in the keyring, other than the primary one.
   * @throws {RangeError} if the key is the primary one or is not in the keyring.
   */
  removeKey(key: Uint8Array): void {
    this.#keyring.removeKey(key);
  }

  /**
   * Changes the plaintext switches of a rolling migration at run time:
   * `sendPlaintext` (send unsealed datagrams) and `acceptPlaintext` (also
   * accept them). Omitted switches keep their value.
   *
   * @param options The switches to change.
   * @throws {TypeError} if a switch is not a boolean.
   * @throws {RangeError} if turning a switch off while the node holds no key.
   */
  setEncryption(
    options: { readonly sendPlaintext?: boolean; readonly acceptPlaintext?: boolean },
  ): void {
    this.#keyring.setPlaintext(options);
  }

  /**
   * The encryption settings in force, without any key material.
   *
   * @returns How many keys are held, the switches and the replay window.
   */
  encryptionStatus(): {
    readonly keys: number;
    readonly sendPlaintext: boolean;
    readonly acceptPlaintext: boolean;
    readonly replayWindowMs: number;
  } {
    return this.#keyring.status();
  }

  /**
   * Leaves the cluster gracefully, then stops the node: writes the leave
   * mark (`__chitchat:leaving`, see {@linkcode Chitchat.leave}), tells up to
   * `2 × peers` live peers at once (dead ones if none is live: its detector
   * may be wrong), keeps gossiping until `peers` of them (all of them if
   * fewer) acknowledged it (their digest shows
   * this node's max version at or above the mark's) or `timeoutMs` passed,
   * then shuts down as {@linkcode ChitchatHandle.shutdown} does. Peers of
   * this library drop the node from their live set as soon as the mark
   * reaches them and list it in `leftNodes()`; Rust peers see it die through
   * their failure detector. Idempotent: later calls share the first's result.
   *
   * On virtual time the wait needs the scheduler to advance.
   *
   * @param options `peers`: acknowledgements to wait for (default 3);
   * `timeoutMs`: the longest wait (default 2 gossip intervals).
   * @returns The number of peers that acknowledged (fewer than asked: the deadline passed).
   * @throws {RangeError} if `peers` is not a non-negative integer or `timeoutMs` not a non-negative number.
   *
   * @example Two nodes: the one that leaves is left, not dead, at once
   * ```ts
   * import { spawnChitchat } from "@chitchat/chitchat";
   * import { ChannelTransport } from "@chitchat/chitchat/testing";
   * import assert from "node:assert";
   *
   * const transport = new ChannelTransport();
   * const config = (port: number) => ({
   *   chitchatId: { nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } },
   *   clusterId: "demo",
   *   gossipIntervalMs: 10,
   *   seedNodes: ["127.0.0.1:7001"],
   * });
   * await using a = await spawnChitchat(config(7001), { transport });
   * const b = await spawnChitchat(config(7002), { transport });
   * for await (const live of a.liveNodesUpdates()) if (live.length === 2) break;
   * for await (const live of b.liveNodesUpdates()) if (live.length === 2) break;
   * assert.strictEqual(await b.leave(), 1); // a acknowledged
   * assert.deepStrictEqual(a.leftNodes().map((node) => node.nodeId), ["n7002"]);
   * assert.strictEqual(a.liveNodes().length, 1);
   * assert.strictEqual(a.chitchat.deadNodes().length, 0);
   * ```
   */
  leave(options: { readonly peers?: number; readonly timeoutMs?: number } = {}): Promise<number> {
    const peers = options.peers ?? LEAVE_ACKNOWLEDGEMENTS;
    const timeoutMs = options.timeoutMs ?? 2 * this.#intervalMs;
    if (!Number.isSafeInteger(peers) || peers < 0) {
      throw new RangeError(`Invalid peers: ${peers} must be a non-negative integer`);
    }
    if (typeof timeoutMs !== "number" || !(timeoutMs >= 0) || !Number.isFinite(timeoutMs)) {
      throw new RangeError(`Invalid timeoutMs: ${timeoutMs} must be a non-negative number`);
    }
    this.#left ??= this.#leaveAndStop(peers, timeoutMs);
    return this.#left;
  }

  async #leaveAndStop(peers: number, timeoutMs: number): Promise<number> {
    // Already stopped (or stopping without a leave): there is no one to tell.
    if (this.#stopping) {
      await this.#stop(undefined);
      return 0;
    }
    const version = this.chitchat.leave();
    // Live peers first; with none, the dead ones: a detector that convicted
    // everyone (a pause, a young window under load) must not turn the leave
    // into a silent stop while peers may well be up.
    const detector = chitchatInternals.failureDetector(this.chitchat);
    let targets = this.#peerAddrs(detector.liveNodes());
    if (targets.length === 0) targets = this.#peerAddrs(detector.deadNodes());
    const needed = Math.min(peers, targets.length);
    let acknowledged = 0;
    if (needed > 0 && timeoutMs > 0) {
      const { promise, resolve } = Promise.withResolvers<void>();
      const progress: LeaveProgress = {
        version,
        needed,
        acknowledged: new Set(),
        resends: new Map(),
        done: resolve,
      };
      this.#leaving = progress;
      const timer = this.#scheduler.setTimeout(resolve, timeoutMs);
      this.#logger.info("Leaving the cluster", { version, peers: needed, timeoutMs });
      shuffleRange(targets, 0, targets.length, this.#random);
      const syn = this.chitchat.createSynMessage();
      for (const addr of targets.slice(0, LEAVE_FANOUT_FACTOR * needed)) {
        await this.#send(addr, syn, "warn", "Failed to announce a leave to a peer");
      }
      await promise;
      timer.cancel();
      this.#leaving = undefined;
      acknowledged = progress.acknowledged.size;
      const level = acknowledged >= needed ? "info" : "warn";
      this.#logger[level]("Left the cluster", { acknowledged, needed });
    }
    await this.#stop(undefined);
    return acknowledged;
  }

  /** The gossip addresses of `ids`, this node's left out. */
  #peerAddrs(ids: Iterable<ChitchatId>): SocketAddress[] {
    const out: SocketAddress[] = [];
    for (const id of ids) {
      if (keyOf(id.gossipAdvertiseAddr) !== this.#selfKey) out.push(id.gossipAdvertiseAddr);
    }
    return out;
  }

  /** During a leave: counts a peer whose digest holds the mark, or asks it again. */
  async #followLeave(from: SocketAddress, message: ChitchatMessage): Promise<void> {
    const progress = this.#leaving;
    if (progress === undefined || (message.type !== "syn" && message.type !== "synAck")) return;
    const peer = formatSocketAddress(from);
    if (progress.acknowledged.has(peer)) return;
    const seen = message.digest.get(this.chitchatId)?.maxVersion ?? 0;
    if (seen >= progress.version) {
      progress.acknowledged.add(peer);
      if (progress.acknowledged.size >= progress.needed) progress.done();
      return;
    }
    // Our reply just carried the mark: a new SYN brings back the peer's
    // digest with it, one round trip later instead of a round.
    const resends = progress.resends.get(peer) ?? 0;
    if (resends >= LEAVE_RESENDS_PER_PEER) return;
    progress.resends.set(peer, resends + 1);
    await this.#send(from, this.chitchat.createSynMessage(), "debug", "Failed to follow a leave");
  }

  /**
   * Stops the node, after a graceful {@linkcode ChitchatHandle.leave} by
   * default: then peers see it leave at once instead of waiting for their
   * failure detector (at most 2 gossip intervals more, sooner once 3 peers
   * acknowledged). With `{ leave: false }` it stops at once, as a crash
   * looks to peers; so it does when it knows no peer, live or dead. Stopping cancels
   * every timer, closes the socket and the seed resolver, ends the
   * live-node iterators, and waits for the receive loop and any work under
   * way. Idempotent; never rejects.
   *
   * @param options `leave`: whether to leave first (default `true`).
   * @returns When everything has stopped.
   */
  shutdown(options: { readonly leave?: boolean } = {}): Promise<void> {
    const stop = (): Promise<void> => this.#stop(undefined);
    if (options.leave ?? true) return this.leave().then(stop, stop);
    return this.#stop(undefined);
  }

  /**
   * Same as `shutdown({ leave: false })`: a disposed node stops at once,
   * without a leave. Disposal runs at the end of every `await using` scope,
   * on errors too, and on virtual time nobody advances the clock for a
   * leave to complete there; a hang is worse than a death peers detect in a
   * few rounds. Call {@linkcode ChitchatHandle.shutdown} (or
   * {@linkcode ChitchatHandle.leave}) first to leave gracefully: a disposal
   * after it is a no-op.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown({ leave: false });
  }

  #stop(failure: { readonly error: unknown } | undefined): Promise<void> {
    this.#stopped ??= this.#teardown(failure);
    return this.#stopped;
  }

  async #teardown(failure: { readonly error: unknown } | undefined): Promise<void> {
    this.#stopping = true;
    // A shutdown without a leave cuts a leave under way short.
    this.#leaving?.done();
    this.#timer?.cancel();
    this.#timer = undefined;
    for (const updates of [...this.#updates]) updates.end();
    for (const controller of this.#eventControllers) controller.abort();
    this.#eventControllers.clear();
    if (failure !== undefined) {
      this.#logger.error("The gossip loop stopped: the socket failed", {
        addr: formatSocketAddress(this.localAddr),
        error: failure.error,
      });
    }
    await this.#seeds?.close();
    await this.#socket.close();
    // The loop's own failure was handled above; here we only wait for it.
    await this.#receiveLoop.catch(() => {});
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    if (failure === undefined) this.#settle.resolve();
    else this.#settle.reject(failure.error);
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    const forget = () => this.#inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }

  async #receive(): Promise<void> {
    for await (const [from, message] of this.#socket) {
      let reply: ChitchatMessage | undefined;
      try {
        reply = this.chitchat.processMessage(message);
      } catch (error) {
        // A bug or a throwing user hook must not take the node down.
        this.#logger.error("Failed to process a message", {
          from: formatSocketAddress(from),
          error,
        });
        continue;
      }
      this.#heard();
      this.#noteSeed(from);
      if (reply !== undefined) await this.#send(from, reply, "warn", "Failed to reply to a peer");
      if (this.#leaving !== undefined) await this.#followLeave(from, message);
    }
  }

  #heard(): void {
    this.#heardThisRound = true;
  }

  /** Logs the first message from each seed: the moment the node got into the cluster. */
  #noteSeed(from: SocketAddress): void {
    const seeds = this.#seeds?.addrs();
    if (seeds === undefined || this.#seedsHeard.size >= seeds.length) return;
    const key = `${from.hostname}:${from.port}`;
    if (this.#seedsHeard.has(key)) return;
    for (const seed of seeds) {
      if (keyOf(seed) !== key) continue;
      this.#seedsHeard.add(key);
      this.#logger.info("First exchange with a seed", { seed: formatSocketAddress(seed) });
      return;
    }
  }

  /**
   * Warns once per seed the socket cannot send to: an IPv6 seed from an
   * IPv4 socket, or an IPv4 seed from a socket bound to one IPv6 address
   * (`::` is dual-stack). Its SYNs would fail, counted as send errors.
   */
  #checkSeedFamily(seed: SocketAddress): void {
    const local = this.localAddr.hostname;
    const localV6 = local.includes(":");
    const seedV6 = seed.hostname.includes(":");
    if (localV6 === seedV6 || local === "::") return;
    const key = keyOf(seed);
    if (this.#seedsUnreachable.has(key)) return;
    this.#seedsUnreachable.add(key);
    this.#logger.warn("A seed's address family cannot be reached from this socket", {
      seed: formatSocketAddress(seed),
      socket: formatSocketAddress(this.localAddr),
    });
  }

  /** Notices a pause (the round started much later than planned) and the rounds nobody answered. */
  #watchRounds(startedAt: number): void {
    const first = this.#lastRoundAt === undefined;
    const planned = first ? startedAt : this.#lastRoundAt! + this.#intervalMs;
    this.#lastRoundAt = startedAt;
    const lateMs = startedAt - planned;
    if (lateMs > PAUSE_FACTOR * this.#intervalMs && lateMs > MIN_PAUSE_MS) {
      // What was queued during the pause is stale: wait for answers to the
      // rounds after it before judging anyone.
      this.#holdConvictions = true;
      this.#freshRoundsNeeded = FRESH_ROUNDS_AFTER_PAUSE;
      this.#heardThisRound = false;
      this.#logger.warn(
        "Timers ran late (the process was paused?): holding failure detection until fresh gossip",
        {
          lateMs: Math.round(lateMs),
        },
      );
    }
    if (this.#holdConvictions && this.#heardThisRound && --this.#freshRoundsNeeded <= 0) {
      this.#holdConvictions = false;
      this.#logger.info("Heard fresh gossip after a pause: failure detection resumes");
    }
    if (this.#heardThisRound) {
      if (this.#warnedIsolated) {
        this.#logger.info("A peer answered again: no longer isolated", {
          silentRounds: this.#silentRounds,
        });
      }
      this.#silentRounds = 0;
      this.#warnedIsolated = false;
    } else if (!first && this.#askedLastRound) {
      this.#silentRounds++;
      if (this.#silentRounds >= this.#isolationWarningRounds && !this.#warnedIsolated) {
        this.#warnedIsolated = true;
        this.#logger.warn("No answer from any peer: this node is isolated", {
          rounds: this.#silentRounds,
          seeds: this.#seeds?.addrs().length ?? 0,
        });
      }
    }
    this.#heardThisRound = false;
  }

  #round(): void {
    if (this.#stopping) return;
    this.#timer = undefined;
    const startedAt = this.#scheduler.now();
    this.#track(this.#gossipRound()).catch((error) => {
      this.#logger.error("A gossip round failed", { error });
    }).finally(() => {
      if (this.#stopping) return;
      const delay = Math.max(0, startedAt + this.#intervalMs - this.#scheduler.now());
      this.#timer = this.#scheduler.setTimeout(() => this.#round(), delay);
    });
  }

  async #gossipRound(): Promise<void> {
    this.#rounds++;
    this.#watchRounds(this.#scheduler.now());
    const targets = selectGossipTargets(this.#candidates(), this.#random);
    // A node alone by configuration (no peer, no seed) is not isolated.
    this.#askedLastRound = targets.nodes.length > 0 || targets.deadNode !== undefined ||
      targets.seedNode !== undefined;
    this.chitchat.updateSelfHeartbeat();
    this.chitchat.gcKeysMarkedForDeletion();
    const syn = this.chitchat.createSynMessage();
    for (const node of targets.nodes) {
      await this.#send(node, syn, "warn", "Failed to gossip with a live node");
    }
    if (targets.deadNode !== undefined) {
      await this.#send(targets.deadNode, syn, "debug", "Failed to gossip with a dead node");
    }
    if (targets.seedNode !== undefined) {
      await this.#send(targets.seedNode, syn, "warn", "Failed to gossip with a seed node");
    }
    if (this.#stopping || this.#holdConvictions) return;
    this.chitchat.updateNodesLiveness();
  }

  #candidates(): GossipCandidates {
    const peers = new Map<string, SocketAddress>();
    const live = new Map<string, SocketAddress>();
    const dead = new Map<string, SocketAddress>();
    const seeds = new Map<string, SocketAddress>();
    const add = (map: Map<string, SocketAddress>, addr: SocketAddress): void => {
      const key = keyOf(addr);
      if (key !== this.#selfKey) map.set(key, addr);
    };
    const detector = chitchatInternals.failureDetector(this.chitchat);
    for (const id of detector.liveNodes()) add(live, id.gossipAdvertiseAddr);
    for (const id of detector.deadNodes()) add(dead, id.gossipAdvertiseAddr);
    // Known peers matter only while none is live (at startup).
    if (live.size === 0) {
      for (const state of this.chitchat.nodeStates()) {
        add(peers, state.chitchatId.gossipAdvertiseAddr);
      }
    }
    // Seed addresses are canonical already (parsed or resolved IP literals).
    for (const addr of this.#seeds?.addrs() ?? []) {
      this.#checkSeedFamily(addr);
      add(seeds, addr);
    }
    return { peers, live, dead, seeds };
  }

  async #send(
    to: SocketAddress,
    message: ChitchatMessage,
    level: LogLevel,
    failure: string,
  ): Promise<void> {
    try {
      await this.#socket.send(to, message);
      this.#sentByType[message.type]++;
    } catch (error) {
      if (this.#stopping) return;
      this.#logger[level](failure, { to: formatSocketAddress(to), error });
    }
  }
}

/** Package-internal access to handles (see {@linkcode ChitchatHandleInternals}). */
export const chitchatHandleInternals: ChitchatHandleInternals = internals!;
