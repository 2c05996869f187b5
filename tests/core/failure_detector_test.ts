// Copyright the chitchat for Deno authors. MIT license.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { ManualClock, testId } from "../_protocol.ts";
import { FailureDetector } from "../../lib/core/failure_detector.ts";

const peer = testId(2);

Deno.test("phi is the elapsed time over the smoothed mean interval", () => {
  const clock = new ManualClock();
  const detector = new FailureDetector({ initialIntervalMs: 5_000 }, clock);
  detector.reportHeartbeat(peer);
  equal(detector.phi(peer), undefined, "no interval sampled yet");
  clock.advance(1_000);
  detector.reportHeartbeat(peer);
  clock.advance(2_000);
  detector.reportHeartbeat(peer);
  clock.advance(3_000);
  // mean = (1000 + 2000 + 5 * 5000) / (2 + 5)
  const mean = (1_000 + 2_000 + 5 * 5_000) / 7;
  equal(detector.phi(peer), 3_000 / mean);
});

Deno.test("intervals above maxIntervalMs are not sampled", () => {
  const clock = new ManualClock();
  const detector = new FailureDetector({ initialIntervalMs: 1_000, maxIntervalMs: 2_000 }, clock);
  detector.reportHeartbeat(peer);
  clock.advance(10_000);
  detector.reportHeartbeat(peer);
  equal(detector.phi(peer), undefined);
  clock.advance(1_000);
  detector.reportHeartbeat(peer);
  equal(detector.phi(peer), 0);
});

Deno.test("the window keeps only the last samplingWindowSize intervals", () => {
  const clock = new ManualClock();
  const detector = new FailureDetector({ initialIntervalMs: 1_000, samplingWindowSize: 3 }, clock);
  detector.reportHeartbeat(peer);
  for (const interval of [100, 100, 100, 400, 400, 400]) {
    clock.advance(interval);
    detector.reportHeartbeat(peer);
  }
  clock.advance(400);
  const mean = (3 * 400 + 5 * 1_000) / (3 + 5);
  equal(detector.phi(peer), 400 / mean);
});

Deno.test("a dead node starts afresh when it comes back", () => {
  const clock = new ManualClock();
  const detector = new FailureDetector(
    { initialIntervalMs: 1_000, deadNodeGracePeriodMs: 10_000 },
    clock,
  );
  for (let i = 0; i < 3; i++) {
    detector.reportHeartbeat(peer);
    clock.advance(1_000);
  }
  detector.updateNodeLiveness(peer);
  ok(detector.isLive(peer));
  clock.advance(20_000);
  detector.updateNodeLiveness(peer);
  ok(detector.isDead(peer));
  deepStrictEqual([...detector.liveNodes()], []);
  // One heartbeat is not enough to come back: the window was cleared.
  detector.reportHeartbeat(peer);
  detector.updateNodeLiveness(peer);
  ok(detector.isDead(peer));
  clock.advance(1_000);
  detector.reportHeartbeat(peer);
  detector.updateNodeLiveness(peer);
  ok(detector.isLive(peer));
  deepStrictEqual([...detector.deadNodes()], []);
});

Deno.test("dead nodes are scheduled for deletion at half the grace period and collected at the end", () => {
  const clock = new ManualClock();
  const detector = new FailureDetector({ deadNodeGracePeriodMs: 10_000 }, clock);
  detector.updateNodeLiveness(peer);
  ok(detector.isDead(peer), "never heard of: dead");
  clock.advance(5_000);
  deepStrictEqual(detector.scheduledForDeletionNodes(), []);
  clock.advance(1);
  deepStrictEqual(detector.scheduledForDeletionNodes().map((id) => id.nodeId), ["node-2"]);
  deepStrictEqual(detector.garbageCollect(), []);
  clock.advance(4_999);
  deepStrictEqual(detector.garbageCollect().map((id) => id.nodeId), ["node-2"]);
  ok(!detector.isDead(peer));
  equal(detector.phi(peer), undefined);
});
