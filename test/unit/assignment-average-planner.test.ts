import { describe, expect, it } from "vitest";
import type { Plan, SubnetNumber } from "../../src/assignment/assignment-model.js";
import { planAverage } from "../../src/assignment/average-planner.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { thrownAs } from "../support/thrown.js";
import { node, path, movesOf } from "../support/planner-fixtures.js";

function countsOf(counts: Plan["after"]): Record<string, number> {
  return Object.fromEntries(counts.map((c) => [c.node, c.paths]));
}

const threeNodes = [node("A"), node("B"), node("C")];

describe("planAverage (PetaSAN plugin 1)", () => {
  it("spreads 6/0/0 over two disks: target 2, most-held disk first, fewest of the disk, then lowest total, then name", () => {
    const paths = [1, 2].flatMap((disk) => [1, 2, 3].map((index) => path(disk, index, "A")));
    const plan = planAverage(paths, threeNodes);
    // A holds 3+3; d1 wins the tie by disk id and goes to B (tie on everything, name).
    // Then d2 (3 on A now the most) goes to C (0 of d2 on both, C has the lower total).
    // Then d1 (2 vs d2's 2, disk id): C has no d1, B has one. Then d2 to B, which has no d2.
    expect(movesOf(plan)).toEqual(["d1/1 A→B", "d2/1 A→C", "d1/2 A→C", "d2/2 A→B"]);
    expect(countsOf(plan.before)).toEqual({ A: 6, B: 0, C: 0 });
    expect(countsOf(plan.after)).toEqual({ A: 2, B: 2, C: 2 });
  });

  it("takes from the most loaded node first, ties by name", () => {
    const paths = [1, 2, 3, 4]
      .map((disk) => path(disk, 1, "A"))
      .concat([5, 6, 7].map((disk) => path(disk, 1, "B")));
    const nodes = [node("A"), node("B"), node("C"), node("D")];
    // Target ceil(7/4) = 2. A (4) gives; then A and B hold 3 each: A by name; then B.
    expect(movesOf(planAverage(paths, nodes))).toEqual(["d1/1 A→C", "d2/1 A→D", "d5/1 B→C"]);
  });

  it("prefers the receiver without a path of the disk over one with fewer paths in total", () => {
    const paths = [
      path(1, 1, "A"),
      path(1, 2, "A"),
      path(2, 1, "A"),
      path(3, 1, "A"),
      path(4, 1, "A"),
      path(1, 3, "B"),
      path(5, 1, "C"),
      path(6, 1, "C"),
    ];
    // 8 paths, target 3. d1 (2 on A) goes to C (no d1) although B has fewer paths.
    // Next d1/2 would have to go to B, which holds d1 while A would hold none: refused, so d2 goes.
    expect(movesOf(planAverage(paths, threeNodes))).toEqual(["d1/1 A→C", "d2/1 A→B"]);
  });

  it("does not put a second path of a disk on a node while another eligible node holds none", () => {
    const paths = [
      path(1, 1, "A"),
      path(1, 2, "A"),
      path(2, 1, "A"),
      path(1, 3, "B"),
      path(4, 1, "C"),
      path(5, 1, "C"),
    ];
    // Target 2; only B is below it and B has d1 while C has none: d1 stays, d2 moves.
    const plan = planAverage(paths, threeNodes);
    expect(movesOf(plan)).toEqual(["d2/1 A→B"]);
    expect(countsOf(plan.after)).toEqual({ A: 2, B: 2, C: 2 });
  });

  it("stacks paths of a disk once every eligible node holds one", () => {
    const paths = [path(1, 1, "A"), path(1, 2, "A"), path(1, 3, "A"), path(1, 4, "B")];
    expect(movesOf(planAverage(paths, [node("A"), node("B")]))).toEqual(["d1/1 A→B"]);
  });

  it("leaves a two-subnet receiver's room to the subnet only it can take (#15)", () => {
    const nodes = [node("A"), node("B"), node("C", { subnets: [1] })];
    const paths = [
      path(1, 1, "A", 1),
      ...[2, 3, 4].map((disk) => path(disk, 1, "A", 2)),
      path(5, 1, "B"),
      path(6, 1, "C"),
    ];
    // Target 2: A gives 2, B and C take one each. PetaSAN's greedy choice gives d1 (subnet 1) to B
    // (name), and then A's subnet-2 paths have nowhere to go: A would stay at 3.
    const plan = planAverage(paths, nodes);
    expect(movesOf(plan)).toEqual(["d1/1 A→C", "d2/1 A→B"]);
    expect(countsOf(plan.after)).toEqual({ A: 2, B: 2, C: 2 });
  });

  it("puts a second path of a disk on a node when PetaSAN's rule would leave the donor above the target and the spread does not grow (#15)", () => {
    const paths = [
      path(1, 1, "A"),
      path(1, 2, "A"),
      path(1, 3, "A"),
      path(1, 4, "B"),
      path(2, 1, "C"),
      path(3, 1, "C"),
    ];
    // Target 2; only B is below it and holds d1 while C holds none: PetaSAN's rule refuses, so A
    // would stay at 3. d1's spread is 3 (on A); B ends with 2 of it, so the spread only shrinks.
    const plan = planAverage(paths, threeNodes);
    expect(movesOf(plan)).toEqual(["d1/1 A→B"]);
    expect(countsOf(plan.after)).toEqual({ A: 2, B: 2, C: 2 });
  });

  it("revises earlier choices when the greedy order leaves a node above the target (#15)", () => {
    const nodes = [node("a"), node("f"), node("r1"), node("r2", { subnets: [1] })];
    const range = (from: number, to: number): number[] =>
      Array.from({ length: to - from + 1 }, (_, i) => from + i);
    const paths = [
      ...range(1, 2).map((disk) => path(disk, 1, "a")),
      ...range(3, 8).flatMap((disk) => [path(disk, 1, "a"), path(disk, 2, "r2")]),
      ...range(9, 18).map((disk) => path(disk, 1, "a", 2)),
      ...range(19, 20).map((disk) => path(disk, 1, "r2")),
      ...range(21, 24).map((disk) => path(disk, 1, "r1")),
      ...range(25, 34).map((disk) => path(disk, 1, "f", 2)),
    ];
    // Target 10: a gives 8, r1 takes 6 and r2 (subnet 1 only) 2. In PetaSAN's order d1 and d2
    // go to r1 (fewer paths), then d3..d6 fill r1; r2 could only take d7 or d8, whose other path
    // it holds. The augmenting step gives d7 and d8 to r1 and moves d1 and d2 on to r2.
    const plan = planAverage(paths, nodes);
    expect(countsOf(plan.after)).toEqual({ a: 10, f: 10, r1: 10, r2: 10 });
    expect(movesOf(plan)).toEqual([
      "d1/1 a→r2",
      "d2/1 a→r2",
      ...range(3, 8).map((disk) => `d${disk}/1 a→r1`),
    ]);
  });

  it("skips cordoned nodes, offline nodes and nodes without the path's subnet", () => {
    const nodes = [
      node("A"),
      node("B"),
      node("C", { subnets: [1] }),
      node("D", { cordoned: true }),
      node("E", { online: false }),
    ];
    const paths = [1, 2, 3, 4].map((disk) => path(disk, 1, "A", 2));
    // Eligible: A, B, C; target ceil(4/3) = 2. Only B has subnet 2.
    const plan = planAverage(paths, nodes);
    expect(movesOf(plan)).toEqual(["d1/1 A→B", "d2/1 A→B"]);
    expect(countsOf(plan.after)).toEqual({ A: 2, B: 2, C: 0, D: 0, E: 0 });
  });

  it("neither counts nor moves paths on cordoned, offline or unknown nodes, nor free paths", () => {
    const nodes = [node("A"), node("B"), node("K", { cordoned: true }), node("Z", { online: false })];
    const paths = [
      ...[1, 2, 3].map((disk) => path(disk, 1, "A")),
      path(4, 1, "B"),
      ...[5, 6, 7, 8, 9].map((disk) => path(disk, 1, "K")),
      path(10, 1, "Z"),
      path(11, 1, "gone"),
      path(12, 1, ""),
    ];
    // Eligible A and B serve 4 paths: target 2.
    const plan = planAverage(paths, nodes);
    expect(movesOf(plan)).toEqual(["d1/1 A→B"]);
    expect(countsOf(plan.after)).toEqual({ A: 2, B: 2, K: 5, Z: 1, gone: 1 });
  });

  it("plans nothing when every node is at or under the target", () => {
    const paths = [path(1, 1, "A"), path(1, 2, "B"), path(2, 1, "A"), path(2, 2, "C"), path(3, 1, "B")];
    const plan = planAverage(paths, threeNodes);
    expect(plan.moves).toEqual([]);
    expect(plan.after).toEqual(plan.before);
    expect(planAverage([], threeNodes).moves).toEqual([]);
    expect(planAverage(paths, [node("A", { cordoned: true })]).moves).toEqual([]);
  });

  it("gives the same plan whatever the order of paths and nodes", () => {
    const paths = [1, 2, 3, 4, 5].flatMap((disk) =>
      [1, 2].map((index) => path(disk, index, index === 1 ? "A" : "B")),
    );
    const [a, b, c, d] = [
      node("A"),
      node("B"),
      node("C"),
      node("D", { subnets: new Set<SubnetNumber>([2, 1]) }),
    ];
    const nodes = [a, b, c, d];
    const plan = planAverage(paths, nodes);
    expect(plan.moves.length).toBeGreaterThan(0);
    expect(planAverage(paths.slice().reverse(), nodes.slice().reverse())).toEqual(plan);
    const interleaved = [...paths.filter((_, i) => i % 2 === 1), ...paths.filter((_, i) => i % 2 === 0)];
    expect(planAverage(interleaved, [c, a, d, b])).toEqual(plan);
  });

  describe("over a selection (manual reassignment to auto)", () => {
    const paths = [1, 2, 3, 4, 5, 6].map((disk) => path(disk, 1, "A"));

    it("moves only selected paths, with the target from every path", () => {
      const plan = planAverage(paths, threeNodes, { selectedIps: ["198.51.100.61", "198.51.100.51"] });
      // Target ceil(6/3) = 2: A may give 4, but only the two selected move.
      expect(movesOf(plan)).toEqual(["d5/1 A→B", "d6/1 A→C"]);
      expect(countsOf(plan.after)).toEqual({ A: 4, B: 1, C: 1 });
    });

    it("leaves selected paths on nodes at or under the target where they are", () => {
      const balanced = [path(1, 1, "A"), path(2, 1, "B"), path(3, 1, "C"), path(4, 1, "A")];
      expect(
        planAverage(balanced, threeNodes, { selectedIps: ["198.51.100.11", "198.51.100.21"] }).moves,
      ).toEqual([]);
    });

    it("fails with PATH_NOT_FOUND naming the field of an unknown IP", () => {
      const error = thrownAs(SanpathError, () =>
        planAverage(paths, threeNodes, { selectedIps: ["198.51.100.11", "192.0.2.77"] }),
      );
      expect(error).toMatchObject({ kind: "not_found", reason: "PATH_NOT_FOUND", field: "ips[1]" });
      expect(error.message).toMatch(/ips\[1\].*192\.0\.2\.77/);
    });
  });
});
