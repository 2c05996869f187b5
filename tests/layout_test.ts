// Copyright the chitchat for Deno authors. MIT license.
// The house rules, checked on the real module graph (`deno info --json`):
// four rooms under lib/, imports that run one way, and a protocol core
// that never reaches for the world on its own.

import { deepStrictEqual, ok } from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const ROOMS = ["core", "runtime", "testing", "cli"] as const;
type Room = typeof ROOMS[number];

/** What each room may import, besides itself. */
const ALLOWED: Record<Room, readonly Room[]> = {
  core: [],
  runtime: ["core"],
  testing: ["core", "runtime"],
  cli: ["core", "runtime"],
};
/** The `node:` modules each room may use (everything else is a Deno or web API). */
const NODE_MODULES: Record<Room, readonly string[] | "any"> = {
  core: ["node:zlib"],
  runtime: "any",
  testing: "any",
  cli: "any",
};

interface ModuleInfo {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly specifier: string;
    readonly code?: { readonly specifier: string };
    readonly type?: { readonly specifier: string };
  }[];
}

async function moduleGraph(entries: readonly string[]): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const entry of entries) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    ok(output.success, new TextDecoder().decode(output.stderr));
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: ModuleInfo[];
    };
    for (const module of info.modules) {
      const targets = (module.dependencies ?? []).map((dependency) =>
        dependency.code?.specifier ?? dependency.type?.specifier ?? dependency.specifier
      );
      graph.set(module.specifier, targets);
    }
  }
  return graph;
}

function libPath(specifier: string): string | undefined {
  if (!specifier.startsWith("file://")) return undefined;
  const path = fileURLToPath(specifier);
  return path.startsWith(`${ROOT}lib/`) ? path.slice(ROOT.length) : undefined;
}

function roomOf(path: string): Room | undefined {
  const room = path.split("/")[1];
  return (ROOMS as readonly string[]).includes(room) ? room as Room : undefined;
}

async function libFiles(dir = `${ROOT}lib`): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await libFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path.slice(ROOT.length));
  }
  return files.sort();
}

Deno.test("lib/ holds four rooms and every file lives in one", async () => {
  const loose: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}lib`)) {
    if (!entry.isDirectory || roomOf(`lib/${entry.name}/x.ts`) === undefined) {
      loose.push(entry.name);
    }
  }
  deepStrictEqual(loose, [], "nothing stays directly in lib/ and no fifth room");
});

Deno.test("imports between rooms run one way: cli and testing over runtime over core", async () => {
  const entries = ["mod.ts", "lib/cli/cli.ts", "lib/cli/demo.ts", "lib/testing/mod.ts"];
  const graph = await moduleGraph(entries);
  // Files no entry reaches yet (work in progress) are checked on their own.
  const seen = new Set([...graph.keys()].map(libPath));
  const unreached = (await libFiles()).filter((path) => !seen.has(path));
  for (const [from, targets] of await moduleGraph(unreached)) graph.set(from, targets);
  const reached = new Set<string>();
  const broken: string[] = [];
  for (const [from, targets] of graph) {
    const fromPath = libPath(from);
    if (fromPath === undefined) continue;
    reached.add(fromPath);
    const room = roomOf(fromPath)!;
    for (const target of targets) {
      if (target.startsWith("node:")) {
        const allowed = NODE_MODULES[room];
        if (allowed !== "any" && !allowed.includes(target)) {
          broken.push(`${fromPath} -> ${target}`);
        }
        continue;
      }
      // The CLI reads its version from the package manifest: data, not code.
      if (room === "cli" && target === new URL("deno.json", `file://${ROOT}`).href) continue;
      const targetPath = libPath(target);
      if (targetPath === undefined) {
        broken.push(`${fromPath} -> ${target} (outside lib/)`);
        continue;
      }
      const targetRoom = roomOf(targetPath)!;
      if (targetRoom !== room && !ALLOWED[room].includes(targetRoom)) {
        broken.push(`${fromPath} -> ${targetPath}`);
      }
    }
  }
  deepStrictEqual(broken, []);
  deepStrictEqual(
    (await libFiles()).filter((path) => !reached.has(path)),
    [],
    "every file checked",
  );
});

Deno.test("the core takes time, timers and randomness only from what is injected", async () => {
  // The defaults live in one place each: clock.ts and random.ts.
  const DEFAULTS = new Set(["lib/core/clock.ts", "lib/core/random.ts"]);
  const forbidden =
    /\bDeno\.|\bsetTimeout\b|\bsetInterval\b|\bDate\.now\b|\bMath\.random\b|\bperformance\.now\b/;
  const found: string[] = [];
  for (const path of await libFiles()) {
    if (roomOf(path) !== "core") continue;
    const source = await Deno.readTextFile(`${ROOT}${path}`);
    // Comments and doc examples may name them; code may not.
    const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    const match = forbidden.exec(code);
    if (match !== null && !DEFAULTS.has(path)) found.push(`${path}: ${match[0]}`);
  }
  deepStrictEqual(found, []);
});

Deno.test("tests import nothing from bench/", async () => {
  const offenders: string[] = [];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) {
        const source = await Deno.readTextFile(path);
        if (/from "(\.\.\/)+bench\//.test(source)) offenders.push(path.slice(ROOT.length));
      }
    }
  }
  await walk(`${ROOT}tests`);
  deepStrictEqual(offenders, []);
});
