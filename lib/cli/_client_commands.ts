// Copyright the chitchat for Deno authors. MIT license.
// Internal: the client subcommands of the `chitchat` command (`members`,
// `get`, `set`), which talk to a running node's HTTP API.

/** A client subcommand, parsed. */
export type ClientCommand =
  | { readonly kind: "members"; readonly http: string }
  | { readonly kind: "get"; readonly http: string; readonly key: string }
  | { readonly kind: "set"; readonly http: string; readonly key: string; readonly value: string };

/** The subcommand names, as the first argument. */
export const CLIENT_COMMANDS: readonly string[] = ["members", "get", "set"];

/** Parses `members|get|set ... --http HOST:PORT`; returns an error message for a bad line. */
export function parseClientCommand(args: readonly string[]): ClientCommand | string {
  const [name, ...rest] = args;
  const positionals: string[] = [];
  let http: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--http") {
      if (i + 1 >= rest.length) return "missing value for --http";
      http = rest[++i];
    } else if (arg.startsWith("--http=")) http = arg.slice("--http=".length);
    else if (arg.startsWith("--")) return `unknown option ${arg} for ${name} (expected --http)`;
    else positionals.push(arg);
  }
  if (http === undefined) return `${name} needs --http HOST:PORT of a running node`;
  const arity = name === "members" ? 0 : name === "get" ? 1 : 2;
  if (positionals.length !== arity) {
    const usage = name === "members" ? "members" : name === "get" ? "get KEY" : "set KEY VALUE";
    return `usage: chitchat ${usage} --http HOST:PORT`;
  }
  if (name === "members") return { kind: "members", http };
  if (name === "get") return { kind: "get", http, key: positionals[0] };
  return { kind: "set", http, key: positionals[0], value: positionals[1] };
}

interface MemberRow {
  nodeId: string;
  generationId: string;
  address: string;
  status: string;
  heartbeat: number;
  maxVersion: number;
  phi: number | null;
  msSinceHeartbeat: number | null;
}

/** Runs a client subcommand; returns the exit code (0, or 1 on a failed request). */
export async function runClientCommand(
  command: ClientCommand,
  stdout: (line: string) => void,
  stderr: (line: string) => void,
): Promise<number> {
  const base = command.http.includes("://") ? command.http : `http://${command.http}`;
  const path = command.kind === "members" ? "/members" : `/kv/${encodeURIComponent(command.key)}`;
  let response: Response;
  try {
    response = await fetch(new URL(path, base), {
      method: command.kind === "set" ? "PUT" : "GET",
      body: command.kind === "set" ? command.value : undefined,
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    stderr(`chitchat: cannot reach ${base}: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
  const body = await response.json().catch(() => undefined);
  if (!response.ok) {
    const reason = typeof body?.error === "string" ? body.error : `HTTP ${response.status}`;
    stderr(`chitchat: ${reason}`);
    return 1;
  }
  if (command.kind === "get") stdout(String(body.value));
  else if (command.kind === "set") stdout(`${body.key} = ${body.value} (version ${body.version})`);
  else for (const line of membersTable(body as MemberRow[])) stdout(line);
  return 0;
}

/** The rows as an aligned table, like `serf members`. */
function membersTable(rows: readonly MemberRow[]): string[] {
  const cells = [
    [
      "NODE",
      "GENERATION",
      "ADDRESS",
      "STATUS",
      "HEARTBEAT",
      "MAX VERSION",
      "PHI",
      "LAST HEARTBEAT",
    ],
    ...rows.map((r) => [
      r.nodeId,
      r.generationId,
      r.address,
      r.status,
      String(r.heartbeat),
      String(r.maxVersion),
      r.phi === null ? "-" : r.phi.toFixed(2),
      r.msSinceHeartbeat === null ? "-" : `${r.msSinceHeartbeat} ms ago`,
    ]),
  ];
  const widths = cells[0].map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  return cells.map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());
}
