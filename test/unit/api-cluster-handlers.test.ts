/**
 * What ClusterService's node maintenance handlers (src/api/cluster-handlers.ts) tell the event
 * history, on the fakes (test/support/process-cluster.ts): `cordon` and `uncordon` name the node
 * and the caller, `drain` also the drain job's id and how many paths it moves; a refused call
 * records nothing. Node a serves both paths of one disk; node b serves nothing.
 */
import { Metadata } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CallContext } from "../../src/api/call-handlers.js";
import { clusterHandlers } from "../../src/api/cluster-handlers.js";
import type { JobStore } from "../../src/assignment/job-store.js";
import { ReassignmentService } from "../../src/assignment/reassignment-service.js";
import { ClusterStateReader } from "../../src/assignment/assignment-stats.js";
import { AllocationKeys } from "../../src/disks/allocation-keys.js";
import { ClusterSettingsStore } from "../../src/disks/cluster-settings-store.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import type { EventInput } from "../../src/events/event-log.js";
import { parseNodeRecord } from "../../src/node/node-record.js";
import { ANONYMOUS_CALLER, type Caller } from "../../src/security/caller.js";
import { jobServices } from "../support/coordinator-term.js";
import { ProcessCluster } from "../support/process-cluster.js";
import { rejectionAs } from "../support/thrown.js";

const signal = (): AbortSignal => AbortSignal.timeout(5000);

/** A call's context as the gate hands it to a handler, from `caller`. */
function contextOf(caller: Caller, method: string): CallContext {
  return {
    signal: signal(),
    metadata: new Metadata(),
    peer: "ipv4:127.0.0.1:50000",
    deadline: undefined,
    method: `/sanpath.v1.ClusterService/${method}`,
    caller,
  };
}

const alice: Caller = { name: "alice", role: "path-admin", credential: "token" };
const bob: Caller = { name: "bob", role: "admin", credential: "certificate" };

describe("ClusterService's cordon, uncordon and drain events", () => {
  let cluster: ProcessCluster;
  let store: JobStore;
  let events: EventInput[];
  let handlers: ReturnType<typeof clusterHandlers>;

  beforeEach(async () => {
    cluster = await ProcessCluster.start("ClusterHandlers");
    const a = await cluster.addNode("a");
    await cluster.addNode("b");
    const diskId = await cluster.addDisk({ name: "one", pathCount: 2 });
    for (const index of [1, 2]) await a.agent.acquirePath({ epoch: 0, diskId, index, jobId: "" }, signal());
    const services = jobServices(cluster);
    store = services.store;
    events = [];
    handlers = clusterHandlers({
      service: services.service,
      settings: new ClusterSettingsStore(cluster.kv, new AllocationKeys(cluster.keys)),
      leader: () =>
        Promise.resolve({ node: "b", address: "b.test:7410", epoch: 7, session: "leader-session" }),
      consulRoot: "ClusterHandlers",
      events: { record: (event) => events.push(event) },
    });
  });
  afterEach(async () => {
    await cluster.close();
  });

  const cordonedInConsul = async (node: string): Promise<boolean | undefined> =>
    parseNodeRecord((await cluster.kv.get(cluster.keys.node(node)))?.value ?? "").cordoned;

  it("cordon and uncordon record the node and the caller's name, once the record says so", async () => {
    const cordoned = await handlers.cordonNode({ node: "a" }, contextOf(alice, "CordonNode"));
    expect(cordoned.node).toMatchObject({ name: "a", cordoned: true });
    expect(await cordonedInConsul("a")).toBe(true);
    expect(events).toEqual([{ kind: "cordon", node: "a", actor: "alice" }]);

    const uncordoned = await handlers.uncordonNode({ node: "a" }, contextOf(bob, "UncordonNode"));
    expect(uncordoned.node).toMatchObject({ name: "a", cordoned: false });
    expect(await cordonedInConsul("a")).toBe(false);
    expect(events).toEqual([
      { kind: "cordon", node: "a", actor: "alice" },
      { kind: "uncordon", node: "a", actor: "bob" },
    ]);
  });

  it("a caller without a name (auth off) is recorded as the CLI", async () => {
    await handlers.cordonNode({ node: "b" }, contextOf(ANONYMOUS_CALLER, "CordonNode"));
    expect(events).toEqual([{ kind: "cordon", node: "b", actor: "cli" }]);
  });

  it("drain records the node, the caller and the drain job's id and moves", async () => {
    const response = await handlers.drainNode({ node: "a", parallelism: 1 }, contextOf(alice, "DrainNode"));
    const jobId = response.job?.id ?? "";
    expect(jobId).not.toBe("");
    const job = await store.get(jobId);
    expect(job.header).toMatchObject({ kind: "drain", drainNode: "a", startedBy: "alice" });
    expect(job.moves).toHaveLength(2);
    expect(await cordonedInConsul("a")).toBe(true);
    // One event: the drain (its own cordon is part of it, said in the reason).
    expect(events).toEqual([
      {
        kind: "drain",
        node: "a",
        actor: "alice",
        jobId,
        reason: "2 paths to move off the node (it is cordoned)",
      },
    ]);
  });

  it("a refused call records nothing", async () => {
    const unknown = await rejectionAs(
      SanpathError,
      handlers.cordonNode({ node: "x" }, contextOf(alice, "CordonNode")),
    );
    expect(unknown.reason).toBe("NODE_NOT_FOUND");
    expect(
      (await rejectionAs(SanpathError, handlers.uncordonNode({ node: "" }, contextOf(alice, "UncordonNode"))))
        .reason,
    ).toBe("DATA_MISSING");
    expect(
      (
        await rejectionAs(
          SanpathError,
          handlers.drainNode({ node: "x", parallelism: 1 }, contextOf(alice, "DrainNode")),
        )
      ).reason,
    ).toBe("NODE_NOT_FOUND");
    expect(events).toEqual([]);

    // A second drain while the first job runs: refused before anything changes.
    await handlers.drainNode({ node: "a", parallelism: 1 }, contextOf(alice, "DrainNode"));
    const running = await rejectionAs(
      SanpathError,
      handlers.drainNode({ node: "b", parallelism: 1 }, contextOf(bob, "DrainNode")),
    );
    expect(running.reason).toBe("REASSIGNMENT_RUNNING");
    expect(await cordonedInConsul("b")).toBeFalsy();
    expect(events.map((event) => [event.kind, event.node, event.actor])).toEqual([["drain", "a", "alice"]]);
  });

  it("a drain that fails after cordoning the node records the cordon, saying the node stays cordoned", async () => {
    const { kv, sessions } = cluster.store;
    const leaderless = clusterHandlers({
      service: new ReassignmentService({
        kv,
        keys: cluster.keys,
        reader: new ClusterStateReader({ kv, sessions, keys: cluster.keys, logger: cluster.logger }),
        store,
        hasLeader: () => Promise.resolve(false),
        nodeName: "admin",
        defaultParallelism: 4,
        logger: cluster.logger,
      }),
      settings: new ClusterSettingsStore(cluster.kv, new AllocationKeys(cluster.keys)),
      leader: () => Promise.resolve(undefined),
      consulRoot: "ClusterHandlers",
      events: { record: (event) => events.push(event) },
    });
    const refused = await rejectionAs(
      SanpathError,
      leaderless.drainNode({ node: "a", parallelism: 1 }, contextOf(alice, "DrainNode")),
    );
    expect(refused.kind).toBe("unavailable");
    expect(await cordonedInConsul("a")).toBe(true);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "cordon", node: "a", actor: "alice" });
    expect(events[0]?.reason).toMatch(/^the drain failed after cordoning the node, which stays cordoned: /);
    expect(events[0]?.jobId).toBeUndefined();
  });
});
