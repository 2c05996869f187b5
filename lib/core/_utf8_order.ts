// Copyright the chitchat for Deno authors. MIT license.
// Internal: string comparison in UTF-8 byte order (= code point order), the
// order of Rust's String. JavaScript's `<` compares UTF-16 units, which puts
// astral characters (surrogates, 0xD800..0xDFFF) before U+E000..U+FFFF.

export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    const aSurrogate = ca >= 0xd800 && ca <= 0xdfff;
    const bSurrogate = cb >= 0xd800 && cb <= 0xdfff;
    if (aSurrogate !== bSurrogate) {
      // A surrogate starts a code point above U+FFFF: it sorts after any BMP
      // unit from U+E000 on, but before it only against units below U+D800.
      const other = aSurrogate ? cb : ca;
      if (other >= 0xe000) return aSurrogate ? 1 : -1;
    }
    return ca - cb;
  }
  return a.length - b.length;
}
