// Copyright the chitchat for Deno authors. MIT license.

import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { formatSocketAddress, parseSocketAddress } from "../../mod.ts";
import { canonicalSocketAddress, isIpAddress } from "../../lib/core/socket_address.ts";

Deno.test("parseSocketAddress() reads ip:port, [ipv6]:port and host:port", () => {
  deepStrictEqual(parseSocketAddress("127.0.0.1:7280"), { hostname: "127.0.0.1", port: 7280 });
  deepStrictEqual(parseSocketAddress("[::1]:7280"), { hostname: "::1", port: 7280 });
  deepStrictEqual(parseSocketAddress("seeds.internal:0"), { hostname: "seeds.internal", port: 0 });
  deepStrictEqual(parseSocketAddress("10.0.0.7:65535"), { hostname: "10.0.0.7", port: 65_535 });
});

Deno.test("parseSocketAddress() writes IPv6 hosts in their canonical form", () => {
  deepStrictEqual(parseSocketAddress("[0:0:0:0:0:0:0:1]:1"), { hostname: "::1", port: 1 });
  deepStrictEqual(parseSocketAddress("[2001:DB8:0:0:0:0:0:1]:2"), {
    hostname: "2001:db8::1",
    port: 2,
  });
});

Deno.test("parseSocketAddress() refuses malformed text with a TypeError naming it", () => {
  for (
    const bad of [
      "127.0.0.1",
      "127.0.0.1:",
      ":7280",
      "127.0.0.1:65536",
      "127.0.0.1:-1",
      "127.0.0.1:12a",
      "127.0.0.1:123456",
      "::1:7280",
      "[::1]7280",
      "[::1:7280",
      "[10.0.0.1]:7280",
      "[nothost]:1",
      "a:b:c",
    ]
  ) {
    throws(() => parseSocketAddress(bad), (error: unknown) => {
      return error instanceof TypeError && error.message.includes(`"${bad}"`);
    }, bad);
  }
});

Deno.test("formatSocketAddress() brackets IPv6 hosts and round-trips with parse", () => {
  equal(formatSocketAddress({ hostname: "::1", port: 7280 }), "[::1]:7280");
  equal(formatSocketAddress({ hostname: "10.0.0.7", port: 1 }), "10.0.0.7:1");
  for (const text of ["10.0.0.7:1", "[fe80::1]:7280", "node-1.internal:7280"]) {
    equal(formatSocketAddress(parseSocketAddress(text)), text);
  }
});

Deno.test("canonicalSocketAddress() and isIpAddress() tell IPs from host names", () => {
  deepStrictEqual(canonicalSocketAddress({ hostname: "0::1", port: 9 }), {
    hostname: "::1",
    port: 9,
  });
  deepStrictEqual(canonicalSocketAddress({ hostname: "Host", port: 9 }), {
    hostname: "Host",
    port: 9,
  });
  equal(isIpAddress("10.1.2.3"), true);
  equal(isIpAddress("fe80::1"), true);
  equal(isIpAddress("example.com"), false);
  equal(isIpAddress("10.1.2"), false);
});
