// Copyright the chitchat for Deno authors. MIT license.
// The live cluster page in a real headless Chromium, driven over the
// DevTools protocol with Deno's own WebSocket: three CLI nodes (each a
// subprocess) show as three live rows; one is killed and its row turns
// dead without a reload; a key set through the HTTP API of another node
// appears; the filter box narrows the rows; the serving node stops cleanly
// with the stream open, comes back as a new generation, and the page
// reconnects to it by itself. Skipped, with a message, where no Chromium is installed
// (`.ci/run` installs Debian's `chromium` when missing; CHROMIUM points at
// another binary).

import { equal, ok } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { waitFor, withTimeout } from "../_deadline.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** $CHROMIUM when set (and only it), else Debian's and Ubuntu's paths. */
function findBrowser(): string | undefined {
  const chosen = Deno.env.get("CHROMIUM");
  const candidates = chosen ? [chosen] : ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not there: try the next one.
    }
  }
  return undefined;
}

const BROWSER = findBrowser();
/** Bounds on one DevTools command and on a node's clean exit. */
const SEND_TIMEOUT_MS = 10_000;
const EXIT_TIMEOUT_MS = 10_000;
if (BROWSER === undefined) {
  console.warn(
    `ui_browser_test: skipped: no Chromium at ${
      Deno.env.get("CHROMIUM") || "/usr/bin/chromium or /usr/bin/chromium-browser"
    } (apt-get install chromium, run .ci/run, or set CHROMIUM)`,
  );
}

/** Reads a piped stream line by line in the background, so the pipe never fills. */
class LineTail {
  readonly lines: string[] = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#read(stream);
  }

  async #read(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      this.lines.push(...parts);
    }
    if (rest !== "") this.lines.push(rest);
  }

  find(pattern: RegExp): RegExpExecArray | undefined {
    for (const line of this.lines) {
      const found = pattern.exec(line);
      if (found !== null) return found;
    }
    return undefined;
  }
}

/** A child process whose output is drained, killed and reaped on dispose. */
class Child implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly stdout: LineTail;
  readonly stderr: LineTail;

  constructor(command: string, args: string[]) {
    this.process = new Deno.Command(command, {
      args,
      cwd: REPO_ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.stdout = new LineTail(this.process.stdout);
    this.stderr = new LineTail(this.process.stderr);
  }

  /** Sends SIGTERM and returns the exit code, failing (not hanging) if the process does not exit. */
  async terminate(): Promise<number> {
    this.kill("SIGTERM");
    try {
      return (await withTimeout(this.process.status, EXIT_TIMEOUT_MS, "exit after SIGTERM")).code;
    } catch (error) {
      throw new Error(`${(error as Error).message}; stderr: ${this.stderr.lines.join("\n")}`);
    }
  }

  kill(signal: Deno.Signal): void {
    try {
      this.process.kill(signal);
    } catch {
      // Already exited.
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL");
    await this.process.status;
    await Promise.all([this.stdout.done, this.stderr.done]);
  }
}

function cliNode(name: string, extra: string[]): Child {
  return new Child(Deno.execPath(), [
    "run",
    "-A",
    "lib/cli/cli.ts",
    ...(extra.some((arg) => arg.startsWith("--listen=")) ? [] : ["--listen=127.0.0.1:0"]),
    `--node-id=${name}`,
    "--cluster-id=browser",
    "--interval-ms=100",
    ...extra,
  ]);
}

async function udpPort(node: Child): Promise<number> {
  const found = await waitFor(
    "the startup line",
    () => node.stdout.find(/gossiping on 127\.0\.0\.1:(\d+) /),
    10_000,
  );
  return Number(found[1]);
}

async function httpUrl(node: Child): Promise<string> {
  const found = await waitFor(
    "the HTTP line",
    () => node.stdout.find(/^chitchat: HTTP API on (http:\/\/\S+)$/),
    10_000,
  );
  return found[1];
}

/** The DevTools protocol over one WebSocket, with flattened page sessions. */
class DevTools implements AsyncDisposable {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, PromiseWithResolvers<Record<string, unknown>>>();
  readonly #closed: Promise<void>;
  #nextId = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    this.#closed = new Promise((resolve) =>
      socket.addEventListener("close", () => {
        for (const pending of this.#pending.values()) {
          pending.reject(new Error("DevTools connection closed"));
        }
        this.#pending.clear();
        resolve();
      })
    );
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data as string);
      if (typeof message.id !== "number") return;
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error !== undefined) {
        pending?.reject(new Error(`DevTools: ${JSON.stringify(message.error)}`));
      } else pending?.resolve(message.result);
    });
  }

  static async connect(url: string): Promise<DevTools> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.addEventListener("open", resolve, { once: true });
      socket.addEventListener("error", () => reject(new Error("DevTools WebSocket failed")), {
        once: true,
      });
    });
    return new DevTools(socket);
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    const reply = Promise.withResolvers<Record<string, unknown>>();
    this.#pending.set(id, reply);
    this.#socket.send(JSON.stringify({ id, method, params, sessionId }));
    // A browser that stops answering fails the test instead of hanging it.
    return withTimeout(reply.promise, SEND_TIMEOUT_MS, `DevTools ${method}`).finally(() =>
      this.#pending.delete(id)
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#socket.readyState !== WebSocket.CLOSED) this.#socket.close();
    await this.#closed;
  }
}

interface Row {
  readonly id: string;
  readonly status: string;
  readonly text: string;
}

Deno.test({
  name:
    "the cluster page shows three live nodes, a death without reload, a key set by the API, and reconnects by itself",
  ignore: BROWSER === undefined,
  sanitizeOps: true,
  sanitizeResources: true,
}, async () => {
  const profile = await Deno.makeTempDir({ prefix: "chitchat-chromium-" });
  try {
    await using seed = cliNode("alpha", ["--http=127.0.0.1:0", "--generation=1"]);
    const seedPort = await udpPort(seed);
    const seedArgs = [`--seed=127.0.0.1:${seedPort}`];
    await using beta = cliNode("beta", [...seedArgs, "--http=127.0.0.1:0"]);
    await using gamma = cliNode("gamma", seedArgs);
    const page = `${await httpUrl(seed)}ui`;
    const betaApi = await httpUrl(beta);
    await udpPort(gamma);

    await using browser = new Child(BROWSER!, [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank",
    ]);
    const endpoint = await waitFor(
      "the DevTools URL on Chromium's stderr",
      () => browser.stderr.find(/DevTools listening on (ws:\/\/\S+)/),
      10_000,
    );
    await using devtools = await DevTools.connect(endpoint[1]);
    const { targetId } = await devtools.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await devtools.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    }) as { sessionId: string };
    await devtools.send("Page.navigate", { url: page }, sessionId);
    const evaluate = async <T>(expression: string): Promise<T> => {
      const { result, exceptionDetails } = await devtools.send("Runtime.evaluate", {
        expression,
        returnByValue: true,
      }, sessionId) as { result: { value: T }; exceptionDetails?: unknown };
      if (exceptionDetails !== undefined) throw new Error(JSON.stringify(exceptionDetails));
      return result.value;
    };
    const rows = () =>
      evaluate<Row[]>(`[...document.querySelectorAll("tr[data-node-id]")].map((tr) => ({
        id: tr.dataset.nodeId, status: tr.dataset.status, text: tr.textContent,
      }))`);

    await waitFor("three live rows", async () => {
      const now = await rows();
      return now.length === 3 && now.every((row) => row.status === "live") ? now : undefined;
    }, 10_000);
    // Marks this document: a reload would lose the mark.
    await evaluate("window.__sameDocument = true");

    gamma.kill("SIGKILL");
    const afterDeath = await waitFor("gamma's row turns dead", async () => {
      const now = await rows();
      return now.find((row) => row.id === "gamma")?.status === "dead" ? now : undefined;
    }, 10_000);
    equal(afterDeath.filter((row) => row.status === "live").length, 2);

    const put = await fetch(`${betaApi}kv/color`, { method: "PUT", body: "ultraviolet" });
    equal(put.status, 200);
    await put.body?.cancel();
    // Set on beta, gossiped to alpha, pushed to the page: the row's key list holds it.
    await waitFor("beta's key on alpha's page", async () => {
      const beta = (await rows()).find((row) => row.id === "beta");
      return beta?.text.includes("color") && beta.text.includes("ultraviolet") ? true : undefined;
    }, 10_000);
    // The filter box keeps the rows whose text matches, key=value included.
    const shown = await evaluate<string[]>(`(() => {
      const filter = document.getElementById("filter");
      filter.value = "color=ultra";
      filter.dispatchEvent(new Event("input"));
      return [...document.querySelectorAll("tr[data-node-id]")]
        .filter((tr) => !tr.hidden).map((tr) => tr.dataset.nodeId);
    })()`);
    equal(shown.join(), "beta");
    ok(await evaluate<boolean>("window.__sameDocument === true"), "the page was not reloaded");
    const connection = () =>
      evaluate<string>(`document.getElementById("connection").dataset.state`);
    equal(await connection(), "open");

    // The page's stream is still open: the node must end it to stop cleanly.
    equal(await seed.terminate(), 0, seed.stderr.lines.join("\n"));
    await waitFor("the page notices", async () => await connection() !== "open" || undefined);
    // alpha comes back, a new generation on the same addresses: the page's
    // EventSource reconnects by itself and the page rebuilds from the new state.
    const httpPort = new URL(page).port;
    await using again = cliNode("alpha", [
      `--listen=127.0.0.1:${seedPort}`,
      `--http=127.0.0.1:${httpPort}`,
      "--generation=2",
      `--seed=${new URL(betaApi).hostname}:${await udpPort(beta)}`,
    ]);
    await waitFor("the page reconnected to the new alpha", async () => {
      const alpha = await evaluate<{ generation: string; status: string } | null>(
        `(() => { const tr = document.querySelector('tr[data-node-id=alpha][data-generation="2"]');
          return tr && { generation: tr.dataset.generation, status: tr.dataset.status }; })()`,
      );
      return alpha?.generation === "2" && alpha.status === "live" ? true : undefined;
    }, 10_000);
    equal(await connection(), "open");
    // SIGTERM made generation 1 leave: beta tells the new alpha, whose page says so.
    await waitFor("alpha/1 shown as left", async () =>
      await evaluate<string | null>(
          `document.querySelector('tr[data-node-id=alpha][data-generation="1"]')?.dataset.status ?? null`,
        ) === "left" || undefined, 10_000);
    ok(await evaluate<boolean>("window.__sameDocument === true"), "still no reload");

    const [againCode, betaCode] = await Promise.all([again.terminate(), beta.terminate()]);
    equal(againCode, 0, again.stderr.lines.join("\n"));
    equal(betaCode, 0, beta.stderr.lines.join("\n"));
    await devtools.send("Browser.close").catch(() => {});
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
});
