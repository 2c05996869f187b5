// Copyright the chitchat for Deno authors. MIT license.
// Datagram sealing cost: AES-256-GCM seal and open on WebCrypto (what the
// UDP sockets use) and on synchronous node:crypto (what the in-memory
// network uses, to stay deterministic on virtual time); and what sealing
// adds to one full gossip exchange with each.

import { decodeMessage, Digest, encodeMessage } from "../mod.ts";
import { Chitchat } from "../lib/core/chitchat.ts";
import { benchChitchat, benchId } from "../tests/_cluster_fixture.ts";
import { Keyring } from "../lib/runtime/_keyring.ts";
import {
  importSealKey,
  openDatagram,
  openDatagramAsync,
  ReplayGuard,
  sealDatagram,
  sealDatagramAsync,
} from "../lib/runtime/_datagram_seal.ts";

const raw = new Uint8Array(32).fill(7);
const payload = new Uint8Array(64 * 1024).fill(1);
const webKey = await importSealKey(raw);
const sealed = sealDatagram(raw, payload, Date.now());
const webSealed = await sealDatagramAsync(webKey, payload, Date.now());

Deno.bench({
  name: "crypto/seal 64KiB: node:crypto (in-memory network)",
  group: "crypto/seal 64KiB",
  baseline: true,
  fn: () => {
    sealDatagram(raw, payload, Date.now());
  },
});
Deno.bench({
  name: "crypto/seal 64KiB: WebCrypto (UDP)",
  group: "crypto/seal 64KiB",
  fn: async () => {
    await sealDatagramAsync(webKey, payload, Date.now());
  },
});
Deno.bench({
  name: "crypto/open 64KiB: node:crypto (in-memory network)",
  group: "crypto/open 64KiB",
  baseline: true,
  fn: () => {
    // A fresh guard each time: the same nonce would be refused as a replay.
    openDatagram([raw], sealed, Date.now(), new ReplayGuard());
  },
});
Deno.bench({
  name: "crypto/open 64KiB: WebCrypto (UDP)",
  group: "crypto/open 64KiB",
  fn: async () => {
    await openDatagramAsync([Promise.resolve(webKey)], webSealed, Date.now(), new ReplayGuard());
  },
});

// One full SYN-ACK at N=1000 K=100: a node answers an empty SYN (builds the
// delta), the SYN-ACK is encoded, carried, decoded and applied by a fresh
// peer; plaintext, then sealed and opened by the keyring on each path.
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
  name: "crypto/round N=1000 K=100: full SYN-ACK sealed (node:crypto, in-memory network)",
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
  name: "crypto/round N=1000 K=100: full SYN-ACK sealed (WebCrypto, UDP)",
  group: "crypto/round N=1000 K=100",
  async fn(b) {
    const receiver = peer();
    b.start();
    const bytes = await keyring.encodeAsync(sender.processMessage(decodeMessage(syn))!);
    const message = await keyring.decodeAsync(bytes, 65_507);
    if (typeof message === "string") throw new Error(message);
    receiver.processMessage(message);
    b.end();
  },
});
