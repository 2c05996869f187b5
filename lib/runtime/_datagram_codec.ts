// Copyright the chitchat for Deno authors. MIT license.
// Internal: how a socket turns messages into datagrams and back. Every
// built-in socket (Deno UDP, node:dgram, ChannelTransport) calls one codec
// for both directions, so sealing is written once: the plaintext codec is
// chitchat 0.10's bytes, a keyring installed by the handle seals and opens.
// Each direction comes twice, with the same results: synchronous for the
// in-memory network (virtual time stays deterministic), possibly
// asynchronous for the UDP sockets (WebCrypto works off the main thread).

import type { ChitchatMessage } from "../core/message.ts";
import { encodeMessage } from "../core/message_codec.ts";
import type { Socket } from "./transport.ts";
import { decodeDatagram } from "./_drop_log.ts";

/** Encodes sent messages and decodes received datagrams. */
export interface DatagramCodec {
  /** The datagram for `message` (the caller checks its size). */
  encode(message: ChitchatMessage): Uint8Array;
  /** The message in `bytes`, or why it is dropped; never throws on peer data. */
  decode(bytes: Uint8Array, maxBytes: number): ChitchatMessage | string;
  /** What `encode` returns, possibly later. */
  encodeAsync(message: ChitchatMessage): Uint8Array | Promise<Uint8Array>;
  /** What `decode` returns, possibly later; never rejects on peer data. */
  decodeAsync(
    bytes: Uint8Array,
    maxBytes: number,
  ): ChitchatMessage | string | Promise<ChitchatMessage | string>;
  /**
   * Announces that only `encode` and `decode` will be called (the
   * in-memory network's virtual time cannot wait on a real promise).
   *
   * @throws {RangeError} if a key cannot be used synchronously here.
   */
  requireSync?(): void;
}

/** Chitchat 0.10's datagrams, unchanged. */
export const plaintextCodec: DatagramCodec = Object.freeze({
  encode: encodeMessage,
  decode: decodeDatagram,
  encodeAsync: encodeMessage,
  decodeAsync: decodeDatagram,
});

/** The slot through which built-in sockets take a codec (module-private, not a public API). */
export const useCodec: unique symbol = Symbol("chitchat.useCodec");

/** A socket that can take a codec. */
export interface CodecSocket extends Socket {
  [useCodec](codec: DatagramCodec): void;
}

/**
 * Gives `socket` the codec for every later send and receive.
 *
 * @throws {TypeError} if the socket comes from a transport that cannot seal.
 */
export function installCodec(socket: Socket, codec: DatagramCodec): void {
  const slot = (socket as Partial<CodecSocket>)[useCodec];
  if (typeof slot !== "function") {
    throw new TypeError(
      "Cannot encrypt on this transport: encryption needs UdpTransport, NodeUdpTransport or ChannelTransport",
    );
  }
  slot.call(socket, codec);
}
