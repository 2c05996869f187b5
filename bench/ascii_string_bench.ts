// Copyright the chitchat for Deno authors. MIT license.
// Why lib/core/wire/_ascii_string.ts is a generated table: building the
// short ASCII strings of a delta (keys, values, node ids) with one
// fixed-arity String.fromCharCode call against the simpler ways.

import { asciiString } from "../lib/core/wire/_ascii_string.ts";

const bytes = Uint8Array.from({ length: 1 << 16 }, (_, i) => 97 + (i % 26));
// Key and value lengths typical of a delta (Quickwit-like keys, short values).
const LENGTHS = [4, 8, 12, 16, 20, 24, 40];
const CALLS = 10_000;
const decoder = new TextDecoder();

const ways: Record<string, (b: Uint8Array, s: number, n: number) => string> = {
  "unrolled table": asciiString,
  "char loop": (b, s, n) => {
    let out = "";
    for (let i = 0; i < n; i++) out += String.fromCharCode(b[s + i]);
    return out;
  },
  "fromCharCode.apply": (b, s, n) =>
    String.fromCharCode.apply(null, b.subarray(s, s + n) as unknown as number[]),
  "TextDecoder": (b, s, n) => decoder.decode(b.subarray(s, s + n)),
};

for (const [name, build] of Object.entries(ways)) {
  Deno.bench({
    name: `ascii/${name} ${CALLS} strings`,
    group: "ascii-string",
    baseline: name === "unrolled table",
    fn() {
      let length = 0;
      let at = 0;
      for (let i = 0; i < CALLS; i++) {
        const n = LENGTHS[i % LENGTHS.length];
        length += build(bytes, at, n).length;
        at = (at + n) % (bytes.length - 64);
      }
      if (length === 0) throw new Error("nothing built");
    },
  });
}
