// Copyright the chitchat for Deno authors. MIT license.
// Three CLI processes over real UDP on 127.0.0.1 at a 100 ms interval: a
// node stopped with SIGTERM leaves (its peers list it `left`, never
// `dead`); one killed with SIGKILL is found dead by phi. The times are
// printed, not asserted: speed targets belong to benches.

import { equal, match, ok } from "node:assert/strict";
import { main } from "../../lib/cli/cli.ts";
import { statusOf, stopAll, threeNodes, until } from "./_cli_nodes.ts";

Deno.test({
  name:
    "a CLI node stopped with SIGTERM is listed left (not dead) by every peer; SIGKILL is found dead",
  ignore: Deno.build.os === "windows",
  sanitizeOps: true,
  sanitizeResources: true,
}, async (t) => {
  await t.step("SIGTERM: left at once", async () => {
    const nodes = await threeNodes();
    try {
      const [a, b, c] = nodes;
      const since = performance.now();
      c.child.kill("SIGTERM");
      const times = await Promise.all(
        [a, b].map((peer) =>
          until(async () => (await statusOf(peer, "leave-c")) === "left", "c left", since)
        ),
      );
      const status = await c.child.status;
      await c.closed;
      const log = await c.stderr;
      equal(status.code, 0, log);
      match(
        c.lines.at(-2)!,
        // Both peers hold the mark (above); how many confirmed it within the
        // deadline depends on the load of the machine.
        /^chitchat: left the cluster \(peers acknowledging: [0-2]\), shutting down$/,
        log,
      );
      for (const peer of [a, b]) {
        // stdout is read concurrently: the line may trail the HTTP answer a little.
        await until(
          () =>
            Promise.resolve(
              peer.lines.some((line) =>
                /^chitchat: node leave-c\/\d+@127\.0\.0\.1:\d+ left the cluster$/.test(line)
              ),
            ),
          "the peer printed the departure",
          performance.now(),
        );
        const state = await (await fetch(peer.http)).json();
        ok(state.leftNodes.some((id: { nodeId: string }) => id.nodeId === "leave-c"));
        ok(!state.liveNodes.some((id: { nodeId: string }) => id.nodeId === "leave-c"));
        ok(!state.deadNodes.some((id: { nodeId: string }) => id.nodeId === "leave-c"));
        const metrics = await (await fetch(`${peer.http}metrics`)).text();
        match(metrics, /^chitchat_left_nodes 1$/m);
        match(metrics, /^chitchat_dead_nodes 0$/m);
      }
      console.log(
        `SIGTERM: off both peers' live sets, listed left, after ${times.join(" and ")} ms`,
      );
      // `chitchat members` shows the status too.
      const out: string[] = [];
      const host = a.http.replace(/^http:\/\//, "").replace(/\/$/, "");
      equal(await main(["members", "--http", host], { stdout: (line) => out.push(line) }), 0);
      ok(
        out.some((line) => /^leave-c\s+\d+\s+127\.0\.0\.1:\d+\s+left\s/.test(line)),
        out.join("\n"),
      );
      // Well past a phi conviction, still left, never dead.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      for (const peer of [a, b]) equal(await statusOf(peer, "leave-c"), "left");
    } finally {
      await stopAll(nodes);
    }
  });

  await t.step("SIGKILL: dead through phi", async () => {
    const nodes = await threeNodes();
    try {
      const [a, b, c] = nodes;
      const since = performance.now();
      c.child.kill("SIGKILL");
      const times = await Promise.all(
        [a, b].map((peer) =>
          until(async () => (await statusOf(peer, "leave-c")) === "dead", "c dead", since)
        ),
      );
      console.log(`SIGKILL: found dead by both peers after ${times.join(" and ")} ms`);
    } finally {
      await stopAll(nodes);
    }
  });
});
