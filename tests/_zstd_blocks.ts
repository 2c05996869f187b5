// Copyright the chitchat for Deno authors. MIT license.
// Test and bench fixture: hand-made ACK datagrams whose delta is the given
// zstd blocks, to probe the block-stream reader with hostile frames.

/** An ACK whose delta is `frames` as compressed blocks, then the end tag. */
export function ackWithZstdBlocks(frames: readonly Uint8Array[]): Uint8Array {
  let length = 4 + 1;
  for (const frame of frames) length += 3 + frame.length;
  const out = new Uint8Array(length);
  out.set([0x53, 0xb0, 0, 2]);
  let at = 4;
  for (const frame of frames) {
    out.set([1, frame.length & 0xff, frame.length >>> 8], at);
    out.set(frame, at + 3);
    at += 3 + frame.length;
  }
  out[at] = 0;
  return out;
}
