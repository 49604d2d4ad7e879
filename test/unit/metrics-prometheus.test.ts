/**
 * The Prometheus adapter: every sanpath_* metric with its labels, values read from the node and
 * coordinator at scrape time, counters that only grow, histograms of moves, placements and
 * failovers. test/integration/metrics-server.test.ts scrapes a real sanpathd (and runs promtool).
 */
import { describe, expect, it } from "vitest";
import {
  PrometheusMetrics,
  type NodeCounterSnapshot,
  type NodeSnapshot,
} from "../../src/metrics/prometheus-metrics.js";

/** The value of one sample line `name{labels} value` of the exposition text; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort();
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = (match[2] ?? "")
      .split(",")
      .filter((part) => part !== "")
      .sort();
    if (wanted.every((label) => have.includes(label)) && have.length === wanted.length)
      return Number(match[3]);
  }
  return undefined;
}

const NODE: NodeSnapshot = {
  served: [
    { diskId: "00001", subnet: 1, count: 2 },
    { diskId: "00002", subnet: 2, count: 1 },
  ],
  state: "serving",
  sessionAgeSeconds: 1.5,
  fenceDeadlineSeconds: 4,
  dataPathHealthy: true,
  highestEpoch: 17,
  lease: {
    validSeconds: 1.2,
    renewals: 321,
    peers: [
      { node: "node2", grantedAgoSeconds: 0.25 },
      { node: "node3", grantedAgoSeconds: undefined },
    ],
  },
};

const COUNTERS: NodeCounterSnapshot = {
  confirmations: 40,
  fences: { "session-gone": 1, unconfirmed: 2 },
  degradations: 0,
  acquires: 5,
  acquireFailures: 1,
  cleans: 3,
  cleanFailures: 0,
  repairsAsked: 2,
};

describe("Prometheus metrics", () => {
  it("exports build info and the node's state, paths and session as read at scrape time", async () => {
    const metrics = new PrometheusMetrics({ version: "1.2.3", node: "node1" });
    let node: NodeSnapshot = NODE;
    metrics.observeNode(() => ({ node, counters: COUNTERS }));
    metrics.observeCoordinator(() => ({
      leader: true,
      unservedPaths: 3,
      nodes: { online: 2, offline: 1, cordoned: 1, degraded: 0 },
    }));
    const first = (await metrics.render()).body;
    expect(sample(first, "sanpath_build_info", { version: "1.2.3", node: "node1" })).toBe(1);
    expect(sample(first, "sanpath_node_paths_served", { disk: "00001", subnet: "1" })).toBe(2);
    expect(sample(first, "sanpath_node_paths_served", { disk: "00002", subnet: "2" })).toBe(1);
    expect(sample(first, "sanpath_node_state", { state: "serving" })).toBe(1);
    expect(sample(first, "sanpath_node_state", { state: "fenced" })).toBe(0);
    expect(sample(first, "sanpath_session_confirmed_age_seconds")).toBe(1.5);
    expect(sample(first, "sanpath_session_fence_deadline_seconds")).toBe(4);
    expect(sample(first, "sanpath_data_path_healthy")).toBe(1);
    expect(sample(first, "sanpath_coordinator_leader")).toBe(1);
    expect(sample(first, "sanpath_coordinator_epoch")).toBe(17);
    expect(sample(first, "sanpath_cluster_paths_unserved", { coordinator: "node1" })).toBe(3);
    expect(sample(first, "sanpath_cluster_nodes", { state: "offline", coordinator: "node1" })).toBe(1);
    expect(sample(first, "sanpath_cluster_nodes", { state: "cordoned", coordinator: "node1" })).toBe(1);
    expect(sample(first, "sanpath_fences_total", { cause: "unconfirmed" })).toBe(2);
    expect(sample(first, "sanpath_path_operations_total", { operation: "acquire", result: "error" })).toBe(1);
    expect(sample(first, "sanpath_peer_lease_valid_seconds")).toBe(1.2);
    expect(sample(first, "sanpath_peer_lease_granted_age_seconds", { peer: "node2" })).toBe(0.25);
    // A peer that never granted has no sample (no made-up age).
    expect(first).not.toMatch(/sanpath_peer_lease_granted_age_seconds\{peer="node3"\}/);
    expect(sample(first, "sanpath_peer_lease_renewals_total")).toBe(321);
    expect(first).toContain("process_cpu_seconds_total");

    // The node fenced and gave its paths up: the next scrape says so, no stale disk series left.
    node = {
      ...NODE,
      served: [],
      state: "fenced",
      dataPathHealthy: false,
      lease: { validSeconds: 0, renewals: 321, peers: [{ node: "node2", grantedAgoSeconds: 3 }] },
    };
    const second = (await metrics.render()).body;
    expect(sample(second, "sanpath_peer_lease_valid_seconds")).toBe(0);
    expect(sample(second, "sanpath_peer_lease_granted_age_seconds", { peer: "node2" })).toBe(3);
    expect(sample(second, "sanpath_node_paths_served", { disk: "00001", subnet: "1" })).toBeUndefined();
    expect(sample(second, "sanpath_node_state", { state: "fenced" })).toBe(1);
    expect(sample(second, "sanpath_node_state", { state: "serving" })).toBe(0);
    expect(sample(second, "sanpath_data_path_healthy")).toBe(0);
  });

  it("counts what the node counted, adding only what grew between scrapes", async () => {
    const metrics = new PrometheusMetrics({ version: "1", node: "n" });
    let counters: NodeCounterSnapshot = COUNTERS;
    metrics.observeNode(() => ({ node: NODE, counters }));
    expect(sample((await metrics.render()).body, "sanpath_session_confirmations_total")).toBe(40);
    counters = { ...COUNTERS, confirmations: 43, fences: { "session-gone": 2, unconfirmed: 2 } };
    const text = (await metrics.render()).body;
    expect(sample(text, "sanpath_session_confirmations_total")).toBe(43);
    expect(sample(text, "sanpath_fences_total", { cause: "session-gone" })).toBe(2);
    expect(sample((await metrics.render()).body, "sanpath_session_confirmations_total")).toBe(43);
  });

  it("exports nothing for the node and coordinator before they report, and no unserved count off the leader", async () => {
    const metrics = new PrometheusMetrics({ version: "1", node: "n" });
    const before = (await metrics.render()).body;
    expect(sample(before, "sanpath_session_confirmed_age_seconds")).toBeNaN();
    expect(sample(before, "sanpath_coordinator_leader")).toBe(0);
    // Move results start at 0, so that increase() sees the first failed move (alerts.yml).
    expect(sample(before, "sanpath_job_moves_total", { result: "failed" })).toBe(0);
    expect(sample(before, "sanpath_job_moves_total", { result: "succeeded" })).toBe(0);
    metrics.observeCoordinator(() => ({ leader: false, unservedPaths: undefined }));
    metrics.observeNode(() => ({ node: { ...NODE, highestEpoch: 0 }, counters: COUNTERS }));
    const follower = (await metrics.render()).body;
    expect(sample(follower, "sanpath_coordinator_epoch")).toBe(0);
    // liveness.mode consul: no peer lease, no lease series.
    const consulMetrics = new PrometheusMetrics({ version: "1", node: "n" });
    consulMetrics.observeNode(() => ({ node: { ...NODE, lease: undefined }, counters: COUNTERS }));
    const consulMode = (await consulMetrics.render()).body;
    expect(sample(consulMode, "sanpath_peer_lease_valid_seconds")).toBeNaN();
    expect(consulMode).not.toMatch(/^sanpath_peer_lease_granted_age_seconds/m);
    expect(sample(consulMode, "sanpath_peer_lease_renewals_total")).toBe(0);
    metrics.observeNode(() => ({ node: { ...NODE, highestEpoch: 0 }, counters: COUNTERS }));
    expect(follower).not.toMatch(/^sanpath_cluster_paths_unserved/m);
    // A new leader that has called no node yet shows its own epoch.
    metrics.observeCoordinator(() => ({ leader: true, epoch: 42, unservedPaths: 0 }));
    expect(sample((await metrics.render()).body, "sanpath_coordinator_epoch")).toBe(42);
  });

  it("counts events written and dropped (by reason, from 0) and reads the queue at scrape time", async () => {
    const metrics = new PrometheusMetrics({ version: "1", node: "n" });
    const before = (await metrics.render()).body;
    expect(sample(before, "sanpath_events_dropped_total", { reason: "overflow" })).toBe(0);
    expect(sample(before, "sanpath_events_dropped_total", { reason: "stop" })).toBe(0);
    expect(sample(before, "sanpath_events_queued")).toBe(0);
    let queued = 7;
    metrics.observeEventQueue(() => queued);
    metrics.eventsWritten(200);
    metrics.eventsWritten(3);
    metrics.eventsDropped("overflow", 15);
    const text = (await metrics.render()).body;
    expect(sample(text, "sanpath_events_written_total")).toBe(203);
    expect(sample(text, "sanpath_events_dropped_total", { reason: "overflow" })).toBe(15);
    expect(sample(text, "sanpath_events_dropped_total", { reason: "stop" })).toBe(0);
    expect(sample(text, "sanpath_events_queued")).toBe(7);
    queued = 0;
    expect(sample((await metrics.render()).body, "sanpath_events_queued")).toBe(0);
  });

  it("times moves by phase, placements by cause, and failovers on their own", async () => {
    const metrics = new PrometheusMetrics({ version: "1", node: "n" });
    metrics.moveEnded("succeeded", { cleanMs: 120, acquireMs: 300 }, 450);
    metrics.moveEnded("failed", { cleanMs: 20_000 }, 20_010);
    metrics.pathPlaced("failover", 2_400);
    metrics.pathPlaced("failover", 900);
    metrics.pathPlaced("new", 50);
    const text = (await metrics.render()).body;
    expect(sample(text, "sanpath_job_moves_total", { result: "succeeded" })).toBe(1);
    expect(sample(text, "sanpath_job_moves_total", { result: "failed" })).toBe(1);
    expect(sample(text, "sanpath_job_move_duration_seconds_count", { phase: "total" })).toBe(2);
    expect(sample(text, "sanpath_job_move_duration_seconds_sum", { phase: "acquire" })).toBeCloseTo(0.3);
    expect(sample(text, "sanpath_job_move_duration_seconds_bucket", { phase: "clean", le: "0.25" })).toBe(1);
    expect(sample(text, "sanpath_failover_duration_seconds_count")).toBe(2);
    expect(sample(text, "sanpath_failover_duration_seconds_bucket", { le: "1" })).toBe(1);
    expect(sample(text, "sanpath_failover_duration_seconds_bucket", { le: "3" })).toBe(2);
    expect(sample(text, "sanpath_placement_duration_seconds_count", { cause: "new" })).toBe(1);
    expect(sample(text, "sanpath_placement_duration_seconds_count", { cause: "failover" })).toBe(2);
  });

  it("counts gRPC calls by method and code, commands and Consul requests by name and result", async () => {
    const metrics = new PrometheusMetrics({ version: "1", node: "n" });
    metrics.grpcCallEnded("/sanpath.v1.DiskService/AddDisk", "OK", 0.02);
    metrics.grpcCallEnded("/sanpath.v1.DiskService/AddDisk", "INVALID_ARGUMENT", 0.001);
    metrics.commandEnded("tgtadm", true, 0.004);
    metrics.consulRequestEnded("kv.get", "error", 5);
    metrics.reconcilePassEnded(true, 0.2);
    metrics.reconcilePassEnded(false, 0.01);
    metrics.reconcilePassEnded(false, 0.02);
    const text = (await metrics.render()).body;
    expect(
      sample(text, "sanpath_grpc_server_handled_total", {
        method: "/sanpath.v1.DiskService/AddDisk",
        code: "INVALID_ARGUMENT",
      }),
    ).toBe(1);
    expect(
      sample(text, "sanpath_grpc_server_handling_seconds_count", {
        method: "/sanpath.v1.DiskService/AddDisk",
      }),
    ).toBe(2);
    expect(sample(text, "sanpath_command_duration_seconds_count", { command: "tgtadm", result: "ok" })).toBe(
      1,
    );
    expect(
      sample(text, "sanpath_consul_request_duration_seconds_count", { operation: "kv.get", result: "error" }),
    ).toBe(1);
    expect(sample(text, "sanpath_reconcile_pass_duration_seconds_count", { read: "fresh" })).toBe(1);
    expect(sample(text, "sanpath_reconcile_pass_duration_seconds_count", { read: "believed" })).toBe(2);
    expect(sample(text, "sanpath_reconcile_pass_duration_seconds_sum", { read: "believed" })).toBeCloseTo(
      0.03,
    );
  });
});
