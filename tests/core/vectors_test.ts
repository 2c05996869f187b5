// Copyright the chitchat for Deno authors. MIT license.
// Every vector produced by the reference implementation (the checks are in
// tests/_vector_runners.ts, shared with the compatibility suite).

import { equal } from "node:assert/strict";
import { deltaInternals } from "../../lib/core/delta.ts";
import { Delta } from "../../mod.ts";
import { loadVectors, toHex } from "../_vectors.ts";
import { runVector } from "../_vector_runners.ts";

const vectors = loadVectors();

Deno.test("the reference vectors are all there", () => {
  equal(vectors.length, 92);
});

for (const vector of vectors) {
  Deno.test(`vector ${vector.name} matches the reference`, () => runVector(vector));
}

Deno.test("an empty delta is the single end byte", () => {
  equal(toHex(deltaInternals.encode(Delta.empty)), "00");
});
