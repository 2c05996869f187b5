// Copyright the chitchat for Deno authors. MIT license.
// Internal: the stored form of a key-value.

import type { DeletionStatus, KeyValueMutation, VersionedValue } from "./versioned_value.ts";

/**
 * One stored key-value. Immutable, so deltas carry entries as they are and
 * replicas in the same process (a simulation) share the `"set"` ones.
 */
export class KeyValueEntry implements VersionedValue, KeyValueMutation {
  constructor(
    readonly key: string,
    readonly value: string,
    readonly version: number,
    readonly status: DeletionStatus,
    readonly deletionScheduledAtMs: number,
  ) {}
}
