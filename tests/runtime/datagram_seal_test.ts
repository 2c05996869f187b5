// Copyright the chitchat for Deno authors. MIT license.
// The AES-GCM datagram seal: round trip, wrong keys, tampering, the replay
// window and the bounded nonce cache.

import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { getCiphers } from "node:crypto";
import {
  importSealKey,
  openDatagram,
  openDatagramAsync,
  ReplayGuard,
  SEAL_OVERHEAD_BYTES,
  sealDatagram,
  sealDatagramAsync,
  validateKey,
  validateSyncKey,
} from "../../lib/runtime/_datagram_seal.ts";

const key = (fill: number, length = 32) => new Uint8Array(length).fill(fill);
const message = new TextEncoder().encode("syn-ack with deltas");

Deno.test("sealDatagram() round-trips with 16- and 32-byte keys", () => {
  for (const length of [16, 32]) {
    const sealed = sealDatagram(key(1, length), message, 1_000);
    equal(sealed.length, message.length + SEAL_OVERHEAD_BYTES);
    const opened = openDatagram([key(1, length)], sealed, 1_000, new ReplayGuard());
    deepStrictEqual(opened, { ok: true, plaintext: message });
  }
});

Deno.test("openDatagram() tries every key and refuses another key", () => {
  const sealed = sealDatagram(key(2), message, 5_000);
  deepStrictEqual(
    openDatagram([key(9), key(2)], sealed, 5_000, new ReplayGuard()),
    {
      ok: true,
      plaintext: message,
    },
  );
  deepStrictEqual(openDatagram([key(9)], sealed, 5_000, new ReplayGuard()), {
    ok: false,
    reason: "authentication",
  });
});

Deno.test("openDatagram() refuses tampering with header, nonce, body or tag, and short input", () => {
  const sealed = sealDatagram(key(3), message, 5_000);
  for (const index of [1, 9, 21, sealed.length - 1]) {
    const forged = sealed.slice();
    forged[index] ^= 1;
    deepStrictEqual(openDatagram([key(3)], forged, 5_000, new ReplayGuard()), {
      ok: false,
      reason: "authentication",
    });
  }
  const badVersion = sealed.slice();
  badVersion[0] = 2;
  deepStrictEqual(openDatagram([key(3)], badVersion, 5_000, new ReplayGuard()), {
    ok: false,
    reason: "version",
  });
  deepStrictEqual(
    openDatagram([key(3)], sealed.subarray(0, 36), 5_000, new ReplayGuard()),
    {
      ok: false,
      reason: "truncated",
    },
  );
  // A plaintext chitchat datagram is refused, never decoded.
  equal((openDatagram([key(3)], message, 5_000, new ReplayGuard())).ok, false);
});

Deno.test("openDatagram() refuses a replay and a datagram outside the window", () => {
  const k = key(4);
  const guard = new ReplayGuard(60_000);
  const sealed = sealDatagram(k, message, 100_000);
  equal((openDatagram([k], sealed, 100_500, guard)).ok, true);
  deepStrictEqual(openDatagram([k], sealed, 101_000, guard), {
    ok: false,
    reason: "replayed",
  });
  deepStrictEqual(openDatagram([k], sealed, 160_001, new ReplayGuard(60_000)), {
    ok: false,
    reason: "expired",
  });
  deepStrictEqual(openDatagram([k], sealed, 39_999, new ReplayGuard(60_000)), {
    ok: false,
    reason: "expired",
  });
});

Deno.test("ReplayGuard keeps its nonce cache bounded and forgets what left the window", () => {
  const guard = new ReplayGuard(60_000, 8);
  for (let i = 0; i < 100; i++) {
    equal(guard.admit(1_000, new Uint8Array(12).fill(i), 1_000), undefined);
  }
  equal(guard.size, 8);
  equal(guard.admit(1_000, new Uint8Array(12).fill(99), 1_000), "replayed");
  equal(guard.admit(70_000, new Uint8Array(12).fill(200), 70_000), undefined);
  equal(guard.size, 1);
});

Deno.test("validateKey() refuses bad lengths without echoing the key", () => {
  throws(
    () => validateKey(new Uint8Array(31).fill(7)),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message === "Encryption key must be 16, 24 or 32 bytes, got 31",
  );
  throws(() => validateKey(new Uint8Array(20)), RangeError);
  throws(() => validateKey([1, 2] as unknown as Uint8Array), TypeError);
  validateKey(new Uint8Array(16));
});

Deno.test("24-byte keys seal with WebCrypto everywhere, with node:crypto where it has AES-192-GCM", async () => {
  const key24 = key(5, 24);
  validateKey(key24);
  const webKey = importSealKey(key24);
  const sealed = await sealDatagramAsync(await webKey, message, 1_000);
  deepStrictEqual(await openDatagramAsync([webKey], sealed, 1_000, new ReplayGuard()), {
    ok: true,
    plaintext: message,
  });
  if (getCiphers().includes("aes-192-gcm")) {
    validateSyncKey(key24);
    // Both implementations open each other's datagrams.
    deepStrictEqual(openDatagram([key24], sealed, 1_000, new ReplayGuard()), {
      ok: true,
      plaintext: message,
    });
  } else {
    // Deno's node:crypto: the in-memory network cannot use the key.
    throws(() => validateSyncKey(key24), /needs AES-192-GCM/);
  }
});

Deno.test("WebCrypto and node:crypto seals are the same bytes and open each other", async () => {
  const raw = key(6);
  const web = await importSealKey(raw);
  const nonce = new Uint8Array(12).fill(5);
  const sync = sealDatagram(raw, message, 7_000, nonce);
  deepStrictEqual(await sealDatagramAsync(web, message, 7_000, nonce), sync);
  deepStrictEqual(await openDatagramAsync([Promise.resolve(web)], sync, 7_000, new ReplayGuard()), {
    ok: true,
    plaintext: message,
  });
  const sealed = await sealDatagramAsync(web, message, 7_000);
  deepStrictEqual(openDatagram([raw], sealed, 7_000, new ReplayGuard()), {
    ok: true,
    plaintext: message,
  });
  // The same refusals, for the same reasons.
  const guard = new ReplayGuard();
  const other = importSealKey(key(7));
  const cases: [Uint8Array, number, string][] = [
    [sealed.subarray(0, 36), 7_000, "truncated"],
    [Uint8Array.of(2, ...sealed.subarray(1)), 7_000, "version"],
    [sealed, 7_000, "ok"],
    [sealed, 7_000, "replayed"],
    [sealDatagram(raw, message, 0), 70_000, "expired"],
  ];
  for (const [bytes, now, expected] of cases) {
    const result = await openDatagramAsync([other, Promise.resolve(web)], bytes, now, guard);
    equal(result.ok ? "ok" : result.reason, expected);
  }
  equal(
    (await openDatagramAsync([other], sealed, 7_000, new ReplayGuard())).ok,
    false,
  );
});
