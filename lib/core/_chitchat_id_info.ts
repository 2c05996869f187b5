// Copyright the chitchat for Deno authors. MIT license.
// Internal: per-id derived data (canonical form, map key, wire bytes),
// computed once per id object and shared by every structure that holds it.

import { type ByteReader, MAX_WIRE_STRING_BYTES, utf8Encode } from "./wire/_binary.ts";
import { formatIpv4, formatIpv6, parseIp } from "./_ip.ts";
import type { ChitchatId } from "./chitchat_id.ts";

/** Derived data of one {@linkcode ChitchatId}. */
export interface IdInfo {
  /** The canonical, frozen id. */
  readonly id: ChitchatId;
  /** A string equal for equal ids and different otherwise. */
  readonly key: string;
  /** The id's wire encoding. */
  readonly bytes: Uint8Array;
  /** UTF-8 bytes of the node id (for the reference's ordering). */
  readonly nodeIdBytes: Uint8Array;
  /** 4 or 16 address bytes. */
  readonly ipBytes: Uint8Array;
}

// Canonical ids (the frozen copies this module creates) carry their info
// in a non-enumerable symbol property: a plain property read, with none of
// the garbage-collection cost of a WeakMap entry per decoded id. Ids built
// by callers are mapped to their canonical copy through the WeakMap.
const INFO = Symbol("chitchat.idInfo");
const infos = new WeakMap<ChitchatId, IdInfo>();

type CanonicalId = ChitchatId & { readonly [INFO]?: IdInfo };

function keyOf(nodeId: string, generationId: bigint, hostname: string, port: number): string {
  // Generation, host and port never contain NUL, so the key splits
  // unambiguously from the right even when the node id does.
  return `${nodeId}\u0000${generationId}\u0000${hostname}\u0000${port}`;
}

/** Creates the frozen canonical id object, tagged with its info. */
function canonicalId(
  nodeId: string,
  generationId: bigint,
  hostname: string,
  port: number,
  info: Omit<IdInfo, "id">,
): IdInfo {
  const id = { nodeId, generationId, gossipAdvertiseAddr: Object.freeze({ hostname, port }) };
  const full: IdInfo = { id, ...info };
  Object.defineProperty(id, INFO, { value: full, enumerable: false });
  Object.freeze(id);
  return full;
}

/**
 * Validates an id and returns its derived data.
 *
 * @throws {TypeError} for a field of the wrong type or a hostname that is not an IP literal.
 * @throws {RangeError} for an out-of-range generation or port, or a node id over 65,535 bytes.
 */
export function idInfo(id: ChitchatId): IdInfo {
  const tagged = (id as CanonicalId)[INFO];
  if (tagged !== undefined) return tagged;
  const cached = infos.get(id);
  if (cached !== undefined) return cached;
  const info = buildInfo(id);
  infos.set(id, info);
  return info;
}

/** The map key of an id. */
export function idKey(id: ChitchatId): string {
  return idInfo(id).key;
}

function buildInfo(id: ChitchatId): IdInfo {
  if (id === null || typeof id !== "object") {
    throw new TypeError("Invalid chitchatId: expected an object");
  }
  const { nodeId, generationId, gossipAdvertiseAddr } = id;
  if (typeof nodeId !== "string") {
    throw new TypeError("Invalid chitchatId.nodeId: expected a string");
  }
  if (typeof generationId !== "bigint") {
    throw new TypeError("Invalid chitchatId.generationId: expected a bigint");
  }
  if (generationId < 0n || generationId > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`Invalid chitchatId.generationId: ${generationId} is not a u64`);
  }
  if (gossipAdvertiseAddr === null || typeof gossipAdvertiseAddr !== "object") {
    throw new TypeError("Invalid chitchatId.gossipAdvertiseAddr: expected { hostname, port }");
  }
  const { hostname, port } = gossipAdvertiseAddr;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Invalid chitchatId.gossipAdvertiseAddr.port: ${port} is not in [0, 65535]`,
    );
  }
  const ipBytes = typeof hostname === "string" ? parseIp(hostname) : undefined;
  if (ipBytes === undefined) {
    throw new TypeError(
      `Invalid chitchatId.gossipAdvertiseAddr.hostname: "${hostname}" is not an IP address`,
    );
  }
  const nodeIdBytes = utf8Encode(nodeId);
  if (nodeIdBytes.length > MAX_WIRE_STRING_BYTES) {
    throw new RangeError(
      `Invalid chitchatId.nodeId: length ${nodeIdBytes.length} exceeds ${MAX_WIRE_STRING_BYTES} bytes`,
    );
  }
  const canonicalHost = ipBytes.length === 4 ? formatIpv4(ipBytes) : formatIpv6(ipBytes);
  return canonicalId(nodeId, generationId, canonicalHost, port, {
    key: keyOf(nodeId, generationId, canonicalHost, port),
    bytes: encodeId(nodeIdBytes, generationId, ipBytes, port),
    nodeIdBytes,
    ipBytes,
  });
}

function encodeId(
  nodeIdBytes: Uint8Array,
  generation: bigint,
  ip: Uint8Array,
  port: number,
): Uint8Array {
  const out = new Uint8Array(2 + nodeIdBytes.length + 8 + 1 + ip.length + 2);
  const view = new DataView(out.buffer);
  view.setUint16(0, nodeIdBytes.length, true);
  out.set(nodeIdBytes, 2);
  let pos = 2 + nodeIdBytes.length;
  view.setBigUint64(pos, generation, true);
  pos += 8;
  out[pos++] = ip.length === 4 ? 4 : 6;
  out.set(ip, pos);
  pos += ip.length;
  view.setUint16(pos, port, true);
  return out;
}

// Decoded ids are looked up by the hash of their wire bytes: the same few
// thousand ids arrive in every digest, and reusing their objects saves
// decoding strings, bigints and keys each time. Only ids a cluster state
// adopted are remembered (see rememberId): caching every decoded id let a
// flood of never-adopted ids churn the cache, and every cleared entry had
// lived long enough to be old-generation garbage, which grew the heap by
// hundreds of megabytes. Bounded: cleared when full.
const DECODE_CACHE_LIMIT = 65_536;
const decodeCache = new Map<number, IdInfo | IdInfo[]>();

function cachedInfo(
  hash: number,
  bytes: Uint8Array,
  start: number,
  end: number,
): IdInfo | undefined {
  const slot = decodeCache.get(hash);
  if (slot === undefined) return undefined;
  if (!Array.isArray(slot)) return sameBytes(slot.bytes, bytes, start, end) ? slot : undefined;
  for (const info of slot) {
    if (sameBytes(info.bytes, bytes, start, end)) return info;
  }
  return undefined;
}

function hashOf(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
  return hash;
}

/**
 * Lets later decodes of this id return its canonical object without
 * decoding it again. Cluster states call it for the nodes they adopt.
 */
export function rememberId(id: ChitchatId): void {
  const info = idInfo(id);
  const hash = hashOf(info.bytes, 0, info.bytes.length);
  if (cachedInfo(hash, info.bytes, 0, info.bytes.length) !== undefined) return;
  if (decodeCache.size >= DECODE_CACHE_LIMIT) decodeCache.clear();
  const slot = decodeCache.get(hash);
  if (slot === undefined) decodeCache.set(hash, info);
  else if (Array.isArray(slot)) slot.push(info);
  else decodeCache.set(hash, [slot, info]);
}

/** Reads a wire `ChitchatId`. */
export function readChitchatId(reader: ByteReader): IdInfo {
  const bytes = reader.bytes;
  const start = reader.pos;
  reader.need(2, "node id length");
  const nodeIdLength = bytes[start] | (bytes[start + 1] << 8);
  reader.need(2 + nodeIdLength + 9, "chitchat id");
  const familyPos = start + 2 + nodeIdLength + 8;
  const family = bytes[familyPos];
  if (family !== 4 && family !== 6) {
    reader.fail(`Invalid IP version byte: expected 4 or 6, got ${family}`, familyPos);
  }
  const ipLength = family === 4 ? 4 : 16;
  const end = familyPos + 1 + ipLength + 2;
  if (end > reader.end) {
    reader.fail("Unexpected end of data while reading a chitchat id address", familyPos + 1);
  }
  const cached = cachedInfo(hashOf(bytes, start, end), bytes, start, end);
  if (cached !== undefined) {
    reader.pos = end;
    return cached;
  }
  const nodeId = reader.string("node id");
  const generationId = reader.u64Big("generation id");
  // One copy of the id's bytes; the node id and address are views of it,
  // since every typed array allocated per decoded id is garbage to collect
  // when a flood announces thousands of new ids a datagram.
  const own = bytes.slice(start, end);
  const ipStart = familyPos + 1 - start;
  const ipBytes = own.subarray(ipStart, ipStart + ipLength);
  const port = own[ipStart + ipLength] | (own[ipStart + ipLength + 1] << 8);
  reader.pos = end;
  const hostname = family === 4 ? formatIpv4(ipBytes) : formatIpv6(ipBytes);
  const info = canonicalId(nodeId, generationId, hostname, port, {
    key: keyOf(nodeId, generationId, hostname, port),
    bytes: own,
    nodeIdBytes: own.subarray(2, 2 + nodeIdLength),
    ipBytes,
  });
  return info;
}

function sameBytes(a: Uint8Array, b: Uint8Array, start: number, end: number): boolean {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[start + i]) return false;
  }
  return true;
}

/** Orders ids as the reference does (see `compareChitchatIds`). */
export function compareIdInfos(a: IdInfo, b: IdInfo): number {
  if (a === b) return 0;
  const byNode = compareBytes(a.nodeIdBytes, b.nodeIdBytes);
  if (byNode !== 0) return byNode;
  const ga = a.id.generationId;
  const gb = b.id.generationId;
  if (ga !== gb) return ga < gb ? -1 : 1;
  // IPv4 sorts before IPv6, then address bytes, then port.
  if (a.ipBytes.length !== b.ipBytes.length) return a.ipBytes.length - b.ipBytes.length;
  const byIp = compareBytes(a.ipBytes, b.ipBytes);
  if (byIp !== 0) return byIp;
  return a.id.gossipAdvertiseAddr.port - b.id.gossipAdvertiseAddr.port;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}
