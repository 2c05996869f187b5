// Copyright the chitchat for Deno authors. MIT license.
// Internal: follows the request heads of one HTTP/1.1 connection, byte by
// byte, so the guard can refuse an oversized head itself. Deno's server
// refuses one too, but resets the connection while the rest of the head is
// still arriving, and the client loses the answer.

const CRLF_CRLF = [13, 10, 13, 10];

/** The request heads of one connection, as they stream past. */
export class RequestHeadLimit {
  readonly #maxHeadBytes: number;
  // "untracked" once a body's length cannot be known without parsing it
  // (chunked, or a malformed length that Deno refuses anyway).
  #state: "head" | "body" | "untracked" = "head";
  #headBytes = 0;
  #head = "";
  #matched = 0;
  #bodyLeft = 0;

  constructor(maxHeadBytes: number) {
    this.#maxHeadBytes = maxHeadBytes;
  }

  /** Takes the next bytes the client sent; `false` once a head is over the limit. */
  feed(chunk: Uint8Array): boolean {
    let i = 0;
    while (i < chunk.length && this.#state !== "untracked") {
      if (this.#state === "body") {
        const take = Math.min(this.#bodyLeft, chunk.length - i);
        this.#bodyLeft -= take;
        i += take;
        if (this.#bodyLeft === 0) this.#state = "head";
        continue;
      }
      const byte = chunk[i++];
      if (++this.#headBytes > this.#maxHeadBytes) return false;
      this.#head += String.fromCharCode(byte);
      this.#matched = byte === CRLF_CRLF[this.#matched] ? this.#matched + 1 : byte === 13 ? 1 : 0;
      if (this.#matched === 4) this.#endOfHead();
    }
    return true;
  }

  #endOfHead(): void {
    const head = this.#head;
    this.#head = "";
    this.#headBytes = 0;
    this.#matched = 0;
    const lengths = [...head.matchAll(/\r\ncontent-length:[ \t]*([^\r]*)/gi)].map((m) => m[1]);
    if (/\r\ntransfer-encoding:/i.test(head) || lengths.length > 1) {
      this.#state = "untracked";
      return;
    }
    if (lengths.length === 0) return;
    const length = lengths[0].trim();
    if (!/^\d{1,15}$/.test(length)) {
      this.#state = "untracked";
      return;
    }
    this.#bodyLeft = Number(length);
    if (this.#bodyLeft > 0) this.#state = "body";
  }
}
