/**
 * AutoFailback on the fakes (test/support/process-cluster.ts): node agents on an in-memory Consul,
 * the production ClusterStateReader, JobStore and JobRunner, and a clock of the test's own for the
 * failback timers. A node that comes back (uncordoned, or restarted after being offline) and stays
 * eligible for healthyForMs gets an ordinary "auto" job of the average planner's moves onto it;
 * flapping restarts the wait; minIntervalMs separates failback jobs; the job runs at most
 * maxConcurrentMoves moves at once, and cancels like any other. The last part runs it inside a
 * Coordinator under an Election, on real time: on when enabled, nothing when not.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ClusterStateReader } from "../../src/assignment/assignment-stats.js";
import { planAverage } from "../../src/assignment/average-planner.js";
import type { Job } from "../../src/assignment/job-model.js";
import type { JobStore } from "../../src/assignment/job-store.js";
import type {
  LeaseGrant,
  LeaseRenewal,
  NodeEndpoint,
  NodeRpc,
  PathBatchRequest,
  PathRequest,
} from "../../src/assignment/node-rpc.js";
import type { ReassignmentService } from "../../src/assignment/reassignment-service.js";
import { AutoFailback, type AutoFailbackSettings } from "../../src/coordinator/auto-failback.js";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { Election } from "../../src/coordinator/election.js";
import type { EventInput } from "../../src/events/event-log.js";
import { jobRunnerOf, jobServices, leaderTerm, type TestTerm } from "../support/coordinator-term.js";
import { PROCESS_SESSION, ProcessCluster } from "../support/process-cluster.js";
import { until } from "../support/until.js";

const signal = (): AbortSignal => AbortSignal.timeout(5000);

const SETTINGS: AutoFailbackSettings = {
  healthyForMs: 60_000,
  maxConcurrentMoves: 2,
  minIntervalMs: 300_000,
};

/** A NodeRpc over the cluster's that holds each call a little and counts the calls in flight. */
class CountingRpc implements NodeRpc {
  inFlight = 0;
  maxInFlight = 0;
  calls = 0;

  constructor(
    private readonly inner: NodeRpc,
    private readonly holdMs = 15,
  ) {}

  acquirePath(node: NodeEndpoint, request: PathRequest, callSignal: AbortSignal): Promise<void> {
    return this.count(() => this.inner.acquirePath(node, request, callSignal));
  }

  cleanPath(node: NodeEndpoint, request: PathRequest, callSignal: AbortSignal): Promise<void> {
    return this.count(() => this.inner.cleanPath(node, request, callSignal));
  }

  acquirePaths(node: NodeEndpoint, request: PathBatchRequest, callSignal: AbortSignal) {
    return this.count(() => this.inner.acquirePaths(node, request, callSignal));
  }

  cleanPaths(node: NodeEndpoint, request: PathBatchRequest, callSignal: AbortSignal) {
    return this.count(() => this.inner.cleanPaths(node, request, callSignal));
  }

  renewLease(
    node: NodeEndpoint,
    renewal: LeaseRenewal,
    callSignal: AbortSignal,
    deadlineMs?: number,
  ): Promise<LeaseGrant> {
    return this.inner.renewLease(node, renewal, callSignal, deadlineMs);
  }

  private async count<T>(call: () => Promise<T>): Promise<T> {
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, this.holdMs));
      return await call();
    } finally {
      this.inFlight--;
    }
  }
}

describe("AutoFailback on in-memory Consul and node agents", () => {
  let cluster: ProcessCluster;
  let store: JobStore;
  let reader: ClusterStateReader;
  let service: ReassignmentService;
  let clock: number;
  let term: TestTerm;
  const controller = new AbortController();

  beforeEach(async () => {
    cluster = await ProcessCluster.start();
    ({ store, reader, service } = jobServices(cluster));
    clock = 1_000_000;
    term = await leaderTerm(cluster);
  });
  afterEach(async () => {
    term.end();
    await cluster.close();
  });

  function failback(settings: Partial<AutoFailbackSettings> = {}): AutoFailback {
    return new AutoFailback({
      reader,
      store,
      settings: { ...SETTINGS, ...settings },
      signal: controller.signal,
      logger: cluster.logger,
      nodeName: "coordinator",
      now: () => clock,
    });
  }

  /**
   * Nodes a, b and `others`; `disks` disks of two paths, path 1 on a and path 2 on b (each node one
   * path of each disk), plus `onOthers` disks whose paths are served by the first two of `others`.
   */
  async function clusterOf(others: string[], disks: number, onOthers = 0): Promise<void> {
    for (const name of ["a", "b", ...others]) await cluster.addNode(name);
    const place = async (count: number, holders: string[]): Promise<void> => {
      for (let n = 0; n < count; n++) {
        const diskId = await cluster.addDisk({ name: `disk-${holders.join("")}-${n}` });
        for (const [position, holder] of holders.entries()) {
          await cluster
            .node(holder)
            .agent.acquirePath({ epoch: 0, diskId, index: position + 1, jobId: "" }, signal());
        }
      }
    };
    await place(disks, ["a", "b"]);
    await place(onOthers, others.slice(0, 2));
  }

  const cordon = (node: string, cordoned: boolean): Promise<unknown> =>
    service.setCordoned(node, cordoned, { signal: signal() });

  async function runJob(
    options: { nodes?: NodeRpc; events?: EventInput[]; beforeRun?: () => Promise<void> } = {},
  ): Promise<Job> {
    const running = await store.readRunning();
    if (running === undefined) throw new Error("no job to run");
    await options.beforeRun?.();
    const outcome = await jobRunnerOf(cluster, store, term, {
      ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
      ...(options.events === undefined ? {} : { events: { record: (event) => options.events?.push(event) } }),
    }).run();
    expect(outcome).toBe("finished");
    return await store.get(running.header.id);
  }

  it("stores an ordinary auto job of the average planner's moves onto a node once it has been back for healthyForMs", async () => {
    await clusterOf(["c"], 3);
    await cordon("c", true);
    const failbacks = failback();
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    await cordon("c", false);
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    clock += SETTINGS.healthyForMs - 1;
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    expect(await store.readRunning()).toBeUndefined();

    const expected = planAverage((await reader.read()).paths, (await reader.read()).nodes).moves;
    expect(expected.map((move) => move.targetNode)).toEqual(["c", "c"]);
    clock += 1;
    const decision = await failbacks.check();
    expect(decision).toMatchObject({ kind: "started", nodes: ["c"], moves: 2 });
    const job = await store.get("");
    expect(decision.kind === "started" ? decision.jobId : "").toBe(job.header.id);
    expect(job.header).toMatchObject({
      kind: "auto",
      state: "pending",
      parallelism: SETTINGS.maxConcurrentMoves,
      startedBy: "auto failback of c",
      drainNode: "",
      requestedOn: "coordinator",
    });
    expect(job.header.reason).toContain("auto failback of c");
    expect(job.moves.map((move) => [move.ip, move.sourceNode, move.targetNode]).sort()).toEqual(
      expected.map((move) => [move.ip, move.sourceNode, move.targetNode]).sort(),
    );
    // Listed like any job.
    expect((await service.list()).map((listed) => listed.header.startedBy)).toContain("auto failback of c");

    // It runs like any job; its start and end in the event history say why it ran.
    const events: EventInput[] = [];
    const finished = await runJob({ events });
    expect(finished.header.state).toBe("succeeded");
    expect((await cluster.lockOf(job.moves[0]?.diskId ?? "", job.moves[0]?.index ?? 0))?.holder).toBe("c");
    const started = events.find((event) => event.kind === "job-started");
    expect(started).toMatchObject({ jobId: job.header.id, actor: "auto failback of c" });
    expect(started?.reason).toContain("auto failback of c");
    expect(events.find((event) => event.kind === "job-finished")?.reason).toContain("auto failback of c");

    // Done: the node does not trigger again until it goes away and comes back.
    clock += SETTINGS.minIntervalMs * 10;
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    expect(await store.readRunning()).toBeUndefined();
  });

  it("fails back to a node that was offline (stopped) and is online again", async () => {
    await clusterOf(["c"], 3);
    await cluster.stopNode("c");
    const failbacks = failback();
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    await cluster.addNode("c");
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    clock += SETTINGS.healthyForMs;
    expect(await failbacks.check()).toMatchObject({ kind: "started", nodes: ["c"], moves: 2 });
  });

  it("never fails back to a node it never saw away (a new coordinator starts with fresh timers)", async () => {
    await clusterOf(["c"], 3);
    const failbacks = failback();
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    clock += SETTINGS.healthyForMs * 100;
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    expect(await store.readRunning()).toBeUndefined();
  });

  it("restarts the wait of a node that goes away again before it was due (flapping)", async () => {
    await clusterOf(["c"], 3);
    await cordon("c", true);
    const failbacks = failback();
    await failbacks.check();
    await cordon("c", false);
    await failbacks.check();
    clock += SETTINGS.healthyForMs - 10;
    await cordon("c", true);
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    await cordon("c", false);
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    clock += 10;
    // healthyForMs since it first came back, but not since it came back the second time.
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    clock += SETTINGS.healthyForMs - 20;
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    clock += 10;
    expect(await failbacks.check()).toMatchObject({ kind: "started", nodes: ["c"] });
  });

  it("starts the next failback job minIntervalMs after the last one ended, and only moves onto the due node", async () => {
    await clusterOf(["c", "d"], 4);
    await cordon("c", true);
    await cordon("d", true);
    const failbacks = failback();
    await failbacks.check();
    await cordon("c", false);
    await failbacks.check();
    clock += SETTINGS.healthyForMs / 2;
    await cordon("d", false);
    await failbacks.check();
    clock += SETTINGS.healthyForMs / 2;
    const first = await failbacks.check();
    expect(first).toMatchObject({ kind: "started", nodes: ["c"] });
    // d is eligible too, and the planner gives it paths as well: only c's are in this job.
    const firstJob = await store.get("");
    expect(firstJob.moves.length).toBeGreaterThan(0);
    expect(firstJob.moves.every((move) => move.targetNode === "c")).toBe(true);

    clock += SETTINGS.healthyForMs / 2;
    // d is due, but c's job has not ended.
    expect(await failbacks.check()).toEqual({ kind: "waiting", nodes: ["d"], why: "job-running" });
    expect((await runJob()).header.state).toBe("succeeded");
    clock += 1000;
    expect(await failbacks.check()).toEqual({ kind: "waiting", nodes: ["d"], why: "min-interval" });
    clock += SETTINGS.minIntervalMs - 1;
    expect(await failbacks.check()).toEqual({ kind: "waiting", nodes: ["d"], why: "min-interval" });
    expect(await store.readRunning()).toBeUndefined();
    clock += 1;
    expect(await failbacks.check()).toMatchObject({ kind: "started", nodes: ["d"] });
    const second = await store.get("");
    expect(second.header.id).not.toBe(firstJob.header.id);
    expect(second.header.startedBy).toBe("auto failback of d");
    expect(second.moves.length).toBeGreaterThan(0);
    expect(second.moves.every((move) => move.targetNode === "d")).toBe(true);
  });

  it("runs the job with at most maxConcurrentMoves moves in flight", async () => {
    await clusterOf(["c", "d"], 4);
    await cordon("c", true);
    await cordon("d", true);
    const failbacks = failback({ maxConcurrentMoves: 2 });
    await failbacks.check();
    await cordon("c", false);
    await cordon("d", false);
    await failbacks.check();
    clock += SETTINGS.healthyForMs;
    expect(await failbacks.check()).toMatchObject({ kind: "started", nodes: ["c", "d"], moves: 4 });
    expect((await store.get("")).header.startedBy).toBe("auto failback of c, d");
    const rpc = new CountingRpc(cluster.rpc);
    const finished = await runJob({ nodes: rpc });
    expect(finished.totals).toMatchObject({ total: 4, succeeded: 4 });
    // Each move is CleanPath then AcquirePath, one call at a time: calls in flight = moves in flight.
    expect(rpc.calls).toBe(8);
    expect(rpc.maxInFlight).toBe(2);
  });

  it("is cancelled by the ordinary cancel, and its end starts the interval", async () => {
    await clusterOf(["c"], 3);
    await cordon("c", true);
    const failbacks = failback();
    await failbacks.check();
    await cordon("c", false);
    await failbacks.check();
    clock += SETTINGS.healthyForMs;
    const decision = await failbacks.check();
    const jobId = decision.kind === "started" ? decision.jobId : "";
    expect((await service.cancel(jobId)).header.state).toBe("cancelling");
    const rpc = new CountingRpc(cluster.rpc);
    const cancelled = await runJob({ nodes: rpc });
    expect(cancelled.header.state).toBe("cancelled");
    expect(cancelled.totals).toMatchObject({ total: 2, cancelled: 2 });
    expect(rpc.calls).toBe(0);
    // c goes away and comes back at once: due after healthyForMs, started after minIntervalMs.
    expect(await failbacks.check()).toEqual({ kind: "idle" });
    await cordon("c", true);
    await failbacks.check();
    await cordon("c", false);
    await failbacks.check();
    clock += SETTINGS.healthyForMs;
    expect(await failbacks.check()).toMatchObject({ kind: "waiting", why: "min-interval" });
    clock += SETTINGS.minIntervalMs - SETTINGS.healthyForMs;
    expect(await failbacks.check()).toMatchObject({ kind: "started", nodes: ["c"] });
  });

  it("stores no job when the plan moves nothing onto the node", async () => {
    // c serves its share already (a cordon does not move paths off).
    await clusterOf(["c", "d"], 2, 1);
    await cluster.stopNode("d");
    await cordon("c", true);
    const failbacks = failback();
    await failbacks.check();
    await cordon("c", false);
    await failbacks.check();
    clock += SETTINGS.healthyForMs;
    expect(await failbacks.check()).toEqual({ kind: "nothing-to-move", nodes: ["c"] });
    expect(await store.readRunning()).toBeUndefined();
    expect(await service.list()).toEqual([]);
    // Its wait is over: nothing more happens.
    clock += SETTINGS.healthyForMs;
    expect(await failbacks.check()).toEqual({ kind: "idle" });
  });

  it("stores no job while another job exists, and fails back once it has ended", async () => {
    await clusterOf(["c"], 3);
    await cordon("c", true);
    const failbacks = failback();
    await failbacks.check();
    await cordon("c", false);
    await failbacks.check();
    const state = await reader.read();
    const ip = state.paths.find((path) => path.node === "a")?.ip ?? "";
    const manual = await service.start({
      spec: { mode: "manual", ips: [ip], targetNode: "c" },
      stateIndex: 0,
      parallelism: 1,
      startedBy: "operator",
    });
    clock += SETTINGS.healthyForMs;
    expect(await failbacks.check()).toEqual({ kind: "waiting", nodes: ["c"], why: "job-running" });
    expect((await store.get("")).header.id).toBe(manual.header.id);
    expect((await runJob()).header.startedBy).toBe("operator");
    // Someone else's job does not start the interval.
    expect(await failbacks.check()).toMatchObject({ kind: "started", nodes: ["c"] });
  });
});

describe("auto failback inside the Coordinator", () => {
  let cluster: ProcessCluster;
  let elections: Election[];

  beforeEach(async () => {
    cluster = await ProcessCluster.start();
    elections = [];
  });
  afterEach(async () => {
    await Promise.all(elections.map((election) => election.stop()));
    await cluster.close();
  });

  /** Nodes a, b, c with c cordoned, a coordinator elected, three disks placed on a and b. */
  async function start(enabled: boolean): Promise<{ store: JobStore; service: ReassignmentService }> {
    const { store, reader, service } = jobServices(cluster);
    for (const name of ["a", "b", "c"]) await cluster.addNode(name);
    await service.setCordoned("c", true);
    const { kv, sessions } = cluster.store;
    const coordinator = new Coordinator({
      kv,
      sessions,
      keys: cluster.keys,
      reader,
      store,
      nodes: cluster.rpc,
      logger: cluster.logger,
      rpcTimeoutMs: 2000,
      nodeName: "x",
      failback: { enabled, healthyForMs: 300, maxConcurrentMoves: 1, minIntervalMs: 0, checkIntervalMs: 20 },
    });
    const election = new Election({
      kv,
      sessions,
      keys: cluster.keys,
      record: { node: "x", address: "x.test:7410" },
      ttlSeconds: PROCESS_SESSION.ttlSeconds,
      lockDelaySeconds: PROCESS_SESSION.lockDelaySeconds,
      fenceDeadlineMs: 900,
      retryMs: 50,
      logger: cluster.logger,
      lead: (term) => coordinator.lead(term),
    });
    elections.push(election);
    election.start();
    await until("a term", () => election.term, { timeoutMs: 5000, intervalMs: 10 });
    for (let n = 0; n < 3; n++) await cluster.addDisk({ name: `disk-${n}` });
    await until(
      "6 paths served",
      async () => {
        const state = await reader.read();
        return state.paths.length === 6 && state.paths.every((path) => path.node !== "") ? true : undefined;
      },
      5000,
    );
    // Let the failback see c cordoned before it comes back.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await service.setCordoned("c", false);
    return { store, service };
  }

  it("moves paths back to a returned node when enabled", async () => {
    const { store } = await start(true);
    const job = await until(
      "the failback job to finish",
      async () => {
        const jobs = await store.list();
        return jobs.find((listed) => listed.header.finishTime !== undefined);
      },
      5000,
    );
    expect(job.header).toMatchObject({ startedBy: "auto failback of c", state: "succeeded", parallelism: 1 });
    expect(job.moves.map((move) => move.targetNode)).toEqual(["c", "c"]);
  });

  it("does nothing when not enabled", async () => {
    const { store } = await start(false);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(await store.list()).toEqual([]);
  });
});
