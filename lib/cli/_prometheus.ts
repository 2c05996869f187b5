// Copyright the chitchat for Deno authors. MIT license.
// Internal: a node's counters and gauges in the Prometheus text exposition
// format 0.0.4 (`GET /metrics`).

import type { Chitchat } from "../core/chitchat.ts";
import { chitchatInternals } from "../core/chitchat.ts";
import { nodeStateInternals } from "../core/node_state.ts";
import type { SocketMetrics } from "../runtime/transport.ts";
import type { ChitchatHandleMetrics } from "../runtime/chitchat_handle.ts";
import type { ChitchatMessage } from "../core/message.ts";
import type { EventFeedMetrics } from "./_event_feed.ts";
import type { HttpConnectionMetrics } from "./http_api.ts";

/** The content type of the exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Sample = readonly [labels: Readonly<Record<string, string>>, value: number];

class Exposition {
  readonly #lines: string[] = [];

  add(name: string, type: "counter" | "gauge", help: string, samples: readonly Sample[]): void {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const pairs = Object.entries(labels).map(([key, text]) => `${key}="${escapeLabel(text)}"`);
      const suffix = pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
      this.#lines.push(`${name}${suffix} ${formatValue(value)}`);
    }
  }

  text(): string {
    return this.#lines.join("\n") + "\n";
  }
}

function escapeLabel(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** What the exposition reads: the state machine, and the running node's counters if any. */
export interface MetricsSource {
  readonly chitchat: Chitchat;
  readonly socket?: SocketMetrics;
  readonly gossipRounds?: number;
  readonly decryptFailures?: ChitchatHandleMetrics["decryptFailures"];
  readonly messagesSentByType?: Readonly<Record<ChitchatMessage["type"], number>>;
  readonly eventStreams?: EventFeedMetrics;
  readonly connections?: HttpConnectionMetrics;
}

/** The `type` label of a message: the reference's names, in snake case. */
const TYPE_LABELS: Readonly<Record<ChitchatMessage["type"], string>> = {
  syn: "syn",
  synAck: "syn_ack",
  ack: "ack",
  badCluster: "bad_cluster",
};

/**
 * Renders the metrics of one node.
 *
 * @param source The node.
 * @returns The exposition text.
 */
export function renderMetrics(source: MetricsSource): string {
  const { chitchat, socket } = source;
  const m = chitchat.metrics();
  const out = new Exposition();
  out.add("chitchat_messages_received_total", "counter", "Messages processed, by type.", [
    [{ type: TYPE_LABELS.syn }, m.synReceived],
    [{ type: TYPE_LABELS.synAck }, m.synAckReceived],
    [{ type: TYPE_LABELS.ack }, m.ackReceived],
    [{ type: TYPE_LABELS.badCluster }, m.badClusterReceived],
  ]);
  if (source.messagesSentByType !== undefined) {
    const sent = source.messagesSentByType;
    out.add(
      "chitchat_messages_sent_total",
      "counter",
      "Messages handed to the socket, by type.",
      Object.entries(TYPE_LABELS).map(([type, label]) => [
        { type: label },
        sent[type as ChitchatMessage["type"]],
      ]),
    );
  }
  out.add(
    "chitchat_bad_cluster_sent_total",
    "counter",
    "SYNs from another cluster answered with BAD-CLUSTER.",
    [[{}, m.badClusterSent]],
  );
  out.add(
    "chitchat_node_deltas_total",
    "counter",
    "Node deltas received, by what became of them.",
    [
      [{ result: "applied" }, m.nodeDeltasApplied],
      [{ result: "rejected" }, m.nodeDeltasRejected],
      [{ result: "invalid" }, m.nodeDeltasInvalid],
      [{ result: "own" }, m.ownDeltasRefused],
      [{ result: "implausible" }, m.implausibleDeltas],
      [{ result: "oversized" }, m.nodeDeltasOversized],
    ],
  );
  out.add(
    "chitchat_resets_total",
    "counter",
    "Node states reset after a peer's tombstone collection.",
    [[{}, m.resets]],
  );
  out.add(
    "chitchat_digests_truncated_total",
    "counter",
    "Digests cut to a window to fit one datagram.",
    [[{}, m.digestsTruncated]],
  );
  out.add(
    "chitchat_digests_read_as_windows_total",
    "counter",
    "Received digests answered over their window only.",
    [[{}, m.digestsReadAsWindows]],
  );
  out.add(
    "chitchat_heartbeats_refused_total",
    "counter",
    "Digest heartbeats refused as implausible.",
    [[{}, m.implausibleHeartbeats]],
  );
  out.add("chitchat_nodes_refused_total", "counter", "Announced nodes ignored past a cap.", [[
    {},
    m.nodesRefused,
  ]]);
  out.add(
    "chitchat_unconfirmed_nodes_collected_total",
    "counter",
    "Announced nodes forgotten without ever being live.",
    [[{}, m.unconfirmedNodesCollected]],
  );
  out.add(
    "chitchat_own_version_catch_ups_total",
    "counter",
    "Times this node moved its max version past a peer's copy.",
    [[{}, m.ownVersionCatchUps]],
  );
  if (source.gossipRounds !== undefined) {
    out.add("chitchat_gossip_rounds_total", "counter", "Gossip rounds started.", [[
      {},
      source.gossipRounds,
    ]]);
  }
  if (socket !== undefined) {
    out.add("chitchat_bytes_sent_total", "counter", "Bytes sent.", [[{}, socket.bytesSent]]);
    out.add("chitchat_bytes_received_total", "counter", "Bytes of the messages received.", [[
      {},
      socket.bytesReceived,
    ]]);
    out.add(
      "chitchat_datagrams_dropped_total",
      "counter",
      "Datagrams dropped on receipt, by reason.",
      Object.entries(socket.datagramsDroppedByReason).map(([reason, count]) => [
        { reason },
        count,
      ]),
    );
    out.add("chitchat_send_errors_total", "counter", "Sends that failed and were swallowed.", [[
      {},
      socket.sendErrors,
    ]]);
    if (socket.kernelDrops !== undefined) {
      out.add(
        "chitchat_kernel_drops_total",
        "counter",
        "Datagrams the kernel dropped, the socket's receive buffer full (Linux).",
        [[{}, socket.kernelDrops]],
      );
    }
  }
  if (source.decryptFailures !== undefined) {
    const f = source.decryptFailures;
    out.add(
      "chitchat_decrypt_failures_total",
      "counter",
      "Datagrams refused by the encryption layer, by reason.",
      [
        [{ reason: "truncated" }, f.truncated],
        [{ reason: "version" }, f.version],
        [{ reason: "authentication" }, f.authentication],
        [{ reason: "expired" }, f.expired],
        [{ reason: "replayed" }, f.replayed],
        [{ reason: "plaintext_refused" }, f.plaintextRefused],
      ],
    );
  }
  const streams = source.eventStreams;
  if (streams !== undefined) {
    out.add("chitchat_http_event_streams_open", "gauge", "Open GET /events streams.", [[
      {},
      streams.open,
    ]]);
    out.add(
      "chitchat_http_event_streams_total",
      "counter",
      "GET /events requests, by outcome.",
      [
        [{ result: "opened" }, streams.opened],
        [{ result: "refused" }, streams.refused],
        [{ result: "dropped_slow" }, streams.dropped],
      ],
    );
  }
  const connections = source.connections;
  if (connections !== undefined) {
    out.add("chitchat_http_connections_open", "gauge", "Open HTTP connections.", [[
      {},
      connections.open,
    ]]);
    out.add(
      "chitchat_http_connections_total",
      "counter",
      "HTTP connections, by outcome.",
      [
        [{ result: "accepted" }, connections.accepted],
        [{ result: "refused_cap" }, connections.refused],
        [{ result: "timed_out" }, connections.timedOut],
        [{ result: "head_too_large" }, connections.headsTooLarge],
      ],
    );
    out.add(
      "chitchat_http_accept_errors_total",
      "counter",
      "Failed accepts (out of file descriptors), each retried.",
      [[{}, connections.acceptErrors]],
    );
  }
  const states = chitchat.nodeStates();
  const self = chitchat.selfNodeState();
  let chars = 0;
  let bytes = 0;
  let maxPhi = 0;
  for (const state of states) {
    chars += nodeStateInternals.stateChars(state);
    bytes += nodeStateInternals.stateBytes(state);
    if (state === self) continue;
    const phi = chitchat.phi(state.chitchatId);
    if (
      phi !== undefined && phi > maxPhi &&
      chitchatInternals.failureDetector(chitchat).isLive(state.chitchatId)
    ) {
      maxPhi = phi;
    }
  }
  out.add("chitchat_live_nodes", "gauge", "Live nodes, this one included.", [[
    {},
    chitchat.liveNodes().length,
  ]]);
  out.add("chitchat_dead_nodes", "gauge", "Nodes the failure detector considers dead.", [[
    {},
    chitchat.deadNodes().length,
  ]]);
  out.add("chitchat_left_nodes", "gauge", "Nodes that announced their leave, not yet collected.", [[
    {},
    chitchat.leftNodes().length,
  ]]);
  out.add("chitchat_known_nodes", "gauge", "Nodes in the cluster state.", [[{}, states.length]]);
  out.add("chitchat_own_key_values", "gauge", "Visible key-values of this node.", [[
    {},
    self.size,
  ]]);
  out.add("chitchat_state_chars", "gauge", "Characters of keys and values held for every node.", [[
    {},
    chars,
  ]]);
  out.add(
    "chitchat_state_bytes",
    "gauge",
    "UTF-8 bytes of the keys and values held for every node.",
    [[{}, bytes]],
  );
  out.add("chitchat_max_phi", "gauge", "The highest phi among live peers (0 without any).", [[
    {},
    maxPhi,
  ]]);
  return out.text();
}
