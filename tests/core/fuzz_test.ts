// Copyright the chitchat for Deno authors. MIT license.
// A seeded fuzz of the decoder and the state machine: random bytes,
// truncations and byte flips of every reference vector and of messages our
// own nodes produce. decodeMessage may only throw DecodeError; whatever
// decodes is processed without throwing and without lowering any node's
// (lastGcVersion, maxVersion).

import { equal, ok } from "node:assert/strict";
import {
  Chitchat,
  type ChitchatMessage,
  DecodeError,
  decodeMessage,
  encodeMessage,
  formatChitchatId,
} from "../../mod.ts";
import { handshake, ManualClock, testId } from "../_protocol.ts";
import { fromHex, loadVectors } from "../_vectors.ts";
import { seededRandom } from "../../lib/core/random.ts";

const random = seededRandom(0xc417c4a7);
const int = (n: number): number => Math.floor(random() * n);

function* corpus(): Generator<Uint8Array> {
  const seeds: Uint8Array[] = loadVectors()
    .filter((v) => v.kind === "message" || v.kind === "decode")
    .map((v) => fromHex(v.hex));
  // Messages of a small live cluster: digests, compressed deltas, resets.
  const clock = new ManualClock();
  const nodes = [1, 2, 3].map((port) =>
    new Chitchat(
      { chitchatId: testId(10_000 + port), clusterId: "fuzz", markedForDeletionGracePeriodMs: 500 },
      { clock, random: seededRandom(port) },
    )
  );
  for (let i = 0; i < 400; i++) {
    nodes[0].selfNodeState().set(`key-${i}`, `value-${i}`.repeat(1 + (i % 7)));
  }
  nodes[1].selfNodeState().set("キー", "値");
  nodes[1].selfNodeState().setWithTtl("lease", "x");
  nodes[2].selfNodeState().set("gone", "soon");
  nodes[2].selfNodeState().delete("gone");
  for (const [a, b] of [[0, 1], [1, 2], [2, 0], [0, 1]]) {
    const syn = nodes[a].createSynMessage();
    const synAck = nodes[b].processMessage(syn)!;
    const ack = nodes[a].processMessage(synAck)!;
    seeds.push(encodeMessage(syn), encodeMessage(synAck), encodeMessage(ack));
    nodes[b].processMessage(ack);
  }
  for (const seed of seeds) {
    // Every truncation of short inputs, a sample of cuts of long ones.
    const cuts = seed.length <= 256 ? seed.length : 256;
    for (let i = 0; i < cuts; i++) {
      yield seed.subarray(0, seed.length <= 256 ? i : int(seed.length));
    }
    for (let i = 0; i < 800; i++) {
      const mutated = seed.slice();
      const flips = 1 + int(4);
      for (let f = 0; f < flips; f++) {
        const at = int(mutated.length);
        mutated[at] = random() < 0.5 ? mutated[at] ^ (1 << int(8)) : int(256);
      }
      yield mutated;
    }
  }
  for (let i = 0; i < 70_000; i++) {
    const body = new Uint8Array(int(i % 10 === 0 ? 2_000 : 64));
    for (let j = 0; j < body.length; j++) body[j] = int(256);
    if (random() < 0.8 && body.length >= 4) body.set([0x53, 0xb0, 0, int(5)]);
    yield body;
  }
}

function versions(node: Chitchat): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const state of node.nodeStates()) {
    out.set(formatChitchatId(state.chitchatId), [state.lastGcVersion, state.maxVersion]);
  }
  return out;
}

Deno.test("fuzz: decodeMessage throws only DecodeError; processMessage never throws nor regresses", () => {
  const clock = new ManualClock();
  const freshVictim = (): Chitchat => {
    const node = new Chitchat(
      { chitchatId: testId(1), clusterId: "fuzz", markedForDeletionGracePeriodMs: 2_000 },
      { clock, random: seededRandom(7) },
    );
    const peer = new Chitchat({ chitchatId: testId(2), clusterId: "fuzz" }, {
      clock,
      random: seededRandom(8),
    });
    handshake(peer, node);
    return node;
  };
  let victim = freshVictim();
  let inputs = 0;
  let decoded = 0;
  let rejected = 0;
  for (const bytes of corpus()) {
    inputs++;
    let message: ChitchatMessage;
    try {
      message = decodeMessage(bytes);
    } catch (error) {
      ok(error instanceof DecodeError, `non-DecodeError for input #${inputs}: ${error}`);
      rejected++;
      continue;
    }
    decoded++;
    const before = versions(victim);
    const variants: ChitchatMessage[] = [message];
    // Let SYNs of any cluster reach the state machine too.
    if (message.type === "syn") variants.push({ ...message, clusterId: "fuzz" });
    for (const variant of variants) victim.processMessage(variant);
    for (const [id, [gc, max]] of versions(victim)) {
      const old = before.get(id);
      if (old === undefined) continue;
      ok(gc > old[0] || (gc === old[0] && max >= old[1]), `${id} went from ${old} to ${[gc, max]}`);
    }
    // Corrupted ids make up new nodes: start over before the state gets big.
    if (victim.nodeStates().length > 200) victim = freshVictim();
    if (inputs % 97 === 0) {
      clock.advance(int(3_000));
      victim.gcKeysMarkedForDeletion();
      victim.updateNodesLiveness();
    }
  }
  ok(inputs >= 100_000, `only ${inputs} inputs`);
  equal(decoded + rejected, inputs);
  ok(
    decoded > 1_000,
    `only ${decoded} inputs decoded: the corpus is not exercising processMessage`,
  );
  console.log(`fuzz: ${inputs} inputs, ${decoded} decoded, ${rejected} rejected`);
});
