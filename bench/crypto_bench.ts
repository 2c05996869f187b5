// Copyright the chitchat for Deno authors. MIT license.
// Datagram sealing cost: the synchronous node:crypto AES-256-GCM seal and
// open the runtime uses, next to WebCrypto, the rejected alternative, so the
// choice stays checked; and what sealing adds to one full gossip exchange.

import { decodeMessage, Digest, encodeMessage } from "../mod.ts";
import { Chitchat } from "../lib/core/chitchat.ts";
import { benchChitchat, benchId } from "../tests/_cluster_fixture.ts";
import { Keyring } from "../lib/runtime/_keyring.ts";
import { openDatagram, ReplayGuard, sealDatagram } from "../lib/runtime/_datagram_seal.ts";

const raw = new Uint8Array(32).fill(7);
const payload = new Uint8Array(64 * 1024).fill(1);
const webKey = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, [
  "encrypt",
  "decrypt",
]);
const sealed = sealDatagram(raw, payload, Date.now());
const webNonce = new Uint8Array(12);
const webSealed = new Uint8Array(
  await crypto.subtle.encrypt({ name: "AES-GCM", iv: webNonce }, webKey, payload),
);

Deno.bench({
  name: "crypto/seal 64KiB: node:crypto (used)",
  group: "crypto/seal 64KiB",
  baseline: true,
  fn: () => {
    sealDatagram(raw, payload, Date.now());
  },
});
Deno.bench({
  name: "crypto/seal 64KiB: WebCrypto",
  group: "crypto/seal 64KiB",
  fn: async () => {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    await crypto.subtle.encrypt({ name: "AES-GCM", iv }, webKey, payload);
  },
});
Deno.bench({
  name: "crypto/open 64KiB: node:crypto (used)",
  group: "crypto/open 64KiB",
  baseline: true,
  fn: () => {
    // A fresh guard each time: the same nonce would be refused as a replay.
    openDatagram([raw], sealed, Date.now(), new ReplayGuard());
  },
});
Deno.bench({
  name: "crypto/open 64KiB: WebCrypto",
  group: "crypto/open 64KiB",
  fn: async () => {
    await crypto.subtle.decrypt({ name: "AES-GCM", iv: webNonce }, webKey, webSealed);
  },
});

// One full SYN-ACK at N=1000 K=100: a node answers an empty SYN (builds the
// delta), the SYN-ACK is encoded, carried, decoded and applied by a fresh
// peer; plaintext, sealed and opened by the keyring (node:crypto), and
// sealed and opened with WebCrypto around the same work.
// Built before any bench runs, so its garbage is not charged to the first one.
const sender = benchChitchat(1_000, 100);
const syn = encodeMessage({ type: "syn", clusterId: "bench", digest: Digest.empty });
const peer = () => new Chitchat({ chitchatId: benchId(5_000), clusterId: "bench" });
const keyring = new Keyring({ keys: [raw] }, () => Date.now());

Deno.bench({
  name: "crypto/round N=1000 K=100: full SYN-ACK plaintext",
  group: "crypto/round N=1000 K=100",
  baseline: true,
  fn(b) {
    const receiver = peer();
    b.start();
    const bytes = encodeMessage(sender.processMessage(decodeMessage(syn))!);
    receiver.processMessage(decodeMessage(bytes));
    b.end();
  },
});
Deno.bench({
  name: "crypto/round N=1000 K=100: full SYN-ACK sealed (node:crypto, used)",
  group: "crypto/round N=1000 K=100",
  fn(b) {
    const receiver = peer();
    b.start();
    const bytes = keyring.encode(sender.processMessage(decodeMessage(syn))!);
    const message = keyring.decode(bytes, 65_507);
    if (typeof message === "string") throw new Error(message);
    receiver.processMessage(message);
    b.end();
  },
});
Deno.bench({
  name: "crypto/round N=1000 K=100: full SYN-ACK sealed (WebCrypto)",
  group: "crypto/round N=1000 K=100",
  async fn(b) {
    const receiver = peer();
    b.start();
    const bytes = encodeMessage(sender.processMessage(decodeMessage(syn))!);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    // encodeMessage returns a fresh ArrayBuffer, never a shared one.
    const plain = bytes as Uint8Array<ArrayBuffer>;
    const box = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, webKey, plain);
    const opened = await crypto.subtle.decrypt({ name: "AES-GCM", iv }, webKey, box);
    receiver.processMessage(decodeMessage(new Uint8Array(opened)));
    b.end();
  },
});
