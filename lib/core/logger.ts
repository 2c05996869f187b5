// Copyright the chitchat for Deno authors. MIT license.
/**
 * Structured logging hooks.
 *
 * @module
 */

/** Log severity, from most to least verbose. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * Where the library writes its log lines. Pass your own to route them to
 * your logging stack.
 *
 * @example Collecting warnings in a test
 * ```ts
 * import { Chitchat, type Logger } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const warnings: string[] = [];
 * const logger: Logger = {
 *   debug() {},
 *   info() {},
 *   warn: (message) => void warnings.push(message),
 *   error: (message) => void warnings.push(message),
 * };
 * const id = (port: number) => ({ nodeId: `n${port}`, generationId: 1n, gossipAdvertiseAddr: { hostname: "127.0.0.1", port } });
 * const node = new Chitchat({ chitchatId: id(1), clusterId: "prod" }, { logger });
 * const stranger = new Chitchat({ chitchatId: id(2), clusterId: "staging" });
 * node.processMessage(stranger.createSynMessage());
 * assert.deepStrictEqual(warnings, ["Received a SYN addressed to another cluster"]);
 * ```
 */
export interface Logger {
  /** Verbose diagnostics. */
  debug(message: string, fields?: Readonly<Record<string, unknown>>): void;
  /** Notable but expected events. */
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  /** Unexpected input that was handled (dropped datagram, rejected delta). */
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  /** Something is wrong with this node. */
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * A logger writing to the console, dropping lines below `level`.
 *
 * @param level The least severe level written.
 * @returns A {@linkcode Logger}.
 *
 * @example
 * ```ts
 * import { consoleLogger } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const printed: unknown[][] = [];
 * const original = console.error;
 * console.error = (...data: unknown[]) => void printed.push(data);
 * try {
 *   const logger = consoleLogger("error");
 *   logger.warn("below the level: dropped");
 *   logger.error("Socket failed", { port: 7280 });
 * } finally {
 *   console.error = original;
 * }
 * assert.deepStrictEqual(printed, [["[chitchat] error Socket failed", { port: 7280 }]]);
 * ```
 */
export function consoleLogger(level: LogLevel = "warn"): Logger {
  const min = LEVELS[level];
  const write =
    (lvl: LogLevel, sink: (...data: unknown[]) => void) =>
    (message: string, fields?: Readonly<Record<string, unknown>>): void => {
      if (LEVELS[lvl] < min) return;
      if (fields === undefined) sink(`[chitchat] ${lvl} ${message}`);
      else sink(`[chitchat] ${lvl} ${message}`, fields);
    };
  return {
    debug: write("debug", console.debug),
    info: write("info", console.info),
    warn: write("warn", console.warn),
    error: write("error", console.error),
  };
}

/**
 * A logger that discards everything.
 *
 * @example
 * ```ts
 * import { silentLogger } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * assert(silentLogger.warn("ignored") === undefined);
 * ```
 */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
