// Copyright the chitchat for Deno authors. MIT license.

import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { NodeState } from "../../mod.ts";
import { ManualClock, testId } from "../_protocol.ts";
import { nodeStateInternals } from "../../lib/core/node_state.ts";

Deno.test("set() versions every change and ignores a repeated value", () => {
  const state = new NodeState(testId(1));
  state.set("a", "1");
  state.set("a", "1");
  equal(state.maxVersion, 1);
  state.set("a", "2");
  state.set("b", "1");
  equal(state.maxVersion, 3);
  deepStrictEqual(state.getVersioned("a"), state.getVersioned("a"));
  equal(state.getVersioned("a")?.version, 2);
  equal(state.size, 2);
});

Deno.test("setWithTtl() and deleteAfterTtl() keep the value visible", () => {
  const clock = new ManualClock();
  clock.advance(42);
  const state = new NodeState(testId(1), { clock });
  state.setWithTtl("lease", "me");
  state.setWithTtl("lease", "me");
  equal(state.maxVersion, 1, "same value with the same status: no new version");
  equal(state.get("lease"), "me");
  equal(state.getVersioned("lease")?.deletionScheduledAtMs, 42);
  state.set("k", "v");
  ok(state.deleteAfterTtl("k"));
  equal(state.get("k"), "v");
  equal(state.getVersioned("k")?.status, "deleteAfterTtl");
  ok(!state.deleteAfterTtl("missing"));
});

Deno.test("delete() leaves an empty tombstone and hides the key", () => {
  const state = new NodeState(testId(1));
  state.set("k", "v");
  ok(state.delete("k"));
  ok(!state.delete("missing"));
  equal(state.get("k"), undefined);
  ok(!state.has("k"));
  const tombstone = state.getVersioned("k")!;
  deepStrictEqual([tombstone.value, tombstone.version, tombstone.status], ["", 2, "deleted"]);
  equal(state.size, 0);
  deepStrictEqual([...state.keyValues()], []);
  state.set("k", "back");
  equal(state.get("k"), "back");
});

Deno.test("keys iterate in UTF-8 byte order, like the reference's BTreeMap", () => {
  const state = new NodeState(testId(1));
  for (const key of ["😀", "\uFFFD", "z", "Z", "é", "a/b", "a"]) state.set(key, key);
  deepStrictEqual([...state.keyValues()].map(([k]) => k), [
    "Z",
    "a",
    "a/b",
    "z",
    "é",
    "\uFFFD",
    "😀",
  ]);
});

Deno.test("iterPrefix() returns the visible keys with a prefix, in order", () => {
  const state = new NodeState(testId(1));
  for (const key of ["app:b", "app:a", "ap", "app", "apple", "app:c", "b"]) state.set(key, "v");
  state.delete("app:b");
  deepStrictEqual([...state.iterPrefix("app:")].map(([k]) => k), ["app:a", "app:c"]);
  deepStrictEqual([...state.iterPrefix("app")].map(([k]) => k), ["app", "app:a", "app:c", "apple"]);
  deepStrictEqual([...state.iterPrefix("")].length, 6);
  deepStrictEqual([...state.iterPrefix("zzz")], []);
});

Deno.test("garbage collection drops expired deletions and advances lastGcVersion", () => {
  const clock = new ManualClock();
  const state = new NodeState(testId(1), { clock });
  state.set("keep", "1");
  state.set("tomb", "1");
  state.delete("tomb");
  clock.advance(500);
  state.set("ttl", "1");
  state.deleteAfterTtl("ttl");
  nodeStateInternals.collectGarbage(state, 1_000);
  equal(state.lastGcVersion, 0, "nothing expired yet");
  clock.advance(600);
  nodeStateInternals.collectGarbage(state, 1_000);
  equal(state.lastGcVersion, 3);
  deepStrictEqual([...state.keyValuesIncludingDeleted()].map(([k]) => k), ["keep", "ttl"]);
  clock.advance(1_000);
  nodeStateInternals.collectGarbage(state, 1_000);
  equal(state.lastGcVersion, 5);
  deepStrictEqual([...state.keyValuesIncludingDeleted()].map(([k]) => k), ["keep"]);
  equal(state.maxVersion, 5);
});

Deno.test("invalid keys and values are refused with a clear error", () => {
  const state = new NodeState(testId(1));
  throws(() => state.set(1 as unknown as string, "v"), TypeError);
  throws(() => state.set("k", null as unknown as string), TypeError);
  throws(
    () => state.set("k".repeat(70_000), "v"),
    /Cannot set key: length 70000 exceeds 65535 bytes/,
  );
  equal(state.maxVersion, 0, "a refused write changes nothing");
});

Deno.test("an invalid node id is refused", () => {
  throws(
    () =>
      new NodeState({
        nodeId: "n",
        generationId: 1n,
        gossipAdvertiseAddr: { hostname: "example.com", port: 1 },
      }),
    TypeError,
  );
  throws(
    () =>
      new NodeState({
        nodeId: "n",
        generationId: -1n,
        gossipAdvertiseAddr: { hostname: "::1", port: 1 },
      }),
    RangeError,
  );
  throws(
    () =>
      new NodeState({
        nodeId: "n",
        generationId: 1n,
        gossipAdvertiseAddr: { hostname: "::1", port: 70_000 },
      }),
    RangeError,
  );
  throws(
    () =>
      new NodeState({
        nodeId: "n",
        generationId: 1 as unknown as bigint,
        gossipAdvertiseAddr: { hostname: "::1", port: 1 },
      }),
    TypeError,
  );
});

Deno.test("delete() of an absent key or a tombstone is a no-op returning false", () => {
  const state = new NodeState(testId(1));
  equal(state.delete("never"), false);
  equal(state.deleteAfterTtl("never"), false);
  equal(state.maxVersion, 0);
  state.set("k", "v");
  equal(state.delete("k"), true);
  equal(state.maxVersion, 2);
  equal(state.delete("k"), false, "a tombstone is not deleted again");
  equal(state.deleteAfterTtl("k"), false, "nor revived for a TTL");
  equal(state.maxVersion, 2, "and no version is spent");
  equal(state.getVersioned("k")?.status, "deleted");
});

Deno.test("iterPrefix() yields the same [key, value] pairs as keyValues()", () => {
  const state = new NodeState(testId(1));
  state.set("app:a", "1");
  state.set("app:b", "2");
  state.set("other", "3");
  state.delete("app:b");
  deepStrictEqual([...state.iterPrefix("")], [...state.keyValues()]);
  deepStrictEqual([...state.iterPrefix("app:")], [["app:a", "1"]]);
});
