// Copyright the chitchat for Deno authors. MIT license.
/**
 * The error raised for malformed wire data.
 *
 * @module
 */

/**
 * Raised by {@linkcode decodeMessage} when a datagram is not a valid chitchat
 * message: truncated, corrupted, or violating a rule of the wire format.
 *
 * @example Catching a malformed datagram
 * ```ts
 * import { decodeMessage, DecodeError } from "@chitchat/chitchat";
 * import assert from "node:assert";
 *
 * try {
 *   decodeMessage(new Uint8Array([0x53, 0xb0, 0x00, 0x09]));
 *   assert(false, "unreachable");
 * } catch (error) {
 *   assert(error instanceof DecodeError);
 *   assert(error.offset === 3);
 * }
 * ```
 */
export class DecodeError extends SyntaxError {
  /** Byte offset in the datagram (or in the decompressed delta stream) where decoding failed. */
  readonly offset: number;

  /**
   * Creates a decode error.
   *
   * @param message What is wrong with the data.
   * @param offset The byte offset at which the problem was found.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(`${message} (at byte ${offset})`, options);
    this.name = "DecodeError";
    this.offset = offset;
  }
}
