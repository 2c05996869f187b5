// Copyright the chitchat for Deno authors. MIT license.
// Datagram sealing cost for 64 KiB: the WebCrypto seal and open that the
// runtime uses, next to synchronous node:crypto AES-256-GCM, the rejected
// alternative, so the choice stays checked.

import { createCipheriv, createDecipheriv } from "node:crypto";
import { decodeMessage, Digest, encodeMessage } from "../mod.ts";
import { benchChitchat } from "../tests/_cluster_fixture.ts";
import {
  importSealKey,
  openDatagram,
  ReplayGuard,
  sealDatagram,
} from "../lib/runtime/_datagram_seal.ts";

const raw = new Uint8Array(32).fill(7);
const payload = new Uint8Array(64 * 1024).fill(1);
const key = await importSealKey(raw);
const sealed = await sealDatagram(key, payload, Date.now());
const iv = new Uint8Array(12);
const guard = new ReplayGuard();
const cipher = createCipheriv("aes-256-gcm", raw, iv);
const nodeBody = cipher.update(payload);
cipher.final();
const nodeTag = cipher.getAuthTag();

Deno.bench({
  name: "crypto/seal 64KiB: seal (WebCrypto, used)",
  group: "crypto/seal 64KiB",
  baseline: true,
  fn: async () => {
    await sealDatagram(key, payload, Date.now());
  },
});
Deno.bench({
  name: "crypto/seal 64KiB: seal (node:crypto sync)",
  group: "crypto/seal 64KiB",
  fn: () => {
    const c = createCipheriv("aes-256-gcm", raw, crypto.getRandomValues(new Uint8Array(12)));
    c.update(payload);
    c.final();
    c.getAuthTag();
  },
});
Deno.bench({
  name: "crypto/open 64KiB: open (WebCrypto, used)",
  group: "crypto/open 64KiB",
  baseline: true,
  fn: async () => {
    // A fresh guard each time: the same nonce would be refused as a replay.
    await openDatagram([key], sealed, Date.now(), new ReplayGuard());
  },
});
Deno.bench({
  name: "crypto/open 64KiB: open (node:crypto sync)",
  group: "crypto/open 64KiB",
  fn: () => {
    const d = createDecipheriv("aes-256-gcm", raw, iv);
    d.setAuthTag(nodeTag);
    d.update(nodeBody);
    d.final();
  },
});

// The added CPU of one gossip round at N=1000 K=100: a node answers an empty
// SYN with a full SYN-ACK and the peer decodes it, without and with the
// seal and open around the SYN-ACK.
let chitchat: ReturnType<typeof benchChitchat> | undefined;
const syn = encodeMessage({ type: "syn", clusterId: "bench", digest: Digest.empty });
Deno.bench({
  name: "crypto/round N=1000 K=100: SYN-ACK plaintext",
  group: "crypto/round N=1000 K=100",
  baseline: true,
  fn(b) {
    chitchat ??= benchChitchat(1_000, 100);
    b.start();
    decodeMessage(encodeMessage(chitchat.processMessage(decodeMessage(syn))!));
    b.end();
  },
});
Deno.bench({
  name: "crypto/round N=1000 K=100: SYN-ACK sealed and opened",
  group: "crypto/round N=1000 K=100",
  async fn(b) {
    chitchat ??= benchChitchat(1_000, 100);
    b.start();
    const bytes = encodeMessage(chitchat.processMessage(decodeMessage(syn))!);
    const opened = await openDatagram(
      [key],
      await sealDatagram(key, bytes, Date.now()),
      Date.now(),
      guard,
    );
    if (opened.ok) decodeMessage(opened.plaintext);
    b.end();
  },
});
