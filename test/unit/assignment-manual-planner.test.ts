import { describe, expect, it } from "vitest";
import { planAverage } from "../../src/assignment/average-planner.js";
import { AUTO_TARGET, planManual, planMoveToNode } from "../../src/assignment/manual-planner.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { thrownAs } from "../support/thrown.js";
import { node, path, movesOf } from "../support/planner-fixtures.js";

const nodes = [
  node("A"),
  node("B"),
  node("C", { subnets: [1] }),
  node("K", { cordoned: true }),
  node("Z", { online: false }),
  node("X", { degraded: true }),
];
const paths = [
  path(1, 1, "A"),
  path(1, 2, "B", 2),
  path(2, 1, "A"),
  path(2, 2, "B"),
  path(3, 1, "A"),
  path(4, 1, ""),
];

describe("planManual to a named node", () => {
  it("moves the selected paths there, in request order, and counts before and after", () => {
    const plan = planManual(paths, nodes, { ips: ["198.51.100.31", "198.51.100.11"], targetNode: "C" });
    expect(movesOf(plan)).toEqual(["d3/1 A→C", "d1/1 A→C"]);
    expect(plan.before).toEqual([
      { node: "A", paths: 3 },
      { node: "B", paths: 2 },
      { node: "C", paths: 0 },
      { node: "K", paths: 0 },
      { node: "X", paths: 0 },
      { node: "Z", paths: 0 },
    ]);
    expect(plan.after.find((count) => count.node === "C")).toEqual({ node: "C", paths: 2 });
    expect(plan.after.find((count) => count.node === "A")).toEqual({ node: "A", paths: 1 });
  });

  it("is a no-op for a path already on the node, and ignores repeated IPs", () => {
    expect(planManual(paths, nodes, { ips: ["198.51.100.11"], targetNode: "A" }).moves).toEqual([]);
    const plan = planManual(paths, nodes, { ips: ["198.51.100.31", "198.51.100.31"], targetNode: "B" });
    expect(movesOf(plan)).toEqual(["d3/1 A→B"]);
  });

  it("gives a free path to the node (nothing to clean: the source is empty)", () => {
    expect(movesOf(planMoveToNode(paths, nodes, { ips: ["198.51.100.41"], targetNode: "B" }))).toEqual([
      "d4/1 -→B",
    ]);
  });

  it.each([
    ["an unknown node", "Q", "not_found", "NODE_NOT_FOUND", /no node is named "Q"/],
    ["an offline node", "Z", "not_found", "NODE_NOT_FOUND", /Z is offline/],
    ["a cordoned node", "K", "failed_precondition", "NODE_CORDONED", /K is cordoned/],
    [
      "a degraded node",
      "X",
      "failed_precondition",
      "NODE_DEGRADED",
      /X is degraded \(its data path failed\)/,
    ],
    ["a node without the path's subnet", "C", "invalid_argument", "WRONG_SUBNET", /subnet 2, which ips\[0\]/],
  ])("refuses %s with field target_node", (_, targetNode, kind, reason, message) => {
    const error = thrownAs(SanpathError, () =>
      planManual(paths, nodes, { ips: ["203.0.113.12"], targetNode }),
    );
    expect(error).toMatchObject({ kind, reason, field: "target_node" });
    expect(error.message).toMatch(message);
  });

  it("refuses an unknown IP with PATH_NOT_FOUND naming its field", () => {
    const error = thrownAs(SanpathError, () =>
      planManual(paths, nodes, { ips: ["198.51.100.11", "198.51.100.99"], targetNode: "B" }),
    );
    expect(error).toMatchObject({ kind: "not_found", reason: "PATH_NOT_FOUND", field: "ips[1]" });
    expect(error.message).toMatch(/198\.51\.100\.99/);
  });

  it.each(["garbage", "../../etc", "198.51.100.256", "198.51.100.011", ""])(
    "refuses %j with INVALID_ARGUMENT: not an IPv4 address, naming its field",
    (ip) => {
      const error = thrownAs(SanpathError, () =>
        planManual(paths, nodes, { ips: ["198.51.100.11", ip], targetNode: "B" }),
      );
      expect(error).toMatchObject({ kind: "invalid_argument", reason: "INVALID_FIELD", field: "ips[1]" });
      expect(error.message).toContain("is not an IPv4 address");
    },
  );

  it("refuses empty requests with DATA_MISSING", () => {
    expect(
      thrownAs(SanpathError, () => planManual(paths, nodes, { ips: [], targetNode: "B" })),
    ).toMatchObject({
      reason: "DATA_MISSING",
      field: "ips",
    });
    expect(
      thrownAs(SanpathError, () => planManual(paths, nodes, { ips: ["198.51.100.11"], targetNode: "" })),
    ).toMatchObject({
      reason: "DATA_MISSING",
      field: "target_node",
    });
  });

  it("refuses to put two paths of a disk on the node while another eligible node has none", () => {
    // d5/3 is on subnet 2, which C lacks: once it moves, every eligible node with subnet 2 (A, B)
    // still holds d5, so A may take a second path of it although C holds none.
    const withSubnet2Disk = [...paths, path(5, 1, "A"), path(5, 2, "B", 2), path(5, 3, "B", 2)];
    const stacked = planManual(withSubnet2Disk, nodes, { ips: ["203.0.113.53"], targetNode: "A" });
    expect(movesOf(stacked)).toEqual(["d5/3 B→A"]);
    // Moving d1/2 instead would leave B, which has subnet 2, without d1.
    expect(
      thrownAs(SanpathError, () => planManual(paths, nodes, { ips: ["203.0.113.12"], targetNode: "A" })),
    ).toMatchObject({
      reason: "WRONG_DATA",
      field: "ips[0]",
    });
    // The first IP is a no-op; the second would stack d2 on A and leave B and C without it.
    const error = thrownAs(SanpathError, () =>
      planManual(paths, nodes, { ips: ["198.51.100.31", "198.51.100.22"], targetNode: "A" }),
    );
    expect(error).toMatchObject({ kind: "invalid_argument", reason: "WRONG_DATA", field: "ips[1]" });
    expect(error.message).toMatch(/2 paths of disk disk-2 on it while node B serves none/);
  });
});

describe("planManual to auto", () => {
  it("is the average planner over the selection", () => {
    const crowded = [1, 2, 3, 4, 5, 6].map((disk) => path(disk, 1, "A"));
    const request = { ips: ["198.51.100.11", "198.51.100.21", "198.51.100.31"], targetNode: AUTO_TARGET };
    const plan = planManual(crowded, nodes, request);
    expect(plan).toEqual(planAverage(crowded, nodes, { selectedIps: request.ips }));
    expect(movesOf(plan)).toEqual(["d1/1 A→B", "d2/1 A→C", "d3/1 A→B"]);
  });
});
