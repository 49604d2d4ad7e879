/**
 * What a process holding a dev cluster's state in memory adopts from the state file before it
 * writes (src/devcluster/supervisor-records.ts): the supervisor's restarted daemons (later start
 * times), its restart counts and the supervision switch; never an older record over a newer one.
 */
import { describe, expect, it } from "vitest";
import type { ProcessRecord } from "../../src/devcluster/detached-process.js";
import type { DevClusterState, NodeState } from "../../src/devcluster/state.js";
import { adoptSupervisorRecords, countRestart } from "../../src/devcluster/supervisor-records.js";

const proc = (pid: number, startTime: number): ProcessRecord => ({
  pid,
  startTime: String(startTime),
  label: "p",
});

function node(name: string, consul: ProcessRecord, tgtd: ProcessRecord): NodeState {
  return {
    name,
    netns: `ns-${name}`,
    dir: `/tmp/${name}`,
    adminSocket: "a.sock",
    consulSocket: "c.sock",
    tgtControlPort: 12345,
    consul,
    tgtd,
    condition: "running",
  };
}

function state(nodes: NodeState[], enabled: boolean): DevClusterState {
  return {
    version: 1,
    dir: "/tmp/x",
    prefix: "sp",
    nodeCount: nodes.length,
    createdAt: "",
    ownerPid: 1,
    session: { ttlSeconds: 10, lockDelaySeconds: 5, fenceDeadlineMs: 4000 },
    auth: undefined,
    pool: "rbd",
    sanpathd: { parallelism: 1, logLevel: "info" },
    ceph: { dir: "", confPath: "" },
    topology: true,
    supervision: { enabled, restartDelayMs: 1000, process: proc(9, 9) },
    nodes,
  };
}

describe("adoptSupervisorRecords", () => {
  it("adopts the daemons the supervisor started since, its counts and the switch", () => {
    const memory = state([node("node1", proc(10, 100), proc(11, 100))], true);
    const restarted = node("node1", proc(20, 500), proc(11, 100));
    countRestart(restarted, "consul");
    adoptSupervisorRecords(memory, state([restarted], false));
    expect(memory.nodes[0]).toMatchObject({
      consul: proc(20, 500),
      tgtd: proc(11, 100),
      restarts: { consul: 1, tgtd: 0 },
    });
    expect(memory.supervision?.enabled).toBe(false);
  });

  it("keeps a daemon this process started after the recorded one (a node restarted by hand)", () => {
    const memory = state([node("node1", proc(30, 900), proc(31, 900))], true);
    adoptSupervisorRecords(memory, state([node("node1", proc(20, 500), proc(21, 500))], true));
    expect(memory.nodes[0]).toMatchObject({ consul: proc(30, 900), tgtd: proc(31, 900) });
  });

  it("changes nothing when there is no state file any more", () => {
    const memory = state([node("node1", proc(10, 100), proc(11, 100))], true);
    const before = JSON.stringify(memory);
    adoptSupervisorRecords(memory, undefined);
    expect(JSON.stringify(memory)).toBe(before);
  });

  it("counts restarts per daemon", () => {
    const counted = node("node1", proc(10, 100), proc(11, 100));
    countRestart(counted, "tgtd");
    countRestart(counted, "tgtd");
    countRestart(counted, "consul");
    expect(counted.restarts).toEqual({ consul: 1, tgtd: 2 });
  });
});
