// Copyright the chitchat for Deno authors. MIT license.
// Internal: in-place Fisher-Yates shuffle of `items[from, to)`.

import type { RandomSource } from "./random.ts";

export function shuffleRange<T>(items: T[], from: number, to: number, random: RandomSource): void {
  for (let i = to - 1; i > from; i--) {
    const j = from + Math.floor(random() * (i - from + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
}
