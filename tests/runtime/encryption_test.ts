// Copyright the chitchat for Deno authors. MIT license.
// Encryption end to end: sealed clusters converge on both networks, keyless
// and wrong-key nodes stay out and learn nothing, captured datagrams cannot
// be replayed, full-size deltas still fit a datagram once sealed, and a live
// cluster migrates from plaintext and rotates its key without losing a write
// or declaring a false death.

import { deepStrictEqual, equal, ok as assert, rejects, throws } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { getCiphers } from "node:crypto";
import type { ChitchatHandle } from "../../lib/runtime/chitchat_handle.ts";
import { Chitchat, chitchatInternals } from "../../lib/core/chitchat.ts";
import { Digest } from "../../lib/core/digest.ts";
import { seededRandom } from "../../lib/core/random.ts";
import { encodeMessage } from "../../lib/core/message_codec.ts";
import type { MembershipEvent } from "../../lib/core/membership_event.ts";
import { MAX_DATAGRAM_BYTES } from "../../lib/core/wire/wire_sizes.ts";
import { SEAL_OVERHEAD_BYTES, sealDatagram } from "../../lib/runtime/_datagram_seal.ts";
import { Keyring, MAX_SEALED_MESSAGE_BYTES } from "../../lib/runtime/_keyring.ts";
import { spawnChitchat } from "../../lib/runtime/spawn_chitchat.ts";
import { NodeUdpTransport } from "../../lib/runtime/node_udp_transport.ts";
import type { Socket, Transport } from "../../lib/runtime/transport.ts";
import { ChannelTransport } from "../../lib/testing/channel_transport.ts";
import {
  channelEnv,
  type ClusterEnv,
  converged,
  idText,
  liveSet,
  TestCluster,
  udpEnv,
} from "../_test_cluster.ts";
import { withTimeout } from "../_deadline.ts";

const KEY_A = new Uint8Array(32).fill(0xa1);
const KEY_B = new Uint8Array(16).fill(0xb2);
const ZERO_FAILURES = {
  truncated: 0,
  version: 0,
  authentication: 0,
  expired: 0,
  replayed: 0,
  plaintextRefused: 0,
};
const TIMEOUT_MS = 5_000;

function syn(clusterId = "test-cluster"): Uint8Array {
  return encodeMessage({ type: "syn", clusterId, digest: Digest.empty });
}

const nodeUdpEnv = (): ClusterEnv => {
  const env = udpEnv();
  return { ...env, transport: new NodeUdpTransport({ logger: env.logger }) };
};
for (
  const [label, makeEnv] of [
    ["channel", () => channelEnv()],
    ["udp", () => udpEnv()],
    ["node:dgram", nodeUdpEnv],
  ] as const
) {
  Deno.test(`encrypted nodes converge (${label})`, async () => {
    const env = makeEnv();
    await using cluster = new TestCluster(env, { encryption: { keys: [KEY_A] } });
    const nodes = await cluster.spawnMany(3);
    nodes.forEach((node, i) => node.selfNodeState().set("secret", `value-of-node-${i}`));
    await env.waitUntil(() => converged(nodes), "sealed convergence", TIMEOUT_MS);
    for (const node of nodes) {
      deepStrictEqual(node.metrics().decryptFailures, ZERO_FAILURES);
      deepStrictEqual(node.encryptionStatus(), {
        keys: 1,
        sendPlaintext: false,
        acceptPlaintext: false,
        replayWindowMs: 60_000,
      });
    }
  });
}

Deno.test("a 24-byte key works over UDP, and on the in-memory network where node:crypto has AES-192-GCM", async () => {
  const key24 = new Uint8Array(24).fill(9);
  {
    const env = udpEnv();
    await using cluster = new TestCluster(env, { encryption: { keys: [key24] } });
    const nodes = await cluster.spawnMany(2);
    nodes[0].selfNodeState().set("secret", "aes-192");
    await env.waitUntil(() => converged(nodes), "AES-192 convergence", TIMEOUT_MS);
    equal(nodes[1].chitchat.nodeState(nodes[0].chitchatId)?.get("secret"), "aes-192");
  }
  const env = channelEnv();
  await using cluster = new TestCluster(env, { encryption: { keys: [key24] } });
  if (getCiphers().includes("aes-192-gcm")) {
    const nodes = await cluster.spawnMany(2);
    await env.waitUntil(() => converged(nodes), "AES-192 convergence (channel)", TIMEOUT_MS);
  } else {
    await rejects(cluster.spawnMany(1), /keys\[0\].*needs AES-192-GCM/);
  }
});

for (
  const [label, makeEnv, steps] of [
    ["channel", () => channelEnv(), 40],
    ["udp", () => udpEnv(), 20],
  ] as const
) {
  Deno.test(`a node without the key, or with another key, is never live and learns nothing (${label})`, async () => {
    const env = makeEnv();
    await using cluster = new TestCluster(env, { encryption: { keys: [KEY_A] } });
    const members = await cluster.spawnMany(3);
    const keyless = await cluster.spawn("keyless", { encryption: undefined });
    const stranger = await cluster.spawn("stranger", { encryption: { keys: [KEY_B] } });
    keyless.selfNodeState().set("role", "intruder");
    // 10 s of virtual time, or 2 s of real time at 50 ms rounds.
    for (let step = 0; step < steps; step++) {
      await env.sleep(env.name === "channel" ? 250 : 100);
      for (const member of members) {
        const live = liveSet(member);
        assert(!live.includes(idText(keyless.chitchatId)), "the keyless node is live");
        assert(!live.includes(idText(stranger.chitchatId)), "the wrong-key node is live");
      }
    }
    assert(converged(members));
    for (const outsider of [keyless, stranger]) {
      deepStrictEqual(outsider.chitchat.nodeStates().map((s) => idText(s.chitchatId)), [
        idText(outsider.chitchatId),
      ]);
      for (const member of members) {
        equal(member.chitchat.nodeState(outsider.chitchatId), undefined);
      }
    }
    const failures = members[0].metrics().decryptFailures;
    assert(failures.plaintextRefused > 0, "the keyless node's SYNs were not refused as plaintext");
    assert(failures.authentication > 0, "the wrong-key node's SYNs were not refused");
    // The refusals reach the rate-limited drop log.
    const logged = env.logger.lines.filter((line) =>
      line.message.startsWith("Dropped") &&
      JSON.stringify(line.fields).includes("Refused a")
    );
    assert(logged.length > 0, "no drop was logged");
  });
}

Deno.test("a sealed datagram is accepted once, then refused as replayed from another port, and refused once expired (channel)", async () => {
  const env = channelEnv();
  const network = env.channel!;
  await using cluster = new TestCluster(env, { encryption: { keys: [KEY_A] } });
  const [node] = await cluster.spawnMany(1);
  // Past one window, so a send time a window old is still a valid time.
  await env.sleep(70_000);
  const sealed = sealDatagram(KEY_A, syn(), env.scheduler.now());
  const before = node.metrics().synReceived;
  network.injectDatagram({ hostname: "10.9.9.9", port: 1 }, node.localAddr, sealed);
  await env.sleep(10);
  equal(node.metrics().synReceived, before + 1);
  network.injectDatagram({ hostname: "10.9.9.9", port: 2 }, node.localAddr, sealed);
  await env.sleep(10);
  equal(node.metrics().synReceived, before + 1);
  equal(node.metrics().decryptFailures.replayed, 1);
  const old = sealDatagram(KEY_A, syn(), env.scheduler.now() - 60_001);
  network.injectDatagram({ hostname: "10.9.9.9", port: 3 }, node.localAddr, old);
  const ahead = sealDatagram(KEY_A, syn(), env.scheduler.now() + 60_001);
  network.injectDatagram({ hostname: "10.9.9.9", port: 4 }, node.localAddr, ahead);
  const flipped = sealDatagram(KEY_A, syn(), env.scheduler.now());
  flipped[30] ^= 1;
  network.injectDatagram({ hostname: "10.9.9.9", port: 5 }, node.localAddr, flipped);
  network.injectDatagram({ hostname: "10.9.9.9", port: 6 }, node.localAddr, sealed.slice(0, 20));
  const version = sealed.slice();
  version[0] = 9;
  network.injectDatagram({ hostname: "10.9.9.9", port: 7 }, node.localAddr, version);
  network.injectDatagram({ hostname: "10.9.9.9", port: 8 }, node.localAddr, syn());
  await env.sleep(10);
  equal(node.metrics().synReceived, before + 1);
  deepStrictEqual(node.metrics().decryptFailures, {
    truncated: 1,
    version: 1,
    authentication: 1,
    expired: 2,
    replayed: 1,
    plaintextRefused: 1,
  });
  equal(node.metrics().socket.datagramsDropped, 7);
});

Deno.test("replayWindowMs narrows the window: a datagram 6 s old is refused with 5 s (channel)", async () => {
  const env = channelEnv();
  await using cluster = new TestCluster(env, {
    encryption: { keys: [KEY_A], replayWindowMs: 5_000 },
  });
  const [node] = await cluster.spawnMany(1);
  await env.sleep(10_000);
  equal(node.encryptionStatus().replayWindowMs, 5_000);
  const from = { hostname: "10.9.9.9", port: 1 };
  const now = env.scheduler.now();
  env.channel!.injectDatagram(from, node.localAddr, sealDatagram(KEY_A, syn(), now - 6_000));
  env.channel!.injectDatagram(from, node.localAddr, sealDatagram(KEY_A, syn(), now - 4_000));
  await env.sleep(10);
  equal(node.metrics().decryptFailures.expired, 1);
  equal(node.metrics().synReceived, 1);
});

Deno.test("a captured UDP datagram replayed from another port is dropped, and its values are unreadable (udp)", async () => {
  const env = udpEnv();
  await using cluster = new TestCluster(env, { encryption: { keys: [KEY_A] } });
  const [node] = await cluster.spawnMany(1);
  node.selfNodeState().set("secret", "do-not-leak-this-value");
  const capture = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const other = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    // A sealed SYN from a key holder, captured on its way (here: sent to us).
    const captured = sealDatagram(KEY_A, syn(), Date.now());
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: node.localAddr.port };
    await capture.send(captured, to);
    const [reply] = await withTimeout(capture.receive(), TIMEOUT_MS, "the SYN-ACK");
    // The node answered the first copy with a sealed SYN-ACK holding its values.
    equal(reply[0], 1);
    assert(!Buffer.from(reply).includes("do-not-leak-this-value"));
    const before = node.metrics().synReceived;
    await other.send(captured, to);
    await env.waitUntil(
      () => node.metrics().decryptFailures.replayed === 1,
      "replay refused",
      TIMEOUT_MS,
    );
    equal(node.metrics().synReceived, before);
  } finally {
    capture.close();
    other.close();
  }
});

Deno.test("sealed budgets: full-size messages stay within 65,507 bytes once sealed", async (t) => {
  const id = (port: number) => ({
    nodeId: `n${port}`,
    generationId: 1n,
    gossipAdvertiseAddr: { hostname: "127.0.0.1", port },
  });
  const latin = (length: number) =>
    String.fromCharCode(...crypto.getRandomValues(new Uint8Array(length)).map((x) => 32 + x % 95));
  // The ACK that carries `value` from a fresh node to a peer that knows nothing.
  const ackCarrying = (sealed: boolean, value: string) => {
    const a = new Chitchat({ chitchatId: id(1), clusterId: "c" });
    const b = new Chitchat({ chitchatId: id(2), clusterId: "c" });
    if (sealed) chitchatInternals.setMaxMessageBytes(b, MAX_SEALED_MESSAGE_BYTES);
    b.selfNodeState().set("big", value);
    const ack = b.processMessage(a.processMessage(b.createSynMessage())!)!;
    a.processMessage(ack);
    equal(a.nodeState(id(2))?.get("big"), value);
    return ack;
  };
  const accepts = (sealed: boolean, length: number) => {
    const node = new Chitchat({ chitchatId: id(2), clusterId: "c" });
    if (sealed) chitchatInternals.setMaxMessageBytes(node, MAX_SEALED_MESSAGE_BYTES);
    try {
      node.selfNodeState().set("big", "x".repeat(length));
      return true;
    } catch (error) {
      assert(error instanceof RangeError);
      return false;
    }
  };
  const largest = (sealed: boolean) => {
    let [low, high] = [0, 65_535];
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (accepts(sealed, mid)) low = mid;
      else high = mid - 1;
    }
    return low;
  };
  await t.step("the state machine cuts its messages by the seal's overhead", () => {
    const sealedMax = largest(true);
    const plainMax = largest(false);
    // Own writes that could never fit a sealed datagram are refused up front.
    assert(plainMax > sealedMax, `${plainMax} <= ${sealedMax}`);
    // The largest write a sealed node accepts travels in one sealed datagram.
    const ack = ackCarrying(true, latin(sealedMax));
    const plain = encodeMessage(ack);
    assert(plain.length <= MAX_SEALED_MESSAGE_BYTES, `${plain.length} bytes`);
    const sealed = new Keyring({ keys: [KEY_A] }, () => 0).encode(ack);
    equal(sealed.length, plain.length + SEAL_OVERHEAD_BYTES);
    assert(sealed.length <= MAX_DATAGRAM_BYTES);
  });
  await t.step(
    "a full-size SYN of 3,000 nodes fits once sealed, where the uncut one would not",
    () => {
      const nodeId = (n: number) => ({
        nodeId: "n".repeat(1 + n % 23) + n,
        generationId: 1n,
        gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 1_000 + n },
      });
      const entries = Array.from({ length: 2_999 }, (_, i) => ({
        chitchatId: nodeId(i + 1),
        heartbeat: 5,
        lastGcVersion: 0,
        maxVersion: 0,
      }));
      const synOf = (seed: number, sealed: boolean) => {
        const node = new Chitchat({
          chitchatId: nodeId(0),
          clusterId: "c",
          limits: { maxNewNodesPerMessage: 10_000, maxNewNodesPerSecond: 10_000 },
        }, { random: seededRandom(seed) });
        if (sealed) chitchatInternals.setMaxMessageBytes(node, MAX_SEALED_MESSAGE_BYTES);
        node.processMessage({ type: "syn", clusterId: "c", digest: new Digest(entries) });
        return node.createSynMessage();
      };
      let overflows = 0;
      for (let seed = 1; seed <= 4; seed++) {
        const sealed = new Keyring({ keys: [KEY_A] }, () => 0).encode(synOf(seed, true));
        assert(sealed.length <= MAX_DATAGRAM_BYTES, `${sealed.length} bytes`);
        // Full size: within one digest line of the room.
        assert(sealed.length > MAX_DATAGRAM_BYTES - 100, `only ${sealed.length} bytes`);
        const uncut = encodeMessage(synOf(seed, false)).length;
        if (uncut + SEAL_OVERHEAD_BYTES > MAX_DATAGRAM_BYTES) overflows++;
      }
      assert(overflows > 0, "the uncut SYNs would all have fit sealed: the test proves nothing");
    },
  );
  await t.step("two sealed nodes exchange 300 KB of state over a 65,507-byte MTU", async () => {
    const env = channelEnv();
    await using cluster = new TestCluster(env, { encryption: { keys: [KEY_A] } });
    const nodes = await cluster.spawnMany(2);
    for (let i = 0; i < 2_000; i++) {
      nodes[1].selfNodeState().set(`key-${i}`, crypto.randomUUID().repeat(3));
    }
    await env.waitUntil(() => converged(nodes), "big state", 60_000);
    const failed = env.logger.lines.filter((line) => line.message.startsWith("Failed"));
    deepStrictEqual(failed, []);
  });
});

/** Records every membership event on every node. */
function watchDeaths(nodes: readonly ChitchatHandle[]): MembershipEvent[] {
  const deaths: MembershipEvent[] = [];
  for (const node of nodes) {
    void (async () => {
      for await (const event of node.membershipEvents()) {
        if (event.type === "dead") deaths.push(event);
      }
    })();
  }
  return deaths;
}

/** Writes one new key on every node, then lets a second pass. */
async function writeRound(env: ClusterEnv, nodes: readonly ChitchatHandle[], step: number) {
  for (const node of nodes) node.selfNodeState().set(`write-${step}`, `${step}`);
  await env.sleep(1_000);
}

/** Every node holds every node's writes of steps `0..steps - 1`, and refused nothing. */
function everyWriteEverywhere(nodes: readonly ChitchatHandle[], steps: number): void {
  for (const node of nodes) {
    for (let s = 0; s < steps; s++) {
      for (const owner of nodes) {
        equal(node.chitchat.nodeState(owner.chitchatId)?.get(`write-${s}`), `${s}`);
      }
    }
    deepStrictEqual(node.metrics().decryptFailures, ZERO_FAILURES);
  }
}

Deno.test("a live 5-node cluster migrates from plaintext to encrypted without losing a write or a node (channel)", async () => {
  const env = channelEnv();
  await using cluster = new TestCluster(env);
  const nodes = await cluster.spawnMany(5);
  await env.waitUntil(() => converged(nodes), "plaintext convergence", 30_000);
  const deaths = watchDeaths(nodes);
  let step = 0;
  for (const node of nodes) {
    node.addKey(KEY_A);
    deepStrictEqual(node.encryptionStatus().sendPlaintext, true);
    await writeRound(env, nodes, step++);
  }
  for (const node of nodes) {
    node.setEncryption({ sendPlaintext: false });
    await writeRound(env, nodes, step++);
  }
  for (const node of nodes) {
    node.setEncryption({ acceptPlaintext: false });
    await writeRound(env, nodes, step++);
  }
  await env.waitUntil(() => converged(nodes), "encrypted convergence", 30_000);
  deepStrictEqual(deaths, []);
  everyWriteEverywhere(nodes, step);
  // Sealed for good: plaintext is now refused.
  env.channel!.injectDatagram({ hostname: "10.9.9.9", port: 1 }, nodes[0].localAddr, syn());
  await env.sleep(10);
  equal(nodes[0].metrics().decryptFailures.plaintextRefused, 1);
});

Deno.test("a key rotation (add, use, remove) on a live cluster loses no write and no node (channel)", async () => {
  const env = channelEnv();
  await using cluster = new TestCluster(env, { encryption: { keys: [KEY_A] } });
  const nodes = await cluster.spawnMany(5);
  await env.waitUntil(() => converged(nodes), "sealed convergence", 30_000);
  const deaths = watchDeaths(nodes);
  let step = 0;
  for (const node of nodes) {
    node.addKey(KEY_B);
    await writeRound(env, nodes, step++);
  }
  for (const node of nodes) {
    node.useKey(KEY_B);
    await writeRound(env, nodes, step++);
  }
  for (const node of nodes) {
    throws(() => node.removeKey(KEY_B), /primary/);
    node.removeKey(KEY_A);
    equal(node.encryptionStatus().keys, 1);
    await writeRound(env, nodes, step++);
  }
  await env.waitUntil(() => converged(nodes), "rotated convergence", 30_000);
  deepStrictEqual(deaths, []);
  everyWriteEverywhere(nodes, step);
  // The old key no longer opens anything.
  const old = sealDatagram(KEY_A, syn(), env.scheduler.now());
  env.channel!.injectDatagram({ hostname: "10.9.9.9", port: 1 }, nodes[0].localAddr, old);
  await env.sleep(10);
  equal(nodes[0].metrics().decryptFailures.authentication, 1);
});

Deno.test("encryption settings are checked, and no key material shows in errors, logs or metrics", async () => {
  const transport = new ChannelTransport();
  const chitchatId = {
    nodeId: "n1",
    generationId: 1n,
    gossipAdvertiseAddr: { hostname: "127.0.0.1", port: 7001 },
  };
  const config = { chitchatId, clusterId: "c" };
  const secret = new Uint8Array(31).fill(0x5a);
  const reject = async (encryption: unknown, error: RegExp) => {
    try {
      await spawnChitchat(
        { ...config, encryption: encryption as { keys: Uint8Array[] } },
        { transport },
      );
    } catch (caught) {
      assert(caught instanceof Error && error.test(caught.message), String(caught));
      assert(!caught.message.includes("5a") && !caught.message.includes("Wlpa"));
      return;
    }
    throw new Error("accepted");
  };
  await reject({ keys: [secret] }, /keys\[0\]: Encryption key must be 16, 24 or 32 bytes, got 31/);
  await reject({ keys: [] }, /at least one key/);
  await reject({ keys: [KEY_A], replayWindowMs: 0 }, /replayWindowMs/);
  await reject({ keys: [KEY_A], sendPlaintext: "yes" }, /sendPlaintext: expected a boolean/);
  // A custom transport cannot seal: refused, not silently plaintext.
  const wrapped: Transport = {
    async open(addr) {
      const socket: Socket = await transport.open(addr);
      return {
        localAddr: socket.localAddr,
        get metrics() {
          return socket.metrics;
        },
        send: (to, message) => socket.send(to, message),
        receive: () => socket.receive(),
        close: () => socket.close(),
        [Symbol.asyncDispose]: () => socket.close(),
        [Symbol.asyncIterator]: () => socket[Symbol.asyncIterator](),
      };
    },
  };
  try {
    await spawnChitchat({ ...config, encryption: { keys: [KEY_A] } }, { transport: wrapped });
    throw new Error("accepted");
  } catch (error) {
    assert(error instanceof TypeError && /Cannot encrypt on this transport/.test(error.message));
  }
  await using node = await spawnChitchat(config, { transport });
  throws(() => node.setEncryption({ acceptPlaintext: false }), /add an encryption key first/);
  throws(() => node.useKey(KEY_A), /not in the keyring/);
  node.addKey(KEY_A);
  node.addKey(KEY_A);
  equal(node.encryptionStatus().keys, 1);
  throws(() => node.removeKey(KEY_A), /primary/);
  throws(() => node.addKey(secret), RangeError);
  const shown = JSON.stringify(node.metrics()) + JSON.stringify(node.encryptionStatus());
  for (const form of [Buffer.from(KEY_A).toString("base64"), Buffer.from(KEY_A).toString("hex")]) {
    assert(!shown.includes(form));
  }
});
