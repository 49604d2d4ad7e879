/**
 * JobRunner on the fakes (test/support/process-cluster.ts): a reassignment job stored by
 * ReassignmentService is run against real NodeAgents over InProcessNodeRpc, with its writes fenced
 * by a session holding the coordinator lock. A job that moves paths, a move whose target fails or
 * does not answer, a source that does not answer, and a job resumed by the next coordinator. The
 * same is checked against a real Consul by test/integration/coordinator-jobs.test.ts; here each
 * case takes milliseconds.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EventInput } from "../../src/events/event-log.js";
import { NO_METRICS, type MetricsRecorder, type MoveResult } from "../../src/metrics/metrics-recorder.js";
import { ActiveMoves } from "../../src/assignment/active-moves.js";
import { readJobEvents } from "../../src/assignment/job-events.js";
import { JobRunner, type LeaderTerm, type RunOutcome } from "../../src/assignment/job-runner.js";
import type { Job } from "../../src/assignment/job-model.js";
import type { JobStore } from "../../src/assignment/job-store.js";
import type { ReassignmentService } from "../../src/assignment/reassignment-service.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import {
  endpointOf,
  ipsOn,
  jobRunnerOf,
  jobServices,
  leaderTerm,
  portalsOn,
  servedTwice,
  takeOver,
} from "../support/coordinator-term.js";
import { ProcessCluster, type ProcessNode } from "../support/process-cluster.js";
import { rejectionAs } from "../support/thrown.js";
import { until } from "../support/until.js";

const signal = (): AbortSignal => AbortSignal.timeout(5000);

describe("JobRunner on in-memory Consul and node agents", () => {
  let cluster: ProcessCluster;
  let a: ProcessNode;
  let b: ProcessNode;
  let store: JobStore;
  let service: ReassignmentService;
  /** Two disks of two paths each, every path served by node a. */
  let disks: string[];
  const ips = new Map<string, string>();
  const ipOf = (diskId: string, index: number): string => ips.get(`${diskId}/${index}`) ?? "";

  beforeEach(async () => {
    cluster = await ProcessCluster.start();
    a = await cluster.addNode("a");
    b = await cluster.addNode("b");
    await cluster.addNode("c");
    ({ store, service } = jobServices(cluster));
    disks = [await cluster.addDisk({ name: "one" }), await cluster.addDisk({ name: "two" })];
    ips.clear();
    for (const diskId of disks) {
      for (const path of (await cluster.disks.getDisk(diskId)).paths) {
        ips.set(`${diskId}/${path.index}`, path.ip);
        await a.agent.acquirePath({ epoch: 0, diskId, index: path.index, jobId: "" }, signal());
      }
    }
    expect(ips.size).toBe(4);
  });
  afterEach(async () => {
    await cluster.close();
  });

  /** Stores a manual job moving `moving` (disk, index) to `target`, as the API would. */
  async function manualJob(moving: [string, number][], target: string, parallelism = 2): Promise<Job> {
    const job = await service.start({
      spec: { mode: "manual", ips: moving.map(([diskId, index]) => ipOf(diskId, index)), targetNode: target },
      stateIndex: 0,
      parallelism,
      startedBy: "test",
    });
    expect(job.moves).toHaveLength(moving.length);
    return job;
  }

  /** The moves each runner told its metrics of: result and the steps timed. */
  let metered: { result: MoveResult; phases: string[]; totalMs: number }[] = [];
  const metrics: MetricsRecorder = {
    ...NO_METRICS,
    moveEnded: (result, phasesMs, totalMs) =>
      metered.push({ result, phases: Object.keys(phasesMs), totalMs }),
  };

  /** What each runner recorded in the event history. */
  let recorded: EventInput[] = [];

  function runner(
    term: LeaderTerm,
    moves = new ActiveMoves(),
    onMoveFailed?: (ip: string, excluded: string) => void,
  ): JobRunner {
    metered = [];
    recorded = [];
    return jobRunnerOf(cluster, store, term, {
      moves,
      metrics,
      events: { record: (event) => recorded.push(event) },
      ...(onMoveFailed === undefined ? {} : { onMoveFailed }),
    });
  }

  const sessionOf = async (node: ProcessNode): Promise<string | undefined> =>
    (await node.agent.status(0, signal())).session.id;

  it("moves paths (CleanPath on the source, AcquirePath on the target) and ends succeeded", async () => {
    const [one = "", two = ""] = disks;
    const job = await manualJob(
      [
        [one, 1],
        [two, 1],
      ],
      "b",
    );
    const term = await leaderTerm(cluster);
    const moves = new ActiveMoves();
    const failed: [string, string][] = [];
    const outcome: RunOutcome = await runner(term, moves, (ip, node) => failed.push([ip, node])).run();
    expect(outcome).toBe("finished");
    expect(failed).toEqual([]);
    expect(moves.jobId).toBeUndefined();

    const finished = await store.get(job.header.id);
    expect(finished.header.state).toBe("succeeded");
    expect(finished.totals).toMatchObject({ total: 2, succeeded: 2, failed: 0 });
    // The history: the job's start, each move from a to b with its owner, the job's end.
    const id = job.header.id;
    expect(recorded.map((event) => event.kind)).toEqual(["job-started", "move", "move", "job-finished"]);
    expect(recorded[0]).toMatchObject({ jobId: id, actor: "test" });
    expect(recorded[3]).toMatchObject({ jobId: id, actor: "test", result: "succeeded" });
    expect(recorded[3]?.reason).toContain("2 of 2 moved");
    expect(
      recorded
        .filter((event) => event.kind === "move")
        .map((event) => event.ip)
        .sort(),
    ).toEqual([ipOf(one, 1), ipOf(two, 1)].sort());
    for (const move of recorded.filter((event) => event.kind === "move")) {
      expect(move).toMatchObject({
        from: "a",
        to: "b",
        node: "b",
        result: "succeeded",
        jobId: id,
        actor: "test",
      });
      expect(move.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(finished.moves.map((move) => [move.ip, move.status])).toEqual([
      [ipOf(one, 1), "succeeded"],
      [ipOf(two, 1), "succeeded"],
    ]);
    expect(await store.readRunning()).toBeUndefined();

    const bSession = await sessionOf(b);
    for (const diskId of [one, two]) {
      const ip = ipOf(diskId, 1);
      expect(await cluster.lockOf(diskId, 1)).toEqual({ holder: "b", session: bSession });
      expect(ipsOn(b)).toContain(ip);
      expect(portalsOn(b)).toContain(ip);
      expect(ipsOn(a)).not.toContain(ip);
      expect(portalsOn(a)).not.toContain(ip);
      // Path 2 stays where it was.
      expect((await cluster.lockOf(diskId, 2))?.holder).toBe("a");
      expect(ipsOn(a)).toContain(ipOf(diskId, 2));
      // The source gave it up before the target was asked, both with the term's epoch and the job.
      const calls = cluster.rpc.callLog
        .filter((call) => call.request.diskId === diskId && call.request.index === 1)
        .map((call) => [call.method, call.node, call.request.epoch, call.request.jobId]);
      expect(calls).toEqual([
        ["CleanPath", "a", term.epoch, job.header.id],
        ["AcquirePath", "b", term.epoch, job.header.id],
      ]);
    }
    expect(servedTwice(cluster)).toEqual([]);
    // Both moves timed, step by step.
    expect(metered.map((move) => move.result)).toEqual(["succeeded", "succeeded"]);
    for (const move of metered) {
      expect(move.phases).toEqual(
        expect.arrayContaining(["readMs", "cleanMs", "acquireMs", "succeededWriteMs"]),
      );
      expect(move.totalMs).toBeGreaterThan(0);
    }
  });

  it("a move whose target fails its set-up ends failed; the path is handed back to placement, served nowhere", async () => {
    const [one = ""] = disks;
    const ip = ipOf(one, 1);
    const job = await manualJob([[one, 1]], "b");
    // Configure runs a failed set-up once more: both attempts fail.
    b.target.faults.failNext("enablePortal", undefined, 2);
    const failed: [string, string][] = [];
    const outcome = await runner(await leaderTerm(cluster), new ActiveMoves(), (failedIp, node) =>
      failed.push([failedIp, node]),
    ).run();
    expect(outcome).toBe("finished");
    expect(b.target.faults.callsOf("enablePortal")).toHaveLength(2);
    expect(failed).toEqual([[ip, "b"]]);

    const finished = await store.get(job.header.id);
    expect(finished.header.state).toBe("failed");
    expect(finished.moves).toHaveLength(1);
    expect(finished.moves[0]).toMatchObject({ ip, status: "failed", sourceNode: "a", targetNode: "b" });
    expect(finished.moves[0]?.error).toContain("AcquirePath on b");
    expect(metered.map((move) => move.result)).toEqual(["failed"]);
    // Cleaned on a, undone on b: free for placement, and up nowhere.
    expect((await cluster.lockOf(one, 1))?.session).toBeUndefined();
    expect(ipsOn(a)).not.toContain(ip);
    expect(ipsOn(b)).not.toContain(ip);
    expect(portalsOn(b)).not.toContain(ip);
    expect(servedTwice(cluster)).toEqual([]);
  });

  it("a move whose target does not answer ends failed and names the target as the node to avoid", async () => {
    const [one = "", two = ""] = disks;
    const job = await manualJob(
      [
        [one, 1],
        [two, 1],
      ],
      "b",
      1,
    );
    cluster.rpc.unserve(b.address);
    const failed: [string, string][] = [];
    await runner(await leaderTerm(cluster), new ActiveMoves(), (ip, node) => failed.push([ip, node])).run();
    expect(failed.sort()).toEqual(
      [
        [ipOf(one, 1), "b"],
        [ipOf(two, 1), "b"],
      ].sort(),
    );
    const finished = await store.get(job.header.id);
    expect(finished.header.state).toBe("failed");
    expect(finished.totals).toMatchObject({ total: 2, failed: 2, succeeded: 0 });
    for (const move of finished.moves) expect(move.error).toMatch(/AcquirePath on b.*no connection/);
    for (const diskId of [one, two]) {
      expect((await cluster.lockOf(diskId, 1))?.session).toBeUndefined();
      expect(ipsOn(a)).not.toContain(ipOf(diskId, 1));
    }
    expect(ipsOn(b)).toEqual([]);
    expect(servedTwice(cluster)).toEqual([]);
  });

  it("a move whose source does not answer ends failed; the path stays served where it was", async () => {
    const [one = ""] = disks;
    const ip = ipOf(one, 1);
    const job = await manualJob([[one, 1]], "b");
    cluster.rpc.unserve(a.address);
    const failed: [string, string][] = [];
    await runner(await leaderTerm(cluster), new ActiveMoves(), (failedIp, node) =>
      failed.push([failedIp, node]),
    ).run();
    expect(failed).toEqual([[ip, "a"]]);
    const finished = await store.get(job.header.id);
    expect(finished.header.state).toBe("failed");
    expect(finished.moves[0]?.error).toContain("CleanPath on a");
    expect(cluster.rpc.callLog.filter((call) => call.node === "b")).toEqual([]);
    expect(await cluster.lockOf(one, 1)).toEqual({ holder: "a", session: await sessionOf(a) });
    expect(ipsOn(a)).toContain(ip);
    expect(ipsOn(b)).not.toContain(ip);
  });

  it("a job left with a path moving is finished by the next coordinator; the old epoch is refused after", async () => {
    const [one = "", two = ""] = disks;
    const ip = ipOf(one, 1);
    const job = await manualJob([[one, 1]], "b");
    // The first coordinator's AcquirePath on b hangs in the middle of the set-up.
    b.target.faults.hangNext("enablePortal");
    const first = await leaderTerm(cluster, "first");
    const firstMoves = new ActiveMoves();
    const firstRun = runner(first, firstMoves).run();
    await until("the AcquirePath on b to hang", () => (b.target.faults.hanging > 0 ? true : undefined), 5000);
    expect((await store.readRunning())?.moves.map((move) => [move.ip, move.status])).toEqual([
      [ip, "moving"],
    ]);
    expect(firstMoves.isWorking(ip)).toBe(true);

    // It crashes: its term ends, its session goes, and after the lock-delay another one leads.
    const second = await takeOver(cluster, first, "second");
    expect(second.epoch).toBeGreaterThan(first.epoch);
    expect(await firstRun).toBe("stopped");
    // b undid its half-made set-up when the call was cancelled; a had cleaned the path already.
    await until(
      "b to give the path up",
      async () => ((await cluster.lockOf(one, 1))?.session === undefined ? true : undefined),
      5000,
    );
    expect(ipsOn(a)).not.toContain(ip);
    expect(ipsOn(b)).not.toContain(ip);
    const left = await store.readRunning();
    expect(left?.header.id).toBe(job.header.id);
    expect(left?.moves.map((move) => [move.ip, move.status])).toEqual([[ip, "moving"]]);

    const secondMoves = new ActiveMoves();
    expect(await runner(second, secondMoves).run()).toBe("finished");
    const finished = await store.get(job.header.id);
    expect(finished.header.state).toBe("succeeded");
    expect(finished.moves.map((move) => [move.ip, move.status])).toEqual([[ip, "succeeded"]]);
    expect(await cluster.lockOf(one, 1)).toEqual({ holder: "b", session: await sessionOf(b) });
    expect(ipsOn(b)).toContain(ip);
    expect(portalsOn(b)).toContain(ip);
    expect(ipsOn(a)).not.toContain(ip);
    expect(servedTwice(cluster)).toEqual([]);
    const acquires = cluster.rpc.callLog.filter(
      (call) => call.method === "AcquirePath" && call.request.diskId === one && call.request.index === 1,
    );
    expect(acquires.map((call) => [call.node, call.request.epoch])).toEqual([
      ["b", first.epoch],
      ["b", second.epoch],
    ]);

    // The replaced coordinator can do nothing: b refuses its epoch, and its fenced writes fail.
    const stale = await rejectionAs(
      SanpathError,
      cluster.rpc.acquirePath(endpointOf(b), { epoch: first.epoch, diskId: two, index: 1 }, signal()),
    );
    expect(stale.reason).toBe("STALE_EPOCH");
    expect((await cluster.lockOf(two, 1))?.holder).toBe("a");
    const fenced = await rejectionAs(
      SanpathError,
      store.fenced(first.fence, [{ verb: "set", key: cluster.keys.assignmentRoot(), value: "{}" }]),
    );
    expect(fenced.reason).toBe("NO_LEADER");
    expect(await store.readRunning()).toBeUndefined();
  });

  it("a resumed move whose target still holds the lock while it undoes the aborted acquire is confirmed, not assumed", async () => {
    const [one = ""] = disks;
    const ip = ipOf(one, 1);
    const job = await manualJob([[one, 1]], "b");
    // The first coordinator's AcquirePath on b hangs in the set-up; when it is cancelled, b's undo
    // hangs too (taking the portal off), so b still holds the lock when the next coordinator looks.
    b.target.faults.hangNext("enablePortal");
    b.target.faults.hangNext("disablePortal");
    const first = await leaderTerm(cluster, "first");
    const firstRun = runner(first).run();
    await until("the AcquirePath on b to hang", () => (b.target.faults.hanging > 0 ? true : undefined), 5000);
    const second = await takeOver(cluster, first, "second");
    expect(await firstRun).toBe("stopped");
    await until(
      "b's undo to hang",
      () => (b.target.faults.callsOf("disablePortal").length > 0 ? true : undefined),
      5000,
    );
    expect((await cluster.lockOf(one, 1))?.holder).toBe("b");

    const secondRun = runner(second).run();
    // The next coordinator asks b (its AcquirePath waits behind the undo on b's path queue) ...
    await until(
      "the second AcquirePath on b",
      () =>
        cluster.rpc.callLog.some(
          (call) => call.method === "AcquirePath" && call.request.epoch === second.epoch,
        )
          ? true
          : undefined,
      5000,
    );
    b.target.faults.release();
    expect(await secondRun).toBe("finished");
    // ... so when the job says succeeded, b really serves the path.
    const finished = await store.get(job.header.id);
    expect(finished.moves.map((move) => [move.ip, move.status])).toEqual([[ip, "succeeded"]]);
    expect(await cluster.lockOf(one, 1)).toEqual({ holder: "b", session: await sessionOf(b) });
    expect(ipsOn(b)).toContain(ip);
    expect(portalsOn(b)).toContain(ip);
    expect(servedTwice(cluster)).toEqual([]);
  });

  it("a cancel drops the moves not started; the move under way finishes; the job ends cancelled", async () => {
    const [one = "", two = ""] = disks;
    const job = await manualJob(
      [
        [one, 1],
        [two, 1],
      ],
      "b",
      1,
    );
    b.target.faults.hangNext("enablePortal");
    const running = runner(await leaderTerm(cluster)).run();
    await until(
      "the first AcquirePath to hang",
      () => (b.target.faults.hanging > 0 ? true : undefined),
      5000,
    );
    const moving = (await store.readRunning())?.moves.find((move) => move.status === "moving");
    const waiting = (await store.readRunning())?.moves.find((move) => move.status === "pending");
    expect(moving).toBeDefined();
    expect(waiting).toBeDefined();
    expect((await service.cancel(job.header.id)).header.state).toBe("cancelling");
    // The runner sees the cancel (its events say "cancelling" from then on) before the move ends.
    await until(
      "the cancel to be seen",
      async () =>
        (await readJobEvents(cluster.kv, cluster.keys, job.header.id)).some(
          (event) => event.state === "cancelling",
        )
          ? true
          : undefined,
      5000,
    );
    b.target.faults.release();
    expect(await running).toBe("finished");

    const finished = await store.get(job.header.id);
    expect(finished.header.state).toBe("cancelled");
    expect(finished.totals).toMatchObject({ total: 2, succeeded: 1, cancelled: 1 });
    const statusOf = (ip: string | undefined) => finished.moves.find((move) => move.ip === ip)?.status;
    expect(statusOf(moving?.ip)).toBe("succeeded");
    expect(statusOf(waiting?.ip)).toBe("cancelled");
    expect(ipsOn(b)).toEqual([moving?.ip]);
    expect(ipsOn(a)).toContain(waiting?.ip);
    expect(
      cluster.rpc.callLog.filter(
        (call) => call.request.diskId === waiting?.diskId && call.request.index === 1,
      ),
    ).toEqual([]);
    expect(servedTwice(cluster)).toEqual([]);
  });
});
