// Copyright the chitchat for Deno authors. MIT license.
// Internal: what every Socket implementation shares.

import type { ChitchatMessage } from "../core/message.ts";
import { formatSocketAddress, type SocketAddress } from "../core/socket_address.ts";

/** The error of an operation on a closed socket (what Deno's own sockets throw). */
export function closedError(addr: SocketAddress, cause?: unknown): Error {
  return new Deno.errors.BadResource(
    `Socket ${formatSocketAddress(addr)} is closed`,
    cause === undefined ? undefined : { cause },
  );
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
