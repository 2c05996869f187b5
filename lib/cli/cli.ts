#!/usr/bin/env -S deno run -A
// Copyright the chitchat for Deno authors. MIT license.
/**
 * The `chitchat` command: runs one node over UDP, optionally with the JSON
 * HTTP API of {@linkcode createHttpHandler}, until SIGINT or SIGTERM, on
 * which it leaves the cluster gracefully ({@linkcode ChitchatHandle.leave})
 * and exits. The counterpart of the reference's `chitchat-test` binary.
 *
 * ```sh
 * deno run -A jsr:@chitchat/chitchat/cli --listen 127.0.0.1:10000 --http 127.0.0.1:8080
 * deno run -A jsr:@chitchat/chitchat/cli --listen 127.0.0.1:10001 --seed 127.0.0.1:10000
 * curl -X PUT --data red http://127.0.0.1:8080/kv/color
 * ```
 *
 * Exit codes: 0 after a clean shutdown (or `--help`, `--version`), 1 when
 * the node cannot start or stops on its own, 2 for a bad command line.
 *
 * @example Running a node in process until a signal aborts
 * ```ts
 * import { main } from "@chitchat/chitchat/cli";
 * import assert from "node:assert";
 *
 * const lines: string[] = [];
 * const controller = new AbortController();
 * const exitCode = main(
 *   ["--listen", "127.0.0.1:0", "--node-id", "doc-node", "--interval-ms", "50"],
 *   { signal: controller.signal, stdout: (line) => lines.push(line) },
 * );
 * while (lines.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
 * assert(lines[0].startsWith("chitchat: node doc-node"));
 * controller.abort();
 * assert(await exitCode === 0);
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "../../deno.json" with { type: "json" };
import { MAX_WIRE_STRING_BYTES, utf8ByteLength } from "../core/wire/_binary.ts";
import type { ChitchatHandle } from "../runtime/chitchat_handle.ts";
import { DEFAULT_MARKED_FOR_DELETION_GRACE_PERIOD_MS } from "../core/chitchat_config.ts";
import type { ChitchatId } from "../core/chitchat_id.ts";
import {
  DEFAULT_FAILURE_DETECTOR_CONFIG,
  type FailureDetectorConfig,
} from "../core/failure_detector.ts";
import { createHttpHandler } from "./http_api.ts";
import { HttpGuard, settleWithin } from "./_http_guard.ts";
import { CLIENT_COMMANDS, parseClientCommand, runClientCommand } from "./_client_commands.ts";
import type { Logger, LogLevel } from "../core/logger.ts";
import type { MembershipEvent } from "../core/membership_event.ts";

type LogFields = Parameters<Logger["info"]>[1];
import { NodeState } from "../core/node_state.ts";
import {
  formatSocketAddress,
  isIpAddress,
  parseSocketAddress,
  type SocketAddress,
} from "../core/socket_address.ts";
import { spawnChitchat } from "../runtime/spawn_chitchat.ts";
import { validateKey } from "../runtime/_datagram_seal.ts";

/** The version printed by `--version`: the package's. */
const VERSION: string = denoJson.version;

const DEFAULT_LISTEN = "127.0.0.1:10000";
const DEFAULT_CLUSTER_ID = "testing";
const DEFAULT_INTERVAL_MS = 1_000;
const DEFAULT_HTTP_MAX_CONNECTIONS = 256;
const DEFAULT_HTTP_IDLE_TIMEOUT_MS = 30_000;
const DEFAULT_LOG_LEVEL: LogLevel = "warn";
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const MAX_U64 = 0xffff_ffff_ffff_ffffn;
// setTimeout fires at once for delays above a signed 32-bit integer.
const MAX_TIMER_MS = 0x7fff_ffff;

const USAGE = `chitchat ${VERSION}: runs one chitchat node over UDP

Usage: chitchat [options]
       chitchat members --http HOST:PORT          the members of a running node, as a table
       chitchat get KEY --http HOST:PORT          a running node's value of KEY
       chitchat set KEY VALUE --http HOST:PORT    set KEY on a running node

Options:
  --listen HOST:PORT          UDP address to bind (default: ${DEFAULT_LISTEN}; port 0 picks one)
  --public-addr HOST:PORT     address advertised to peers (default: the listen address)
  --seed HOST:PORT            a node to gossip with at start; repeatable
  --node-id ID                unique node id (default: node-<port>)
  --generation N              generation id, a u64 (default: Unix time in seconds)
  --cluster-id ID             cluster id (default: ${DEFAULT_CLUSTER_ID})
  --interval-ms N             gossip interval in ms (default: ${DEFAULT_INTERVAL_MS})
  --set KEY=VALUE             a key-value this node starts with (split at the first "="); repeatable
  --phi F                     failure detector phi threshold (default: ${DEFAULT_FAILURE_DETECTOR_CONFIG.phiThreshold})
  --dead-grace-ms N           how long dead nodes are kept, in ms (default: ${DEFAULT_FAILURE_DETECTOR_CONFIG.deadNodeGracePeriodMs})
  --gc-grace-ms N             how long tombstones and TTL'd keys are kept, in ms (default: ${DEFAULT_MARKED_FOR_DELETION_GRACE_PERIOD_MS})
  --fd-initial-interval-ms N  failure detector prior heartbeat interval, in ms (default: the gossip interval)
  --http HOST:PORT            serve the HTTP API there (port 0 picks one)
  --http-max-connections N    open HTTP connections at most; more are refused with 503 (default: ${DEFAULT_HTTP_MAX_CONNECTIONS})
  --http-idle-timeout-ms N    close an HTTP connection idle this long, request head included (default: ${DEFAULT_HTTP_IDLE_TIMEOUT_MS})
  --encrypt-key BASE64        seal gossip with this AES key (16 or 32 bytes, base64); repeatable, the first seals, all open
  --encrypt-key-file PATH     read more keys from PATH, one base64 key a line (blank and # lines ignored), after --encrypt-key; re-read on SIGHUP
  --encrypt-send-plaintext    with keys: still send plaintext (step 1 of a rolling migration)
  --encrypt-accept-plaintext  with keys: also accept plaintext (steps 1 and 2 of a rolling migration)
  --log-level LEVEL           debug, info, warn or error (default: ${DEFAULT_LOG_LEVEL})
  --log-format FORMAT         text (ISO time, level, node id, message) or json (one object a line) (default: text)
  -h, --help                  print this help and exit
  --version                   print the version and exit

HTTP API (HEAD wherever GET):
  GET /                       the cluster state as this node sees it (?node=, ?prefix=, ?keys=false)
  GET /members                one row per known node
  GET /nodes/<nodeId>         that node's key-values (newest generation)
  GET /kv/<key>               this node's value of <key>
  PUT /kv/<key>               set <key> to the request body (?ttl=1: delete after the grace period)
  DELETE /kv/<key>            delete <key> (?afterTtl=1: after the grace period)
  GET /metrics                Prometheus text format 0.0.4
  GET /health                 200 once gossip was exchanged (or without seeds), 503 before
  GET /ui                     a live cluster page (open it in a browser)
  GET /events                 Server-Sent Events: members, membership events, key changes

SIGINT or SIGTERM makes the node leave the cluster (peers list it as left at once; the
wait for their acknowledgement is at most 2 gossip intervals), then stop; the exit code is
then 0.`;

const FLAGS = {
  listen: { type: "string" },
  "public-addr": { type: "string" },
  seed: { type: "string", multiple: true },
  "node-id": { type: "string" },
  generation: { type: "string" },
  "cluster-id": { type: "string" },
  "interval-ms": { type: "string" },
  set: { type: "string", multiple: true },
  phi: { type: "string" },
  "dead-grace-ms": { type: "string" },
  "gc-grace-ms": { type: "string" },
  "fd-initial-interval-ms": { type: "string" },
  http: { type: "string" },
  "http-max-connections": { type: "string" },
  "http-idle-timeout-ms": { type: "string" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  "encrypt-key": { type: "string", multiple: true },
  "encrypt-key-file": { type: "string" },
  "encrypt-send-plaintext": { type: "boolean" },
  "encrypt-accept-plaintext": { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

/**
 * A command line the CLI refuses; its message is the one line printed
 * (after `chitchat: `) before exiting with code 2.
 *
 * @example
 * ```ts
 * import { CliUsageError, parseCliArgs } from "@chitchat/chitchat/cli";
 * import assert from "node:assert";
 *
 * assert.throws(() => parseCliArgs(["--bogus"]), CliUsageError);
 * assert(new CliUsageError("unknown option --bogus").name === "CliUsageError");
 * ```
 */
export class CliUsageError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong, as one line.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CliUsageError";
  }
}

/**
 * The node the CLI runs, every default filled in.
 *
 * @example
 * ```ts
 * import { type CliNodeConfig, parseCliArgs } from "@chitchat/chitchat/cli";
 * import assert from "node:assert";
 *
 * const command = parseCliArgs(["--listen", "127.0.0.1:7000"]);
 * assert(command.kind === "run");
 * const node: CliNodeConfig = command.node;
 * assert(node.chitchatId.nodeId === "node-7000" && node.clusterId === "testing");
 * ```
 */
export interface CliNodeConfig {
  /** The UDP address to bind (`--listen`). */
  readonly listenAddr: SocketAddress;
  /** The id of the node; its address is `--public-addr` or the listen address. */
  readonly chitchatId: ChitchatId;
  /** The cluster id (`--cluster-id`). */
  readonly clusterId: string;
  /** The seeds, as given (`--seed`). */
  readonly seedNodes: readonly string[];
  /** The gossip interval (`--interval-ms`). */
  readonly gossipIntervalMs: number;
  /** The node's initial key-values (`--set`), in command-line order. */
  readonly initialKeyValues: readonly (readonly [string, string])[];
  /** The failure detector settings given (`--phi`, `--dead-grace-ms`, `--fd-initial-interval-ms`). */
  readonly failureDetector: Partial<FailureDetectorConfig>;
  /** The tombstone grace period (`--gc-grace-ms`), or `undefined` for the default. */
  readonly markedForDeletionGracePeriodMs: number | undefined;
  /** Where to serve the HTTP API (`--http`), or `undefined` for no API. */
  readonly httpAddr: SocketAddress | undefined;
  /** Open HTTP connections at most (`--http-max-connections`); more are refused with 503. */
  readonly httpMaxConnections: number;
  /** How long an HTTP connection may stay idle, its request head included (`--http-idle-timeout-ms`). */
  readonly httpIdleTimeoutMs: number;
  /** The least severe log level written to stderr (`--log-level`). */
  readonly logLevel: LogLevel;
  /** How log lines are written (`--log-format`): `text` or `json`, one object a line. */
  readonly logFormat: "text" | "json";
  /**
   * The encryption keys (`--encrypt-key`, then `--encrypt-key-file`), the
   * first one primary; empty for plaintext gossip.
   */
  readonly encryptionKeys: readonly Uint8Array[];
  /**
   * `--encrypt-key-file` and how many keys it held (the last ones of
   * `encryptionKeys`). SIGHUP reads it again: the keys become the
   * `--encrypt-key` ones followed by the file's.
   */
  readonly encryptionKeyFile: { readonly path: string; readonly keys: number } | undefined;
  /** With keys, whether plaintext is still sent (`--encrypt-send-plaintext`). */
  readonly encryptSendPlaintext: boolean;
  /** With keys, whether plaintext is also accepted (`--encrypt-accept-plaintext`). */
  readonly encryptAcceptPlaintext: boolean;
}

/**
 * What a command line asks for: help, the version, or running a node.
 *
 * @example
 * ```ts
 * import { type CliCommand, parseCliArgs } from "@chitchat/chitchat/cli";
 * import assert from "node:assert";
 *
 * const describe = (command: CliCommand) => command.kind === "run" ? command.node.chitchatId.nodeId : command.kind;
 * assert(describe(parseCliArgs(["--version"])) === "version");
 * assert(describe(parseCliArgs(["--help", "--listen", "127.0.0.1:1"])) === "help");
 * assert(describe(parseCliArgs(["--listen", "127.0.0.1:7001"])) === "node-7001");
 * ```
 */
export type CliCommand =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | { readonly kind: "run"; readonly node: CliNodeConfig };

/**
 * Parses and validates the command line of {@linkcode main}. `--help` and
 * `--version` win over the other flags (which are then not validated).
 *
 * @param args The arguments, without the program name.
 * @returns The command.
 * @throws {CliUsageError} for an unknown flag, a missing or invalid value, a
 * positional argument, or a single-valued flag given twice.
 *
 * @example
 * ```ts
 * import { parseCliArgs } from "@chitchat/chitchat/cli";
 * import assert from "node:assert";
 *
 * const command = parseCliArgs(["--seed", "10.0.0.1:10000", "--seed", "10.0.0.2:10000", "--set", "role=indexer"]);
 * assert(command.kind === "run");
 * assert.deepStrictEqual(command.node.seedNodes, ["10.0.0.1:10000", "10.0.0.2:10000"]);
 * assert.deepStrictEqual(command.node.initialKeyValues, [["role", "indexer"]]);
 * assert.throws(() => parseCliArgs(["--interval-ms", "abc"]), /invalid --interval-ms "abc": expected a positive integer/);
 * ```
 */
export function parseCliArgs(args: readonly string[]): CliCommand {
  const { values, tokens } = parseFlags(args);
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const multiple = "multiple" in FLAGS[token.name as keyof typeof FLAGS];
    if (!multiple && seen.has(token.name)) {
      throw new CliUsageError(`--${token.name} given more than once`);
    }
    seen.add(token.name);
  }

  const listenAddr = ipSocketAddress("listen", values.listen ?? DEFAULT_LISTEN);
  const publicAddr = values["public-addr"] === undefined
    ? listenAddr
    : ipSocketAddress("public-addr", values["public-addr"]);
  const nodeId = values["node-id"] ?? defaultNodeId(publicAddr);
  checkWireString("node-id", nodeId);
  const chitchatId: ChitchatId = {
    nodeId,
    generationId: values.generation === undefined
      ? BigInt(Math.floor(Date.now() / 1_000))
      : u64("generation", values.generation),
    gossipAdvertiseAddr: publicAddr,
  };
  const clusterId = values["cluster-id"] ?? DEFAULT_CLUSTER_ID;
  checkWireString("cluster-id", clusterId);

  const failureDetector: { -readonly [K in keyof FailureDetectorConfig]?: number } = {};
  if (values.phi !== undefined) failureDetector.phiThreshold = positiveNumber("phi", values.phi);
  if (values["dead-grace-ms"] !== undefined) {
    failureDetector.deadNodeGracePeriodMs = positiveInteger(
      "dead-grace-ms",
      values["dead-grace-ms"],
    );
  }
  const gossipIntervalMs = values["interval-ms"] === undefined
    ? DEFAULT_INTERVAL_MS
    : positiveInteger("interval-ms", values["interval-ms"], MAX_TIMER_MS);
  // The prior interval follows the gossip interval unless given: with the
  // library's 5 s prior, a node gossiping every 100 ms would take ~20 s to
  // be declared dead.
  failureDetector.initialIntervalMs = values["fd-initial-interval-ms"] === undefined
    ? gossipIntervalMs
    : positiveInteger("fd-initial-interval-ms", values["fd-initial-interval-ms"]);
  const logLevel = values["log-level"] ?? DEFAULT_LOG_LEVEL;
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw invalid("log-level", logLevel, `expected one of ${LOG_LEVELS.join(", ")}`);
  }
  const logFormat = values["log-format"] ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw invalid("log-format", logFormat, "expected text or json");
  }

  const keys = encryptionKeys(values["encrypt-key"] ?? [], values["encrypt-key-file"]);
  for (const flag of ["encrypt-send-plaintext", "encrypt-accept-plaintext"] as const) {
    if (values[flag] && keys.length === 0) {
      throw new CliUsageError(`--${flag} needs --encrypt-key or --encrypt-key-file`);
    }
  }

  return {
    kind: "run",
    node: {
      listenAddr,
      chitchatId,
      clusterId,
      seedNodes: (values.seed ?? []).map(seedAddress),
      gossipIntervalMs,
      initialKeyValues: keyValues(chitchatId, values.set ?? []),
      failureDetector,
      markedForDeletionGracePeriodMs: values["gc-grace-ms"] === undefined
        ? undefined
        : positiveInteger("gc-grace-ms", values["gc-grace-ms"]),
      httpAddr: values.http === undefined ? undefined : socketAddress("http", values.http),
      httpMaxConnections: values["http-max-connections"] === undefined
        ? DEFAULT_HTTP_MAX_CONNECTIONS
        : positiveInteger("http-max-connections", values["http-max-connections"]),
      httpIdleTimeoutMs: values["http-idle-timeout-ms"] === undefined
        ? DEFAULT_HTTP_IDLE_TIMEOUT_MS
        : positiveInteger("http-idle-timeout-ms", values["http-idle-timeout-ms"], MAX_TIMER_MS),
      logLevel: logLevel as LogLevel,
      logFormat,
      encryptionKeys: keys,
      encryptionKeyFile: values["encrypt-key-file"] === undefined ? undefined : {
        path: values["encrypt-key-file"],
        keys: keys.length - (values["encrypt-key"] ?? []).length,
      },
      encryptSendPlaintext: values["encrypt-send-plaintext"] ?? false,
      encryptAcceptPlaintext: values["encrypt-accept-plaintext"] ?? false,
    },
  };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// The messages name where a key came from, never the key itself.
function decodeKey(text: string, where: string): Uint8Array {
  if (!BASE64.test(text)) throw new CliUsageError(`invalid ${where}: not base64`);
  const key = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  try {
    validateKey(key);
  } catch (error) {
    if (error instanceof RangeError) {
      throw new CliUsageError(`invalid ${where}: ${error.message}`);
    }
    throw error;
  }
  return key;
}

function encryptionKeys(given: readonly string[], file: string | undefined): Uint8Array[] {
  const keys = given.map((text, i) => decodeKey(text, `--encrypt-key #${i + 1}`));
  if (file === undefined) return keys;
  return [...keys, ...readKeyFile(file)];
}

function readKeyFile(file: string): Uint8Array[] {
  const keys: Uint8Array[] = [];
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (error) {
    throw new CliUsageError(`cannot read --encrypt-key-file ${file}: ${describeError(error)}`, {
      cause: error,
    });
  }
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    keys.push(decodeKey(trimmed, `key on line ${i + 1} of --encrypt-key-file ${file}`));
  });
  if (keys.length === 0) {
    throw new CliUsageError(`--encrypt-key-file ${file} holds no key`);
  }
  return keys;
}

interface FlagParseConfig {
  args: string[];
  options: typeof FLAGS;
  strict: true;
  allowPositionals: false;
  tokens: true;
}

function parseFlags(args: readonly string[]): ReturnType<typeof parseArgs<FlagParseConfig>> {
  try {
    return parseArgs<FlagParseConfig>({
      // `deno task node -- --listen ...` passes the `--` on: skip it.
      args: args[0] === "--" ? args.slice(1) : [...args],
      options: FLAGS,
      strict: true,
      allowPositionals: false,
      tokens: true,
    });
  } catch (error) {
    throw new CliUsageError(describeParseError(error), { cause: error });
  }
}

/** Turns a `node:util` parse error into one short line naming the flag. */
function describeParseError(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const text = String(message);
  // The messages quote the flag as '--name', '--name <value>' or '-h, --help'.
  const flag = /'(?:-\w, )?(-{1,2}[^' ]+)/.exec(text)?.[1];
  if (flag !== undefined) {
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option ${flag} (see --help)`;
    if (text.includes("does not take an argument")) return `${flag} does not take a value`;
    if (text.includes("argument missing")) return `missing value for ${flag}`;
    if (text.includes("ambiguous")) {
      return `missing value for ${flag} (write ${flag}=VALUE for a value starting with "-")`;
    }
  }
  const positional = /^Unexpected argument '(.*)'/.exec(text)?.[1];
  if (positional !== undefined) return `unexpected argument "${positional}" (see --help)`;
  return text.split("\n")[0];
}

function invalid(flag: string, value: string, expected: string): CliUsageError {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return new CliUsageError(`invalid --${flag} "${shown}": ${expected}`);
}

function socketAddress(flag: string, text: string): SocketAddress {
  try {
    return parseSocketAddress(text);
  } catch {
    throw invalid(flag, text, "expected HOST:PORT with a port in [0, 65535]");
  }
}

function ipSocketAddress(flag: string, text: string): SocketAddress {
  const addr = socketAddress(flag, text);
  if (!isIpAddress(addr.hostname)) {
    throw invalid(flag, text, "expected an IP address and a port, like 127.0.0.1:10000");
  }
  return addr;
}

function seedAddress(text: string): string {
  if (socketAddress("seed", text).port === 0) {
    throw invalid("seed", text, "expected HOST:PORT with a port in [1, 65535]");
  }
  return text;
}

function defaultNodeId(publicAddr: SocketAddress): string {
  if (publicAddr.port !== 0) return `node-${publicAddr.port}`;
  // The port is picked at bind time, after the id is fixed: a random suffix
  // keeps two such nodes apart.
  const suffix = crypto.getRandomValues(new Uint8Array(4));
  return `node-${Array.from(suffix, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function checkWireString(flag: string, value: string): void {
  if (value === "") throw invalid(flag, value, "expected a non-empty string");
  const bytes = utf8ByteLength(value);
  if (bytes > MAX_WIRE_STRING_BYTES) {
    throw invalid(flag, value, `${bytes} bytes exceeds ${MAX_WIRE_STRING_BYTES}`);
  }
}

function u64(flag: string, text: string): bigint {
  if (/^[0-9]{1,20}$/.test(text) && BigInt(text) <= MAX_U64) return BigInt(text);
  throw invalid(flag, text, `expected an integer in [0, ${MAX_U64}]`);
}

function positiveInteger(flag: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (/^[0-9]+$/.test(text) && value > 0 && value <= max) return value;
  const bound = max === Number.MAX_SAFE_INTEGER ? "" : ` at most ${max}`;
  throw invalid(flag, text, `expected a positive integer${bound}`);
}

function positiveNumber(flag: string, text: string): number {
  const value = Number(text);
  if (/^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(text) && value > 0) {
    if (Number.isFinite(value)) return value;
  }
  throw invalid(flag, text, "expected a positive number");
}

function keyValues(
  chitchatId: ChitchatId,
  pairs: readonly string[],
): (readonly [string, string])[] {
  // A scratch state applies the exact size rules the node will apply.
  const scratch = new NodeState(chitchatId);
  const out: (readonly [string, string])[] = [];
  for (const pair of pairs) {
    const equals = pair.indexOf("=");
    if (equals <= 0) throw invalid("set", pair, "expected KEY=VALUE with a non-empty key");
    const key = pair.slice(0, equals);
    const value = pair.slice(equals + 1);
    if (scratch.getVersioned(key) !== undefined) {
      throw invalid("set", pair, `key "${key}" is set more than once`);
    }
    try {
      scratch.set(key, value);
    } catch (error) {
      if (error instanceof RangeError) throw invalid("set", pair, error.message);
      throw error;
    }
    out.push([key, value]);
  }
  return out;
}

/**
 * Options of {@linkcode main}: how it is stopped and where it writes.
 *
 * @example
 * ```ts
 * import { type CliOptions, main } from "@chitchat/chitchat/cli";
 * import assert from "node:assert";
 *
 * // An aborted signal stops the node as soon as it started: exit code 0.
 * const lines: string[] = [];
 * const options: CliOptions = { signal: AbortSignal.abort(), stdout: (line) => lines.push(line) };
 * assert(await main(["--listen", "127.0.0.1:0"], options) === 0);
 * assert(lines.some((line) => line.includes("node-")));
 * ```
 */
export interface CliOptions {
  /**
   * Stops the node when aborted. When absent, SIGINT and SIGTERM do.
   *
   * @default {undefined}
   */
  readonly signal?: AbortSignal;
  /**
   * Receives the output lines (startup, membership changes, shutdown).
   *
   * @default {console.log}
   */
  readonly stdout?: (line: string) => void;
  /**
   * Receives the error and log lines.
   *
   * @default {console.error}
   */
  readonly stderr?: (line: string) => void;
}

/**
 * Runs the `chitchat` command: parses `args`, starts one node over UDP
 * (and the HTTP API with `--http`), prints a startup line, then runs until
 * the signal (or SIGINT/SIGTERM) stops it. Never throws for a bad command
 * line or a busy port: it reports one line on stderr and returns the exit
 * code.
 *
 * @param args The arguments, without the program name.
 * @param options Stop signal and output sinks.
 * @returns The exit code: 0 on a clean stop, `--help` or `--version`; 1 if
 * the node cannot start or stops on its own; 2 for a bad command line.
 *
 * @example Bad flags exit with code 2 and one line
 * ```ts
 * import { main } from "@chitchat/chitchat/cli";
 * import assert from "node:assert";
 *
 * const errors: string[] = [];
 * assert(await main(["--phi", "-1"], { stderr: (line) => errors.push(line) }) === 2);
 * assert.deepStrictEqual(errors, ['chitchat: missing value for --phi (write --phi=VALUE for a value starting with "-")']);
 * ```
 */
export async function main(args: readonly string[], options: CliOptions = {}): Promise<number> {
  const stdout = options.stdout ?? ((line: string): void => console.log(line));
  const stderr = options.stderr ?? ((line: string): void => console.error(line));
  const rest = args[0] === "--" ? args.slice(1) : args;
  if (rest.length > 0 && CLIENT_COMMANDS.includes(rest[0])) {
    const client = parseClientCommand(rest);
    if (typeof client === "string") {
      stderr(`chitchat: ${client}`);
      return 2;
    }
    return await runClientCommand(client, stdout, stderr);
  }
  let command: CliCommand;
  try {
    command = parseCliArgs(args);
  } catch (error) {
    if (!(error instanceof CliUsageError)) throw error;
    stderr(`chitchat: ${error.message}`);
    return 2;
  }
  switch (command.kind) {
    case "help":
      stdout(USAGE);
      return 0;
    case "version":
      stdout(`chitchat ${VERSION}`);
      return 0;
    case "run":
      return await runNode(command.node, options.signal, stdout, stderr);
  }
}

async function runNode(
  config: CliNodeConfig,
  signal: AbortSignal | undefined,
  stdout: (line: string) => void,
  stderr: (line: string) => void,
): Promise<number> {
  const { stopped, dispose: disposeStopListeners } = stopRequests(signal);
  try {
    const logger = lineLogger(stderr, config);
    let handle: ChitchatHandle;
    try {
      handle = await spawnChitchat({
        chitchatId: config.chitchatId,
        clusterId: config.clusterId,
        failureDetector: config.failureDetector,
        markedForDeletionGracePeriodMs: config.markedForDeletionGracePeriodMs,
        initialKeyValues: config.initialKeyValues,
        gossipIntervalMs: config.gossipIntervalMs,
        listenAddr: config.listenAddr,
        seedNodes: config.seedNodes,
        encryption: config.encryptionKeys.length === 0 ? undefined : {
          keys: config.encryptionKeys,
          sendPlaintext: config.encryptSendPlaintext,
          acceptPlaintext: config.encryptAcceptPlaintext,
        },
      }, { logger });
    } catch (error) {
      const where = formatSocketAddress(config.listenAddr);
      stderr(`chitchat: cannot start the node on UDP ${where}: ${describeError(error)}`);
      return 1;
    }

    let server: Deno.HttpServer<Deno.NetAddr> | undefined;
    let guard: HttpGuard | undefined;
    // Ends the event streams first: the server's shutdown waits for open responses.
    const streams = new AbortController();
    if (config.httpAddr !== undefined) {
      try {
        const handler = createHttpHandler(handle, {
          standalone: config.seedNodes.length === 0,
          // The guard comes after the handler: read it at each scrape.
          connectionMetrics: () => guard?.metrics,
          signal: streams.signal,
          // An event stream holds a guarded connection for as long as the
          // page is open: half the cap at most, so requests still get in.
          maxEventStreams: Math.max(
            1,
            Math.min(
              64,
              Math.floor(HttpGuard.affordableConnections(config.httpMaxConnections) / 2),
            ),
          ),
          // Keep-alives well inside the guard's idle timeout.
          eventPingIntervalMs: Math.max(
            1,
            Math.min(15_000, Math.floor(config.httpIdleTimeoutMs / 3)),
          ),
        });
        // Only the guard connects here: it caps connections, times out idle
        // ones and survives accept failures, which Deno.serve alone does not.
        server = Deno.serve({
          hostname: "127.0.0.1",
          port: 0,
          // The startup line below reports the address instead of Deno's banner.
          onListen: () => {},
          onError: (error: unknown): Response => {
            stderr(`chitchat: HTTP request failed: ${describeError(error)}`);
            return Response.json({ error: "Internal error" }, { status: 500 });
          },
        }, handler);
        let acceptErrorLogged = false;
        guard = new HttpGuard({
          hostname: config.httpAddr.hostname,
          port: config.httpAddr.port,
          upstream: server.addr,
          maxConnections: config.httpMaxConnections,
          idleTimeoutMs: config.httpIdleTimeoutMs,
          onAcceptError: (error) => {
            // Out of descriptors, this fires on every retry: once is news enough.
            if (acceptErrorLogged) return;
            acceptErrorLogged = true;
            stderr(`chitchat: HTTP accept failed (counted, retrying): ${describeError(error)}`);
          },
        });
      } catch (error) {
        const where = formatSocketAddress(config.httpAddr);
        stderr(`chitchat: cannot serve HTTP on ${where}: ${describeError(error)}`);
        await server?.shutdown();
        await handle.shutdown();
        return 1;
      }
    }

    const id = handle.chitchatId;
    const seeds = config.seedNodes.length === 0 ? "none" : config.seedNodes.join(", ");
    stdout(
      `chitchat: node ${id.nodeId} (generation ${id.generationId}, cluster "${config.clusterId}") ` +
        `gossiping on ${formatSocketAddress(handle.localAddr)} as ` +
        `${formatSocketAddress(id.gossipAdvertiseAddr)}, seeds: ${seeds}`,
    );
    if (guard !== undefined) {
      stdout(`chitchat: HTTP API on http://${formatSocketAddress(guard.addr)}/`);
      if (guard.maxConnections < config.httpMaxConnections) {
        stderr(
          `chitchat: HTTP connections capped at ${guard.maxConnections}, not ` +
            `${config.httpMaxConnections}: the open files limit allows no more`,
        );
      }
    }
    const advertised = id.gossipAdvertiseAddr.hostname;
    if (advertised === "0.0.0.0" || advertised === "::") {
      // A log line, so --log-format json keeps one object a line.
      logger.warn(
        `Advertising the unspecified address ${advertised}: peers cannot reach it; ` +
          "pass --public-addr HOST:PORT",
        { address: formatSocketAddress(id.gossipAdvertiseAddr) },
      );
    }

    let liveLine = "";
    const subscription = handle.chitchat.watchLiveNodes((nodes) => {
      // The watcher also fires when a live node's max version moves; only membership is news.
      const line = nodes.map((state) =>
        // The generation tells two incarnations of one node apart.
        `${state.chitchatId.nodeId}/${state.chitchatId.generationId}@${
          formatSocketAddress(state.chitchatId.gossipAdvertiseAddr)
        }`
      ).join(", ");
      if (line === liveLine) return;
      liveLine = line;
      stdout(`chitchat: live nodes (${nodes.length}): ${line}`);
    });

    // Every membership change is an info line; departures are news of
    // their own on stdout too: the live line only shows who is gone.
    const events = handle.membershipEvents();
    const reportingLeaves = (async () => {
      for await (const event of events) {
        logMembership(logger, event);
        if (event.type !== "left") continue;
        const node = event.node;
        stdout(
          `chitchat: node ${node.nodeId}/${node.generationId}@${
            formatSocketAddress(node.gossipAdvertiseAddr)
          } left the cluster`,
        );
      }
    })();

    const disposeReload = signal === undefined && config.encryptionKeyFile !== undefined
      ? reloadKeysOnHangup(handle, config, config.encryptionKeyFile, stdout, stderr)
      : () => {};
    const outcome = await Promise.race([
      stopped.then((reason) => ({ kind: "stop" as const, reason })),
      handle.terminated.then(
        () => ({ kind: "terminated" as const, error: undefined }),
        (error: unknown) => ({ kind: "terminated" as const, error }),
      ),
    ]);
    subscription.unsubscribe();
    disposeReload();
    if (outcome.kind === "stop") {
      stdout(`chitchat: ${outcome.reason}, leaving the cluster`);
      // Bounded by the leave's deadline (2 gossip intervals), then the node is stopped.
      const acknowledged = await handle.leave();
      stdout(`chitchat: left the cluster (peers acknowledging: ${acknowledged}), shutting down`);
    }
    await events.return?.();
    await reportingLeaves;
    // Ended streams still have their last bytes to deliver: the server's
    // graceful shutdown flushes them and the guard relays them, within a
    // bound, before the guard cuts every connection (which also unblocks a
    // client that stopped reading).
    streams.abort();
    const shutdown = server?.shutdown();
    if (shutdown !== undefined) await settleWithin(shutdown, SHUTDOWN_FLUSH_MS);
    await guard?.close(SHUTDOWN_FLUSH_MS);
    await shutdown;
    if (outcome.kind === "terminated") {
      const why = outcome.error === undefined ? "" : `: ${describeError(outcome.error)}`;
      stderr(`chitchat: the node stopped unexpectedly${why}`);
      return 1;
    }
    await handle.shutdown();
    stdout(`chitchat: node ${id.nodeId} stopped`);
    return 0;
  } finally {
    disposeStopListeners();
  }
}

/**
 * Rotates keys without a restart: on SIGHUP the key file is read again and
 * the keys become the `--encrypt-key` ones followed by the file's; the first
 * seals. A file that cannot be read or holds a bad key changes nothing.
 */
function reloadKeysOnHangup(
  handle: ChitchatHandle,
  config: CliNodeConfig,
  file: { readonly path: string; readonly keys: number },
  stdout: (line: string) => void,
  stderr: (line: string) => void,
): () => void {
  // Windows has no SIGHUP.
  if (Deno.build.os === "windows") return () => {};
  const fromFlags = config.encryptionKeys.slice(0, config.encryptionKeys.length - file.keys);
  let current: readonly Uint8Array[] = config.encryptionKeys;
  const reload = (): void => {
    let keys: Uint8Array[];
    try {
      keys = [...fromFlags, ...readKeyFile(file.path)];
    } catch (error) {
      stderr(`chitchat: SIGHUP: kept the keys in use: ${describeError(error)}`);
      return;
    }
    for (const key of keys) handle.addKey(key);
    handle.useKey(keys[0]);
    const same = (a: Uint8Array, b: Uint8Array) =>
      a.length === b.length && a.every((byte, i) => byte === b[i]);
    const removed: Uint8Array[] = [];
    for (const old of current) {
      const kept = [...keys, ...removed].some((key) => same(key, old));
      if (!kept) handle.removeKey(old);
      removed.push(old);
    }
    current = keys;
    stdout(`chitchat: SIGHUP: ${handle.encryptionStatus().keys} encryption keys in use`);
  };
  Deno.addSignalListener("SIGHUP", reload);
  return () => Deno.removeSignalListener("SIGHUP", reload);
}

/**
 * What the log says of each membership event; `left` and `removed` are
 * already logged by the state machine.
 */
const MEMBERSHIP_LOG_LINES: Readonly<Record<MembershipEvent["type"], string | undefined>> = {
  joined: "A node joined",
  dead: "A node is dead",
  revived: "A dead node is live again",
  restarted: "A node restarted with a new generation",
  left: undefined,
  removed: undefined,
};

/** Logs one membership event at info. */
function logMembership(logger: Logger, event: MembershipEvent): void {
  const message = MEMBERSHIP_LOG_LINES[event.type];
  if (message === undefined) return;
  logger.info(message, {
    node: event.node.nodeId,
    generation: event.node.generationId.toString(),
    address: formatSocketAddress(event.node.gossipAdvertiseAddr),
  });
}

/** How long a shutdown waits for HTTP responses to finish before cutting connections. */
const SHUTDOWN_FLUSH_MS = 1_000;

/** A promise of why the node must stop: the caller's signal, or SIGINT/SIGTERM. */
function stopRequests(
  signal: AbortSignal | undefined,
): { stopped: Promise<string>; dispose: () => void } {
  const { promise, resolve } = Promise.withResolvers<string>();
  if (signal !== undefined) {
    const onAbort = (): void => resolve("stop requested");
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    return { stopped: promise, dispose: () => signal.removeEventListener("abort", onAbort) };
  }
  // Windows delivers only SIGINT and SIGBREAK to Deno.
  const names: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  const listeners = names.map((name) => [name, () => resolve(`${name} received`)] as const);
  for (const [name, listener] of listeners) Deno.addSignalListener(name, listener);
  return {
    stopped: promise,
    dispose: () => {
      for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
    },
  };
}

function describeError(error: unknown): string {
  if (error instanceof Deno.errors.AddrInUse) return "address already in use";
  if (error instanceof Deno.errors.AddrNotAvailable) return "address not available";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * A {@linkcode Logger} writing one line per entry: `ISO-time level node-id
 * message {fields}` as text, or one JSON object a line.
 */
function lineLogger(write: (line: string) => void, config: CliNodeConfig): Logger {
  const min = LOG_LEVELS.indexOf(config.logLevel);
  const nodeId = config.chitchatId.nodeId;
  const at = (lvl: LogLevel) => (message: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(lvl) < min) return;
    const time = new Date().toISOString();
    if (config.logFormat === "json") {
      write(JSON.stringify({ time, level: lvl, node: nodeId, message, ...fields }, jsonSafe));
      return;
    }
    const extra = fields === undefined
      ? ""
      : ` ${Deno.inspect(fields, { compact: true, breakLength: Infinity, colors: false })}`;
    write(`${time} ${lvl.toUpperCase()} ${nodeId} ${message}${extra}`);
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Errors and bigints have no JSON form of their own. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
