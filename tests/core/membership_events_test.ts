// Copyright the chitchat for Deno authors. MIT license.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import type { MembershipEvent } from "../../mod.ts";
import { ManualClock, observedRound, testId, testNode } from "../_protocol.ts";

const FAST = { failureDetector: { initialIntervalMs: 100, deadNodeGracePeriodMs: 10_000 } };

async function drain(events: AsyncIterableIterator<MembershipEvent>, controller: AbortController) {
  controller.abort();
  const seen: string[] = [];
  for await (const event of events) {
    seen.push(`${event.type} ${event.node.nodeId}@${event.node.generationId}`);
  }
  return seen;
}

Deno.test("membershipEvents() reports joined, dead, revived and removed, in order", async () => {
  const clock = new ManualClock();
  const a = testNode(1, clock, FAST);
  const b = testNode(2, clock, FAST);
  const controller = new AbortController();
  const events = a.membershipEvents({ signal: controller.signal });
  for (let i = 0; i < 10; i++) observedRound(clock, a, b);
  clock.advance(3_000); // b is silent
  a.updateNodesLiveness();
  for (let i = 0; i < 10; i++) observedRound(clock, a, b); // b is back
  clock.advance(3_000);
  a.updateNodesLiveness();
  clock.advance(10_000); // past the dead-node grace period
  a.updateNodesLiveness();
  deepStrictEqual(await drain(events, controller), [
    "joined node-2@1",
    "dead node-2@1",
    "revived node-2@1",
    "dead node-2@1",
    "removed node-2@1",
  ]);
});

Deno.test("membershipEvents() reports a newer generation of a node id as restarted", async () => {
  const clock = new ManualClock();
  const a = testNode(1, clock, FAST);
  const old = testNode(2, clock, FAST);
  const controller = new AbortController();
  const events = a.membershipEvents({ signal: controller.signal });
  for (let i = 0; i < 10; i++) observedRound(clock, a, old);
  const restarted = testNode(2, clock, { ...FAST, chitchatId: testId(2, 2n) });
  for (let i = 0; i < 10; i++) observedRound(clock, a, restarted);
  const seen = await drain(events, controller);
  deepStrictEqual(seen.slice(0, 2), ["joined node-2@1", "restarted node-2@2"]);
  ok(seen.includes("joined node-2@2"));
  ok(seen.includes("dead node-2@1"));
});

Deno.test("membershipEvents() ends on abort and on break, and an aborted signal gives an empty stream", async () => {
  const clock = new ManualClock();
  const a = testNode(1, clock, FAST);
  const aborted = a.membershipEvents({ signal: AbortSignal.abort() });
  equal((await aborted.next()).done, true);
  const events = a.membershipEvents();
  const b = testNode(2, clock, FAST);
  for (let i = 0; i < 10; i++) observedRound(clock, a, b);
  for await (const event of events) {
    equal(event.type, "joined");
    break;
  }
  equal((await events.next()).done, true, "break ended it");
});
