// Copyright the chitchat for Deno authors. MIT license.
// Internal: the stored form of a key-value.

import type { DeletionStatus, KeyValueMutation, VersionedValue } from "./versioned_value.ts";

/** One stored key-value; immutable once created, so deltas may share it. */
export class KeyValueEntry implements VersionedValue, KeyValueMutation {
  /** Set when a newer write of the key (or a GC) removed this entry. */
  superseded = false;

  constructor(
    readonly key: string,
    readonly value: string,
    readonly version: number,
    readonly status: DeletionStatus,
    readonly deletionScheduledAtMs: number,
  ) {}
}
