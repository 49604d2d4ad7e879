import { describe, expect, it } from "vitest";
import type { PathAssignment } from "../../src/assignment/assignment-model.js";
import { planDrain } from "../../src/assignment/drain-planner.js";
import { placeFreePaths, type PlacementResult } from "../../src/assignment/placement.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { thrownAs } from "../support/thrown.js";
import { node, path, movesOf } from "../support/planner-fixtures.js";

function placementsOf(result: PlacementResult): string[] {
  return result.placements.map((p) => `d${Number(p.diskId)}/${p.index}→${p.node}`);
}

/** `count` paths of distinct filler disks (numbered from `firstDisk`) on a node. */
function load(on: string, count: number, firstDisk: number): PathAssignment[] {
  return Array.from({ length: count }, (_, i) => path(firstDisk + i, 1, on));
}

describe("planDrain", () => {
  const nodes = [node("A", { cordoned: true }), node("B"), node("C"), node("D", { cordoned: true })];

  it("moves every path off the node: fewest of the disk, then fewest in total, then name", () => {
    const paths = [path(1, 1, "A"), path(1, 2, "B"), path(2, 1, "A"), path(2, 2, "C"), path(3, 1, "A")];
    const plan = planDrain(paths, nodes, "A");
    // d1/1: B has d1, C not. d2/1: C has d2, B not. d3/1: B and C hold 2 each: name.
    expect(movesOf(plan)).toEqual(["d1/1 A→C", "d2/1 A→B", "d3/1 A→B"]);
    expect(plan.unplaced).toEqual([]);
    expect(plan.after).toEqual([
      { node: "A", paths: 0 },
      { node: "B", paths: 3 },
      { node: "C", paths: 2 },
      { node: "D", paths: 0 },
    ]);
  });

  it("drains a node that is neither cordoned nor online alike, and never onto itself", () => {
    const paths = [path(1, 1, "B"), path(1, 2, "C"), path(2, 1, "C")];
    expect(movesOf(planDrain(paths, nodes, "C"))).toEqual(["d1/2 C→B", "d2/1 C→B"]);
    const offline = [node("A"), node("B"), node("Z", { online: false })];
    expect(movesOf(planDrain([path(1, 1, "Z"), path(1, 2, "A")], offline, "Z"))).toEqual(["d1/1 Z→B"]);
  });

  it("stacks a second path of a disk only when no other eligible node is free of it", () => {
    const paths = [path(1, 1, "B"), path(1, 2, "C")];
    expect(movesOf(planDrain(paths, [node("B"), node("C")], "C"))).toEqual(["d1/2 C→B"]);
  });

  it("reports paths no other eligible node can take (no interface on their subnet)", () => {
    const subnetNodes = [node("A"), node("B", { subnets: [1] }), node("C", { subnets: [2], cordoned: true })];
    const plan = planDrain([path(1, 1, "A"), path(1, 2, "A", 2)], subnetNodes, "A");
    expect(movesOf(plan)).toEqual(["d1/1 A→B"]);
    expect(plan.unplaced).toEqual([
      {
        diskId: "00001",
        diskName: "disk-1",
        index: 2,
        ip: "203.0.113.12",
        subnet: 2,
        reason: "no eligible node other than A has an interface on iSCSI subnet 2",
      },
    ]);
  });

  it("refuses an unknown node with NODE_NOT_FOUND on field node", () => {
    expect(thrownAs(SanpathError, () => planDrain([path(1, 1, "A")], nodes, "Q"))).toMatchObject({
      kind: "not_found",
      reason: "NODE_NOT_FOUND",
      field: "node",
    });
  });
});

describe("placeFreePaths", () => {
  const threeNodes = [node("A"), node("B"), node("C")];

  it("spreads a new disk over distinct nodes first, then the least loaded", () => {
    const paths = [4, 1, 3, 2].map((index) => path(1, index, ""));
    const result = placeFreePaths(paths, threeNodes);
    expect(placementsOf(result)).toEqual(["d1/1→A", "d1/2→B", "d1/3→C", "d1/4→A"]);
    expect(result.unplaced).toEqual([]);
  });

  it("balances against the paths already served", () => {
    const paths = [
      ...load("A", 3, 10),
      ...load("B", 1, 20),
      ...load("C", 2, 30),
      path(1, 1, ""),
      path(1, 2, ""),
    ];
    expect(placementsOf(placeFreePaths(paths, threeNodes))).toEqual(["d1/1→B", "d1/2→C"]);
  });

  it("avoids a node holding a path of the disk even when it is the least loaded", () => {
    const paths = [...load("A", 3, 10), path(1, 1, "B"), ...load("C", 5, 30), path(1, 2, "")];
    expect(placementsOf(placeFreePaths(paths, threeNodes))).toEqual(["d1/2→A"]);
  });

  it("never places on a degraded node, however idle, and says why when it is the only one", () => {
    const nodes = [node("A", { degraded: true }), node("B"), node("C")];
    const paths = [...load("B", 3, 10), ...load("C", 3, 20), path(1, 1, ""), path(1, 2, "")];
    expect(placementsOf(placeFreePaths(paths, nodes))).toEqual(["d1/1→B", "d1/2→C"]);
    const alone = placeFreePaths([path(1, 1, "")], [node("A", { degraded: true })]);
    expect(alone.placements).toEqual([]);
    expect(alone.unplaced.map((unplaced) => unplaced.reason)).toEqual([
      expect.stringContaining("no eligible node"),
    ]);
  });

  it("places the paths of a dead node over the others (failover)", () => {
    const nodes = [node("A"), node("B"), node("C"), node("D", { online: false })];
    const paths = [
      path(1, 1, "A"),
      path(1, 2, ""),
      path(2, 1, "B"),
      path(2, 2, ""),
      path(3, 1, "C"),
      path(3, 2, ""),
    ];
    expect(placementsOf(placeFreePaths(paths, nodes))).toEqual(["d1/2→B", "d2/2→A", "d3/2→A"]);
  });

  it("skips cordoned and offline nodes and nodes without the path's subnet, and says why a path stays free", () => {
    const nodes = [
      node("A", { subnets: [2] }),
      node("B", { cordoned: true }),
      node("C", { online: false }),
      node("D", { subnets: [1] }),
    ];
    const onlySubnet1 = [node("A", { subnets: [1] })];
    expect(placementsOf(placeFreePaths([path(1, 1, ""), path(1, 2, "", 2)], nodes))).toEqual([
      "d1/1→D",
      "d1/2→A",
    ]);
    expect(placeFreePaths([path(1, 1, "", 2)], onlySubnet1).unplaced).toEqual([
      expect.objectContaining({
        ip: "203.0.113.11",
        reason: "no eligible node (online, not cordoned) has an interface on iSCSI subnet 2",
      }),
    ]);
  });

  it("never chooses a node excluded for the path, and reports when every node is", () => {
    const paths = [path(1, 1, ""), path(2, 1, "")];
    const exclude = new Map([["198.51.100.11", ["A", "nonexistent"]]]);
    expect(placementsOf(placeFreePaths(paths, threeNodes, { exclude }))).toEqual(["d1/1→B", "d2/1→A"]);
    const everywhere = new Map([["198.51.100.11", ["C", "A", "B"]]]);
    const result = placeFreePaths(paths, threeNodes, { exclude: everywhere });
    expect(placementsOf(result)).toEqual(["d2/1→A"]);
    expect(result.unplaced).toEqual([
      expect.objectContaining({
        ip: "198.51.100.11",
        reason: "every eligible node with an interface on iSCSI subnet 1 is excluded for this path (A, B, C)",
      }),
    ]);
  });

  it("gives the same placements whatever the input order", () => {
    const paths = [
      ...load("A", 2, 10),
      ...[1, 2, 3].flatMap((disk) => [1, 2].map((index) => path(disk, index, ""))),
    ];
    const nodes = [node("A"), node("B"), node("C"), node("D")];
    const result = placeFreePaths(paths, nodes);
    expect(result.placements).toHaveLength(6);
    expect(placeFreePaths(paths.slice().reverse(), nodes.slice().reverse())).toEqual(result);
  });
});
