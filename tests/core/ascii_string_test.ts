// Copyright the chitchat for Deno authors. MIT license.

import { equal } from "node:assert/strict";
import { asciiString } from "../../lib/core/wire/_ascii_string.ts";
import { asciiStringSource, MAX_UNROLLED } from "../_tools/ascii_string_source.ts";

// Formatting aside (deno fmt wraps the long calls), the file is the generator's output.
const tokens = (source: string) => source.replace(/\s+|,(?=\s*\))/g, "");

Deno.test("_ascii_string.ts is what its generator writes", async () => {
  const committed = await Deno.readTextFile(
    new URL("../../lib/core/wire/_ascii_string.ts", import.meta.url),
  );
  equal(tokens(committed), tokens(asciiStringSource()));
});

Deno.test("asciiString() reads every length, unrolled and pieced together", () => {
  const bytes = Uint8Array.from({ length: 300 }, (_, i) => 32 + (i * 7) % 95);
  const expected = String.fromCharCode(...bytes);
  for (let n = 0; n <= 4 * MAX_UNROLLED + 3; n++) {
    for (const start of [0, 1, 17]) {
      equal(asciiString(bytes, start, n), expected.slice(start, start + n), `${start}+${n}`);
    }
  }
});
