import { describe, expect, it } from "vitest";
import type { PathInfo } from "../../web/src/api-model.js";
import { formatJobStatus } from "../../web/src/format.js";
import { filterPaths, keepSelection, nodeChoices, NO_FILTER, UNSERVED } from "../../web/src/path-filter.js";
import { formatChange, nodeCountRows, planHeadline } from "../../web/src/plan-summary.js";

function path(diskId: string, diskName: string, index: number, ip: string, node: string): PathInfo {
  return {
    diskId,
    diskName,
    index,
    ip,
    subnet: 1,
    node,
    jobStatus: "MOVE_STATUS_UNSPECIFIED",
    jobTargetNode: "",
  };
}

const paths = [
  path("00010", "Backup", 1, "198.51.100.30", "node2"),
  path("00002", "db-main", 2, "198.51.100.21", ""),
  path("00002", "db-main", 1, "198.51.100.20", "node1"),
  path("00003", "web", 1, "198.51.100.64", "node10"),
];

describe("console web: the paths page", () => {
  it("filters by disk name (case-insensitive substring, or disk id), IP and node, sorted by disk and path", () => {
    const ips = (filter: Partial<typeof NO_FILTER>) =>
      filterPaths(paths, { ...NO_FILTER, ...filter }).map((p) => p.ip);
    expect(ips({})).toEqual(["198.51.100.20", "198.51.100.21", "198.51.100.64", "198.51.100.30"]);
    expect(ips({ diskName: "DB" })).toEqual(["198.51.100.20", "198.51.100.21"]);
    expect(ips({ diskName: "00010" })).toEqual(["198.51.100.30"]);
    expect(ips({ ip: "198.51.100.64" })).toEqual(["198.51.100.64"]);
    expect(ips({ node: "node1" })).toEqual(["198.51.100.20"]);
    expect(ips({ node: UNSERVED })).toEqual(["198.51.100.21"]);
    expect(ips({ diskName: "db", node: "node2" })).toEqual([]);
  });

  it("offers every node in natural order, listed or serving a path", () => {
    expect(nodeChoices(["node3", "node1"], paths)).toEqual(["node1", "node2", "node3", "node10"]);
  });

  it("keeps only selected paths that still exist after a refresh", () => {
    const kept = keepSelection(new Set(["198.51.100.20", "198.51.100.99"]), paths);
    expect([...kept]).toEqual(["198.51.100.20"]);
  });

  it("shows the running job's view of a path", () => {
    expect(formatJobStatus({ jobStatus: "MOVE_STATUS_MOVING", jobTargetNode: "node2" })).toBe(
      "moving → node2",
    );
    expect(formatJobStatus({ jobStatus: "MOVE_STATUS_PENDING", jobTargetNode: "" })).toBe("pending");
    expect(formatJobStatus({ jobStatus: "MOVE_STATUS_UNSPECIFIED", jobTargetNode: "node2" })).toBe("");
  });

  it("lays a plan's counts out per node, before and after, with nodes missing from a list at 0", () => {
    const rows = nodeCountRows(
      [
        { node: "node2", paths: 6 },
        { node: "node1", paths: 2 },
      ],
      [
        { node: "node1", paths: 4 },
        { node: "node2", paths: 3 },
        { node: "node10", paths: 1 },
      ],
    );
    expect(rows).toEqual([
      { node: "node1", before: 2, after: 4, change: 2 },
      { node: "node2", before: 6, after: 3, change: -3 },
      { node: "node10", before: 0, after: 1, change: 1 },
    ]);
    expect(rows.map((r) => formatChange(r.change))).toEqual(["+2", "\u22123", "+1"]);
    expect(formatChange(0)).toBe("0");
    expect(planHeadline({ moves: [], before: [], after: [], stateIndex: 1 })).toBe("nothing to move");
  });
});
