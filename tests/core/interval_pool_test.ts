// Copyright the chitchat for Deno authors. MIT license.

import { equal } from "node:assert/strict";
import { IntervalPool, type IntervalQueue } from "../../lib/core/_interval_pool.ts";

/** A queue as the pool expects it: no chunk yet (the failure detector keeps these fields on its records). */
function emptyIntervalQueue(): IntervalQueue {
  return { head: -1, headPos: 0, tail: -1, tailPos: 0, count: 0 };
}
import { seededRandom } from "../../lib/core/random.ts";

Deno.test("interval queues behave as independent FIFOs sharing one pool", () => {
  const pool = new IntervalPool();
  const random = seededRandom(3);
  const queues = Array.from({ length: 50 }, () => emptyIntervalQueue());
  const models: number[][] = queues.map(() => []);
  for (let step = 0; step < 200_000; step++) {
    const i = Math.floor(random() * queues.length);
    const op = random();
    if (op < 0.6) {
      const value = Math.fround(random() * 1_000);
      pool.push(queues[i], value);
      models[i].push(value);
    } else if (op < 0.98) {
      if (models[i].length > 0) equal(pool.shift(queues[i]), models[i].shift());
    } else {
      pool.clear(queues[i]);
      models[i] = [];
    }
    equal(queues[i].count, models[i].length);
  }
});
