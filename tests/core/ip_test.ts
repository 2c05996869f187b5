// Copyright the chitchat for Deno authors. MIT license.

import { deepStrictEqual, equal } from "node:assert/strict";
import { isIP } from "node:net";
import { formatIp, parseIp, parseIpv4, parseIpv6 } from "../../lib/core/_ip.ts";

Deno.test("parseIpv4() reads dotted quads and nothing else", () => {
  deepStrictEqual(parseIpv4("127.0.0.1"), new Uint8Array([127, 0, 0, 1]));
  deepStrictEqual(parseIpv4("255.255.255.255"), new Uint8Array([255, 255, 255, 255]));
  deepStrictEqual(parseIpv4("0.0.0.0"), new Uint8Array(4));
  for (
    const bad of [
      "256.0.0.1",
      "1.2.3",
      "1.2.3.4.5",
      "01.2.3.4",
      "1.2.3.-4",
      " 1.2.3.4",
      "1..3.4",
      "a.b.c.d",
      "",
    ]
  ) {
    equal(parseIpv4(bad), undefined, bad);
  }
});

Deno.test("parseIpv6() reads full, compressed and IPv4-suffixed forms", () => {
  const loopback = new Uint8Array(16);
  loopback[15] = 1;
  deepStrictEqual(parseIpv6("::1"), loopback);
  deepStrictEqual(parseIpv6("0:0:0:0:0:0:0:1"), loopback);
  deepStrictEqual(parseIpv6("::"), new Uint8Array(16));
  const mapped = parseIpv6("::ffff:10.0.0.7")!;
  deepStrictEqual([...mapped.subarray(10)], [0xff, 0xff, 10, 0, 0, 7]);
  for (
    const bad of [
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
      "g::1",
      "1:2:3:4:5:6:7",
      "::1.2.3",
      "",
    ]
  ) {
    equal(parseIpv6(bad), undefined, bad);
  }
});

Deno.test("parseIp() accepts exactly what node:net calls an IP address", () => {
  const samples = [
    "127.0.0.1",
    "10.0.0.7",
    "999.1.1.1",
    "1.2.3",
    "::1",
    "fe80::1",
    "2001:db8::8a2e:370:7334",
    "::ffff:192.0.2.1",
    "1:2:3:4:5:6:7:8",
    "1::",
    "::1::",
    "localhost",
    "example.com",
    "[::1]",
    "",
  ];
  for (const text of samples) {
    const ours = parseIp(text);
    const family = isIP(text);
    equal(ours === undefined ? 0 : ours.length === 4 ? 4 : 6, family, text);
  }
});

Deno.test("formatIp() writes the canonical form (RFC 5952 for IPv6), as URL does", () => {
  const samples = [
    "::1",
    "0:0:0:0:0:0:0:1",
    "2001:0db8:0000:0000:0000:ff00:0042:8329",
    "2001:db8:0:0:1:0:0:1",
    "2001:DB8::1",
    "fe80:0:0:0:0:0:0:1",
    "1:0:0:2:0:0:0:3",
    "1:2:3:4:5:6:7:8",
    "::",
    "1::",
  ];
  for (const text of samples) {
    const expected = new URL(`http://[${text}]/`).hostname.slice(1, -1);
    equal(formatIp(parseIp(text)!), expected, text);
  }
  equal(formatIp(parseIp("10.0.0.7")!), "10.0.0.7");
});
