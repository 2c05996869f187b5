// Copyright the chitchat for Deno authors. MIT license.
// Internal: the stored form of a key-value.

import { KeyValueArena } from "./_key_value_arena.ts";
import type { DeletionStatus, KeyValueMutation, VersionedValue } from "./versioned_value.ts";

const scratch = new KeyValueArena();

/**
 * One stored key-value. Immutable, so deltas carry entries as they are and
 * replicas in the same process (a simulation) share the `"set"` ones.
 */
export class KeyValueEntry implements VersionedValue, KeyValueMutation {
  // Plain fields, not parameter properties: Node's type stripping refuses those.
  readonly key: string;
  readonly value: string;
  readonly version: number;
  readonly status: DeletionStatus;
  readonly deletionScheduledAtMs: number;

  constructor(
    key: string,
    value: string,
    version: number,
    status: DeletionStatus,
    deletionScheduledAtMs: number,
  ) {
    this.key = key;
    this.value = value;
    this.version = version;
    this.status = status;
    this.deletionScheduledAtMs = deletionScheduledAtMs;
  }

  #encoded: Uint8Array | undefined;

  /**
   * The entry's KeyValue operation, encoded once (entries are immutable).
   * Large nodes use their arena instead; this serves small ones, whose
   * entries a simulation shares between replicas.
   */
  encoded(): Uint8Array {
    if (this.#encoded === undefined) {
      scratch.reset();
      scratch.push(this);
      this.#encoded = scratch.bytes.slice(0, scratch.offsets[1]);
    }
    return this.#encoded;
  }
}
