// Copyright the chitchat for Deno authors. MIT license.
// Test helper: a strict reader of the Prometheus text exposition format
// 0.0.4. It refuses what a scraper would choke on or silently misread:
// malformed lines, samples without a TYPE, a TYPE after its samples,
// duplicate series, bad names, counters not ending in _total.

export interface Family {
  readonly type: "counter" | "gauge";
  readonly help: string;
  readonly samples: Map<string, number>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseLabels(text: string, line: string): string {
  const pairs: string[] = [];
  const seen = new Set<string>();
  let rest = text;
  while (rest.length > 0) {
    const match = /^([^=]+)="((?:[^"\\]|\\[\\"n])*)"(,|$)/.exec(rest);
    if (match === null) throw new SyntaxError(`Malformed labels: ${line}`);
    if (!LABEL.test(match[1])) throw new SyntaxError(`Bad label name ${match[1]}: ${line}`);
    if (seen.has(match[1])) throw new SyntaxError(`Repeated label ${match[1]}: ${line}`);
    seen.add(match[1]);
    pairs.push(`${match[1]}=${match[2]}`);
    rest = rest.slice(match[0].length);
  }
  return pairs.sort().join(",");
}

export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new SyntaxError("The exposition must end with a newline");
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ")) {
      const [name, ...help] = line.slice(7).split(" ");
      if (!NAME.test(name)) throw new SyntaxError(`Bad metric name: ${line}`);
      if (helps.has(name)) throw new SyntaxError(`Second HELP for ${name}`);
      helps.set(name, help.join(" "));
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [name, type, ...extra] = line.slice(7).split(" ");
      if (!NAME.test(name) || extra.length > 0) throw new SyntaxError(`Bad TYPE line: ${line}`);
      if (type !== "counter" && type !== "gauge") throw new SyntaxError(`Unexpected type: ${line}`);
      if (families.has(name)) throw new SyntaxError(`Second TYPE for ${name}`);
      if (type === "counter" && !name.endsWith("_total")) {
        throw new SyntaxError(`Counter ${name} does not end in _total`);
      }
      families.set(name, { type, help: helps.get(name) ?? "", samples: new Map() });
      continue;
    }
    if (line.startsWith("#") || line.trim() === "") {
      throw new SyntaxError(`Unexpected line: ${line}`);
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new SyntaxError(`Malformed sample: ${line}`);
    const family = families.get(match[1]);
    if (family === undefined) throw new SyntaxError(`Sample before its TYPE: ${line}`);
    const series = parseLabels(match[2] ?? "", line);
    if (family.samples.has(series)) throw new SyntaxError(`Duplicate series: ${line}`);
    const value = match[3] === "+Inf"
      ? Infinity
      : match[3] === "-Inf"
      ? -Infinity
      : Number(match[3]);
    if (match[3] !== "NaN" && Number.isNaN(value)) throw new SyntaxError(`Bad value: ${line}`);
    if (family.type === "counter" && !(value >= 0)) {
      throw new SyntaxError(`Negative counter: ${line}`);
    }
    family.samples.set(series, value);
  }
  return families;
}
