// Copyright the chitchat for Deno authors. MIT license.
// Internal: how many datagrams the kernel dropped for a UDP socket because
// its receive buffer was full, where the platform tells (Linux's
// /proc/net/udp and udp6, the last column). A flood overflows that buffer
// before any of our code sees a datagram; only this counter shows it.

import { readFileSync } from "node:fs";
import type { SocketAddress } from "../core/socket_address.ts";

/**
 * The kernel's drop count for the UDP socket bound to `localAddr`, or
 * `undefined` where it cannot be read (not Linux, no permission).
 */
export function kernelUdpDrops(localAddr: SocketAddress): number | undefined {
  const ipv6 = localAddr.hostname.includes(":");
  let table: string;
  try {
    table = readFileSync(ipv6 ? "/proc/net/udp6" : "/proc/net/udp", "latin1");
  } catch {
    return undefined;
  }
  return dropsInTable(table, localAddr.port);
}

/** The drops of the sockets bound to `port` in a /proc/net/udp table. */
export function dropsInTable(table: string, port: number): number | undefined {
  const portHex = port.toString(16).toUpperCase().padStart(4, "0");
  let drops: number | undefined;
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    // sl, local_address (ADDR:PORT in hex), ..., drops last.
    if (fields.length < 13 || fields[1].slice(-5) !== `:${portHex}`) continue;
    const value = Number(fields[fields.length - 1]);
    if (Number.isSafeInteger(value)) drops = (drops ?? 0) + value;
  }
  return drops;
}
