// Copyright the chitchat for Deno authors. MIT license.
// Internal: the live cluster page of `GET /ui`, one self-contained HTML
// document (inline CSS and script, nothing fetched but `events`). It keeps
// no state the server does not send: the `state` event on every
// (re)connection rebuilds it, `members` refreshes the rows each second,
// `membership` and `key` apply changes as they happen. Rows are updated in
// place, so an expanded key list stays open. Every peer-supplied string goes
// through textContent, never markup.

const STYLE = `
:root { color-scheme: light dark; --live: #1a7f37; --dead: #cf222e; --left: #9a6700; --other: #6e7781; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
h1 { font-size: 1.25rem; margin: 0 0 .25rem; }
header p { margin: 0 0 1rem; color: var(--other); }
.bar { display: flex; gap: 1.5rem; align-items: center; flex-wrap: wrap; margin-bottom: 1rem; }
input[type=search] { font: inherit; padding: .3rem .5rem; min-width: 18rem; }
#plot { border: 1px solid #8884; }
#plot polyline { fill: none; stroke: var(--live); stroke-width: 2; }
#plot text { font-size: 10px; fill: currentColor; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #8883; vertical-align: top; }
th { font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 600; }
tr[data-status=live] .status { color: var(--live); }
tr[data-status=dead] .status { color: var(--dead); }
tr[data-status=left] .status { color: var(--left); }
tr[data-status=dead], tr[data-status=left] { opacity: .7; }
tr:not([data-status=live]):not([data-status=dead]):not([data-status=left]) .status { color: var(--other); }
details table { margin-top: .25rem; font-family: ui-monospace, monospace; font-size: 12px; }
.deleted { text-decoration: line-through; opacity: .6; }
#connection[data-state=open] { color: var(--live); }
#connection[data-state=closed] { color: var(--dead); }
`;

const SCRIPT = `
"use strict";
const PLOT_MS = 10 * 60 * 1000;
const rows = new Map(); // "nodeId/generation" -> { tr, cells, kv: Map<key, value json> }
let selfId = "";
let history = []; // [wall time ms, live count]
const $ = (id) => document.getElementById(id);
const keyOf = (nodeId, generationId) => nodeId + "/" + generationId;

function cell(tr, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  tr.append(td);
  return td;
}

function rowFor(nodeId, generationId) {
  const key = keyOf(nodeId, generationId);
  let row = rows.get(key);
  if (row) return row;
  const tr = document.createElement("tr");
  tr.dataset.nodeId = nodeId;
  tr.dataset.generation = generationId;
  const cells = {
    id: cell(tr), status: cell(tr, "status"), generation: cell(tr, "num"), address: cell(tr),
    heartbeat: cell(tr, "num"), maxVersion: cell(tr, "num"), phi: cell(tr, "num"),
    since: cell(tr, "num"), keys: cell(tr),
  };
  cells.id.textContent = nodeId + (nodeId === selfId ? " (this node)" : "");
  cells.generation.textContent = generationId;
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  const table = document.createElement("table");
  details.append(summary, table);
  cells.keys.append(details);
  row = { tr, cells, summary, table, kv: new Map() };
  rows.set(key, row);
  insertSorted(row);
  return row;
}

function insertSorted(row) {
  const body = $("nodes");
  const id = row.tr.dataset.nodeId + "/" + row.tr.dataset.generation.padStart(20, "0");
  for (const other of body.children) {
    const otherId = other.dataset.nodeId + "/" + other.dataset.generation.padStart(20, "0");
    if (id < otherId) return body.insertBefore(row.tr, other);
  }
  body.append(row.tr);
}

function set(td, text) {
  if (td.textContent !== text) td.textContent = text;
}

// The page shows "live" for this node; other statuses pass through, so a
// new one (such as "left") renders without a change here.
function setStatus(row, status) {
  const shown = status === "self" ? "live" : status;
  if (row.tr.dataset.status !== shown) row.tr.dataset.status = shown;
  set(row.cells.status, shown);
  applyFilter(row);
}

function applyMember(m) {
  const row = rowFor(m.nodeId, m.generationId);
  setStatus(row, m.status);
  set(row.cells.address, m.address);
  set(row.cells.heartbeat, String(m.heartbeat));
  set(row.cells.maxVersion, String(m.maxVersion));
  set(row.cells.phi, m.phi === null ? "–" : m.phi.toFixed(2));
  set(row.cells.since, m.msSinceHeartbeat === null ? "–" : formatMs(m.msSinceHeartbeat));
  return row;
}

function formatMs(ms) {
  return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s";
}

function applyKey(row, kv) {
  const old = row.kv.get(kv.key);
  if (old && old.version > kv.version) return;
  row.kv.set(kv.key, kv);
  renderKeys(row);
}

function renderKeys(row) {
  const entries = [...row.kv.values()].sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const visible = entries.filter((kv) => kv.status !== "deleted").length;
  set(row.summary, visible + (visible === 1 ? " key" : " keys"));
  const trs = entries.map((kv) => {
    const tr = document.createElement("tr");
    tr.dataset.key = kv.key;
    if (kv.status === "deleted") tr.className = "deleted";
    for (const text of [kv.key, kv.value, "v" + kv.version + (kv.status === "set" ? "" : " " + kv.status)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  row.table.replaceChildren(...trs);
  applyFilter(row);
}

function applyFilter(row) {
  const needle = $("filter").value.trim().toLowerCase();
  let hay = row.tr.dataset.nodeId + " " + row.cells.address.textContent + " " + row.tr.dataset.status;
  for (const kv of row.kv.values()) hay += " " + kv.key + "=" + kv.value;
  row.tr.hidden = needle !== "" && !hay.toLowerCase().includes(needle);
}

function applyMembers(members) {
  const seen = new Set();
  for (const m of members) {
    seen.add(keyOf(m.nodeId, m.generationId));
    applyMember(m);
  }
  for (const [key, row] of rows) {
    if (!seen.has(key)) {
      row.tr.remove();
      rows.delete(key);
    }
  }
  const live = members.filter((m) => m.status === "live" || m.status === "self").length;
  set($("count"), members.length + " known, " + live + " live");
  addPoint(live);
}

function addPoint(live) {
  const now = Date.now();
  // A step plot needs only the changes; the line runs on to now.
  if (history.length === 0 || history[history.length - 1][1] !== live) history.push([now, live]);
  // Keep the last point before the window: it is where the line starts.
  let first = 0;
  while (first + 1 < history.length && history[first + 1][0] <= now - PLOT_MS) first++;
  if (first > 0) history = history.slice(first);
  drawPlot(now);
}

function drawPlot(now) {
  const svg = $("plot");
  const w = 300, h = 60, pad = 14;
  const max = Math.max(1, ...history.map(([, n]) => n));
  const x = (t) => pad + (w - 2 * pad) * Math.max(0, 1 - (now - t) / PLOT_MS);
  const y = (n) => h - pad / 2 - (h - pad) * (n / max);
  const points = [];
  for (let i = 0; i < history.length; i++) {
    const [t, n] = history[i];
    if (i > 0) points.push(x(t).toFixed(1) + "," + y(history[i - 1][1]).toFixed(1));
    points.push(x(t).toFixed(1) + "," + y(n).toFixed(1));
  }
  if (history.length > 0) points.push(x(now).toFixed(1) + "," + y(history[history.length - 1][1]).toFixed(1));
  $("line").setAttribute("points", points.join(" "));
  set($("plotMax"), String(max));
}

function onState(state) {
  selfId = state.self;
  set($("cluster"), "cluster " + state.clusterId + ", viewed from " + state.self);
  for (const row of rows.values()) row.tr.remove();
  rows.clear();
  const now = Date.now();
  history = state.history.map(([ago, n]) => [now - ago, n]);
  for (const node of state.nodes) {
    const row = rowFor(node.chitchatId.nodeId, node.chitchatId.generationId);
    for (const kv of node.keyValues) row.kv.set(kv.key, kv);
    renderKeys(row);
  }
  applyMembers(state.members);
}

function onMembership(event) {
  const row = rows.get(keyOf(event.nodeId, event.generationId));
  const line = new Date().toLocaleTimeString() + " " + event.nodeId + "/" + event.generationId + " " + event.type;
  const li = document.createElement("li");
  li.textContent = line;
  $("log").prepend(li);
  while ($("log").children.length > 20) $("log").lastChild.remove();
  if (event.type === "removed") {
    if (row) { row.tr.remove(); rows.delete(keyOf(event.nodeId, event.generationId)); }
    return;
  }
  const r = row ?? rowFor(event.nodeId, event.generationId);
  if (event.type === "joined" || event.type === "revived" || event.type === "restarted") setStatus(r, "live");
  else setStatus(r, event.type);
  set(r.cells.address, event.address);
}

function connect() {
  const source = new EventSource("events");
  const status = $("connection");
  source.onopen = () => { status.dataset.state = "open"; status.textContent = "live"; };
  source.onerror = () => {
    // EventSource retries by itself while readyState is CONNECTING.
    status.dataset.state = source.readyState === EventSource.CLOSED ? "closed" : "connecting";
    status.textContent = source.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting…";
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  };
  source.addEventListener("state", (e) => onState(JSON.parse(e.data)));
  source.addEventListener("members", (e) => applyMembers(JSON.parse(e.data)));
  source.addEventListener("membership", (e) => onMembership(JSON.parse(e.data)));
  source.addEventListener("key", (e) => {
    const kv = JSON.parse(e.data);
    applyKey(rowFor(kv.nodeId, kv.generationId), kv);
  });
}

$("filter").addEventListener("input", () => { for (const row of rows.values()) applyFilter(row); });
connect();
`;

/** The page's script, also hashed for its Content-Security-Policy. */
export const UI_SCRIPT: string = SCRIPT;

/** The whole page. */
export const UI_PAGE: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chitchat cluster</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>chitchat cluster</h1>
<p><span id="cluster">connecting…</span> · <span id="count"></span> · stream: <span id="connection" data-state="connecting">connecting…</span></p>
</header>
<div class="bar">
<label>Filter <input id="filter" type="search" placeholder="node id, address, status, key=value" autocomplete="off"></label>
<figure style="margin:0">
<svg id="plot" width="300" height="60" viewBox="0 0 300 60" role="img" aria-label="live nodes over the last 10 minutes">
<polyline id="line" points=""></polyline>
<text x="2" y="10" id="plotMax"></text><text x="2" y="58">0</text>
<text x="298" y="58" text-anchor="end">now</text><text x="16" y="58">−10 min</text>
</svg>
<figcaption>live nodes, last 10 minutes</figcaption>
</figure>
</div>
<table>
<thead><tr><th>node</th><th>status</th><th>generation</th><th>address</th><th>heartbeat</th><th>max version</th><th>phi</th><th>since heartbeat</th><th>key-values</th></tr></thead>
<tbody id="nodes"></tbody>
</table>
<h2 style="font-size:1rem">Membership events</h2>
<ul id="log"></ul>
<script>${SCRIPT}</script>
</body>
</html>
`;
