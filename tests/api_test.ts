// Copyright the chitchat for Deno authors. MIT license.
// The public surface, as `deno doc` shows it to users: small, sealed and
// stable in its key names.

import { deepStrictEqual, ok } from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

interface DocMember {
  readonly name?: string;
}
interface DocSymbol {
  readonly name: string;
  readonly declarations: readonly {
    readonly kind: string;
    readonly def?: {
      readonly properties?: readonly DocMember[];
      readonly methods?: readonly DocMember[];
    };
  }[];
}

async function publicSymbols(entry: string): Promise<DocSymbol[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  ok(output.success, new TextDecoder().decode(output.stderr));
  const doc = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    nodes: Record<string, { symbols?: DocSymbol[] }>;
  };
  return Object.values(doc.nodes).flatMap((module) => module.symbols ?? []);
}

function underscoreMembers(symbols: readonly DocSymbol[]): string[] {
  const found: string[] = [];
  for (const symbol of symbols) {
    for (const declaration of symbol.declarations) {
      const members = [
        ...declaration.def?.properties ?? [],
        ...declaration.def?.methods ?? [],
      ];
      for (const member of members) {
        if (member.name?.startsWith("_")) found.push(`${symbol.name}.${member.name}`);
      }
    }
  }
  return found;
}

const ENTRIES = ["mod.ts", "lib/testing/mod.ts", "lib/cli/cli.ts", "lib/cli/http_api.ts"];

Deno.test("mod.ts exports at most 51 names, the ones other work depends on among them", async () => {
  const names = (await publicSymbols("mod.ts")).map((symbol) => symbol.name);
  ok(names.length <= 51, `${names.length} root symbols: ${names.join(", ")}`);
  for (
    const name of [
      "spawnChitchat",
      "ChitchatHandle",
      "Chitchat",
      "NodeState",
      "ClusterState",
      "ChitchatId",
      "ChitchatConfig",
      "DecodeError",
      "encodeMessage",
      "decodeMessage",
      "Transport",
      "UdpTransport",
      "NodeUdpTransport",
    ]
  ) {
    ok(names.includes(name), `${name} is exported`);
  }
  for (const internal of ["KeyChangeListeners", "resolveChitchatConfig", "MESSAGE_HEADER_BYTES"]) {
    ok(!names.includes(internal), `${internal} stays internal`);
  }
});

Deno.test("./testing, ./cli and ./http export their tools", async () => {
  const testing = (await publicSymbols("lib/testing/mod.ts")).map((symbol) => symbol.name);
  for (const name of ["Simulator", "VirtualScheduler", "ChannelTransport"]) {
    ok(testing.includes(name), name);
  }
  ok((await publicSymbols("lib/cli/cli.ts")).some((symbol) => symbol.name === "main"));
  ok((await publicSymbols("lib/cli/http_api.ts")).some((s) => s.name === "createHttpHandler"));
});

Deno.test("no public type shows a member whose name starts with _", async () => {
  for (const entry of ENTRIES) {
    deepStrictEqual(underscoreMembers(await publicSymbols(entry)), [], entry);
  }
});

Deno.test("no source hides a member with @ignore", async () => {
  // `@ignore` keeps a member out of the docs but not out of the type: users
  // could still call it. Internals go through module-private accessors.
  const hidden: string[] = [];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts") && (await Deno.readTextFile(path)).includes("@ignore")) {
        hidden.push(path.slice(ROOT.length));
      }
    }
  }
  await walk(`${ROOT}lib`);
  deepStrictEqual(hidden, []);
});
