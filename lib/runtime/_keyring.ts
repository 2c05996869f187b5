// Copyright the chitchat for Deno authors. MIT license.
// Internal: a node's encryption state, the codec its socket uses once a key
// is in: the keys (the first seals, all open), the plaintext switches of a
// rolling migration, the replay guard and the failure counters. Keys are
// private copies and never leave this object: no getter, no log, no error
// message names them.

import type { ChitchatMessage } from "../core/message.ts";
import { encodeMessage } from "../core/message_codec.ts";
import { MAX_DATAGRAM_BYTES } from "../core/wire/wire_sizes.ts";
import { decodeDatagram } from "./_drop_log.ts";
import { type DatagramCodec, installCodec } from "./_datagram_codec.ts";
import { type Chitchat, chitchatInternals } from "../core/chitchat.ts";
import type { Socket } from "./transport.ts";
import {
  importSealKey,
  openDatagram,
  openDatagramAsync,
  type OpenResult,
  ReplayGuard,
  SEAL_OVERHEAD_BYTES,
  SEAL_VERSION,
  sealDatagram,
  sealDatagramAsync,
  validateKey,
  validateSyncKey,
} from "./_datagram_seal.ts";

/** Largest message a keyring seals: a sealed datagram still fits 65,507 bytes. */
export const MAX_SEALED_MESSAGE_BYTES = MAX_DATAGRAM_BYTES - SEAL_OVERHEAD_BYTES;

/** Datagrams refused by a keyring, by reason. */
export interface DecryptFailures {
  /** Shorter than the seal's overhead. */
  readonly truncated: number;
  /** An unknown seal version (neither sealed nor chitchat plaintext). */
  readonly version: number;
  /** No key authenticates it: another key, or forged or altered bytes. */
  readonly authentication: number;
  /** Sent longer ago (or further ahead) than the replay window. */
  readonly expired: number;
  /** A nonce already seen within the window. */
  readonly replayed: number;
  /** Plaintext while `acceptPlaintext` is off. */
  readonly plaintextRefused: number;
}

/** Keyring settings as given (checked by {@linkcode Keyring}). */
export interface KeyringOptions {
  readonly keys?: readonly Uint8Array[];
  readonly sendPlaintext?: boolean;
  readonly acceptPlaintext?: boolean;
  readonly replayWindowMs?: number;
}

type MutableFailures = { -readonly [K in keyof DecryptFailures]: number };

const MAGIC_FIRST_BYTE = 0x53;
const MAGIC_SECOND_BYTE = 0xb0;

const REASONS: Record<keyof DecryptFailures, string> = {
  truncated: "Refused a sealed datagram: truncated",
  version: "Refused a sealed datagram: unknown seal version",
  authentication: "Refused a sealed datagram: no key authenticates it",
  expired: "Refused a sealed datagram: sent outside the replay window",
  replayed: "Refused a sealed datagram: replayed nonce",
  plaintextRefused: "Refused a plaintext datagram: acceptPlaintext is off",
};

function checkFlag(name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== "boolean") {
    throw new TypeError(`Invalid encryption.${name}: expected a boolean`);
  }
  return value;
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * A node's keys and switches. Without keys it sends and accepts plaintext
 * only; keys given at start default to sealing everything and refusing
 * plaintext, keys added later keep the switches as they are (so a running
 * plaintext cluster migrates one node at a time).
 */
export class Keyring implements DatagramCodec {
  #keys: Uint8Array[] = [];
  // The same keys, imported for WebCrypto in the same order, on first use
  // (the in-memory network never needs them).
  #webKeys: (Promise<CryptoKey> | undefined)[] = [];
  #sendPlaintext: boolean;
  #acceptPlaintext: boolean;
  #syncOnly = false;
  readonly #replayWindowMs: number;
  readonly #guard: ReplayGuard;
  readonly #now: () => number;
  readonly #failures: MutableFailures = {
    truncated: 0,
    version: 0,
    authentication: 0,
    expired: 0,
    replayed: 0,
    plaintextRefused: 0,
  };
  /**
   * @param options Keys, switches and replay window (`encryption` of the config).
   * @param now Wall-clock milliseconds (or virtual time): send times and the window.
   * @throws {TypeError} or {RangeError} naming the invalid field, never a key.
   */
  constructor(options: KeyringOptions | undefined, now: () => number) {
    if (options !== undefined && (options === null || typeof options !== "object")) {
      throw new TypeError("Invalid encryption: expected an object");
    }
    const keys = options?.keys ?? [];
    if (!Array.isArray(keys)) throw new TypeError("Invalid encryption.keys: expected an array");
    if (options !== undefined && keys.length === 0) {
      throw new RangeError("Invalid encryption.keys: at least one key is needed");
    }
    keys.forEach((key, i) => {
      try {
        validateKey(key);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new (error instanceof TypeError ? TypeError : RangeError)(
          `Invalid encryption.keys[${i}]: ${message}`,
        );
      }
    });
    const encrypted = keys.length > 0;
    this.#sendPlaintext = checkFlag("sendPlaintext", options?.sendPlaintext) ?? !encrypted;
    this.#acceptPlaintext = checkFlag("acceptPlaintext", options?.acceptPlaintext) ?? !encrypted;
    const windowMs = options?.replayWindowMs ?? 60_000;
    if (typeof windowMs !== "number" || !(windowMs > 0) || !Number.isFinite(windowMs)) {
      throw new RangeError(
        `Invalid encryption.replayWindowMs: ${windowMs} must be a positive finite number`,
      );
    }
    this.#replayWindowMs = windowMs;
    this.#guard = new ReplayGuard(windowMs);
    this.#now = now;
    for (const key of keys) this.#add(key);
  }

  /** Whether any key is in (the socket then uses this codec). */
  get active(): boolean {
    return this.#keys.length > 0;
  }

  /** Counts of keys and the switches: nothing about the keys themselves. */
  status(): {
    readonly keys: number;
    readonly sendPlaintext: boolean;
    readonly acceptPlaintext: boolean;
    readonly replayWindowMs: number;
  } {
    return {
      keys: this.#keys.length,
      sendPlaintext: this.#sendPlaintext,
      acceptPlaintext: this.#acceptPlaintext,
      replayWindowMs: this.#replayWindowMs,
    };
  }

  /** The failure counters (a snapshot). */
  failures(): DecryptFailures {
    return { ...this.#failures };
  }

  /**
   * Only `encode` and `decode` will be called from now on (the in-memory
   * network): every key, present and future, must work with `node:crypto`.
   */
  requireSync(): void {
    this.#keys.forEach((key, i) => {
      try {
        validateSyncKey(key);
      } catch (error) {
        throw new RangeError(`Invalid encryption.keys[${i}]: ${(error as Error).message}`);
      }
    });
    this.#syncOnly = true;
  }

  /** Adds a key that opens datagrams (the first key ever added also seals). */
  addKey(key: Uint8Array): void {
    if (this.#syncOnly) validateSyncKey(key);
    else validateKey(key);
    if (this.#indexOf(key) !== -1) return;
    this.#add(key);
  }

  /** Makes `key` (already added) the one that seals. */
  useKey(key: Uint8Array): void {
    validateKey(key);
    const index = this.#indexOf(key);
    if (index === -1) throw new RangeError("Cannot use the key: it is not in the keyring");
    const [primary] = this.#keys.splice(index, 1);
    this.#keys.unshift(primary);
    const [webPrimary] = this.#webKeys.splice(index, 1);
    this.#webKeys.unshift(webPrimary);
  }

  /** Removes a key that no longer opens datagrams; never the primary one. */
  removeKey(key: Uint8Array): void {
    validateKey(key);
    const index = this.#indexOf(key);
    if (index === -1) throw new RangeError("Cannot remove the key: it is not in the keyring");
    if (index === 0) {
      throw new RangeError(
        "Cannot remove the primary key: make another key primary with useKey() first",
      );
    }
    this.#keys.splice(index, 1);
    this.#webKeys.splice(index, 1);
  }

  /** Changes the plaintext switches; turning one off needs a key. */
  setPlaintext(
    options: { readonly sendPlaintext?: boolean; readonly acceptPlaintext?: boolean },
  ): void {
    const send = checkFlag("sendPlaintext", options?.sendPlaintext);
    const accept = checkFlag("acceptPlaintext", options?.acceptPlaintext);
    if ((send === false || accept === false) && !this.active) {
      throw new RangeError("Cannot stop plaintext: add an encryption key first");
    }
    if (send !== undefined) this.#sendPlaintext = send;
    if (accept !== undefined) this.#acceptPlaintext = accept;
  }

  encode(message: ChitchatMessage): Uint8Array {
    const bytes = encodeMessage(message);
    if (this.#sendPlaintext || this.#keys.length === 0) return bytes;
    return sealDatagram(this.#keys[0], bytes, this.#now());
  }

  encodeAsync(message: ChitchatMessage): Uint8Array | Promise<Uint8Array> {
    const bytes = encodeMessage(message);
    if (this.#sendPlaintext || this.#keys.length === 0) return bytes;
    return sealDatagramAsync(this.#webKey(0), bytes, this.#now());
  }

  decode(bytes: Uint8Array, maxBytes: number): ChitchatMessage | string {
    const unsealed = this.#unsealed(bytes, maxBytes);
    if (unsealed !== undefined) return unsealed;
    return this.#opened(openDatagram(this.#keys, bytes, this.#now(), this.#guard), maxBytes);
  }

  decodeAsync(
    bytes: Uint8Array,
    maxBytes: number,
  ): ChitchatMessage | string | Promise<ChitchatMessage | string> {
    const unsealed = this.#unsealed(bytes, maxBytes);
    if (unsealed !== undefined) return unsealed;
    const keys = this.#keys.map((_, i) => this.#webKey(i));
    return openDatagramAsync(keys, bytes, this.#now(), this.#guard).then(
      (opened) => this.#opened(opened, maxBytes),
      // WebCrypto failing for another reason than a bad tag: still never decoded.
      () => this.#refuse("authentication"),
    );
  }

  /** The outcome of a datagram that is not for the seal's keys, or `undefined` to open it. */
  #unsealed(bytes: Uint8Array, maxBytes: number): ChitchatMessage | string | undefined {
    if (bytes.length > maxBytes) return `Datagram of more than ${maxBytes} bytes`;
    if (bytes[0] === SEAL_VERSION && this.#keys.length > 0) return undefined;
    if (this.#acceptPlaintext || this.#keys.length === 0) return decodeDatagram(bytes, maxBytes);
    if (bytes.length < 2) return this.#refuse("truncated");
    const plaintext = bytes[0] === MAGIC_FIRST_BYTE && bytes[1] === MAGIC_SECOND_BYTE;
    return this.#refuse(plaintext ? "plaintextRefused" : "version");
  }

  #opened(opened: OpenResult, maxBytes: number): ChitchatMessage | string {
    if (!opened.ok) return this.#refuse(opened.reason);
    return decodeDatagram(opened.plaintext, maxBytes);
  }

  #refuse(reason: keyof DecryptFailures): string {
    this.#failures[reason]++;
    return REASONS[reason];
  }

  #indexOf(key: Uint8Array): number {
    return this.#keys.findIndex((held) => sameKey(held, key));
  }

  #add(key: Uint8Array): void {
    // A private copy: the caller may reuse or wipe its buffer.
    this.#keys.push(new Uint8Array(key));
    this.#webKeys.push(undefined);
  }

  #webKey(index: number): Promise<CryptoKey> {
    return this.#webKeys[index] ??= importSealKey(this.#keys[index]);
  }
}

/**
 * Makes `socket` use `keyring` and shrinks the node's messages by the
 * seal's overhead, so every sealed datagram fits 65,507 bytes.
 *
 * @throws {TypeError} if the socket's transport cannot seal (nothing changed then).
 */
export function startSealing(socket: Socket, chitchat: Chitchat, keyring: Keyring): void {
  installCodec(socket, keyring);
  chitchatInternals.setMaxMessageBytes(chitchat, MAX_SEALED_MESSAGE_BYTES);
}
