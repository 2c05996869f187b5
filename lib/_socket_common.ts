// Copyright the chitchat for Deno authors. MIT license.
// Internal: what every Socket implementation shares.

import type { ChitchatMessage } from "./message.ts";
import { formatSocketAddress, type SocketAddress } from "./socket_address.ts";

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
