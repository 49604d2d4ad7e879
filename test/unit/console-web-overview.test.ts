import { describe, expect, it } from "vitest";
import type { Job, NodeSummary, PathInfo } from "../../web/src/api-model.js";
import {
  activeJob,
  activeJobSummary,
  formatSubnetCounts,
  nodeStateFlags,
  pathTotals,
  pathsPerSubnetByNode,
  sortNodes,
} from "../../web/src/cluster-overview.js";

function node(partial: Partial<NodeSummary>): NodeSummary {
  return {
    name: "node1",
    address: "",
    online: true,
    cordoned: false,
    pathCount: 0,
    subnets: [1],
    version: "",
    leader: false,
    degraded: false,
    degradedReason: "",
    ...partial,
  };
}

function path(diskId: string, index: number, subnet: number, nodeName: string): PathInfo {
  return {
    diskId,
    diskName: `disk-${diskId}`,
    index,
    ip: `198.51.100.${index}`,
    subnet,
    node: nodeName,
    jobStatus: "MOVE_STATUS_UNSPECIFIED",
    jobTargetNode: "",
  };
}

function job(id: string, state: string, totals: Partial<Job["totals"]> = {}): Job {
  return {
    id,
    kind: "JOB_KIND_AUTO",
    state,
    moves: [],
    totals: { total: 0, pending: 0, moving: 0, succeeded: 0, failed: 0, cancelled: 0, ...totals },
    createTime: "",
    finishTime: "",
    startedBy: "",
    drainNode: "",
    lastSequence: 0,
  };
}

describe("console web: the cluster overview", () => {
  it("gives a node every state badge that holds", () => {
    const labels = (n: NodeSummary) => nodeStateFlags(n).map((f) => f.label);
    expect(labels(node({}))).toEqual(["serving"]);
    expect(labels(node({ online: false, cordoned: true }))).toEqual(["offline", "cordoned"]);
    expect(labels(node({ degraded: true, cordoned: true }))).toEqual(["degraded", "cordoned"]);
    const degraded = nodeStateFlags(node({ degraded: true, degradedReason: "tgtd exited" }));
    expect(degraded[0]).toMatchObject({ label: "degraded", tone: "bad", detail: "tgtd exited" });
  });

  it("counts each node's paths per subnet, leaving unserved paths out", () => {
    const paths = [
      path("00001", 1, 1, "node1"),
      path("00001", 2, 2, "node1"),
      path("00002", 1, 1, "node1"),
      path("00002", 2, 2, "node2"),
      path("00003", 1, 1, ""),
    ];
    const counts = pathsPerSubnetByNode(paths);
    expect(formatSubnetCounts(counts.get("node1"))).toBe("subnet 1: 2, subnet 2: 1");
    expect(formatSubnetCounts(counts.get("node2"))).toBe("subnet 2: 1");
    expect(counts.has("")).toBe(false);
    expect(formatSubnetCounts(counts.get("node9"))).toBe("");
    expect(pathTotals(paths)).toEqual({ disks: 3, paths: 5, unserved: 1 });
  });

  it("lists nodes in natural order", () => {
    expect(
      sortNodes([node({ name: "node10" }), node({ name: "node2" }), node({ name: "node1" })]).map(
        (n) => n.name,
      ),
    ).toEqual(["node1", "node2", "node10"]);
  });

  it("finds the running job and sums it up, counting moves under way as pending", () => {
    const jobs = [
      job("old", "JOB_STATE_SUCCEEDED"),
      job("now", "JOB_STATE_RUNNING", { total: 10, succeeded: 3, failed: 1, moving: 2, pending: 4 }),
    ];
    const running = activeJob(jobs);
    expect(running?.id).toBe("now");
    expect(activeJobSummary(running as Job)).toBe("reassignment in progress: moved 3 / failed 1 / pending 6");
    expect(activeJob([job("c", "JOB_STATE_CANCELLING")])?.id).toBe("c");
    expect(activeJob([job("old", "JOB_STATE_PARTIALLY_FAILED")])).toBeUndefined();
  });
});
