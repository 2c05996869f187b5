// Copyright the chitchat for Deno authors. MIT license.
// Internal: IP literal parsing and canonical formatting (RFC 5952 for IPv6,
// IPv4-mapped addresses printed as ::ffff:a.b.c.d like Rust's Display).

/** An IP address as its wire bytes: 4 (IPv4) or 16 (IPv6). */
export type IpBytes = Uint8Array;

export function parseIpv4(text: string): IpBytes | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    out[i] = value;
  }
  return out;
}

export function parseIpv6(text: string): IpBytes | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  let head = text;
  let tail = "";
  const doubleColon = text.indexOf("::");
  if (doubleColon !== -1) {
    if (text.indexOf("::", doubleColon + 1) !== -1) return undefined;
    head = text.slice(0, doubleColon);
    tail = text.slice(doubleColon + 2);
  }
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const words: number[] = [];
  const tailWords: number[] = [];
  if (!parseGroups(headGroups, words, doubleColon === -1)) return undefined;
  if (!parseGroups(tailGroups, tailWords, true)) return undefined;
  if (doubleColon === -1) {
    if (words.length !== 8) return undefined;
  } else {
    if (words.length + tailWords.length > 7) return undefined;
    while (words.length + tailWords.length < 8) words.push(0);
  }
  words.push(...tailWords);
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >>> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return out;
}

function parseGroups(groups: string[], words: number[], allowIpv4Tail: boolean): boolean {
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i];
    if (allowIpv4Tail && i === groups.length - 1 && group.includes(".")) {
      const v4 = parseIpv4(group);
      if (v4 === undefined) return false;
      words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return false;
    words.push(parseInt(group, 16));
  }
  return true;
}

/** Parses an IPv4 or IPv6 literal (no brackets, no zone). */
export function parseIp(text: string): IpBytes | undefined {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

export function formatIpv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[offset + 2 * i] << 8) | bytes[offset + 2 * i + 1]);
  if (
    words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 &&
    words[5] === 0xffff
  ) {
    return `::ffff:${formatIpv4(bytes, offset + 12)}`;
  }
  // The longest run of two or more zero words is written "::" (the first on ties).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart === -1) return words.map((w) => w.toString(16)).join(":");
  const left = words.slice(0, bestStart).map((w) => w.toString(16)).join(":");
  const right = words.slice(bestStart + bestLength).map((w) => w.toString(16)).join(":");
  return `${left}::${right}`;
}

export function formatIp(bytes: IpBytes): string {
  return bytes.length === 4 ? formatIpv4(bytes) : formatIpv6(bytes);
}
