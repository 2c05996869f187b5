// Copyright the chitchat for Deno authors. MIT license.
/**
 * {@linkcode SeedResolver}: turns `seedNodes` (`host:port` strings) into
 * addresses to gossip with, re-resolving host names periodically.
 *
 * @module
 */

import { Resolver } from "node:dns/promises";
import { type Logger, silentLogger } from "../core/logger.ts";
import { type Scheduler, systemScheduler, type Timer } from "./scheduler.ts";
import {
  canonicalSocketAddress,
  formatSocketAddress,
  isIpAddress,
  parseSocketAddress,
  type SocketAddress,
} from "../core/socket_address.ts";

/**
 * Resolves a host name to IP literals. Resolvers should honour `signal`
 * (it aborts when the node shuts down) and may return an empty list.
 */
export type ResolveDns = (hostname: string, signal: AbortSignal) => Promise<string[]>;

/**
 * The default {@linkcode ResolveDns}: A and AAAA records from
 * `Deno.resolveDns` on Deno, from `node:dns` elsewhere (Node.js, Bun); a
 * failed lookup counts as no record. It asks DNS servers directly, so
 * `/etc/hosts` entries are not seen.
 *
 * @param hostname The host name.
 * @param signal Aborts the lookups.
 * @returns IPv4 then IPv6 literals, possibly none.
 */
export async function systemResolveDns(hostname: string, signal: AbortSignal): Promise<string[]> {
  const deno = (globalThis as { Deno?: { resolveDns?: typeof Deno.resolveDns } }).Deno;
  const resolveDns = deno?.resolveDns;
  if (typeof resolveDns === "function") {
    const [v4, v6] = await Promise.all([
      resolveDns(hostname, "A", { signal }).catch((): string[] => []),
      resolveDns(hostname, "AAAA", { signal }).catch((): string[] => []),
    ]);
    return [...v4, ...v6];
  }
  if (signal.aborted) return [];
  const resolver = new Resolver();
  const cancel = () => resolver.cancel();
  signal.addEventListener("abort", cancel, { once: true });
  try {
    const [v4, v6] = await Promise.all([
      resolver.resolve4(hostname).catch((): string[] => []),
      resolver.resolve6(hostname).catch((): string[] => []),
    ]);
    return [...v4, ...v6];
  } finally {
    signal.removeEventListener("abort", cancel);
  }
}

/** Options of the {@linkcode SeedResolver} constructor. */
export interface SeedResolverOptions {
  /**
   * Resolves host names.
   *
   * @default {systemResolveDns}
   */
  readonly resolveDns?: ResolveDns;
  /**
   * Schedules the periodic refresh.
   *
   * @default {systemScheduler}
   */
  readonly scheduler?: Scheduler;
  /**
   * Where resolution failures are reported.
   *
   * @default {silentLogger}
   */
  readonly logger?: Logger;
  /**
   * How often host names are resolved again.
   *
   * @default {60_000}
   */
  readonly refreshIntervalMs?: number;
}

// RFC 1123 labels, plus "_" which service discovery names use.
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

function parseSeed(text: unknown, index: number): SocketAddress {
  if (typeof text !== "string") {
    throw new TypeError(`Invalid seedNodes[${index}]: expected a "host:port" string`);
  }
  let addr: SocketAddress;
  try {
    addr = parseSocketAddress(text);
  } catch (error) {
    throw new TypeError(`Invalid seedNodes[${index}]: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (addr.port === 0) {
    throw new TypeError(`Invalid seedNodes[${index}]: "${text}" has port 0`);
  }
  if (!isIpAddress(addr.hostname) && !HOST_NAME.test(addr.hostname)) {
    throw new TypeError(
      `Invalid seedNodes[${index}]: "${addr.hostname}" is neither an IP address nor a host name`,
    );
  }
  return addr;
}

const keyOf = (addr: SocketAddress): string => `${addr.hostname}:${addr.port}`;

/**
 * The seed addresses of a node: IP literals as given, host names resolved
 * at {@linkcode SeedResolver.start} and again every `refreshIntervalMs`
 * (so a DNS name listing the members of a service keeps up with it).
 * Failures are logged, never fatal; a host that fails to resolve keeps
 * the addresses it last resolved to.
 */
export class SeedResolver {
  readonly #literals: readonly SocketAddress[];
  readonly #hosts: readonly SocketAddress[];
  readonly #resolveDns: ResolveDns;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;
  readonly #refreshIntervalMs: number;
  readonly #abort = new AbortController();
  #resolved = new Map<string, readonly SocketAddress[]>();
  #addrs: readonly SocketAddress[];
  #timer: Timer | undefined;
  #inFlight: Promise<void> | undefined;
  #started = false;
  #closed = false;

  /**
   * Parses the seeds (no lookup yet).
   *
   * @param seedNodes `host:port`, `ipv4:port` or `[ipv6]:port` strings.
   * @param options Resolver, scheduler, logger, refresh interval.
   * @throws {TypeError} naming `seedNodes` if a seed is malformed or has port 0.
   * @throws {RangeError} if `refreshIntervalMs` is not a positive finite number.
   */
  constructor(seedNodes: readonly string[], options: SeedResolverOptions = {}) {
    if (!Array.isArray(seedNodes)) {
      throw new TypeError('Invalid seedNodes: expected an array of "host:port" strings');
    }
    const literals = new Map<string, SocketAddress>();
    const hosts = new Map<string, SocketAddress>();
    seedNodes.forEach((text, index) => {
      const addr = parseSeed(text, index);
      (isIpAddress(addr.hostname) ? literals : hosts).set(keyOf(addr), addr);
    });
    this.#literals = Object.freeze([...literals.values()]);
    this.#hosts = [...hosts.values()];
    this.#addrs = this.#literals;
    this.#resolveDns = options.resolveDns ?? systemResolveDns;
    this.#scheduler = options.scheduler ?? systemScheduler;
    this.#logger = options.logger ?? silentLogger;
    const interval = options.refreshIntervalMs ?? 60_000;
    if (typeof interval !== "number" || !(interval > 0) || !Number.isFinite(interval)) {
      throw new RangeError(
        `Invalid refreshIntervalMs: ${interval} must be a positive finite number`,
      );
    }
    this.#refreshIntervalMs = interval;
  }

  /**
   * The current seed addresses: the IP literals, then what host names
   * resolved to; without duplicates.
   *
   * @returns The addresses (a frozen array).
   */
  addrs(): readonly SocketAddress[] {
    return this.#addrs;
  }

  /**
   * Resolves the host names, then keeps refreshing them every
   * `refreshIntervalMs`. Idempotent; a no-op without host names.
   *
   * @returns When the first resolution is done (it never rejects).
   */
  async start(): Promise<void> {
    if (this.#started || this.#closed || this.#hosts.length === 0) return;
    this.#started = true;
    await this.refresh();
    this.#scheduleRefresh();
  }

  #scheduleRefresh(): void {
    if (this.#closed) return;
    this.#timer = this.#scheduler.setTimeout(() => {
      this.#timer = undefined;
      this.refresh().then(() => this.#scheduleRefresh());
    }, this.#refreshIntervalMs);
  }

  /**
   * Resolves every host name now (joins a resolution already running).
   *
   * @returns When done; never rejects.
   */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#inFlight ??= this.#resolveAll().finally(() => this.#inFlight = undefined);
    return this.#inFlight;
  }

  async #resolveAll(): Promise<void> {
    await Promise.all(this.#hosts.map((seed) => this.#resolveHost(seed)));
    if (this.#closed) return;
    const all = new Map<string, SocketAddress>();
    for (const addr of this.#literals) all.set(keyOf(addr), addr);
    for (const addrs of this.#resolved.values()) {
      for (const addr of addrs) all.set(keyOf(addr), addr);
    }
    this.#addrs = Object.freeze([...all.values()]);
  }

  async #resolveHost(seed: SocketAddress): Promise<void> {
    const seedText = formatSocketAddress(seed);
    let ips: unknown;
    try {
      ips = await this.#resolveDns(seed.hostname, this.#abort.signal);
    } catch (error) {
      if (this.#closed) return;
      this.#logger.warn("Failed to resolve a seed host", { seed: seedText, error });
      return;
    }
    if (this.#closed) return;
    const addrs: SocketAddress[] = [];
    for (const ip of Array.isArray(ips) ? ips : []) {
      if (typeof ip === "string" && isIpAddress(ip)) {
        addrs.push(Object.freeze(canonicalSocketAddress({ hostname: ip, port: seed.port })));
      } else {
        this.#logger.warn("Ignored a seed host resolution that is not an IP address", {
          seed: seedText,
          value: String(ip),
        });
      }
    }
    if (addrs.length === 0) {
      this.#logger.warn("A seed host resolved to no address", { seed: seedText });
      return;
    }
    this.#logger.debug("Resolved a seed host", {
      seed: seedText,
      addrs: addrs.map(formatSocketAddress),
    });
    this.#resolved.set(keyOf(seed), addrs);
  }

  /**
   * Stops refreshing: cancels the timer, aborts a lookup under way and
   * waits for it. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#abort.abort();
    await this.#inFlight;
  }
}
