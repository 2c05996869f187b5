// Copyright the chitchat for Deno authors. MIT license.
// Internal: FIFO queues of heartbeat intervals, all kept in one chunked
// Float32Array per failure detector. A thousand simulated nodes track a
// million windows of up to a thousand samples: one typed array per window
// would mean a million growing ArrayBuffers for the garbage collector.

const CHUNK = 32;

export class IntervalPool {
  #values = new Float32Array(CHUNK * 64);
  #next = new Int32Array(64).fill(-1);
  #allocated = 0;
  #free = -1;

  /** Appends `value` to `queue`. */
  push(queue: IntervalQueue, value: number): void {
    if (queue.tail === -1 || queue.tailPos === CHUNK) {
      const chunk = this.#allocate();
      if (queue.tail === -1) {
        queue.head = chunk;
        queue.headPos = 0;
      } else {
        this.#next[queue.tail] = chunk;
      }
      queue.tail = chunk;
      queue.tailPos = 0;
    }
    this.#values[queue.tail * CHUNK + queue.tailPos++] = value;
    queue.count++;
  }

  /** Removes and returns the oldest value of a non-empty `queue`. */
  shift(queue: IntervalQueue): number {
    const value = this.#values[queue.head * CHUNK + queue.headPos++];
    queue.count--;
    if (queue.count === 0) {
      this.clear(queue);
    } else if (queue.headPos === CHUNK) {
      const spent = queue.head;
      queue.head = this.#next[spent];
      queue.headPos = 0;
      this.#release(spent);
    }
    return value;
  }

  /** Empties `queue`, returning its chunks to the pool. */
  clear(queue: IntervalQueue): void {
    let chunk = queue.head;
    while (chunk !== -1) {
      const next = chunk === queue.tail ? -1 : this.#next[chunk];
      this.#release(chunk);
      chunk = next;
    }
    queue.head = queue.tail = -1;
    queue.headPos = queue.tailPos = 0;
    queue.count = 0;
  }

  #allocate(): number {
    let chunk = this.#free;
    if (chunk !== -1) {
      this.#free = this.#next[chunk];
    } else {
      chunk = this.#allocated++;
      if (chunk === this.#next.length) this.#grow();
    }
    this.#next[chunk] = -1;
    return chunk;
  }

  #release(chunk: number): void {
    this.#next[chunk] = this.#free;
    this.#free = chunk;
  }

  #grow(): void {
    const chunks = this.#next.length * 2;
    const values = new Float32Array(chunks * CHUNK);
    values.set(this.#values);
    this.#values = values;
    const next = new Int32Array(chunks).fill(-1);
    next.set(this.#next);
    this.#next = next;
  }
}

/** One queue's bookkeeping (its values live in the pool). */
export interface IntervalQueue {
  head: number;
  headPos: number;
  tail: number;
  tailPos: number;
  count: number;
}
