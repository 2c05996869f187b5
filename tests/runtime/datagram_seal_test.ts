// Copyright the chitchat for Deno authors. MIT license.
// The AES-GCM datagram seal: round trip, wrong keys, tampering, the replay
// window and the bounded nonce cache.

import { deepStrictEqual, equal, rejects, throws } from "node:assert/strict";
import {
  importSealKey,
  openDatagram,
  ReplayGuard,
  SEAL_OVERHEAD_BYTES,
  sealDatagram,
  validateKey,
} from "../../lib/runtime/_datagram_seal.ts";

const key = (fill: number, length = 32) => importSealKey(new Uint8Array(length).fill(fill));
const message = new TextEncoder().encode("syn-ack with deltas");

Deno.test("sealDatagram() round-trips with every AES key size", async () => {
  for (const length of [16, 24, 32]) {
    const sealed = await sealDatagram(await key(1, length), message, 1_000);
    equal(sealed.length, message.length + SEAL_OVERHEAD_BYTES);
    const opened = await openDatagram([await key(1, length)], sealed, 1_000, new ReplayGuard());
    deepStrictEqual(opened, { ok: true, plaintext: message });
  }
});

Deno.test("openDatagram() tries every key and refuses another key", async () => {
  const sealed = await sealDatagram(await key(2), message, 5_000);
  deepStrictEqual(
    await openDatagram([await key(9), await key(2)], sealed, 5_000, new ReplayGuard()),
    {
      ok: true,
      plaintext: message,
    },
  );
  deepStrictEqual(await openDatagram([await key(9)], sealed, 5_000, new ReplayGuard()), {
    ok: false,
    reason: "authentication",
  });
});

Deno.test("openDatagram() refuses tampering with header, nonce, body or tag, and short input", async () => {
  const sealed = await sealDatagram(await key(3), message, 5_000);
  for (const index of [1, 9, 21, sealed.length - 1]) {
    const forged = sealed.slice();
    forged[index] ^= 1;
    deepStrictEqual(await openDatagram([await key(3)], forged, 5_000, new ReplayGuard()), {
      ok: false,
      reason: "authentication",
    });
  }
  const badVersion = sealed.slice();
  badVersion[0] = 2;
  deepStrictEqual(await openDatagram([await key(3)], badVersion, 5_000, new ReplayGuard()), {
    ok: false,
    reason: "version",
  });
  deepStrictEqual(
    await openDatagram([await key(3)], sealed.subarray(0, 36), 5_000, new ReplayGuard()),
    {
      ok: false,
      reason: "truncated",
    },
  );
  // A plaintext chitchat datagram is refused, never decoded.
  equal((await openDatagram([await key(3)], message, 5_000, new ReplayGuard())).ok, false);
});

Deno.test("openDatagram() refuses a replay and a datagram outside the window", async () => {
  const k = await key(4);
  const guard = new ReplayGuard(60_000);
  const sealed = await sealDatagram(k, message, 100_000);
  equal((await openDatagram([k], sealed, 100_500, guard)).ok, true);
  deepStrictEqual(await openDatagram([k], sealed, 101_000, guard), {
    ok: false,
    reason: "replayed",
  });
  deepStrictEqual(await openDatagram([k], sealed, 160_001, new ReplayGuard(60_000)), {
    ok: false,
    reason: "expired",
  });
  deepStrictEqual(await openDatagram([k], sealed, 39_999, new ReplayGuard(60_000)), {
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

Deno.test("validateKey() refuses bad lengths without echoing the key", async () => {
  throws(
    () => validateKey(new Uint8Array(31).fill(7)),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message === "Encryption key must be 16, 24 or 32 bytes, got 31",
  );
  await rejects(async () => await importSealKey(new Uint8Array(20)), RangeError);
  validateKey(new Uint8Array(16));
});
