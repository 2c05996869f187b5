// Copyright the chitchat for Deno authors. MIT license.
// Internal: AES-GCM sealing of whole datagrams, the layer between the codec
// and a Transport, on two primitives that produce the same bytes: WebCrypto
// (async, off the main thread, about twice as fast on Deno) for the UDP
// sockets, and synchronous node:crypto for the in-memory network, whose
// virtual-time clusters must not wait on real-time promises.
// bench/crypto_bench.ts measures both; the README's Encryption section has
// the figures.
// Layout, memberlist's plus a send time for the replay window:
//   version (1) | send time, ms since epoch, u64 LE (8) | nonce (12) |
//   ciphertext | tag (16)
// The authenticated data is the version byte and the send time.

import { createCipheriv, createDecipheriv, getCiphers } from "node:crypto";

/** The only sealed-datagram version. */
export const SEAL_VERSION = 1;
const HEADER_BYTES = 1 + 8;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes a sealed datagram adds to its plaintext. */
export const SEAL_OVERHEAD_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;

/** Why a datagram was refused; the keys of the failure counters. */
export type OpenFailure = "truncated" | "version" | "authentication" | "expired" | "replayed";

/** The outcome of {@linkcode openDatagram}. */
export type OpenResult =
  | { readonly ok: true; readonly plaintext: Uint8Array }
  | { readonly ok: false; readonly reason: OpenFailure };

type CipherName = "aes-128-gcm" | "aes-192-gcm" | "aes-256-gcm";

function cipherName(key: Uint8Array): CipherName {
  return key.length === 16 ? "aes-128-gcm" : key.length === 24 ? "aes-192-gcm" : "aes-256-gcm";
}

let aes192: boolean | undefined;

/** Checks a raw key's length, throwing a RangeError that names no key material. */
export function validateKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array)) throw new TypeError("Encryption key must be a Uint8Array");
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    // The length only: never the key.
    throw new RangeError(`Encryption key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
}

/**
 * Checks that the synchronous seal (`node:crypto`, the in-memory network's)
 * can use `key`: 24-byte keys need AES-192-GCM, which Deno's `node:crypto`
 * lacks (Node.js and Bun have it; WebCrypto, the UDP sockets', has it
 * everywhere).
 */
export function validateSyncKey(key: Uint8Array): void {
  validateKey(key);
  if (key.length === 24 && !(aes192 ??= getCiphers().includes("aes-192-gcm"))) {
    throw new RangeError(
      "Encryption key of 24 bytes needs AES-192-GCM, which this runtime's node:crypto lacks " +
        "(the in-memory network seals with it): use 16 or 32 bytes",
    );
  }
}

/** Seals `plaintext` with `key` (16, 24 or 32 bytes, checked), stamped with `sendTimeMs`. */
export function sealDatagram(
  key: Uint8Array,
  plaintext: Uint8Array,
  sendTimeMs: number,
  nonce: Uint8Array = crypto.getRandomValues(new Uint8Array(NONCE_BYTES)),
): Uint8Array {
  const out = new Uint8Array(SEAL_OVERHEAD_BYTES + plaintext.length);
  out[0] = SEAL_VERSION;
  new DataView(out.buffer).setBigUint64(1, BigInt(Math.max(0, Math.floor(sendTimeMs))), true);
  out.set(nonce, HEADER_BYTES);
  const cipher = createCipheriv(cipherName(key), key, nonce);
  cipher.setAAD(out.subarray(0, HEADER_BYTES));
  const body = cipher.update(plaintext);
  const tail = cipher.final();
  out.set(body, HEADER_BYTES + NONCE_BYTES);
  out.set(tail, HEADER_BYTES + NONCE_BYTES + body.length);
  out.set(cipher.getAuthTag(), HEADER_BYTES + NONCE_BYTES + plaintext.length);
  return out;
}

/**
 * Refuses datagrams older than a window and nonces already seen within it.
 * The window is symmetric, so it assumes clocks agree within it. The cache
 * is bounded: past `capacity` the oldest entries go first, so a flood can at
 * worst let an old nonce be forgotten, never grow memory.
 */
export class ReplayGuard {
  readonly #windowMs: number;
  readonly #capacity: number;
  // Insertion-ordered: nonce (as a string of its bytes) -> send time.
  readonly #seen = new Map<string, number>();

  constructor(windowMs = 60_000, capacity = 65_536) {
    if (!(windowMs > 0)) throw new RangeError(`Replay window must be positive, got ${windowMs}`);
    if (!(capacity >= 1)) {
      throw new RangeError(`Nonce cache capacity must be at least 1, got ${capacity}`);
    }
    this.#windowMs = windowMs;
    this.#capacity = capacity;
  }

  /** Nonces held now. */
  get size(): number {
    return this.#seen.size;
  }

  /** Checks and records one authenticated datagram's send time and nonce. */
  admit(sendTimeMs: number, nonce: Uint8Array, nowMs: number): "expired" | "replayed" | undefined {
    if (Math.abs(nowMs - sendTimeMs) > this.#windowMs) return "expired";
    // Entries outside the window can no longer match an admitted datagram.
    for (const [id, time] of this.#seen) {
      if (nowMs - time <= this.#windowMs) break;
      this.#seen.delete(id);
    }
    const id = String.fromCharCode(...nonce);
    if (this.#seen.has(id)) return "replayed";
    if (this.#seen.size >= this.#capacity) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    this.#seen.set(id, sendTimeMs);
    return undefined;
  }
}

/** Opens a sealed datagram with the first of `keys` that authenticates it. */
export function openDatagram(
  keys: readonly Uint8Array[],
  datagram: Uint8Array,
  nowMs: number,
  guard: ReplayGuard,
): OpenResult {
  if (datagram.length < SEAL_OVERHEAD_BYTES) return { ok: false, reason: "truncated" };
  if (datagram[0] !== SEAL_VERSION) return { ok: false, reason: "version" };
  const header = datagram.subarray(0, HEADER_BYTES);
  const nonce = datagram.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  const body = datagram.subarray(HEADER_BYTES + NONCE_BYTES, datagram.length - TAG_BYTES);
  const tag = datagram.subarray(datagram.length - TAG_BYTES);
  for (const key of keys) {
    const plaintext = new Uint8Array(body.length);
    try {
      const decipher = createDecipheriv(cipherName(key), key, nonce);
      decipher.setAAD(header);
      decipher.setAuthTag(tag);
      const head = decipher.update(body);
      plaintext.set(head, 0);
      plaintext.set(decipher.final(), head.length);
    } catch {
      // Another key, or a forgery: the tag did not verify.
      continue;
    }
    const sendTimeMs = Number(
      new DataView(datagram.buffer, datagram.byteOffset + 1, 8).getBigUint64(0, true),
    );
    const refused = guard.admit(sendTimeMs, nonce, nowMs);
    if (refused !== undefined) return { ok: false, reason: refused };
    return { ok: true, plaintext };
  }
  return { ok: false, reason: "authentication" };
}

/** Imports a raw key (16, 24 or 32 bytes, checked) for {@linkcode sealDatagramAsync}, not extractable. */
export function importSealKey(key: Uint8Array): Promise<CryptoKey> {
  validateKey(key);
  return crypto.subtle.importKey("raw", new Uint8Array(key), "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

function header(sendTimeMs: number, nonce: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(HEADER_BYTES + NONCE_BYTES);
  out[0] = SEAL_VERSION;
  new DataView(out.buffer).setBigUint64(1, BigInt(Math.max(0, Math.floor(sendTimeMs))), true);
  out.set(nonce, HEADER_BYTES);
  return out;
}

/**
 * {@linkcode sealDatagram} on WebCrypto: the same bytes for the same key,
 * nonce and time, computed off the main thread.
 */
export async function sealDatagramAsync(
  key: CryptoKey | Promise<CryptoKey>,
  plaintext: Uint8Array,
  sendTimeMs: number,
  nonce: Uint8Array = crypto.getRandomValues(new Uint8Array(NONCE_BYTES)),
): Promise<Uint8Array> {
  const head = header(sendTimeMs, nonce);
  const body = await crypto.subtle.encrypt(
    {
      name: "AES-GCM",
      iv: head.subarray(HEADER_BYTES),
      additionalData: head.subarray(0, HEADER_BYTES),
      tagLength: 128,
    },
    await key,
    plaintext as Uint8Array<ArrayBuffer>,
  );
  const out = new Uint8Array(head.length + body.byteLength);
  out.set(head, 0);
  out.set(new Uint8Array(body), head.length);
  return out;
}

/** {@linkcode openDatagram} on WebCrypto, with the same checks and results. */
export async function openDatagramAsync(
  keys: readonly Promise<CryptoKey>[],
  datagram: Uint8Array,
  nowMs: number,
  guard: ReplayGuard,
): Promise<OpenResult> {
  if (datagram.length < SEAL_OVERHEAD_BYTES) return { ok: false, reason: "truncated" };
  if (datagram[0] !== SEAL_VERSION) return { ok: false, reason: "version" };
  // The header and nonce are copied (small, and the nonce is kept by the
  // guard); the body is read in place: WebCrypto copies its input itself.
  const head = datagram.slice(0, HEADER_BYTES);
  const nonce = datagram.slice(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  const body = datagram.subarray(HEADER_BYTES + NONCE_BYTES) as Uint8Array<ArrayBuffer>;
  for (const key of keys) {
    let plaintext: Uint8Array;
    try {
      plaintext = new Uint8Array(
        await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: nonce, additionalData: head, tagLength: 128 },
          await key,
          body,
        ),
      );
    } catch {
      // Another key, or a forgery: the tag did not verify.
      continue;
    }
    const sendTimeMs = Number(new DataView(head.buffer).getBigUint64(1, true));
    const refused = guard.admit(sendTimeMs, nonce, nowMs);
    if (refused !== undefined) return { ok: false, reason: refused };
    return { ok: true, plaintext };
  }
  return { ok: false, reason: "authentication" };
}
