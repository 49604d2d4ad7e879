/**
 * The coordinator under failures and load, over a real Consul agent and gRPC node agents: the retry
 * of a dead node's paths when their lock-delay ends, the per-node bound on calls in flight, and
 * moves whose CleanPath or AcquirePath pass their deadline.
 */
import { ConsulKvStore } from "../../src/consul/consul-kv-store.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterState, ClusterStateReader } from "../../src/assignment/assignment-stats.js";
import type { JobEvent } from "../../src/assignment/job-model.js";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { AllocationKeys } from "../../src/disks/allocation-keys.js";
import { ClusterSettingsStore } from "../../src/disks/cluster-settings-store.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import {
  addTestDisk,
  everyPathServed,
  noDiskTwiceOnANode,
  readerFor,
  startCoordinatorHost,
  TestNodeAgent,
  TEST_SETTINGS,
  type CoordinatorHost,
} from "./coordinator-support.js";
import { until } from "../support/until.js";

const LOCK_DELAY_SECONDS = 2;

interface Cluster {
  readonly keys: ConsulKeys;
  readonly reader: ClusterStateReader;
  readonly agents: Map<string, TestNodeAgent>;
  readonly host: CoordinatorHost;
}

async function collect(events: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const seen: JobEvent[] = [];
  for await (const event of events) seen.push(event);
  return seen;
}

describe("coordinator failover and load: lock-delay retries, calls per node, moves past their deadline", () => {
  let consul: ConsulHarness;
  let client: ConsulClient;
  const clusters: Cluster[] = [];

  /** Node agents and one coordinator under a root of their own, with `disks` disks of two paths. */
  async function startCluster(
    name: string,
    disks: number,
    host: { callsPerNode?: number; rpcTimeoutMs?: number } = {},
  ): Promise<Cluster> {
    const keys = new ConsulKeys(`CoordinatorFailover${name}${process.pid}`);
    await new ClusterSettingsStore(new ConsulKvStore(client), new AllocationKeys(keys)).init(TEST_SETTINGS);
    const agents = new Map<string, TestNodeAgent>();
    for (const node of ["a", "b", "c"]) {
      agents.set(
        node,
        await TestNodeAgent.start({
          consulAddress: consul.agent.httpAddress,
          keys,
          name: node,
          lockDelaySeconds: LOCK_DELAY_SECONDS,
        }),
      );
    }
    for (let disk = 1; disk <= disks; disk++) {
      const id = String(disk).padStart(5, "0");
      await addTestDisk(client, keys, id, `disk-${disk}`, [
        `198.51.100.${10 + disk}`,
        `203.0.113.${10 + disk}`,
      ]);
    }
    const cluster: Cluster = {
      keys,
      reader: readerFor(new ConsulKvStore(client), keys),
      agents,
      host: startCoordinatorHost({
        consulAddress: consul.agent.httpAddress,
        keys,
        name: "h",
        lockDelaySeconds: LOCK_DELAY_SECONDS,
        ...host,
      }),
    };
    clusters.push(cluster);
    await served(cluster);
    return cluster;
  }

  function agent(cluster: Cluster, name: string): TestNodeAgent {
    const found = cluster.agents.get(name);
    if (found === undefined) throw new Error(`no agent ${name}`);
    return found;
  }

  async function served(cluster: Cluster, off: readonly string[] = []): Promise<ClusterState> {
    return await until(
      "every path served",
      async () => {
        const state = await cluster.reader.read();
        return everyPathServed(state) && state.paths.every((path) => !off.includes(path.node))
          ? state
          : undefined;
      },
      { retryErrors: true },
    );
  }

  beforeAll(async () => {
    consul = await startConsulHarness("coordinator-failover");
    client = new ConsulClient({ address: consul.agent.httpAddress });
  });

  afterAll(async () => {
    for (const cluster of clusters) {
      await cluster.host.stop();
      await Promise.all([...cluster.agents.values()].map((node) => node.stop()));
    }
    client.close();
    await consul.stop();
  });

  it("a dead node's paths: refused once in their lock-delay, then taken by the first try when it ends, not one back-off step later", async () => {
    const cluster = await startCluster("LockDelay", 6);
    const before = await cluster.reader.read();
    const onA = before.paths.filter((path) => path.node === "a");
    expect(onA.length).toBeGreaterThanOrEqual(3);
    const killedFrom = Date.now();
    // Its session ends: Consul frees its locks and keeps them for the lock-delay.
    await agent(cluster, "a").kill();
    const killedBy = Date.now();
    const after = await served(cluster, ["a"]);
    expect(noDiskTwiceOnANode(after)).toBe(true);

    const lockDelayMs = LOCK_DELAY_SECONDS * 1000;
    for (const path of onA) {
      const tries = ["b", "c"]
        .flatMap((name) => agent(cluster, name).calls)
        .filter(
          (call) =>
            call.method === "acquire" &&
            call.diskId === path.diskId &&
            call.index === path.index &&
            call.at >= killedFrom,
        )
        .sort((x, y) => x.at - y.at);
      const refused = tries.filter((call) => call.ok === false);
      const taken = tries.filter((call) => call.ok === true);
      // Tried at once (refused: the lock-delay), then when it ends (taken). With the back-off
      // (0.2, 0.4, 0.8, 1.6 s …) a 2 s lock-delay cost four refusals and the last step's wait.
      expect(taken).toHaveLength(1);
      expect(tries.at(-1)?.ok).toBe(true);
      expect(refused.length).toBeGreaterThanOrEqual(1);
      expect(refused.length).toBeLessThanOrEqual(2);
      // Every refusal came inside the lock-delay: no try was wasted after it.
      for (const call of refused) expect(call.at).toBeLessThan(killedBy + lockDelayMs);
      // Consul's own rule: nobody takes the lock before the lock-delay is over.
      expect(taken[0]?.at).toBeGreaterThanOrEqual(killedFrom + lockDelayMs);
    }
  });

  it("a drain at parallelism 64 keeps at most callsPerNode calls on each node and moves every path", async () => {
    const cluster = await startCluster("PerNode", 12, { callsPerNode: 2 });
    const before = await cluster.reader.read();
    const onA = before.paths.filter((path) => path.node === "a");
    expect(onA.length).toBe(8);
    for (const node of cluster.agents.values()) {
      node.delayMs = 150;
      node.peakInFlight = 0;
    }
    const service = cluster.host.service;
    let job;
    try {
      job = await service.drain("a", 64, "test");
      const events = await collect(service.watch(job.header.id, 0, true, AbortSignal.timeout(30_000)));
      expect(events.at(-1)?.body).toEqual({ kind: "finished", finalState: "succeeded" });
    } finally {
      for (const node of cluster.agents.values()) node.delayMs = 0;
    }
    const finished = await service.get(job.header.id);
    expect(finished.totals).toMatchObject({ total: 8, succeeded: 8, failed: 0 });
    // The source answered CleanPath two at a time although 64 moves could run.
    expect(agent(cluster, "a").peakInFlight).toBe(2);
    expect(agent(cluster, "b").peakInFlight).toBeLessThanOrEqual(2);
    expect(agent(cluster, "c").peakInFlight).toBeLessThanOrEqual(2);
    const after = await served(cluster, ["a"]);
    expect(noDiskTwiceOnANode(after)).toBe(true);
  });

  it("a move whose CleanPath or AcquirePath passes its deadline fails with the reason, and its path is served again", async () => {
    const cluster = await startCluster("Deadline", 6, { rpcTimeoutMs: 800 });
    const service = cluster.host.service;
    const a = agent(cluster, "a");
    const b = agent(cluster, "b");

    // The source answers CleanPath after the deadline (it does give the path up, late).
    const before = await cluster.reader.read();
    const disksOnB = new Set(before.paths.filter((path) => path.node === "b").map((path) => path.diskId));
    const fromA = before.paths.find((path) => path.node === "a" && !disksOnB.has(path.diskId));
    if (fromA === undefined) throw new Error("no path of a to move to b");
    a.cleanDelayMs = 1500;
    try {
      const job = await service.start({
        spec: { mode: "manual", ips: [fromA.ip], targetNode: "b" },
        stateIndex: 0,
        parallelism: 1,
        startedBy: "test",
      });
      await collect(service.watch(job.header.id, 0, true, AbortSignal.timeout(20_000)));
      const finished = await service.get(job.header.id);
      expect(finished.header.state).toBe("failed");
      expect(finished.moves[0]?.error).toMatch(/CleanPath on a: /);
    } finally {
      a.cleanDelayMs = 0;
    }
    // Given up late by a, the path is placed again by the placement loop.
    await until(
      "a released the path",
      async () => {
        const state = await cluster.reader.read();
        return state.paths.find((path) => path.ip === fromA.ip)?.node !== "a" ? true : undefined;
      },
      { retryErrors: true },
    );
    const afterClean = await served(cluster);
    expect(noDiskTwiceOnANode(afterClean)).toBe(true);

    // The target answers AcquirePath after the deadline (it does take the path, late).
    const disksOnBNow = new Set(
      afterClean.paths.filter((path) => path.node === "b").map((path) => path.diskId),
    );
    const toB = afterClean.paths.find((path) => path.node !== "b" && !disksOnBNow.has(path.diskId));
    if (toB === undefined) throw new Error("no path to move to b");
    b.delayMs = 1500;
    try {
      const job = await service.start({
        spec: { mode: "manual", ips: [toB.ip], targetNode: "b" },
        stateIndex: 0,
        parallelism: 1,
        startedBy: "test",
      });
      await collect(service.watch(job.header.id, 0, true, AbortSignal.timeout(20_000)));
      const finished = await service.get(job.header.id);
      expect(finished.header.state).toBe("failed");
      expect(finished.moves[0]?.error).toMatch(/AcquirePath on b: /);
    } finally {
      b.delayMs = 0;
    }
    const afterAcquire = await served(cluster);
    expect(afterAcquire.paths.filter((path) => path.ip === toB.ip)).toHaveLength(1);
  });
});
