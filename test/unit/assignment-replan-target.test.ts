import { describe, expect, it } from "vitest";
import type { JobHeader } from "../../src/assignment/job-model.js";
import { replanRuleOf, replanTarget } from "../../src/assignment/replan-target.js";
import { node, path } from "../support/planner-fixtures.js";

const header = (kind: JobHeader["kind"], extra: Partial<JobHeader> = {}): JobHeader => ({
  id: "20250101-120000-ab12",
  kind,
  state: "running",
  moveCount: 1,
  parallelism: 1,
  createTime: new Date(0),
  startedBy: "test",
  drainNode: "",
  requestedOn: "a",
  ...extra,
});

describe("replanRuleOf", () => {
  it("re-plans drains and auto jobs by their planner, and a manual move only when it asked for auto", () => {
    expect(replanRuleOf(header("drain", { drainNode: "a" }))).toEqual({ kind: "drain", drainNode: "a" });
    expect(replanRuleOf(header("auto"))).toEqual({ kind: "average" });
    expect(replanRuleOf(header("manual", { manualTarget: "auto" }))).toEqual({ kind: "average" });
    expect(replanRuleOf(header("manual", { manualTarget: "b" }))).toEqual({ kind: "named", targetNode: "b" });
    // A manual job stored before the field existed: its target was named.
    expect(replanRuleOf(header("manual"))).toEqual({ kind: "named", targetNode: "" });
  });
});

describe("replanTarget", () => {
  const drainA = { kind: "drain", drainNode: "A" } as const;

  it("drain: the eligible node with the fewest paths of the disk, then in total, then by name", () => {
    // d1/2 counts on C (its unfinished move's target), d2/1 on B: the d1 path goes to B or D (none
    // of d1), and D has fewer paths in total.
    const nodes = [
      node("A", { cordoned: true }),
      node("B"),
      node("C"),
      node("D"),
      node("X", { online: false }),
    ];
    const paths = [path(1, 1, "A"), path(1, 2, "C"), path(2, 1, "B"), path(3, 1, "B"), path(4, 1, "D")];
    expect(replanTarget(paths, nodes, path(1, 1, "A").ip, drainA)).toEqual({ node: "D" });
    // The same input in another order: the same answer.
    expect(replanTarget([...paths].reverse(), [...nodes].reverse(), path(1, 1, "A").ip, drainA)).toEqual({
      node: "D",
    });
  });

  it("drain: never the drained node, even uncordoned and emptiest; no other node is a reason naming the rule", () => {
    const nodes = [node("A"), node("B", { online: false }), node("C", { cordoned: true })];
    expect(replanTarget([path(1, 1, "A")], nodes, path(1, 1, "A").ip, drainA)).toEqual({
      reason: "no eligible node other than A has an interface on iSCSI subnet 1",
    });
    const withB = [node("A"), node("B"), node("C", { cordoned: true })];
    const paths = [path(1, 1, "A"), path(2, 1, "B"), path(3, 1, "B")];
    expect(replanTarget(paths, withB, path(1, 1, "A").ip, drainA)).toEqual({ node: "B" });
  });

  it("drain: only nodes with the path's subnet", () => {
    const nodes = [node("A", { cordoned: true }), node("B", { subnets: [1] }), node("C", { subnets: [2] })];
    expect(replanTarget([path(1, 2, "A", 2)], nodes, path(1, 2, "A", 2).ip, drainA)).toEqual({ node: "C" });
    expect(replanTarget([path(1, 2, "A", 2)], nodes.slice(0, 2), path(1, 2, "A", 2).ip, drainA)).toEqual({
      reason: "no eligible node other than A has an interface on iSCSI subnet 2",
    });
  });

  it("average: a node below the average other than the holder, without a path of the disk", () => {
    const nodes = [node("A"), node("B"), node("C"), node("D", { online: false })];
    // 6 paths on A, B, C: average 2. A holds 4, B 1, C 1; d1/2 counts on B already.
    const paths = [
      path(1, 1, "A"),
      path(1, 2, "B"),
      path(2, 1, "A"),
      path(3, 1, "A"),
      path(4, 1, "A"),
      path(5, 1, "C"),
    ];
    expect(replanTarget(paths, nodes, path(1, 1, "A").ip, { kind: "average" })).toEqual({ node: "C" });
  });

  it("average: no node below the average, or only ones with the disk while another has none, is a reason", () => {
    const nodes = [node("A"), node("B"), node("C")];
    const full = [
      path(1, 1, "A"),
      path(2, 1, "A"),
      path(3, 1, "B"),
      path(4, 1, "B"),
      path(5, 1, "C"),
      path(6, 1, "C"),
    ];
    expect(replanTarget(full, nodes, path(1, 1, "A").ip, { kind: "average" })).toEqual({
      reason: "no eligible node with an interface on iSCSI subnet 1 serves fewer paths than the average (2)",
    });
    // Average 2: B is below it but serves d1 already, while C (at the average) serves none of d1.
    const paths = [path(1, 1, "A"), path(1, 2, "B"), path(2, 1, "A"), path(3, 1, "C"), path(4, 1, "C")];
    expect(replanTarget(paths, nodes, path(1, 1, "A").ip, { kind: "average" })).toEqual({
      reason:
        "every eligible node below the average (2 paths) serves a path of disk disk-1 already, " +
        "while another eligible node with iSCSI subnet 1 serves none",
    });
  });

  it("named: never re-planned, and says so", () => {
    const result = replanTarget([path(1, 1, "A")], [node("A"), node("B")], path(1, 1, "A").ip, {
      kind: "named",
      targetNode: "C",
    });
    expect("reason" in result ? result.reason : "").toMatch(/manual move to a named node is not re-planned/);
  });

  it("a path no running disk has any more is a reason", () => {
    expect(replanTarget([], [node("B")], "198.51.100.11", drainA)).toEqual({
      reason: "the path is no longer one of a running disk",
    });
  });
});
