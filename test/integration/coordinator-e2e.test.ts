/**
 * The coordinator end to end: three real nodes in network namespaces (Consul agents, tgtd, Ceph,
 * sanpathd with its node agent and coordinator), disks whose paths a real initiator reads, and an
 * IP sampler that fails the run if a path IP is ever up on two nodes.
 */
import { kvOf } from "../support/consul-stores.js";
import { ConsulKvStore } from "../../src/consul/consul-kv-store.js";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterState, ClusterStateReader } from "../../src/assignment/assignment-stats.js";
import { readLeader } from "../../src/coordinator/leader-record.js";
import { AllocationKeys } from "../../src/disks/allocation-keys.js";
import { ClusterSettingsStore } from "../../src/disks/cluster-settings-store.js";
import {
  AssignmentServiceClient,
  JobState,
  PathPhase,
  Planner,
  type PlanReassignmentResponse,
  type Reassignment,
  type ReassignmentSpec,
  type WatchReassignmentResponse,
} from "../../src/gen/sanpath/v1/assignment.js";
import { ClusterServiceClient } from "../../src/gen/sanpath/v1/cluster.js";
import {
  startNsCluster,
  type ClusterNode,
  type IpSampler,
  type NsCluster,
  type TestDisk,
} from "../harness/cluster-ns.js";
import {
  everyPathServed,
  noDiskTwiceOnANode,
  onePathPerDisk,
  pathCounts,
  readerFor,
  TEST_SETTINGS,
} from "./coordinator-support.js";
import { until } from "../support/until.js";

const DISKS = 6;

function unaryCall<Response>(
  start: (deadline: Date, done: (error: ServiceError | null, response?: Response) => void) => void,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    start(new Date(Date.now() + 15_000), (error, response) => {
      if (error !== null) reject(error);
      else if (response === undefined) reject(new Error("no response"));
      else resolve(response);
    });
  });
}

/** AssignmentService of one node, over its admin socket. */
class Api {
  private readonly client: AssignmentServiceClient;

  constructor(node: ClusterNode) {
    this.client = new AssignmentServiceClient(`unix://${node.socketPath}`, credentials.createInsecure());
  }

  plan(spec: ReassignmentSpec): Promise<PlanReassignmentResponse> {
    return unaryCall((deadline, done) =>
      this.client.planReassignment({ spec }, new Metadata(), { deadline }, done),
    );
  }

  async start(spec: ReassignmentSpec, stateIndex: number, parallelism: number): Promise<Reassignment> {
    const answer = await unaryCall<{ job?: Reassignment }>((deadline, done) =>
      this.client.startReassignment({ spec, stateIndex, parallelism }, new Metadata(), { deadline }, done),
    );
    if (answer.job === undefined) throw new Error("no job");
    return answer.job;
  }

  async get(id: string): Promise<Reassignment> {
    const answer = await unaryCall<{ job?: Reassignment }>((deadline, done) =>
      this.client.getReassignment({ id }, new Metadata(), { deadline }, done),
    );
    if (answer.job === undefined) throw new Error("no job");
    return answer.job;
  }

  /** Events after `after` until the finished one, or until `stop` says so. */
  async watch(
    id: string,
    after: number,
    stop?: (event: WatchReassignmentResponse) => boolean,
  ): Promise<WatchReassignmentResponse[]> {
    const call = this.client.watchReassignment(
      { id, afterSequence: after, stopWhenDone: true },
      new Metadata(),
      { deadline: new Date(Date.now() + 90_000) },
    );
    const events: WatchReassignmentResponse[] = [];
    try {
      for await (const event of call as AsyncIterable<WatchReassignmentResponse>) {
        events.push(event);
        if (stop?.(event) === true) break;
      }
    } finally {
      call.cancel();
    }
    return events;
  }

  close(): void {
    this.client.close();
  }
}

describe("coordinator end to end: real nodes, real iSCSI, real failures", () => {
  let cluster: NsCluster | undefined;
  let reader: ClusterStateReader;
  let sampler: IpSampler | undefined;
  const disks: TestDisk[] = [];
  const apis: Api[] = [];

  const running = (): NsCluster => {
    if (cluster === undefined) throw new Error("the cluster did not start");
    return cluster;
  };
  const api = (name: string): Api => {
    const made = new Api(running().node(name));
    apis.push(made);
    return made;
  };

  async function servedState(excluded: readonly string[] = []): Promise<ClusterState> {
    return await until(
      "every path served by a live node",
      async () => {
        const state = await reader.read();
        return everyPathServed(state) && state.paths.every((path) => !excluded.includes(path.node))
          ? state
          : undefined;
      },
      { timeoutMs: 60_000, retryErrors: true },
    );
  }

  /** The client reads every path of every disk at its IP. */
  async function everyPathReads(): Promise<void> {
    for (const disk of disks) {
      for (const path of disk.disk.paths) {
        const read = await until(
          `a read of ${path.ip}`,
          async () => {
            const result = await running().readCapacity(path.ip, disk.iqn);
            return result.ok ? result : undefined;
          },
          { timeoutMs: 20_000, retryErrors: true },
        );
        expect(read.bytes).toBe(disk.sizeBytes);
      }
    }
  }

  beforeAll(async () => {
    cluster = await startNsCluster({
      name: "coordinator-e2e",
      nodes: ["a", "b", "c"],
      session: { ttlSeconds: 10, lockDelaySeconds: 3, fenceDeadlineMs: 2000 },
      logLevel: "info",
    });
    await Promise.all(cluster.nodes.map((node) => node.waitForSession()));
    reader = readerFor(new ConsulKvStore(cluster.consul), cluster.keys);
    await new ClusterSettingsStore(new ConsulKvStore(cluster.consul), new AllocationKeys(cluster.keys)).init({
      ...TEST_SETTINGS,
      iqnBase: cluster.iqnBase,
    });
    // c joins later: the rebalance has something to do.
    await cluster.cordon("c");
    for (let i = 1; i <= DISKS; i++) {
      disks.push(
        await cluster.createDisk({
          id: String(i).padStart(5, "0"),
          name: `e2e-${i}`,
          paths: [{ ip: `198.51.100.${100 + i}` }, { ip: `203.0.113.${100 + i}` }],
        }),
      );
    }
    sampler = cluster.startIpSampler(20);
  });

  afterAll(async () => {
    for (const made of apis) made.close();
    await sampler?.stop();
    await cluster?.destroy();
  });

  it("places every path of new disks once, on uncordoned nodes, and the client reads each", async () => {
    const state = await servedState();
    expect(state.paths).toHaveLength(DISKS * 2);
    expect(state.paths.some((path) => path.node === "c")).toBe(false);
    expect([...pathCounts(state).values()]).toEqual([DISKS, DISKS]);
    expect(noDiskTwiceOnANode(state)).toBe(true);
    await everyPathReads();
  });

  it("a rebalance over three nodes ends balanced with every path served once and readable", async () => {
    await running().cordon("c", false);
    const b = api("b");
    const plan = await b.plan({ auto: { planner: Planner.PLANNER_AVERAGE } });
    expect(plan.moves.length).toBe(DISKS * 2 - 2 * Math.ceil((DISKS * 2) / 3));
    const job = await b.start({ auto: { planner: Planner.PLANNER_AVERAGE } }, plan.stateIndex, 0);
    const events = await b.watch(job.id, 0);
    expect(events.map((event) => event.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)?.finished).toBe(JobState.JOB_STATE_SUCCEEDED);
    const state = await servedState();
    expect([...pathCounts(state).entries()].sort()).toEqual(
      plan.after.filter((count) => count.paths > 0).map((count) => [count.node, count.paths]),
    );
    expect(noDiskTwiceOnANode(state)).toBe(true);
    await everyPathReads();
  });

  it("a manual move lands where asked and the path reads there", async () => {
    const before = await reader.read();
    const onB = new Set(before.paths.filter((path) => path.node === "b").map((path) => path.diskId));
    const path = before.paths.find((candidate) => candidate.node === "a" && !onB.has(candidate.diskId));
    if (path === undefined) throw new Error("no path to move");
    const c = api("c");
    const job = await c.start({ manual: { ips: [path.ip], targetNode: "b" } }, 0, 0);
    const events = await c.watch(job.id, 0);
    expect(events.at(-1)?.finished).toBe(JobState.JOB_STATE_SUCCEEDED);
    const after = await reader.read();
    expect(after.paths.find((candidate) => candidate.ip === path.ip)?.node).toBe("b");
    const disk = disks.find((candidate) => candidate.id === path.diskId);
    if (disk === undefined) throw new Error("unknown disk");
    expect((await running().readCapacity(path.ip, disk.iqn)).ok).toBe(true);
  });

  it("kill -9 of the coordinator mid-job: the next leader finishes the job; a watcher that reconnects misses no event and sees none twice", async () => {
    const leader = await readLeader(kvOf(running().consul), running().keys);
    if (leader === undefined) throw new Error("no coordinator");
    const drained = ["a", "b", "c"].find((name) => name !== leader.node) ?? "a";
    const watcherNode = ["a", "b", "c"].find((name) => name !== leader.node && name !== drained) ?? "a";
    const watcher = api(watcherNode);
    const drainClient = new ClusterServiceClient(
      `unix://${running().node(watcherNode).socketPath}`,
      credentials.createInsecure(),
    );
    const drain = await unaryCall<{ job?: Reassignment }>((deadline, done) =>
      drainClient.drainNode({ node: drained, parallelism: 1 }, new Metadata(), { deadline }, done),
    );
    drainClient.close();
    const job = drain.job;
    if (job === undefined) throw new Error("no job");
    expect(job.moves.length).toBeGreaterThanOrEqual(3);

    const first = await watcher.watch(
      job.id,
      0,
      (event) => event.path?.phase === PathPhase.PATH_PHASE_SERVING,
    );
    const killed = running().node(leader.node);
    await killed.kill();
    // Its node comes back as systemd would bring it back; the old coordinator session expires by TTL.
    await killed.start();

    const rest = await watcher.watch(job.id, first.at(-1)?.sequence ?? 0);
    const sequences = [...first, ...rest].map((event) => event.sequence);
    expect(sequences).toEqual(sequences.map((_, i) => i + 1));
    expect(rest.at(-1)?.finished).toBe(JobState.JOB_STATE_SUCCEEDED);
    const finished = await watcher.get(job.id);
    expect(finished.totals).toMatchObject({ total: job.moves.length, succeeded: job.moves.length });

    const next = await readLeader(kvOf(running().consul), running().keys);
    expect(next?.epoch).toBeGreaterThan(leader.epoch);
    const resumedBy = next === undefined ? "" : running().node(next.node).log();
    expect(resumedBy).toContain("resuming reassignment job");
    // Must hold: each path the killed node gave up has a node with no path of its disk (the killed
    // node, back by then, or the other follower), and the drain planned its moves before the kill.
    // Placement counts the drain's unfinished moves on their targets (placement-view.ts), so it
    // does not give a target a path of a disk the drain is about to give that target too.
    const state = await servedState([drained]);
    expect(noDiskTwiceOnANode(state)).toBe(true);
    await everyPathReads();
    await running().cordon(drained, false);
  });

  it("a node cut off during a job: its moves fail with the reason, its paths come back on the others and read", async () => {
    const leader = await readLeader(kvOf(running().consul), running().keys);
    // The test before leaves the drained node empty. When that node leads now, both followers hold a
    // path of every disk, and no path can move to either without two paths of a disk on it:
    // spread the paths over the three nodes first.
    const spreader = api(leader?.node ?? "a");
    const spread = await spreader.plan({ auto: { planner: Planner.PLANNER_AVERAGE } });
    if (spread.moves.length > 0) {
      const job = await spreader.start({ auto: { planner: Planner.PLANNER_AVERAGE } }, spread.stateIndex, 0);
      expect((await spreader.watch(job.id, 0)).at(-1)?.finished).toBe(JobState.JOB_STATE_SUCCEEDED);
      await servedState();
    }
    const before = await reader.read();
    const counts = pathCounts(before);
    // The follower with the fewest paths: the others hold paths of disks it has none of.
    const victim =
      ["a", "b", "c"]
        .filter((name) => name !== leader?.node)
        .sort((x, y) => (counts.get(x) ?? 0) - (counts.get(y) ?? 0))[0] ?? "c";
    const caller = api(["a", "b", "c"].find((name) => name !== victim && name !== leader?.node) ?? "a");
    const onVictim = new Set(before.paths.filter((path) => path.node === victim).map((path) => path.diskId));
    const ips = onePathPerDisk(before.paths.filter((path) => !onVictim.has(path.diskId)))
      .slice(0, 3)
      .map((path) => path.ip);
    expect(ips.length).toBeGreaterThanOrEqual(2);
    const job = await caller.start({ manual: { ips, targetNode: victim } }, 0, 1);
    const first = await caller.watch(
      job.id,
      0,
      (event) => event.path?.phase === PathPhase.PATH_PHASE_SERVING,
    );
    await running().node(victim).cutMgmt();
    try {
      const rest = await caller.watch(job.id, first.at(-1)?.sequence ?? 0);
      const finished = await caller.get(job.id);
      expect([JobState.JOB_STATE_PARTIALLY_FAILED, JobState.JOB_STATE_FAILED]).toContain(finished.state);
      const failed = finished.moves.filter((move) => move.error !== "");
      expect(failed.length).toBeGreaterThan(0);
      for (const move of failed)
        expect(move.error).toMatch(new RegExp(`AcquirePath on ${victim}|target node ${victim}`));
      expect(rest.filter((event) => event.path?.phase === PathPhase.PATH_PHASE_FAILED)).toHaveLength(
        failed.length,
      );
      const state = await servedState([victim]);
      expect(noDiskTwiceOnANode(state)).toBe(true);
      await everyPathReads();
    } finally {
      await running().node(victim).healMgmt();
    }
    const report = await sampler?.stop();
    sampler = undefined;
    expect(report?.overlaps).toEqual([]);
    expect(report?.samples).toBeGreaterThan(100);
  });
});
