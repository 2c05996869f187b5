// Copyright the chitchat for Deno authors. MIT license.

import { equal, ok } from "node:assert/strict";

Deno.test("a 5,000 x 100 cluster state with its caches stays under 200 MB", async () => {
  const probe = new URL("../_memory_probe.ts", import.meta.url);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--v8-flags=--expose-gc", "--allow-read", probe.pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(code, 0, new TextDecoder().decode(stderr));
  const report = JSON.parse(new TextDecoder().decode(stdout));
  equal(report.nodes, 5_000);
  const totalMb = (report.heapUsedBytes + report.externalBytes) / 1e6;
  console.log(
    `memory: heap ${(report.heapUsedBytes / 1e6).toFixed(1)} MB, external ${
      (report.externalBytes / 1e6).toFixed(1)
    } MB`,
  );
  ok(totalMb < 200, `${totalMb.toFixed(1)} MB`);
});
