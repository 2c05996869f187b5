// Copyright the chitchat for Deno authors. MIT license.
// Internal: what every Socket implementation shares.

import { setImmediate } from "node:timers";
import type { ChitchatMessage } from "../core/message.ts";
import { formatSocketAddress, type SocketAddress } from "../core/socket_address.ts";

type ErrorClass = new (message: string, options?: ErrorOptions) => Error;

// Deno's own error classes where they exist, so callers on Deno can match
// `instanceof Deno.errors.AddrInUse`; elsewhere (Node.js, Bun) look-alikes
// with the same `name`, so `error.name === "AddrInUse"` works everywhere.
// Read lazily: this module must load where `Deno` is not defined.
/** The `Deno.errors` classes that sockets of every runtime report as such. */
export type RuntimeErrorName =
  | "AddrInUse"
  | "AddrNotAvailable"
  | "BadResource"
  | "PermissionDenied";

const ERROR_CODES: Record<RuntimeErrorName, string> = {
  AddrInUse: "EADDRINUSE",
  AddrNotAvailable: "EADDRNOTAVAIL",
  BadResource: "EBADF",
  PermissionDenied: "EACCES",
};

/**
 * An error of the `Deno.errors` class `name` on Deno, of a look-alike
 * (same `name`, and the errno `code`) elsewhere.
 */
export function runtimeError(name: RuntimeErrorName, message: string, cause?: unknown): Error {
  const ErrorClass = runtimeErrorClass(name, ERROR_CODES[name]);
  return new ErrorClass(message, cause === undefined ? undefined : { cause });
}

function runtimeErrorClass(name: RuntimeErrorName, code: string): ErrorClass {
  const denoErrors = (globalThis as { Deno?: { errors?: Record<string, ErrorClass> } }).Deno
    ?.errors;
  const native = denoErrors?.[name];
  if (typeof native === "function") return native;
  return fallbackErrors[name] ??= class extends Error {
    readonly code: string = code;
    constructor(message: string, options?: ErrorOptions) {
      super(message, options);
      this.name = name;
    }
  };
}

const fallbackErrors: Partial<Record<string, ErrorClass>> = {};

/** An "address already in use" error: `Deno.errors.AddrInUse` on Deno, an `AddrInUse` elsewhere. */
export function addrInUseError(message: string, cause?: unknown): Error {
  return runtimeError("AddrInUse", message, cause);
}

/** A "resource is closed" error: `Deno.errors.BadResource` on Deno, a `BadResource` elsewhere. */
export function badResourceError(message: string, cause?: unknown): Error {
  return runtimeError("BadResource", message, cause);
}

/** The error of an operation on a closed socket (what Deno's own sockets throw). */
export function closedError(addr: SocketAddress, cause?: unknown): Error {
  return badResourceError(`Socket ${formatSocketAddress(addr)} is closed`, cause);
}

/**
 * Whether `Deno.listenDatagram` can be called: on Deno with `--unstable-net`
 * (or `"unstable": ["net"]`), never on Node.js or Bun.
 */
export function denoListenDatagramAvailable(): boolean {
  const deno = (globalThis as { Deno?: { listenDatagram?: unknown } }).Deno;
  return typeof deno?.listenDatagram === "function";
}

// Longest stretch a receive loop may run without a turn of the event loop.
const EVENT_LOOP_TURN_BUDGET_MS = 4;
// The longest rest after one costly message.
const MAX_REST_MS = 20;

/**
 * Keeps a receive loop from starving the rest of the process. A receive
 * that finds a datagram already waiting (in our queue, or in the kernel's,
 * which the runtimes poll eagerly) resolves as a microtask: under a flood
 * the gossip loop would decode and answer datagram after datagram while
 * HTTP requests and timers waited, for seconds. So the loop gets a turn of
 * the event loop every few milliseconds, and after a message that took
 * longer than that to handle (a flood's digest of unknown nodes, a large
 * delta) it rests as long as the handling took: receiving then takes at
 * most about half of the process, and timers (the gossip rounds) and the
 * HTTP API keep the other half. Real sockets only: the in-memory transport
 * runs on virtual time.
 */
export class EventLoopTurns {
  #lastTurnAt = -Infinity;
  #handedAt: number | undefined;

  /** Notes that a message was handed to the receive loop: its handling starts. */
  handed(): void {
    this.#handedAt = performance.now();
  }

  /**
   * `undefined` when the caller may go on, or a promise that resolves after
   * a turn of the event loop, or after a rest as long as the last message's
   * handling when that exceeded `EVENT_LOOP_TURN_BUDGET_MS`.
   */
  take(): Promise<void> | undefined {
    const now = performance.now();
    const handlingMs = this.#handedAt === undefined ? 0 : now - this.#handedAt;
    this.#handedAt = undefined;
    if (handlingMs > EVENT_LOOP_TURN_BUDGET_MS) {
      return new Promise((resolve) =>
        setTimeout(() => {
          this.#lastTurnAt = performance.now();
          resolve();
        }, Math.min(handlingMs, MAX_REST_MS))
      );
    }
    if (now - this.#lastTurnAt < EVENT_LOOP_TURN_BUDGET_MS) return undefined;
    return new Promise((resolve) =>
      setImmediate(() => {
        this.#lastTurnAt = performance.now();
        resolve();
      })
    );
  }
}

/** Yields received messages until the socket is closed; a broken socket throws. */
export async function* receiveUntilClosed(
  socket: {
    receive(): Promise<readonly [SocketAddress, ChitchatMessage]>;
    readonly isClosed: boolean;
  },
): AsyncGenerator<readonly [SocketAddress, ChitchatMessage]> {
  for (;;) {
    let received: readonly [SocketAddress, ChitchatMessage];
    try {
      received = await socket.receive();
    } catch (error) {
      if (socket.isClosed) return;
      throw error;
    }
    yield received;
  }
}

/**
 * Checks the shape of an address given by a caller, naming `field` in the
 * error (a host name is allowed: only its presence is checked here).
 *
 * @throws {TypeError} if it is not `{ hostname, port }` with a non-empty hostname.
 * @throws {RangeError} if the port is not an integer in `[0, 65535]`.
 */
export function checkSocketAddress(addr: SocketAddress, field: string): SocketAddress {
  if (addr === null || typeof addr !== "object") {
    throw new TypeError(`Invalid ${field}: expected { hostname, port }`);
  }
  if (typeof addr.hostname !== "string" || addr.hostname === "") {
    throw new TypeError(`Invalid ${field}.hostname: expected a non-empty string`);
  }
  if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535) {
    throw new RangeError(`Invalid ${field}.port: ${addr.port} is not in [0, 65535]`);
  }
  return addr;
}

/** The message of a caught value, for logs (not everything thrown is an `Error`). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
