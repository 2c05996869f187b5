// Copyright the chitchat for Deno authors. MIT license.
/**
 * Socket addresses (`{ hostname, port }`) and their `host:port` text form.
 *
 * @module
 */

import { formatIp, parseIp } from "./_ip.ts";

/**
 * An address a node listens on or gossips to. On the wire (in a
 * {@linkcode ChitchatId}) the hostname must be an IP literal.
 *
 * @example
 * ```ts
 * import { parseSocketAddress, type SocketAddress } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * const addr: SocketAddress = parseSocketAddress("[0:0::1]:10000");
 * assert.deepStrictEqual(addr, { hostname: "::1", port: 10000 }); // IPv6 in canonical form
 * ```
 */
export interface SocketAddress {
  /** An IPv4 or IPv6 literal (IPv6 without brackets), or a host name where allowed. */
  readonly hostname: string;
  /** A port in `[0, 65535]`. */
  readonly port: number;
}

/**
 * Parses `host:port`, `[ipv6]:port` or `ipv4:port`.
 *
 * @param text The address text.
 * @returns The parsed address; IP literals are put in canonical form, host names kept as given.
 * @throws {TypeError} if the text is not `host:port` with a port in `[0, 65535]`.
 *
 * @example
 * ```ts
 * import { parseSocketAddress } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * assert.deepStrictEqual(parseSocketAddress("[::1]:7280"), { hostname: "::1", port: 7280 });
 * assert.deepStrictEqual(parseSocketAddress("seed.local:7280"), { hostname: "seed.local", port: 7280 });
 * ```
 */
export function parseSocketAddress(text: string): SocketAddress {
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1 || text[close + 1] !== ":") {
      throw new TypeError(`Invalid socket address "${text}": expected [ipv6]:port`);
    }
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (parseIp(host)?.length !== 16) {
      throw new TypeError(`Invalid socket address "${text}": "${host}" is not an IPv6 address`);
    }
  } else {
    const colon = text.lastIndexOf(":");
    if (colon <= 0 || text.indexOf(":") !== colon) {
      throw new TypeError(`Invalid socket address "${text}": expected host:port`);
    }
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new TypeError(`Invalid socket address "${text}": port must be an integer in [0, 65535]`);
  }
  const ip = parseIp(host);
  return { hostname: ip === undefined ? host : formatIp(ip), port: Number(portText) };
}

/**
 * Formats an address as `host:port`, bracketing IPv6 literals.
 *
 * @param addr The address.
 * @returns Its text form, as Rust's `SocketAddr` prints it.
 *
 * @example
 * ```ts
 * import { formatSocketAddress } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * assert(formatSocketAddress({ hostname: "::1", port: 7280 }) === "[::1]:7280");
 * assert(formatSocketAddress({ hostname: "10.0.0.1", port: 1 }) === "10.0.0.1:1");
 * ```
 */
export function formatSocketAddress(addr: SocketAddress): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/**
 * Whether `hostname` is an IPv4 or IPv6 literal.
 *
 * @param hostname The text to test.
 * @returns `true` for an IP literal.
 */
export function isIpAddress(hostname: string): boolean {
  return parseIp(hostname) !== undefined;
}

/**
 * Puts an IP literal in canonical form (`"0:0::1"` becomes `"::1"`), so that
 * equal addresses compare equal as text. Host names are returned unchanged.
 *
 * @param addr The address.
 * @returns The same address with a canonical hostname.
 */
export function canonicalSocketAddress(addr: SocketAddress): SocketAddress {
  const ip = parseIp(addr.hostname);
  if (ip === undefined) return { hostname: addr.hostname, port: addr.port };
  return { hostname: formatIp(ip), port: addr.port };
}
