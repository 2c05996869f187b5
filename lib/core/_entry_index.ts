// Copyright the chitchat for Deno authors. MIT license.
// Internal: a node's key-values by key. Most nodes hold a handful of keys,
// and a process may hold a million node states (a simulation): up to
// SMALL entries live in a plain array searched linearly (a few dozen bytes),
// beyond that in a Map.

import type { KeyValueEntry } from "./_key_value_entry.ts";

const SMALL = 16;

export class EntryIndex {
  #items: KeyValueEntry[] = [];
  #map: Map<string, KeyValueEntry> | undefined;

  get size(): number {
    return this.#map?.size ?? this.#items.length;
  }

  get(key: string): KeyValueEntry | undefined {
    if (this.#map !== undefined) return this.#map.get(key);
    const items = this.#items;
    for (let i = 0; i < items.length; i++) {
      if (items[i].key === key) return items[i];
    }
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Stores `entry` under its key, replacing the previous one. */
  set(entry: KeyValueEntry): void {
    if (this.#map !== undefined) {
      this.#map.set(entry.key, entry);
      return;
    }
    const items = this.#items;
    for (let i = 0; i < items.length; i++) {
      if (items[i].key === entry.key) {
        items[i] = entry;
        return;
      }
    }
    if (items.length < SMALL) {
      items.push(entry);
      return;
    }
    this.#map = new Map(items.map((item) => [item.key, item]));
    this.#map.set(entry.key, entry);
    this.#items = [];
  }

  /** Stores `entry`, whose key the index does not hold (the caller just looked). */
  add(entry: KeyValueEntry): void {
    if (this.#map !== undefined) {
      this.#map.set(entry.key, entry);
      return;
    }
    const items = this.#items;
    if (items.length < SMALL) {
      items.push(entry);
      return;
    }
    const map = new Map<string, KeyValueEntry>();
    for (const item of items) map.set(item.key, item);
    map.set(entry.key, entry);
    this.#map = map;
    this.#items = [];
  }

  delete(key: string): boolean {
    if (this.#map !== undefined) return this.#map.delete(key);
    const items = this.#items;
    for (let i = 0; i < items.length; i++) {
      if (items[i].key === key) {
        items.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  /** The entries, in no particular order (a snapshot: deleting while iterating is safe). */
  values(): KeyValueEntry[] {
    return this.#map === undefined ? [...this.#items] : [...this.#map.values()];
  }

  /** The keys, in no particular order. */
  keys(): string[] {
    return this.#map === undefined ? this.#items.map((item) => item.key) : [...this.#map.keys()];
  }
}
