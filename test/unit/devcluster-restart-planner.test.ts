/**
 * The supervisor's decisions (src/devcluster/restart-planner.ts), with the process checks injected:
 * which daemon is restarted and when, never a killed or partitioned node's, nothing while
 * supervision is off, and a restart that died again waits a full delay.
 */
import { describe, expect, it } from "vitest";
import type { ProcessRecord } from "../../src/devcluster/detached-process.js";
import { RestartPlanner, type SupervisedCluster } from "../../src/devcluster/restart-planner.js";
import type { NodeCondition } from "../../src/devcluster/state.js";

const DELAY = 1000;

function proc(pid: number, label: string): ProcessRecord {
  return { pid, startTime: String(1000 + pid), label };
}

interface Fixture {
  planner: RestartPlanner;
  dead: Set<number>;
  cluster: SupervisedCluster & { supervision: { enabled: boolean; restartDelayMs: number } };
}

function fixture(
  conditions: Record<string, NodeCondition> = { node1: "running", node2: "running" },
): Fixture {
  const dead = new Set<number>();
  const planner = new RestartPlanner((record) => !dead.has(record.pid));
  const nodes = Object.entries(conditions).map(([name, condition], position) => ({
    name,
    condition,
    consul: proc(100 + position, `consul ${name}`),
    tgtd: proc(200 + position, `tgtd ${name}`),
  }));
  return { planner, dead, cluster: { supervision: { enabled: true, restartDelayMs: DELAY }, nodes } };
}

const names = (restarts: { node: string; daemon: string }[]): string[] =>
  restarts.map((restart) => `${restart.daemon} ${restart.node}`);

describe("RestartPlanner", () => {
  it("restarts nothing while every recorded daemon runs", () => {
    const { planner, cluster } = fixture();
    expect(planner.due(cluster, 0)).toEqual([]);
    expect(planner.due(cluster, 10_000)).toEqual([]);
  });

  it("restarts a dead Consul agent once it has been dead for the delay, and only that daemon", () => {
    const { planner, dead, cluster } = fixture();
    dead.add(101);
    expect(planner.due(cluster, 5000)).toEqual([]);
    expect(planner.due(cluster, 5999)).toEqual([]);
    const due = planner.due(cluster, 6000);
    expect(due).toEqual([
      { node: "node2", daemon: "consul", dead: proc(101, "consul node2"), deadForMs: 1000 },
    ]);
  });

  it("restarts a dead tgtd, and both daemons of a node when both died", () => {
    const { planner, dead, cluster } = fixture();
    dead.add(200);
    dead.add(101).add(201);
    planner.due(cluster, 0);
    expect(names(planner.due(cluster, DELAY))).toEqual(["tgtd node1", "consul node2", "tgtd node2"]);
  });

  it("never restarts the daemons of a killed or partitioned node", () => {
    const { planner, dead, cluster } = fixture({ node1: "killed", node2: "partitioned", node3: "running" });
    for (const pid of [100, 200, 101, 201]) dead.add(pid);
    planner.due(cluster, 0);
    expect(planner.due(cluster, 60_000)).toEqual([]);
  });

  it("restarts nothing while supervision is off, and waits a full delay after it is turned on", () => {
    const { planner, dead, cluster } = fixture();
    cluster.supervision.enabled = false;
    dead.add(100);
    expect(planner.due(cluster, 0)).toEqual([]);
    expect(planner.due(cluster, 30_000)).toEqual([]);
    cluster.supervision.enabled = true;
    expect(planner.due(cluster, 30_000)).toEqual([]);
    expect(names(planner.due(cluster, 30_000 + DELAY))).toEqual(["consul node1"]);
  });

  it("restarts nothing of a cluster without supervision recorded", () => {
    const { planner, dead, cluster } = fixture();
    dead.add(100);
    const unsupervised: SupervisedCluster = { nodes: cluster.nodes };
    planner.due(unsupervised, 0);
    expect(planner.due(unsupervised, 10_000)).toEqual([]);
  });

  it("leaves a daemon that was never started alone", () => {
    const { planner, cluster } = fixture();
    const [first] = cluster.nodes;
    if (first === undefined) throw new Error("no node");
    cluster.nodes = [{ ...first, tgtd: undefined }];
    planner.due(cluster, 0);
    expect(planner.due(cluster, 10_000)).toEqual([]);
  });

  it("times each death on its own: a restarted daemon that dies again waits a full delay", () => {
    const { planner, dead, cluster } = fixture();
    dead.add(100);
    planner.due(cluster, 0);
    expect(names(planner.due(cluster, DELAY))).toEqual(["consul node1"]);
    const [first, second] = cluster.nodes;
    if (first === undefined || second === undefined) throw new Error("no node");
    // The supervisor recorded the new agent; it exits at once.
    cluster.nodes = [{ ...first, consul: proc(300, "consul node1") }, second];
    dead.add(300);
    expect(planner.due(cluster, DELAY + 250)).toEqual([]);
    expect(planner.due(cluster, 2 * DELAY + 249)).toEqual([]);
    expect(names(planner.due(cluster, 2 * DELAY + 250))).toEqual(["consul node1"]);
  });

  it("forgets a death when the daemon runs again (started by someone else)", () => {
    const { planner, dead, cluster } = fixture();
    dead.add(100);
    planner.due(cluster, 0);
    dead.delete(100);
    expect(planner.due(cluster, 500)).toEqual([]);
    dead.add(100);
    expect(planner.due(cluster, 600)).toEqual([]);
    expect(names(planner.due(cluster, 600 + DELAY))).toEqual(["consul node1"]);
  });
});
