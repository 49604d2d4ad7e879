/**
 * PlanReassignment's drain dry run (src/api/assignment-handlers.ts over ReassignmentService, on the
 * fakes of test/support/process-cluster.ts): the plan DrainNode would store, without cordoning the
 * node or storing anything; StartReassignment refuses a drain spec (DrainNode cordons first).
 * Node a serves both paths of one disk; nodes b and c serve nothing.
 */
import { Metadata } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { assignmentHandlers } from "../../src/api/assignment-handlers.js";
import type { CallContext } from "../../src/api/call-handlers.js";
import type { JobStore } from "../../src/assignment/job-store.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { parseNodeRecord } from "../../src/node/node-record.js";
import { jobServices } from "../support/coordinator-term.js";
import { ProcessCluster } from "../support/process-cluster.js";
import { rejectionAs } from "../support/thrown.js";

function context(method: string): CallContext {
  return {
    signal: AbortSignal.timeout(5000),
    metadata: new Metadata(),
    peer: "ipv4:127.0.0.1:50000",
    deadline: undefined,
    method: `/sanpath.v1.AssignmentService/${method}`,
    caller: { name: "alice", role: "path-admin", credential: "token" },
  };
}

describe("PlanReassignment's drain dry run", () => {
  let cluster: ProcessCluster;
  let store: JobStore;
  let handlers: ReturnType<typeof assignmentHandlers>;
  let diskId: string;

  beforeEach(async () => {
    cluster = await ProcessCluster.start("DrainPlan");
    const a = await cluster.addNode("a");
    await cluster.addNode("b");
    await cluster.addNode("c");
    diskId = await cluster.addDisk({ name: "one", pathCount: 2 });
    for (const index of [1, 2])
      await a.agent.acquirePath({ epoch: 0, diskId, index, jobId: "" }, AbortSignal.timeout(5000));
    const services = jobServices(cluster);
    store = services.store;
    handlers = assignmentHandlers(services.service, () => Promise.resolve("b"));
  });
  afterEach(async () => {
    await cluster.close();
  });

  const cordoned = async (node: string): Promise<boolean | undefined> =>
    parseNodeRecord((await cluster.kv.get(cluster.keys.node(node)))?.value ?? "").cordoned;

  it("plans every path of the node onto the others, one per node, and changes nothing", async () => {
    const plan = await handlers.planReassignment(
      { spec: { drain: { node: "a" } } },
      context("PlanReassignment"),
    );
    expect(plan.moves.map((move) => [move.diskId, move.index, move.sourceNode]).sort()).toEqual([
      [diskId, 1, "a"],
      [diskId, 2, "a"],
    ]);
    // The disk's spread: its two paths go to two different nodes.
    expect(new Set(plan.moves.map((move) => move.targetNode))).toEqual(new Set(["b", "c"]));
    expect(plan.before).toEqual(
      expect.arrayContaining([
        { node: "a", paths: 2 },
        { node: "b", paths: 0 },
      ]),
    );
    expect(plan.after).toEqual(expect.arrayContaining([{ node: "a", paths: 0 }]));
    expect(plan.stateIndex).toBeGreaterThan(0);
    expect(await cordoned("a")).toBeFalsy();
    expect(await store.readRunning()).toBeUndefined();
  });

  it("names the field when the node is missing or unknown, and StartReassignment refuses a drain spec", async () => {
    const empty = await rejectionAs(
      SanpathError,
      handlers.planReassignment({ spec: { drain: { node: " " } } }, context("PlanReassignment")),
    );
    expect([empty.kind, empty.field]).toEqual(["invalid_argument", "spec.drain.node"]);
    const unknown = await rejectionAs(
      SanpathError,
      handlers.planReassignment({ spec: { drain: { node: "zz" } } }, context("PlanReassignment")),
    );
    expect([unknown.kind, unknown.reason]).toEqual(["not_found", "NODE_NOT_FOUND"]);
    const started = await rejectionAs(
      SanpathError,
      handlers.startReassignment(
        { spec: { drain: { node: "a" } }, stateIndex: 0, parallelism: 0 },
        context("StartReassignment"),
      ),
    );
    expect([started.kind, started.field]).toEqual(["invalid_argument", "spec.drain"]);
    expect(started.message).toContain("call DrainNode");
    expect(await cordoned("a")).toBeFalsy();
    expect(await store.readRunning()).toBeUndefined();
  });
});
