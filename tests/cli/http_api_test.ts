// Copyright the chitchat for Deno authors. MIT license.
// The HTTP API handler, in process: no sockets, only Request and Response
// objects against Chitchat state machines driven by hand on a fake clock.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { Chitchat } from "../../lib/core/chitchat.ts";
import type { ChitchatId } from "../../lib/core/chitchat_id.ts";
import {
  type ClusterStateJson,
  clusterStateJson,
  createHttpHandler,
  type KeyValueJson,
} from "../../lib/cli/http_api.ts";

// Deno 2.9 runs tests without its sanitizers unless asked; these tests ask,
// so that a socket, server or timer left open fails the test that opened it.
const SANITIZED = { sanitizeOps: true, sanitizeResources: true } as const;

const MAX_U64 = 0xffff_ffff_ffff_ffffn;

function id(nodeId: string, port: number, hostname = "127.0.0.1", generationId = 1n): ChitchatId {
  return { nodeId, generationId, gossipAdvertiseAddr: { hostname, port } };
}

class FakeClock {
  nowMs = 1_000;
  now(): number {
    return this.nowMs;
  }
}

function node(chitchatId: ChitchatId, clock = new FakeClock()): Chitchat {
  return new Chitchat({ chitchatId, clusterId: "test-cluster" }, { clock });
}

/** One SYN / SYN-ACK / ACK exchange started by `from`. */
function handshake(from: Chitchat, to: Chitchat): void {
  const synAck = to.processMessage(from.createSynMessage());
  ok(synAck !== undefined);
  const ack = from.processMessage(synAck);
  ok(ack !== undefined);
  to.processMessage(ack);
}

function request(path: string, init?: RequestInit): Request {
  return new Request(`http://node.test${path}`, init);
}

async function send(
  chitchat: Chitchat,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await createHttpHandler(chitchat)(request(path, init));
  equal(response.headers.get("content-type"), "application/json");
  return { status: response.status, headers: response.headers, body: await response.json() };
}

async function expectError(
  chitchat: Chitchat,
  path: string,
  init: RequestInit | undefined,
  status: number,
  message: RegExp,
): Promise<Headers> {
  const before = JSON.stringify(clusterStateJson(chitchat));
  const response = await send(chitchat, path, init);
  equal(response.status, status);
  deepStrictEqual(Object.keys(response.body), ["error"]);
  match(String(response.body.error), message);
  // A refused request changes nothing.
  equal(JSON.stringify(clusterStateJson(chitchat)), before);
  return response.headers;
}

function selfKeyValues(state: ClusterStateJson): readonly KeyValueJson[] {
  const self = state.nodes.find((n) => n.chitchatId.nodeId === state.self.nodeId);
  ok(self !== undefined);
  return self.keyValues;
}

Deno.test("GET / returns the cluster state as this node sees it", SANITIZED, async () => {
  const clock = new FakeClock();
  const observer = node(id("observer", 10001, "::1", MAX_U64), clock);
  const live = node(id("live", 10002), clock);
  const dead = node(id("dead", 10003), clock);
  observer.selfNodeState().set("role", "api");
  live.selfNodeState().set("color", "red");
  live.selfNodeState().set("gone", "soon");
  live.selfNodeState().delete("gone");
  live.selfNodeState().setWithTtl("lease", "42");
  // The failure detector needs two heartbeat intervals before it calls a node live.
  for (let round = 0; round < 4; round++) {
    clock.nowMs += 100;
    handshake(observer, live);
  }
  handshake(observer, dead);
  observer.updateNodesLiveness();

  const response = await createHttpHandler(observer)(request("/"));
  equal(response.status, 200);
  equal(response.headers.get("content-type"), "application/json");
  const body: ClusterStateJson = await response.json();

  const observerJson = {
    nodeId: "observer",
    generationId: "18446744073709551615",
    gossipAdvertiseAddr: "[::1]:10001",
  };
  const liveJson = { nodeId: "live", generationId: "1", gossipAdvertiseAddr: "127.0.0.1:10002" };
  const deadJson = { nodeId: "dead", generationId: "1", gossipAdvertiseAddr: "127.0.0.1:10003" };
  deepStrictEqual(Object.keys(body), [
    "clusterId",
    "self",
    "liveNodes",
    "deadNodes",
    "leftNodes",
    "nodes",
  ]);
  equal(body.clusterId, "test-cluster");
  deepStrictEqual(body.self, observerJson);
  // Id order, as Chitchat.liveNodes() lists them.
  deepStrictEqual(body.liveNodes, [liveJson, observerJson]);
  deepStrictEqual(body.deadNodes, [deadJson]);
  deepStrictEqual(body.leftNodes, []);
  deepStrictEqual(
    body.nodes.map((n) => [n.chitchatId.nodeId, n.isLive]),
    [["dead", false], ["live", true], ["observer", true]],
  );
  const liveNode = body.nodes[1];
  equal(liveNode.heartbeat, observer.nodeState(live.chitchatId)?.heartbeat);
  ok(liveNode.heartbeat > 1);
  equal(liveNode.maxVersion, 4);
  equal(liveNode.lastGcVersion, 0);
  deepStrictEqual(liveNode.keyValues, [
    { key: "color", value: "red", version: 1, status: "set" },
    { key: "gone", value: "", version: 3, status: "deleted" },
    { key: "lease", value: "42", version: 4, status: "deleteAfterTtl" },
  ]);
  deepStrictEqual(body.nodes[2].keyValues, [
    { key: "role", value: "api", version: 1, status: "set" },
  ]);
  deepStrictEqual(body, clusterStateJson(observer));
});

Deno.test("clusterStateJson() is a snapshot that later writes leave alone", SANITIZED, () => {
  const chitchat = node(id("n1", 1));
  chitchat.selfNodeState().set("k", "v1");
  const before = clusterStateJson(chitchat);
  chitchat.selfNodeState().set("k", "v2");
  deepStrictEqual(selfKeyValues(before), [{ key: "k", value: "v1", version: 1, status: "set" }]);
  deepStrictEqual(selfKeyValues(clusterStateJson(chitchat)), [
    { key: "k", value: "v2", version: 2, status: "set" },
  ]);
});

Deno.test("PUT then DELETE /kv/<key> round-trips through the node state", SANITIZED, async (t) => {
  const chitchat = node(id("n1", 1));
  await t.step("PUT sets the body as the value", async () => {
    const put = await send(chitchat, "/kv/color", { method: "PUT", body: "red" });
    equal(put.status, 200);
    deepStrictEqual(put.body, { key: "color", value: "red", version: 1, status: "set" });
    equal(chitchat.selfNodeState().get("color"), "red");
    const state = (await send(chitchat, "/")).body as unknown as ClusterStateJson;
    deepStrictEqual(selfKeyValues(state), [put.body]);
  });
  await t.step("PUT overwrites under a new version", async () => {
    const put = await send(chitchat, "/kv/color", { method: "PUT", body: "blue" });
    deepStrictEqual(put.body, { key: "color", value: "blue", version: 2, status: "set" });
  });
  await t.step("PUT with an empty body sets an empty value", async () => {
    const put = await send(chitchat, "/kv/empty", { method: "PUT" });
    deepStrictEqual(put.body, { key: "empty", value: "", version: 3, status: "set" });
    ok(chitchat.selfNodeState().has("empty"));
  });
  await t.step("DELETE leaves a tombstone that GET / lists", async () => {
    const del = await send(chitchat, "/kv/color", { method: "DELETE" });
    equal(del.status, 200);
    deepStrictEqual(del.body, { key: "color", value: "", version: 4, status: "deleted" });
    equal(chitchat.selfNodeState().get("color"), undefined);
    const state = (await send(chitchat, "/")).body as unknown as ClusterStateJson;
    deepStrictEqual(selfKeyValues(state)[0], del.body);
  });
  await t.step("DELETE of a deleted key is a 404 that keeps the tombstone", async () => {
    await expectError(chitchat, "/kv/color", { method: "DELETE" }, 404, /No key "color"/);
    equal(chitchat.selfNodeState().getVersioned("color")?.version, 4);
  });
});

Deno.test("PUT ?ttl=1 and DELETE ?afterTtl=1 schedule a deletion", SANITIZED, async () => {
  const chitchat = node(id("n1", 1));
  const lease = await send(chitchat, "/kv/lease?ttl=1", { method: "PUT", body: "holder-1" });
  deepStrictEqual(lease.body, {
    key: "lease",
    value: "holder-1",
    version: 1,
    status: "deleteAfterTtl",
  });
  equal(chitchat.selfNodeState().get("lease"), "holder-1");
  for (const flag of ["ttl=0", "ttl=false"]) {
    const plain = await send(chitchat, `/kv/plain?${flag}`, { method: "PUT", body: flag });
    equal(plain.body.status, "set");
  }
  const withTrue = await send(chitchat, "/kv/other?ttl=true", { method: "PUT", body: "x" });
  equal(withTrue.body.status, "deleteAfterTtl");
  const bare = await send(chitchat, "/kv/bare?ttl", { method: "PUT", body: "x" });
  equal(bare.body.status, "deleteAfterTtl");

  const later = await send(chitchat, "/kv/plain?afterTtl=1", { method: "DELETE" });
  deepStrictEqual(later.body, {
    key: "plain",
    value: "ttl=false",
    version: 6,
    status: "deleteAfterTtl",
  });
  // Still readable until the grace period is over.
  equal(chitchat.selfNodeState().get("plain"), "ttl=false");
});

Deno.test("keys are percent-decoded from the path", SANITIZED, async () => {
  const chitchat = node(id("n1", 1));
  const cases: [string, string][] = [
    ["/kv/a%2Fb", "a/b"],
    ["/kv/a/b/c", "a/b/c"],
    ["/kv/caf%C3%A9", "café"],
    ["/kv/clé", "clé"],
    ["/kv/%F0%9F%98%80", "😀"],
    ["/kv/with%20space", "with space"],
    ["/kv/a%3Fb%23c", "a?b#c"],
  ];
  for (const [path, key] of cases) {
    const put = await send(chitchat, path, { method: "PUT", body: `value of ${key}` });
    equal(put.status, 200, path);
    equal(put.body.key, key);
    equal(chitchat.selfNodeState().get(key), `value of ${key}`);
  }
  const del = await send(chitchat, "/kv/%F0%9F%98%80", { method: "DELETE" });
  equal(del.body.key, "😀");
  ok(!chitchat.selfNodeState().has("😀"));
});

Deno.test("values keep their exact UTF-8 text", SANITIZED, async () => {
  const chitchat = node(id("n1", 1));
  const value = "\uFEFFünïcödé 😀\n\t\0";
  const put = await send(chitchat, "/kv/k", { method: "PUT", body: value });
  equal(put.body.value, value);
  equal(chitchat.selfNodeState().get("k"), value);
});

Deno.test("unknown routes get a 404 JSON error", SANITIZED, async () => {
  const chitchat = node(id("n1", 1));
  for (const path of ["/nope", "/kv", "/KV/x", "/index.html"]) {
    await expectError(chitchat, path, undefined, 404, new RegExp(`No route for ${path}`));
  }
});

Deno.test("deleting a key this node never had gets a 404", SANITIZED, async () => {
  const chitchat = node(id("n1", 1));
  await expectError(
    chitchat,
    "/kv/never",
    { method: "DELETE" },
    404,
    /^No key "never" on this node$/,
  );
  await expectError(chitchat, "/kv/never?afterTtl=1", { method: "DELETE" }, 404, /"never"/);
  equal(chitchat.selfNodeState().getVersioned("never"), undefined);
});

Deno.test("wrong methods get a 405 with an Allow header", SANITIZED, async () => {
  const chitchat = node(id("n1", 1));
  chitchat.selfNodeState().set("k", "v");
  const cases: [string, string, string][] = [
    ["/", "POST", "GET, HEAD"],
    ["/", "DELETE", "GET, HEAD"],
    ["/metrics", "PUT", "GET, HEAD"],
    ["/kv/k", "POST", "GET, HEAD, PUT, DELETE"],
    ["/kv/k", "PATCH", "GET, HEAD, PUT, DELETE"],
  ];
  for (const [path, method, allow] of cases) {
    const body = method === "GET" ? undefined : "x";
    const headers = await expectError(
      chitchat,
      path,
      { method, body },
      405,
      new RegExp(`Method ${method} not allowed`),
    );
    equal(headers.get("allow"), allow);
  }
});

Deno.test("malformed keys and query parameters get a 400", SANITIZED, async () => {
  const chitchat = node(id("n1", 1));
  chitchat.selfNodeState().set("k", "v");
  const put = { method: "PUT", body: "v" };
  await expectError(chitchat, "/kv/", put, 400, /Missing key/);
  await expectError(chitchat, "/kv/%E0%A4%A", put, 400, /malformed percent-encoding/);
  await expectError(chitchat, "/kv/%FF", put, 400, /malformed percent-encoding/);
  await expectError(chitchat, "/kv/%ZZ", { method: "DELETE" }, 400, /malformed/);
  await expectError(chitchat, "/kv/k?tll=1", put, 400, /Unknown query parameter "tll"/);
  await expectError(chitchat, "/kv/k?ttl=yes", put, 400, /ttl="yes": expected 1, true/);
  await expectError(chitchat, "/kv/k?ttl=1", { method: "DELETE" }, 400, /"ttl"/);
  await expectError(chitchat, "/kv/k?afterTtl=1", put, 400, /"afterTtl"/);
  await expectError(chitchat, "/kv/k?afterTtl=2", { method: "DELETE" }, 400, /afterTtl="2"/);
  await expectError(
    chitchat,
    "/?pretty=1",
    undefined,
    400,
    /"pretty" \(known: node, prefix, keys\)/,
  );
});

Deno.test("a body that is not UTF-8 gets a 400", SANITIZED, async () => {
  const chitchat = node(id("n1", 1));
  for (const bytes of [[0xff], [0x61, 0xc3], [0xed, 0xa0, 0x80]]) {
    await expectError(
      chitchat,
      "/kv/k",
      { method: "PUT", body: new Uint8Array(bytes) },
      400,
      /not valid UTF-8/,
    );
  }
});

Deno.test("a value too large for a datagram gets a 413 with the reason", SANITIZED, async () => {
  const chitchat = node(id("n1", 1));
  await expectError(
    chitchat,
    "/kv/k",
    { method: "PUT", body: "x".repeat(70_000), headers: { "content-length": "70000" } },
    413,
    /^Cannot set value: length 70000 exceeds 65535 bytes$/,
  );
  // Without a Content-Length the body is read up to the limit, then dropped.
  const chunks = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < 5; i++) controller.enqueue(new Uint8Array(20_000).fill(0x61));
      controller.close();
    },
  });
  await expectError(
    chitchat,
    "/kv/k",
    { method: "PUT", body: chunks },
    413,
    /^Cannot set value: length exceeds 65535 bytes$/,
  );
  // Under the wire limit but over what fits one datagram with the node's header.
  await expectError(
    chitchat,
    "/kv/k",
    { method: "PUT", body: "x".repeat(65_500) },
    413,
    /^Cannot set key-value: 65501 bytes of key and value cannot fit one 65507-byte datagram$/,
  );
  const fits = await send(chitchat, "/kv/k", { method: "PUT", body: "x".repeat(60_000) });
  equal(fits.status, 200);
  equal(chitchat.selfNodeState().get("k")?.length, 60_000);
});
