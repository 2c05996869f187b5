// Copyright the chitchat for Deno authors. MIT license.
// Digest and delta computation on large clusters, one group per scenario:
// `<scenario> N=<n> K=<k>`. Compare with the Rust reference's figures in
// README.md. Setup (building clusters, encoding inputs) stays outside
// b.start()/b.end().

import { Chitchat, decodeMessage, Digest, encodeMessage } from "../mod.ts";
import {
  benchChitchat,
  benchCluster,
  benchId,
  halfDigest,
  KEY_COUNTS,
  MTU,
  NODE_COUNTS,
} from "../tests/_cluster_fixture.ts";

const only = Deno.env.get("CHITCHAT_BENCH_N");

for (const nodes of NODE_COUNTS) {
  if (only !== undefined && String(nodes) !== only) continue;
  for (const keys of KEY_COUNTS) {
    const shape = `N=${nodes} K=${keys}`;

    Deno.bench({
      name: `digest ${shape}: computeDigest`,
      group: `digest ${shape}`,
      baseline: true,
      fn(b) {
        const state = benchCluster(nodes, keys);
        b.start();
        state.computeDigest();
        b.end();
      },
    });

    let synDigest: Digest | undefined;
    Deno.bench({
      name: `syn/encode ${shape}: encodeMessage(syn)`,
      group: `syn/encode ${shape}`,
      baseline: true,
      fn(b) {
        synDigest ??= benchCluster(nodes, keys).computeDigest();
        b.start();
        encodeMessage({ type: "syn", clusterId: "bench", digest: synDigest });
        b.end();
      },
    });

    for (
      const [peer, digestOf] of [
        ["empty", () => Digest.empty],
        ["half", () => halfDigest(nodes, keys)],
        ["uptodate", () => benchCluster(nodes, keys).computeDigest()],
      ] as const
    ) {
      let digest: Digest | undefined;
      Deno.bench({
        name: `delta/${peer} ${shape}: computeDelta(${peer})`,
        group: `delta/${peer} ${shape}`,
        baseline: true,
        fn(b) {
          const state = benchCluster(nodes, keys);
          digest ??= digestOf();
          b.start();
          state.computeDelta(digest, MTU);
          b.end();
        },
      });
    }

    for (
      const [peer, digestOf] of [
        ["empty", () => Digest.empty],
        ["half", () => halfDigest(nodes, keys)],
      ] as const
    ) {
      // The SYN-ACK as a node sends it: its full digest and the delta for
      // the peer (the whole datagram budget, as the reference's bench).
      let bytes: Uint8Array | undefined;
      Deno.bench({
        name: `synack/decode/${peer} ${shape}: decodeMessage(synAck ${peer})`,
        group: `synack/decode/${peer} ${shape}`,
        baseline: true,
        fn(b) {
          if (bytes === undefined) {
            const state = benchCluster(nodes, keys);
            bytes = encodeMessage({
              type: "synAck",
              digest: state.computeDigest(),
              delta: state.computeDelta(digestOf(), MTU),
            });
          }
          b.start();
          decodeMessage(bytes);
          b.end();
        },
      });
    }

    let chitchat: ReturnType<typeof benchChitchat> | undefined;
    let syn: Uint8Array | undefined;
    Deno.bench({
      name: `handle-syn/empty ${shape}: decode SYN, process, encode SYN-ACK`,
      group: `handle-syn/empty ${shape}`,
      baseline: true,
      fn(b) {
        chitchat ??= benchChitchat(nodes, keys);
        syn ??= encodeMessage({ type: "syn", clusterId: "bench", digest: Digest.empty });
        b.start();
        const reply = chitchat.processMessage(decodeMessage(syn));
        encodeMessage(reply!);
        b.end();
      },
    });

    // The whole receiving path of a SYN-ACK: decode it, apply its delta to
    // a node that knows nothing yet (a fresh one per iteration, built
    // outside the timing), build the ACK. The SYN-ACK is the one of
    // `synack/decode/empty` (a full digest and a delta given the whole
    // datagram budget, as the reference's bench), so the two compare.
    let synAck: Uint8Array | undefined;
    Deno.bench({
      name: `handle-synack/empty ${shape}: decode SYN-ACK, apply, build ACK`,
      group: `handle-synack/empty ${shape}`,
      baseline: true,
      fn(b) {
        if (synAck === undefined) {
          const state = benchCluster(nodes, keys);
          synAck = encodeMessage({
            type: "synAck",
            digest: state.computeDigest(),
            delta: state.computeDelta(Digest.empty, MTU),
          });
        }
        const receiver = new Chitchat({ chitchatId: benchId(nodes), clusterId: "bench" });
        b.start();
        const reply = receiver.processMessage(decodeMessage(synAck));
        encodeMessage(reply!);
        b.end();
      },
    });
  }
}
