// Copyright the chitchat for Deno authors. MIT license.
// Test helper: loads the reference vectors (../shared/wire/vectors.json,
// or a copy in tests/data/ for a standalone checkout) and converts their
// JSON conventions to ours.

import { readFileSync } from "node:fs";
import type { ChitchatId, DeletionStatus, KeyValueMutation, NodeDelta } from "../mod.ts";
import { Delta, Digest, parseSocketAddress } from "../mod.ts";

export interface JsonId {
  generation_id: string;
  gossip_advertise_addr: string;
  node_id: string;
}

export interface JsonKeyValue {
  key: string;
  value: string;
  version: string;
  status: "Set" | "Delete" | "DeleteAfterTtl";
}

export interface JsonNodeDelta {
  chitchat_id: JsonId;
  from_version_excluded: string;
  last_gc_version: string;
  key_values: JsonKeyValue[];
  max_version: string;
}

export interface JsonDigest {
  nodes: { chitchat_id: JsonId; heartbeat: string; last_gc_version: string; max_version: string }[];
}

export interface JsonOp {
  op: "Node" | "KeyValue" | "SetMaxVersion";
  accepted?: boolean;
  chitchat_id?: JsonId;
  from_version_excluded?: string;
  last_gc_version?: string;
  key?: string;
  value?: string;
  version?: string;
  status?: JsonKeyValue["status"];
  max_version?: string;
}

export interface JsonBlock {
  type: "compressed" | "uncompressed" | "end";
  offset: number;
  payload_len: number;
  decompressed_len: number;
}

export interface Vector {
  name: string;
  kind: string;
  description: string;
  hex: string;
  len: number;
  compressed: boolean;
  zstd_dependent: boolean;
  // deno-lint-ignore no-explicit-any
  content: any;
  expect?: "ok" | "error";
  blocks?: JsonBlock[];
  decompressed_stream_hex?: string;
  delta_offset?: number;
  mtu?: number;
  attempts?: JsonOp[];
}

const candidates = [
  new URL("../../shared/wire/vectors.json", import.meta.url),
  new URL("./data/vectors.json", import.meta.url),
];

// node:fs rather than Deno.readTextFileSync: tests/compat/ loads this on Node.js and Bun too.
export function loadVectors(): Vector[] {
  for (const url of candidates) {
    try {
      return JSON.parse(readFileSync(url, "utf8"));
    } catch (error) {
      if ((error as { code?: unknown }).code !== "ENOENT") throw error;
    }
  }
  throw new Error("vectors.json not found (expected ../shared/wire/ or tests/data/)");
}

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const STATUS: Record<JsonKeyValue["status"], DeletionStatus> = {
  Set: "set",
  Delete: "deleted",
  DeleteAfterTtl: "deleteAfterTtl",
};

export function toStatus(status: JsonKeyValue["status"]): DeletionStatus {
  return STATUS[status];
}

export function toId(json: JsonId): ChitchatId {
  return {
    nodeId: json.node_id,
    generationId: BigInt(json.generation_id),
    gossipAdvertiseAddr: parseSocketAddress(json.gossip_advertise_addr),
  };
}

export function toKeyValue(json: JsonKeyValue): KeyValueMutation {
  return {
    key: json.key,
    value: json.value,
    version: Number(json.version),
    status: toStatus(json.status),
  };
}

export function toNodeDelta(json: JsonNodeDelta): NodeDelta {
  return {
    chitchatId: toId(json.chitchat_id),
    fromVersionExcluded: Number(json.from_version_excluded),
    lastGcVersion: Number(json.last_gc_version),
    keyValues: json.key_values.map(toKeyValue),
    maxVersion: Number(json.max_version),
  };
}

export function toDelta(json: { node_deltas: JsonNodeDelta[] }): Delta {
  return new Delta(json.node_deltas.map(toNodeDelta));
}

export function toDigest(json: JsonDigest): Digest {
  return new Digest(json.nodes.map((node) => ({
    chitchatId: toId(node.chitchat_id),
    heartbeat: Number(node.heartbeat),
    lastGcVersion: Number(node.last_gc_version),
    maxVersion: Number(node.max_version),
  })));
}

/** A plain, comparable view of a delta. */
export function plainDelta(delta: Delta): unknown[] {
  return delta.nodeDeltas.map((nodeDelta) => ({
    chitchatId: plainId(nodeDelta.chitchatId),
    fromVersionExcluded: nodeDelta.fromVersionExcluded,
    lastGcVersion: nodeDelta.lastGcVersion,
    keyValues: nodeDelta.keyValues.map(({ key, value, version, status }) => ({
      key,
      value,
      version,
      status,
    })),
    maxVersion: nodeDelta.maxVersion,
  }));
}

/** A plain, comparable view of a digest (id order). */
export function plainDigest(digest: Digest): unknown[] {
  return digest.entries().map((entry) => ({
    chitchatId: plainId(entry.chitchatId),
    heartbeat: entry.heartbeat,
    lastGcVersion: entry.lastGcVersion,
    maxVersion: entry.maxVersion,
  }));
}

export function plainId(id: ChitchatId): unknown {
  return {
    nodeId: id.nodeId,
    generationId: id.generationId,
    hostname: id.gossipAdvertiseAddr.hostname,
    port: id.gossipAdvertiseAddr.port,
  };
}

/** Whether a vector carries a u64 above Number.MAX_SAFE_INTEGER in a version or heartbeat. */
export function hasUnsafeVersion(vector: Vector): boolean {
  const unsafe = (key: string, value: unknown): boolean =>
    ["heartbeat", "last_gc_version", "max_version", "version", "from_version_excluded"].includes(
      key,
    ) &&
    typeof value === "string" && BigInt(value) > BigInt(Number.MAX_SAFE_INTEGER);
  const walk = (value: unknown): boolean => {
    if (Array.isArray(value)) return value.some(walk);
    if (value !== null && typeof value === "object") {
      return Object.entries(value).some(([k, v]) => unsafe(k, v) || walk(v));
    }
    return false;
  };
  return walk(vector.content);
}
