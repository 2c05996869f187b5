// Copyright the chitchat for Deno authors. MIT license.
// The keyring: its defaults, the plaintext switches, key management, and
// how it classifies what it refuses.

import { deepStrictEqual, equal, ok as assert, throws } from "node:assert/strict";
import { Digest } from "../../lib/core/digest.ts";
import { encodeMessage } from "../../lib/core/message_codec.ts";
import { sealDatagram } from "../../lib/runtime/_datagram_seal.ts";
import { Keyring } from "../../lib/runtime/_keyring.ts";

const KEY = new Uint8Array(32).fill(9);
const OTHER = new Uint8Array(16).fill(8);
const syn = { type: "syn", clusterId: "k", digest: Digest.empty } as const;

Deno.test("Keyring defaults: keys at start seal and refuse plaintext; no key is plaintext both ways", () => {
  deepStrictEqual(new Keyring({ keys: [KEY] }, () => 0).status(), {
    keys: 1,
    sendPlaintext: false,
    acceptPlaintext: false,
    replayWindowMs: 60_000,
  });
  const empty = new Keyring(undefined, () => 0);
  deepStrictEqual(empty.status(), {
    keys: 0,
    sendPlaintext: true,
    acceptPlaintext: true,
    replayWindowMs: 60_000,
  });
  deepStrictEqual(empty.encode(syn), encodeMessage(syn));
  throws(() => empty.setPlaintext({ sendPlaintext: false }), /add an encryption key first/);
  // The first key added at run time keeps the switches: step 1 of a migration.
  empty.addKey(KEY);
  deepStrictEqual(empty.encode(syn), encodeMessage(syn));
  const opened = empty.decode(sealDatagram(KEY, encodeMessage(syn), 0), 65_507);
  assert(typeof opened !== "string" && opened.type === "syn", String(opened));
});

Deno.test("Keyring keeps private copies of its keys and finds them by value", () => {
  const given = new Uint8Array(KEY);
  const keyring = new Keyring({ keys: [given] }, () => 0);
  given.fill(0);
  const sealed = keyring.encode(syn);
  const opened = new Keyring({ keys: [KEY] }, () => 0).decode(sealed, 65_507);
  assert(typeof opened !== "string", String(opened));
  keyring.addKey(new Uint8Array(KEY));
  equal(keyring.status().keys, 1);
  keyring.addKey(OTHER);
  keyring.useKey(new Uint8Array(OTHER));
  const rotated = keyring.encode(syn);
  equal(typeof new Keyring({ keys: [KEY] }, () => 0).decode(rotated, 65_507), "string");
  keyring.removeKey(KEY);
  throws(() => keyring.removeKey(KEY), /not in the keyring/);
  throws(() => keyring.removeKey(OTHER), /primary/);
});

Deno.test("Keyring classifies refusals, and decodes plaintext only while accepting it", () => {
  const keyring = new Keyring({ keys: [KEY] }, () => 1_000);
  const refusal = (bytes: Uint8Array) => {
    const result = keyring.decode(bytes, 65_507);
    equal(typeof result, "string");
    return result;
  };
  refusal(new Uint8Array(0));
  refusal(new Uint8Array([0x53]));
  refusal(encodeMessage(syn));
  refusal(new Uint8Array([2, 0, 0]));
  refusal(sealDatagram(OTHER, encodeMessage(syn), 1_000));
  equal(keyring.decode(new Uint8Array(70_000), 65_507), "Datagram of more than 65507 bytes");
  deepStrictEqual(keyring.failures(), {
    truncated: 2,
    version: 1,
    authentication: 1,
    expired: 0,
    replayed: 0,
    plaintextRefused: 1,
  });
  keyring.setPlaintext({ acceptPlaintext: true });
  const plain = keyring.decode(encodeMessage(syn), 65_507);
  assert(typeof plain !== "string" && plain.type === "syn");
  // A sealed datagram whose plaintext is junk is dropped as undecodable, not as a seal failure.
  const junk = keyring.decode(sealDatagram(KEY, new Uint8Array([1, 2, 3]), 1_000), 65_507);
  assert(typeof junk === "string" && !junk.startsWith("Refused"), String(junk));
  equal(keyring.failures().authentication, 1);
});

Deno.test("Keyring refuses malformed settings, naming the field and never the key", () => {
  throws(() => new Keyring({ keys: [] }, () => 0), /at least one key/);
  throws(() => new Keyring({ keys: "k" as unknown as Uint8Array[] }, () => 0), TypeError);
  throws(
    () => new Keyring({ keys: [KEY, new Uint8Array(7).fill(0x41)] }, () => 0),
    /^RangeError: Invalid encryption.keys\[1\]: Encryption key must be 16, 24 or 32 bytes, got 7$/,
  );
  throws(() => new Keyring({ keys: [KEY], replayWindowMs: -1 }, () => 0), RangeError);
  throws(
    () => new Keyring({ keys: [KEY], acceptPlaintext: 1 as unknown as boolean }, () => 0),
    /acceptPlaintext: expected a boolean/,
  );
});

Deno.test("Keyring's asynchronous paths (WebCrypto, for UDP) match the synchronous ones", async () => {
  const sender = new Keyring({ keys: [KEY] }, () => 5_000);
  const receiver = new Keyring({ keys: [OTHER, KEY] }, () => 5_000);
  const sealed = await sender.encodeAsync(syn);
  equal(sealed.length, sender.encode(syn).length);
  const opened = await receiver.decodeAsync(sealed, 65_507);
  assert(typeof opened !== "string" && opened.type === "syn", String(opened));
  equal(typeof await receiver.decodeAsync(sealed, 65_507), "string");
  equal(typeof receiver.decodeAsync(encodeMessage(syn), 65_507), "string");
  const stranger = new Keyring({ keys: [OTHER] }, () => 5_000);
  equal(typeof await stranger.decodeAsync(sealed, 65_507), "string");
  deepStrictEqual(receiver.failures(), {
    truncated: 0,
    version: 0,
    authentication: 0,
    expired: 0,
    replayed: 1,
    plaintextRefused: 1,
  });
  equal(stranger.failures().authentication, 1);
  // Rotated keys are tried in the new order, on both paths.
  receiver.useKey(KEY);
  receiver.removeKey(OTHER);
  const again = await sender.encodeAsync(syn);
  assert(typeof await receiver.decodeAsync(again, 65_507) !== "string");
});
