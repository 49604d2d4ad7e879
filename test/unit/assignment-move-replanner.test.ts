/**
 * Re-planned moves on the fakes (test/support/process-cluster.ts): a job's move whose target can no
 * longer take the path when the move starts (offline, cordoned) gets another target by the job's
 * planner rule, recorded in Consul before the move goes on, or fails naming the rule. Node a serves
 * two disks of two paths each; nodes b, c and d serve nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ActiveMoves } from "../../src/assignment/active-moves.js";
import type { NodeState } from "../../src/assignment/assignment-stats.js";
import type { ClusterStateReader } from "../../src/assignment/assignment-stats.js";
import { readJobEvents } from "../../src/assignment/job-events.js";
import type { Job, JobEvent, PathEvent } from "../../src/assignment/job-model.js";
import type { JobPathRecord } from "../../src/assignment/job-record.js";
import { JobRunner, type LeaderTerm } from "../../src/assignment/job-runner.js";
import type { JobStore } from "../../src/assignment/job-store.js";
import { MoveReplanner } from "../../src/assignment/move-replanner.js";
import type { ReassignmentService } from "../../src/assignment/reassignment-service.js";
import { createLogger } from "../../src/log/logger.js";
import {
  ipsOn,
  jobRunnerOf,
  jobServices,
  leaderTerm,
  servedTwice,
  takeOver,
} from "../support/coordinator-term.js";
import { ProcessCluster, type ProcessNode } from "../support/process-cluster.js";
import { node, path } from "../support/planner-fixtures.js";
import { until } from "../support/until.js";

const signal = (): AbortSignal => AbortSignal.timeout(5000);

describe("JobRunner re-plans a move whose target can no longer take the path", () => {
  let cluster: ProcessCluster;
  let a: ProcessNode;
  let b: ProcessNode;
  let c: ProcessNode;
  let store: JobStore;
  let reader: ClusterStateReader;
  let service: ReassignmentService;
  /** "one/1" → IP, and back. */
  const ips = new Map<string, string>();
  const names = new Map<string, string>();
  const diskIds = new Map<string, string>();

  beforeEach(async () => {
    cluster = await ProcessCluster.start();
    a = await cluster.addNode("a");
    b = await cluster.addNode("b");
    c = await cluster.addNode("c");
    await cluster.addNode("d");
    ({ store, reader, service } = jobServices(cluster));
    ips.clear();
    names.clear();
    for (const name of ["one", "two"]) {
      const diskId = await cluster.addDisk({ name });
      diskIds.set(name, diskId);
      for (const path of (await cluster.disks.getDisk(diskId)).paths) {
        ips.set(`${name}/${path.index}`, path.ip);
        names.set(path.ip, `${name}/${path.index}`);
        await a.agent.acquirePath({ epoch: 0, diskId, index: path.index, jobId: "" }, signal());
      }
    }
  });
  afterEach(async () => {
    await cluster.close();
  });

  function runner(term: LeaderTerm): JobRunner {
    return jobRunnerOf(cluster, store, term, { reader });
  }

  const ipOf = (name: string): string => ips.get(name) ?? "";

  /** "one/1" → the target of its move. */
  function targetsOf(job: { readonly moves: readonly JobPathRecord[] }): Record<string, string> {
    return Object.fromEntries(job.moves.map((move) => [names.get(move.ip) ?? move.ip, move.targetNode]));
  }

  /** Drains a with one move at a time, and checks the plan every test starts from. */
  async function drainA(): Promise<Job> {
    const job = await service.drain("a", 1, "test");
    expect(targetsOf(job)).toEqual({ "one/1": "b", "one/2": "c", "two/1": "d", "two/2": "b" });
    return job;
  }

  async function pathEvents(job: Job, name: string): Promise<(PathEvent & { sequence: number })[]> {
    const events: JobEvent[] = await readJobEvents(cluster.kv, cluster.keys, job.header.id);
    return events.flatMap((event) =>
      event.body.kind === "path" && event.body.path.ip === ipOf(name)
        ? [{ ...event.body.path, sequence: event.sequence }]
        : [],
    );
  }

  async function holderOf(name: string): Promise<string | undefined> {
    const [disk = "", index = "0"] = name.split("/");
    const lock = await cluster.lockOf(diskIds.get(disk) ?? "", Number(index));
    return lock?.session === undefined ? undefined : lock.holder;
  }

  /** Every path is served by a node other than a, once, and the job's totals say 4 succeeded. */
  async function expectDrained(job: Job): Promise<Job> {
    const finished = await store.get(job.header.id);
    expect(finished.header.state).toBe("succeeded");
    expect(finished.totals).toEqual({
      total: 4,
      pending: 0,
      moving: 0,
      succeeded: 4,
      failed: 0,
      cancelled: 0,
    });
    for (const name of ips.keys()) expect(await holderOf(name)).toBe(targetsOf(finished)[name]);
    expect(ipsOn(a)).toEqual([]);
    expect(servedTwice(cluster)).toEqual([]);
    return finished;
  }

  /** The re-plan is in the log, and before the move of the path started (its record said so first). */
  async function expectReplanned(job: Job, name: string, from: string, to: string, why: RegExp) {
    const events = await pathEvents(job, name);
    const replanned = events.filter((event) => event.phase === "queued" && event.reason !== undefined);
    expect(replanned.map((event) => event.targetNode)).toEqual([to]);
    expect(replanned[0]?.reason).toMatch(why);
    expect(replanned[0]?.reason).toContain(`re-planned from ${from} to ${to}`);
    const cleaning = events.find((event) => event.phase === "cleaning");
    expect(cleaning?.targetNode).toBe(to);
    expect(cleaning?.sequence).toBeGreaterThan(replanned[0]?.sequence ?? Infinity);
    expect(events.some((event) => event.phase === "failed")).toBe(false);
  }

  it("(a) a drain resumed by a new coordinator re-plans the move whose target went offline, and ends succeeded", async () => {
    const job = await drainA();
    // The first coordinator is moving one/1 to b when it dies; meanwhile d stops.
    b.target.faults.hangNext("enablePortal");
    const first = await leaderTerm(cluster, "first");
    const firstRun = runner(first).run();
    await until("the AcquirePath on b to hang", () => (b.target.faults.hanging > 0 ? true : undefined), 5000);
    await cluster.stopNode("d");
    const second = await takeOver(cluster, first, "second");
    expect(await firstRun).toBe("stopped");
    expect(targetsOf((await store.readRunning()) ?? { moves: [] })["two/1"]).toBe("d");

    expect(await runner(second).run()).toBe("finished");
    // two/1 goes to c: b already takes two/2, and c has no path of disk two.
    const finished = await expectDrained(job);
    expect(targetsOf(finished)).toEqual({ "one/1": "b", "one/2": "c", "two/1": "c", "two/2": "b" });
    await expectReplanned(job, "two/1", "d", "c", /target node d is offline/);
  });

  it("(b) a target that goes offline while the job runs is re-planned before its move starts", async () => {
    const job = await drainA();
    b.target.faults.hangNext("enablePortal");
    const running = runner(await leaderTerm(cluster)).run();
    await until("the AcquirePath on b to hang", () => (b.target.faults.hanging > 0 ? true : undefined), 5000);
    await cluster.stopNode("d");
    b.target.faults.release();
    expect(await running).toBe("finished");
    const finished = await expectDrained(job);
    expect(targetsOf(finished)["two/1"]).toBe("c");
    await expectReplanned(job, "two/1", "d", "c", /target node d is offline/);
  });

  it("(d) a target cordoned after the job was planned is re-planned", async () => {
    const job = await drainA();
    await service.setCordoned("d", true);
    expect(await runner(await leaderTerm(cluster)).run()).toBe("finished");
    const finished = await expectDrained(job);
    expect(targetsOf(finished)["two/1"]).toBe("c");
    await expectReplanned(job, "two/1", "d", "c", /target node d is cordoned/);
  });

  it("a re-planned target is in Consul before the move starts: a third coordinator finishes the move there", async () => {
    const job = await drainA();
    await cluster.stopNode("d");
    // The second coordinator re-plans two/1 to c and dies while c acquires it.
    c.target.faults.hangNext("enablePortal");
    const second = await leaderTerm(cluster, "second");
    const secondRun = runner(second).run();
    await until("the AcquirePath on c to hang", () => (c.target.faults.hanging > 0 ? true : undefined), 5000);
    const left = await store.readRunning();
    expect(left?.moves.find((move) => move.ip === ipOf("two/1"))).toMatchObject({
      targetNode: "c",
      status: "moving",
    });
    const third = await takeOver(cluster, second, "third");
    expect(await secondRun).toBe("stopped");

    expect(await runner(third).run()).toBe("finished");
    const finished = await expectDrained(job);
    expect(targetsOf(finished)["two/1"]).toBe("c");
    await expectReplanned(job, "two/1", "d", "c", /target node d is offline/);
    const acquires = cluster.rpc.callLog.filter(
      (call) => call.method === "AcquirePath" && call.request.index === 1 && call.node !== "b",
    );
    expect(acquires.map((call) => [call.node, call.request.epoch])).toEqual([
      ["c", second.epoch],
      ["c", third.epoch],
    ]);
  });

  it("(c) a drain never re-plans to the drained node, even uncordoned and the only eligible node", async () => {
    const job = await drainA();
    await service.setCordoned("a", false);
    await service.setCordoned("c", true);
    await cluster.stopNode("b");
    await cluster.stopNode("d");
    expect(await runner(await leaderTerm(cluster)).run()).toBe("finished");
    const finished = await store.get(job.header.id);
    expect(finished.header.state).toBe("failed");
    expect(finished.totals).toMatchObject({ total: 4, failed: 4, succeeded: 0, pending: 0 });
    expect(targetsOf(finished)).toEqual({ "one/1": "b", "one/2": "c", "two/1": "d", "two/2": "b" });
    for (const move of finished.moves) {
      expect(move.error).toMatch(
        /^target node [bcd] is (offline \(it holds no live session\)|cordoned); no eligible node other than a has an interface on iSCSI subnet [12]$/,
      );
    }
    // Nothing was asked of any node: the paths stay on a.
    expect(cluster.rpc.callLog).toEqual([]);
    for (const name of ips.keys()) expect(await holderOf(name)).toBe("a");
  });

  it("(e) with no eligible node left the move fails naming the rule, and the path stays where it is", async () => {
    const job = await drainA();
    await service.setCordoned("c", true);
    await service.setCordoned("d", true);
    await cluster.stopNode("b");
    expect(await runner(await leaderTerm(cluster)).run()).toBe("finished");
    const finished = await store.get(job.header.id);
    expect(finished.header.state).toBe("failed");
    const error = finished.moves.find((move) => move.ip === ipOf("one/1"))?.error;
    expect(error).toBe(
      "target node b is offline (it holds no live session); no eligible node other than a has an interface on iSCSI subnet 1",
    );
    const failed = (await pathEvents(job, "one/1")).filter((event) => event.phase === "failed");
    expect(failed.map((event) => event.reason)).toEqual([error]);
    expect(await holderOf("one/1")).toBe("a");
    expect(cluster.rpc.callLog).toEqual([]);
  });

  it('a manual move to a named node that went offline fails saying so; one to "auto" is re-planned', async () => {
    const term = await leaderTerm(cluster);
    const manual = async (targetNode: string): Promise<Job> =>
      await service.start({
        spec: { mode: "manual", ips: [ipOf("one/1")], targetNode },
        stateIndex: 0,
        parallelism: 1,
        startedBy: "test",
      });
    const named = await manual("b");
    expect(named.header.manualTarget).toBe("b");
    await cluster.stopNode("b");
    expect(await runner(term).run()).toBe("finished");
    const failed = await store.get(named.header.id);
    expect(failed.header.state).toBe("failed");
    expect(failed.moves[0]?.targetNode).toBe("b");
    expect(failed.moves[0]?.error).toMatch(
      /^target node b is offline \(it holds no live session\); the request named this node, and a manual move to a named node is not re-planned/,
    );
    expect(await holderOf("one/1")).toBe("a");

    // "auto": the average planner chose c (fewest paths, by name); c is cordoned before it runs.
    const auto = await manual("auto");
    expect(auto.header.manualTarget).toBe("auto");
    expect(targetsOf(auto)).toEqual({ "one/1": "c" });
    await service.setCordoned("c", true);
    expect(await runner(term).run()).toBe("finished");
    const moved = await store.get(auto.header.id);
    expect(moved.header.state).toBe("succeeded");
    expect(targetsOf(moved)).toEqual({ "one/1": "d" });
    expect(await holderOf("one/1")).toBe("d");
    await expectReplanned(auto, "one/1", "c", "d", /target node c is cordoned/);
  });
});

describe("MoveReplanner", () => {
  it("re-plans side by side each see the targets chosen by the others: two paths of a disk do not both go to the emptiest node", async () => {
    const nodes: NodeState[] = [
      node("A", { cordoned: true }),
      node("B", { online: false }),
      node("C"),
      node("D"),
    ].map((info) => ({
      ...info,
      subnets: [1, 2],
      address: `${info.name}.test:7410`,
      version: "",
      pathCount: 0,
      degraded: false,
      degradedReason: "",
    }));
    const paths = [path(1, 1, "A"), path(1, 2, "A"), path(2, 1, "D")];
    const record = (index: number): JobPathRecord => ({
      jobId: "20250101-120000-ab12",
      diskId: "00001",
      diskName: "disk-1",
      index,
      ip: path(1, index, "A").ip,
      sourceNode: "A",
      targetNode: "B",
      status: "pending",
      updatedAt: new Date(0),
    });
    const records = new Map([record(1), record(2)].map((move) => [move.ip, move]));
    const moves = new ActiveMoves();
    moves.load("20250101-120000-ab12", [...records.values()]);
    const written: JobPathRecord[] = [];
    const replanner = new MoveReplanner({
      readState: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return { paths, nodes };
      },
      rule: { kind: "drain", drainNode: "A" },
      records,
      moves,
      append: (entry) => {
        written.push(...(entry.records ?? []));
        return Promise.resolve();
      },
      signal: AbortSignal.timeout(5000),
      logger: createLogger({ level: "silent" }),
      now: () => new Date(1000),
    });
    const [first, second] = await Promise.all(
      [record(1), record(2)].map((move) => replanner.replan(move, "target node B is offline")),
    );
    // C has no path at all; D serves another disk. The second sees the first on C.
    expect(first).toMatchObject({ record: { targetNode: "C" }, target: { name: "C" } });
    expect(second).toMatchObject({ record: { targetNode: "D" }, target: { name: "D" } });
    expect(written.map((move) => [move.index, move.targetNode, move.status])).toEqual([
      [1, "C", "pending"],
      [2, "D", "pending"],
    ]);
    expect([...records.values()].map((move) => move.targetNode)).toEqual(["C", "D"]);
    expect([moves.targetOf(path(1, 1, "A").ip), moves.targetOf(path(1, 2, "A").ip)]).toEqual(["C", "D"]);
  });
});
