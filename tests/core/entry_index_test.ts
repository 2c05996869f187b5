// Copyright the chitchat for Deno authors. MIT license.

import { deepStrictEqual, equal } from "node:assert/strict";
import { EntryIndex } from "../../lib/core/_entry_index.ts";
import { KeyValueEntry } from "../../lib/core/_key_value_entry.ts";
import { seededRandom } from "../../lib/core/random.ts";

Deno.test("the entry index behaves as a map by key, small or large", () => {
  const random = seededRandom(9);
  const index = new EntryIndex();
  const model = new Map<string, KeyValueEntry>();
  let version = 0;
  for (let step = 0; step < 20_000; step++) {
    // Few keys at first (array storage), then many (map storage).
    const key = `k${Math.floor(random() * (step < 5_000 ? 12 : 60))}`;
    if (random() < 0.7) {
      const entry = new KeyValueEntry(key, `v${step}`, ++version, "set", 0);
      // add() is for keys known to be new; set() takes either.
      if (!model.has(key) && random() < 0.5) index.add(entry);
      else index.set(entry);
      model.set(key, entry);
    } else {
      equal(index.delete(key), model.delete(key));
    }
    equal(index.size, model.size);
    equal(index.get(key), model.get(key));
    equal(index.has(key), model.has(key));
  }
  deepStrictEqual(index.keys().sort(), [...model.keys()].sort());
  deepStrictEqual(new Set(index.values()), new Set(model.values()));
});
