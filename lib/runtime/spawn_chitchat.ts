// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode spawnChitchat}: starts a chitchat node on a transport.
 *
 * @module
 */

import { checkSocketAddress, denoListenDatagramAvailable } from "./_socket_common.ts";
import { chitchatInternals } from "../core/chitchat.ts";
import { type ChitchatConfig, resolveChitchatConfig } from "../core/chitchat_config.ts";
import { type ChitchatHandle, chitchatHandleInternals } from "./chitchat_handle.ts";
import { consoleLogger, type Logger } from "../core/logger.ts";
import { type RandomSource, systemRandom } from "../core/random.ts";
import { type Scheduler, systemScheduler } from "./scheduler.ts";
import { SeedResolver } from "./seed_resolver.ts";
import type { SocketAddress } from "../core/socket_address.ts";
import type { Transport } from "./transport.ts";
import { NodeUdpTransport } from "./node_udp_transport.ts";
import { UdpTransport } from "./udp_transport.ts";
import { Keyring, startSealing } from "./_keyring.ts";

/**
 * Configuration of a running node: the state machine's, plus the gossip
 * interval, where to listen and whom to contact first.
 *
 * @example
 * ```ts
 * import { spawnChitchat, type SpawnChitchatConfig } from "@chitchat/chitchat";
 * import { ChannelTransport } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * const config: SpawnChitchatConfig = {
 *   chitchatId: { nodeId: "indexer-1", generationId: 1n, gossipAdvertiseAddr: { hostname: "10.0.0.7", port: 7280 } },
 *   clusterId: "prod",
 *   gossipIntervalMs: 500,
 *   listenAddr: { hostname: "0.0.0.0", port: 7280 },
 *   seedNodes: ["10.0.0.1:7280"],
 *   initialKeyValues: [["role", "indexer"]],
 * };
 * await using node = await spawnChitchat(config, { transport: new ChannelTransport() });
 * assert.deepStrictEqual(node.localAddr, { hostname: "0.0.0.0", port: 7280 }); // bound here
 * assert(node.chitchatId.gossipAdvertiseAddr.hostname === "10.0.0.7"); // told to peers
 * assert(node.selfNodeState().get("role") === "indexer");
 * ```
 */
export interface SpawnChitchatConfig extends ChitchatConfig {
  /**
   * Time between the starts of two gossip rounds. It is also the failure
   * detector's prior interval (`failureDetector.initialIntervalMs`) unless
   * that is set, so deaths are seen in a few rounds whatever the interval.
   *
   * @default {1_000}
   */
  readonly gossipIntervalMs?: number;
  /**
   * Where the socket binds.
   *
   * @default {chitchatId.gossipAdvertiseAddr}
   */
  readonly listenAddr?: SocketAddress;
  /**
   * Nodes to contact first: `ip:port`, `[ipv6]:port` or `host:port`
   * (host names are resolved at start and every minute).
   *
   * @default {[]}
   */
  readonly seedNodes?: readonly string[];
  /**
   * After this many rounds without a message from any peer, the node warns
   * once that it is isolated (and logs again when a peer answers).
   *
   * @default {10}
   */
  readonly isolationWarningRounds?: number;
  /**
   * Seals every datagram with AES-GCM (see the README's Encryption
   * section). Off when absent: the datagrams are then chitchat 0.10's, byte
   * for byte. Keys can also be added, made primary and removed at run
   * time, and the switches changed, through the handle.
   *
   * @default {undefined (plaintext)}
   */
  readonly encryption?: {
    /**
     * Raw AES keys of 16, 24 or 32 bytes (on the in-memory network under
     * Deno, 16 or 32: its `node:crypto` lacks AES-192-GCM). The first
     * seals; all are tried to open. At least one.
     */
    readonly keys: readonly Uint8Array[];
    /**
     * Sends plaintext instead of sealing (step 1 of a rolling migration).
     *
     * @default {false}
     */
    readonly sendPlaintext?: boolean;
    /**
     * Also accepts plaintext datagrams (steps 1 and 2 of a rolling migration).
     *
     * @default {false}
     */
    readonly acceptPlaintext?: boolean;
    /**
     * Sealed datagrams sent longer ago than this (or further ahead: clocks
     * must agree within it) are refused, as are nonces seen within it.
     *
     * @default {60_000}
     */
    readonly replayWindowMs?: number;
  };
}

/** Options of {@linkcode spawnChitchat}: the node's environment. */
export interface SpawnChitchatOptions {
  /**
   * How messages travel. The default is UDP: {@linkcode UdpTransport} where
   * `Deno.listenDatagram` is available (Deno with `--unstable-net`),
   * otherwise {@linkcode NodeUdpTransport} (Deno without the flag, Node.js, Bun).
   *
   * @default {new UdpTransport({ logger }) or new NodeUdpTransport({ logger })}
   */
  readonly transport?: Transport;
  /**
   * Runs the gossip rounds and the DNS refresh, and is the state machine's clock.
   *
   * @default {systemScheduler}
   */
  readonly scheduler?: Scheduler;
  /**
   * Picks gossip peers and drives the state machine's random choices.
   *
   * @default {Math.random}
   */
  readonly random?: RandomSource;
  /**
   * Where the node logs.
   *
   * @default {consoleLogger("warn")}
   */
  readonly logger?: Logger;
  /**
   * Resolves seed host names to IP addresses (the signal aborts a lookup
   * that takes too long).
   *
   * @default {Deno.resolveDns (A and AAAA records)}
   */
  readonly resolveDns?: (hostname: string, signal: AbortSignal) => Promise<string[]>;
  /**
   * Shuts the node down when aborted, as `shutdown()` does (leaving the
   * cluster gracefully first; an already aborted signal refuses to start it).
   *
   * @default {undefined}
   */
  readonly signal?: AbortSignal;
}

function checkGossipInterval(value: unknown): number {
  // NaN is a wrong type, as for every number of the core configuration.
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`Invalid gossipIntervalMs: expected a number, got ${value}`);
  }
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`Invalid gossipIntervalMs: ${value} must be a positive finite number`);
  }
  return value;
}

function checkScheduler(scheduler: Scheduler): Scheduler {
  if (
    scheduler === null || typeof scheduler !== "object" ||
    typeof scheduler.now !== "function" || typeof scheduler.setTimeout !== "function"
  ) {
    throw new TypeError("Invalid scheduler: expected { now(), setTimeout() }");
  }
  return scheduler;
}

/**
 * Starts a node: checks the configuration, binds the socket, resolves the
 * seeds, and starts gossiping (the first round at once). If the advertised
 * port is 0, the node advertises the port actually bound.
 *
 * @param config Identity, cluster, failure detector, gossip interval, listen address, seeds.
 * @param options Transport, scheduler, random source, logger, DNS resolver.
 * @returns The running node; shut it down (or dispose it) when done.
 * @throws {TypeError} or {RangeError} naming the invalid field (`gossipIntervalMs`, `listenAddr.port`, `seedNodes`, ...).
 * @throws {Deno.errors.AddrInUse} if the listen address is taken (elsewhere than on Deno, an `Error` named `AddrInUse`).
 * @throws the signal's reason if `options.signal` is already aborted.
 * @throws {TypeError} if `encryption` is set and the transport is not a built-in one.
 *
 * @example A node on an in-memory network, on port 0
 * ```ts
 * import { spawnChitchat } from "@chitchat/chitchat";
 * import { ChannelTransport } from "@chitchat/chitchat/testing";
 * import assert from "node:assert";
 *
 * await using node = await spawnChitchat({
 *   chitchatId: { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 0 } },
 *   clusterId: "demo",
 * }, { transport: new ChannelTransport() });
 * assert(node.chitchatId.gossipAdvertiseAddr.port === node.localAddr.port);
 * assert(node.localAddr.port !== 0);
 * ```
 *
 * @example Refused configuration
 * ```ts
 * import { spawnChitchat } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const chitchatId = { nodeId: "n1", generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 0 } };
 * await assert.rejects(spawnChitchat({ chitchatId, clusterId: "demo", gossipIntervalMs: 0 }), RangeError);
 * await assert.rejects(spawnChitchat({ chitchatId, clusterId: "demo", seedNodes: ["nope"] }), TypeError);
 * ```
 */
export async function spawnChitchat(
  config: SpawnChitchatConfig,
  options: SpawnChitchatOptions = {},
): Promise<ChitchatHandle> {
  if (config === null || typeof config !== "object") {
    throw new TypeError("Invalid config: expected an object");
  }
  options.signal?.throwIfAborted();
  const gossipIntervalMs = checkGossipInterval(config.gossipIntervalMs ?? 1_000);
  const isolationWarningRounds = config.isolationWarningRounds ?? 10;
  if (!Number.isSafeInteger(isolationWarningRounds) || isolationWarningRounds < 1) {
    throw new RangeError(
      `Invalid isolationWarningRounds: ${isolationWarningRounds} must be a positive integer`,
    );
  }
  // The prior interval follows the gossip interval, as the CLI and the
  // simulator do: the reference's 5 s prior would hide a death for ~20
  // rounds at 100 ms.
  const resolved = resolveChitchatConfig({
    ...config,
    failureDetector: { initialIntervalMs: gossipIntervalMs, ...config.failureDetector },
  });
  const listenAddr = checkSocketAddress(
    config.listenAddr ?? resolved.chitchatId.gossipAdvertiseAddr,
    "listenAddr",
  );
  const scheduler = checkScheduler(options.scheduler ?? systemScheduler);
  // Send times are compared across hosts: wall-clock time on the system
  // scheduler (its now() is process-relative), the scheduler's otherwise.
  const keyring = new Keyring(
    config.encryption,
    scheduler === systemScheduler ? () => Date.now() : () => scheduler.now(),
  );
  const logger = options.logger ?? consoleLogger("warn");
  const random = options.random ?? systemRandom;
  const seeds = new SeedResolver(config.seedNodes ?? [], {
    resolveDns: options.resolveDns,
    scheduler,
    logger,
  });
  const transport = options.transport ??
    (denoListenDatagramAvailable()
      ? new UdpTransport({ logger })
      : new NodeUdpTransport({ logger }));
  const socket = await transport.open(listenAddr);
  try {
    let chitchatId = resolved.chitchatId;
    if (chitchatId.gossipAdvertiseAddr.port === 0) {
      chitchatId = {
        ...chitchatId,
        gossipAdvertiseAddr: {
          hostname: chitchatId.gossipAdvertiseAddr.hostname,
          port: socket.localAddr.port,
        },
      };
    }
    // The scheduler is the state machine's clock: rounds and phi read one time.
    const chitchat = chitchatInternals.fromResolved(
      { ...resolved, chitchatId },
      { clock: scheduler, random, logger },
    );
    if (keyring.active) startSealing(socket, chitchat, keyring);
    await seeds.start();
    const handle = chitchatHandleInternals.create({
      chitchat,
      socket,
      gossipIntervalMs,
      seeds,
      scheduler,
      random,
      logger,
      isolationWarningRounds,
      keyring,
    });
    const signal = options.signal;
    if (signal !== undefined) {
      const stop = (): void => void handle.shutdown();
      signal.addEventListener("abort", stop, { once: true });
      const forget = (): void => signal.removeEventListener("abort", stop);
      handle.terminated.then(forget, forget);
    }
    return handle;
  } catch (error) {
    await seeds.close();
    await socket.close();
    throw error;
  }
}
