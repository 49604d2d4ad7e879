import { cleanUpAll } from "../support/clean-up.js";
import { kvOf } from "../support/consul-stores.js";
import { ConsulKvStore } from "../../src/consul/consul-kv-store.js";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterStateReader } from "../../src/assignment/assignment-stats.js";
import type { JobEvent } from "../../src/assignment/job-model.js";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { readLeader } from "../../src/coordinator/leader-record.js";
import { AllocationKeys } from "../../src/disks/allocation-keys.js";
import { ClusterSettingsStore } from "../../src/disks/cluster-settings-store.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import {
  addTestDisk,
  everyPathServed,
  noDiskTwiceOnANode,
  onePathPerDisk,
  pathCounts,
  readerFor,
  startCoordinatorHost,
  TestNodeAgent,
  TEST_SETTINGS,
  type CoordinatorHost,
} from "./coordinator-support.js";
import { until } from "../support/until.js";

describe("coordinator: placement and reassignment jobs over a real Consul and gRPC node agents", () => {
  let consul: ConsulHarness;
  let client: ConsulClient;
  let reader: ClusterStateReader;
  const keys = new ConsulKeys(`CoordinatorJobs${process.pid}`);
  const agents = new Map<string, TestNodeAgent>();
  const hosts: CoordinatorHost[] = [];

  async function addAgent(name: string): Promise<TestNodeAgent> {
    const agent = await TestNodeAgent.start({ consulAddress: consul.agent.httpAddress, keys, name });
    agents.set(name, agent);
    return agent;
  }

  function addHost(name: string): CoordinatorHost {
    const host = startCoordinatorHost({ consulAddress: consul.agent.httpAddress, keys, name });
    hosts.push(host);
    return host;
  }

  const anyHost = (): CoordinatorHost => {
    const host = hosts.find((candidate) => candidate.election.term !== undefined) ?? hosts[0];
    if (host === undefined) throw new Error("no host");
    return host;
  };

  async function collect(
    events: AsyncIterable<JobEvent>,
    until?: (seen: JobEvent[]) => boolean,
  ): Promise<JobEvent[]> {
    const seen: JobEvent[] = [];
    for await (const event of events) {
      seen.push(event);
      if (until?.(seen) === true) break;
    }
    return seen;
  }

  async function settled(): Promise<void> {
    await until(
      "every path served",
      async () => {
        const state = await reader.read();
        return everyPathServed(state) ? state : undefined;
      },
      { retryErrors: true },
    );
  }

  beforeAll(async () => {
    consul = await startConsulHarness("coordinator-jobs");
    client = new ConsulClient({ address: consul.agent.httpAddress });
    reader = readerFor(new ConsulKvStore(client), keys);
    await new ClusterSettingsStore(new ConsulKvStore(client), new AllocationKeys(keys)).init(TEST_SETTINGS);
    for (const name of ["a", "b", "c"]) await addAgent(name);
    for (let disk = 1; disk <= 6; disk++) {
      const id = String(disk).padStart(5, "0");
      await addTestDisk(client, keys, id, `disk-${disk}`, [
        `198.51.100.${10 + disk}`,
        `203.0.113.${10 + disk}`,
      ]);
    }
    addHost("a");
    addHost("b");
  });

  afterAll(async () => {
    await cleanUpAll(
      () => Promise.all(hosts.map((host) => host.stop())),
      () => Promise.all([...agents.values()].map((agent) => agent.stop())),
      () => client.close(),
      () => consul.stop(),
    );
  });

  it("places every free path of the running disks: balanced, never two paths of one disk on one node", async () => {
    await settled();
    const state = await reader.read();
    expect(state.paths).toHaveLength(12);
    expect([...pathCounts(state).entries()].sort()).toEqual([
      ["a", 4],
      ["b", 4],
      ["c", 4],
    ]);
    expect(noDiskTwiceOnANode(state)).toBe(true);
    const leader = await readLeader(kvOf(client), keys);
    expect(["a", "b"]).toContain(leader?.node);
    // Every AcquirePath carried the leader's epoch.
    const epochs = new Set([...agents.values()].flatMap((agent) => agent.calls.map((call) => call.epoch)));
    expect([...epochs]).toEqual([leader?.epoch]);
  });

  it("a rebalance after a node joins ends balanced, every path served once; a watcher sees every event once, in order", async () => {
    await addAgent("d");
    const service = anyHost().service;
    const plan = await service.plan({ mode: "auto", planner: "average" });
    expect(plan.moves).toHaveLength(3);
    expect(plan.moves.every((move) => move.targetNode === "d")).toBe(true);
    expect(plan.after.map((count) => count.paths)).toEqual([3, 3, 3, 3]);

    const job = await service.start({
      spec: { mode: "auto", planner: "average" },
      stateIndex: plan.stateIndex,
      parallelism: 0,
      startedBy: "test",
    });
    expect(job.header.state).toBe("pending");
    expect(job.moves).toHaveLength(3);
    const events = await collect(service.watch(job.header.id, 0, true, AbortSignal.timeout(20_000)));
    expect(events.map((event) => event.sequence)).toEqual(events.map((_, i) => i + 1));
    const last = events.at(-1);
    expect(last?.body).toEqual({ kind: "finished", finalState: "succeeded" });
    for (const move of plan.moves) {
      const phases = events.flatMap((event) =>
        event.body.kind === "path" && event.body.path.ip === move.ip ? [event.body.path.phase] : [],
      );
      expect(phases).toEqual(["queued", "cleaning", "released", "acquiring", "serving"]);
    }

    const finished = await service.get(job.header.id);
    expect(finished.header.state).toBe("succeeded");
    expect(finished.totals).toMatchObject({ total: 3, succeeded: 3, failed: 0 });
    expect(finished.lastSequence).toBe(last?.sequence);
    const state = await reader.read();
    expect(everyPathServed(state)).toBe(true);
    expect([...pathCounts(state).values()]).toEqual([3, 3, 3, 3]);
    expect(noDiskTwiceOnANode(state)).toBe(true);
    // Balanced: nothing more to do is an answer, not an error.
    expect((await service.plan({ mode: "auto", planner: "average" })).moves).toEqual([]);
  });

  it("a manual move lands where asked; a second job while one runs is refused; a stale plan is refused", async () => {
    const service = anyHost().service;
    const before = await reader.read();
    const disksOnC = new Set(before.paths.filter((path) => path.node === "c").map((path) => path.diskId));
    const moving = onePathPerDisk(
      before.paths.filter((path) => path.node !== "c" && !disksOnC.has(path.diskId)),
    ).slice(0, 2);
    expect(moving).toHaveLength(2);
    const ips = moving.map((path) => path.ip);
    for (const agent of agents.values()) agent.delayMs = 300;
    try {
      const job = await service.start({
        spec: { mode: "manual", ips, targetNode: "c" },
        stateIndex: 0,
        parallelism: 1,
        startedBy: "test",
      });
      await expect(
        service.start({
          spec: { mode: "auto", planner: "average" },
          stateIndex: 0,
          parallelism: 0,
          startedBy: "test",
        }),
      ).rejects.toMatchObject({ kind: "failed_precondition", reason: "REASSIGNMENT_RUNNING" });
      const events = await collect(service.watch(job.header.id, 0, true, AbortSignal.timeout(20_000)));
      expect(events.at(-1)?.body).toEqual({ kind: "finished", finalState: "succeeded" });
    } finally {
      for (const agent of agents.values()) agent.delayMs = 0;
    }
    const after = await reader.read();
    for (const ip of ips) expect(after.paths.find((path) => path.ip === ip)?.node).toBe("c");

    const plan = await service.plan({ mode: "auto", planner: "average" });
    await addTestDisk(client, keys, "00007", "disk-7", ["198.51.100.17", "203.0.113.17"]);
    await expect(
      service.start({
        spec: { mode: "auto", planner: "average" },
        stateIndex: plan.stateIndex,
        parallelism: 0,
        startedBy: "test",
      }),
    ).rejects.toMatchObject({ kind: "aborted", reason: "PLAN_STALE", field: "state_index" });
    await settled();
  });

  it("cancel: pending moves are dropped, the move under way finishes; the job is kept in the history", async () => {
    const service = anyHost().service;
    const before = await reader.read();
    const disksOnA = new Set(before.paths.filter((path) => path.node === "a").map((path) => path.diskId));
    const ips = onePathPerDisk(before.paths.filter((path) => !disksOnA.has(path.diskId)))
      .slice(0, 3)
      .map((path) => path.ip);
    expect(ips).toHaveLength(3);
    for (const agent of agents.values()) agent.delayMs = 300;
    let id: string;
    try {
      const job = await service.start({
        spec: { mode: "manual", ips, targetNode: "a" },
        stateIndex: 0,
        parallelism: 1,
        startedBy: "test",
      });
      id = job.header.id;
      await collect(service.watch(id, 0, true, AbortSignal.timeout(20_000)), (seen) =>
        seen.some((event) => event.body.kind === "path" && event.body.path.phase === "cleaning"),
      );
      const cancelling = await service.cancel(id);
      expect(["cancelling", "cancelled"]).toContain(cancelling.header.state);
      const events = await collect(service.watch(id, 0, true, AbortSignal.timeout(20_000)));
      expect(events.at(-1)?.body).toEqual({ kind: "finished", finalState: "cancelled" });
      const phases = events.flatMap((event) => (event.body.kind === "path" ? [event.body.path.phase] : []));
      expect(phases).toContain("cancelled");
      expect(phases).toContain("serving");
    } finally {
      for (const agent of agents.values()) agent.delayMs = 0;
    }
    const finished = await service.get(id);
    expect(finished.header.state).toBe("cancelled");
    expect(finished.totals.succeeded).toBeGreaterThanOrEqual(1);
    expect(finished.totals.cancelled).toBeGreaterThanOrEqual(1);
    expect(finished.totals.succeeded + finished.totals.cancelled).toBe(3);
    for (const move of finished.moves) {
      const now = (await reader.read()).paths.find((path) => path.ip === move.ip)?.node;
      expect(now).toBe(move.status === "succeeded" ? "a" : move.sourceNode);
    }
    const history = await service.list();
    expect(history[0]?.header.id).toBe(id);
    expect(history.map((job) => job.header.id)).toEqual(
      [...history.map((job) => job.header.id)].sort().reverse(),
    );
    // A finished job cannot be cancelled again: it is returned as it is.
    expect((await service.cancel(id)).header.state).toBe("cancelled");
  });

  it("the coordinator fails mid-job: the next leader finishes the job; a watcher resuming from its last sequence misses nothing and sees nothing twice", async () => {
    const leaderHost = await until("a leader", () => hosts.find((host) => host.election.term !== undefined), {
      retryErrors: true,
    });
    const firstTerm = leaderHost.election.term;
    if (firstTerm === undefined) throw new Error("no term");
    const service = hosts.find((host) => host !== leaderHost)?.service ?? leaderHost.service;
    for (const agent of agents.values()) agent.delayMs = 250;
    try {
      const job = await service.drain("d", 1, "test");
      expect(job.header.kind).toBe("drain");
      expect(job.moves.length).toBeGreaterThanOrEqual(2);
      // The first watcher goes away after a few events.
      const first = await collect(
        service.watch(job.header.id, 0, true, AbortSignal.timeout(20_000)),
        (seen) => seen.some((event) => event.body.kind === "path" && event.body.path.phase === "serving"),
      );
      // The coordinator fails: Consul ends its session (as when its node dies); it steps down.
      await client.call("session.destroy", {}, (raw, common) =>
        raw.session.destroy({ ...common, id: firstTerm.session }),
      );
      await until("the old leader's step-down", () => (firstTerm.signal.aborted ? true : undefined), {
        retryErrors: true,
      });
      await leaderHost.stop();
      hosts.splice(hosts.indexOf(leaderHost), 1);

      const lastSeen = first.at(-1)?.sequence ?? 0;
      const rest = await collect(service.watch(job.header.id, lastSeen, true, AbortSignal.timeout(30_000)));
      const all = [...first, ...rest].map((event) => event.sequence);
      expect(all).toEqual(all.map((_, i) => i + 1));
      expect(rest.at(-1)?.body).toEqual({ kind: "finished", finalState: "succeeded" });

      const newLeader = await readLeader(kvOf(client), keys);
      expect(newLeader?.node).not.toBe(leaderHost.name);
      expect(newLeader?.epoch).toBeGreaterThan(firstTerm.epoch);
      const finished = await service.get(job.header.id);
      expect(finished.totals).toMatchObject({ succeeded: job.moves.length, failed: 0 });
    } finally {
      for (const agent of agents.values()) agent.delayMs = 0;
    }
    const state = await reader.read();
    expect(everyPathServed(state)).toBe(true);
    expect(state.paths.filter((path) => path.node === "d")).toEqual([]);
    expect(state.nodes.find((node) => node.name === "d")?.cordoned).toBe(true);
    expect(noDiskTwiceOnANode(state)).toBe(true);
  });

  it("a node killed during a job: its moves end failed with the reason, and its paths are served elsewhere", async () => {
    const service = anyHost().service;
    await service.setCordoned("d", false);
    const before = await reader.read();
    const disksOnD = new Set(before.paths.filter((path) => path.node === "d").map((path) => path.diskId));
    const ips = onePathPerDisk(before.paths.filter((path) => !disksOnD.has(path.diskId)))
      .slice(0, 4)
      .map((path) => path.ip);
    expect(ips).toHaveLength(4);
    const d = agents.get("d");
    if (d === undefined) throw new Error("no d");
    for (const agent of agents.values()) agent.delayMs = 300;
    let job;
    try {
      job = await service.start({
        spec: { mode: "manual", ips: ips.slice(0, 1), targetNode: "d" },
        stateIndex: 0,
        parallelism: 1,
        startedBy: "test",
      });
      await collect(service.watch(job.header.id, 0, true, AbortSignal.timeout(20_000)));
    } finally {
      for (const agent of agents.values()) agent.delayMs = 0;
    }
    expect((await service.get(job.header.id)).header.state).toBe("succeeded");

    // Now a job whose moves go to d, and d dies during it.
    for (const agent of agents.values()) agent.delayMs = 300;
    try {
      const second = await service.start({
        spec: { mode: "manual", ips: ips.slice(1, 4), targetNode: "d" },
        stateIndex: 0,
        parallelism: 1,
        startedBy: "test",
      });
      const watching = collect(service.watch(second.header.id, 0, true, AbortSignal.timeout(30_000)));
      await sleep(400);
      await d.kill();
      const events = await watching;
      expect(events.map((event) => event.sequence)).toEqual(events.map((_, i) => i + 1));
      const finished = await service.get(second.header.id);
      expect(["failed", "partially_failed"]).toContain(finished.header.state);
      const failed = finished.moves.filter((move) => move.status === "failed");
      expect(failed.length).toBeGreaterThan(0);
      for (const move of failed) expect(move.error).toMatch(/AcquirePath on d|target node d/);
      const failedEvents = events.filter(
        (event) => event.body.kind === "path" && event.body.path.phase === "failed",
      );
      expect(failedEvents.length).toBe(failed.length);
    } finally {
      for (const agent of agents.values()) agent.delayMs = 0;
    }
    // d is gone: the path it served and the failed moves' paths come back on live nodes.
    const state = await until(
      "every path served by live nodes",
      async () => {
        const now = await reader.read();
        return everyPathServed(now) && now.paths.every((path) => path.node !== "d") ? now : undefined;
      },
      { retryErrors: true },
    );
    expect(noDiskTwiceOnANode(state)).toBe(true);
  });
});
