import { cleanUpAll } from "../support/clean-up.js";
import { ConsulKvStore } from "../../src/consul/consul-kv-store.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { LeaderlessFallback } from "../../src/coordinator/leaderless-fallback.js";
import { AllocationKeys } from "../../src/disks/allocation-keys.js";
import { ClusterSettingsStore } from "../../src/disks/cluster-settings-store.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import {
  addTestDisk,
  everyPathServed,
  noDiskTwiceOnANode,
  readerFor,
  silentLogger,
  startCoordinatorHost,
  TestNodeAgent,
  TEST_SETTINGS,
  type CoordinatorHost,
} from "./coordinator-support.js";
import { until } from "../support/until.js";

describe("leaderless fallback: node agents serve free paths while no coordinator is elected", () => {
  let consul: ConsulHarness;
  let client: ConsulClient;
  const keys = new ConsulKeys(`Leaderless${process.pid}`);
  const agents: TestNodeAgent[] = [];
  const fallbacks: LeaderlessFallback[] = [];
  let host: CoordinatorHost | undefined;

  beforeAll(async () => {
    consul = await startConsulHarness("coordinator-leaderless");
    client = new ConsulClient({ address: consul.agent.httpAddress });
    await new ClusterSettingsStore(new ConsulKvStore(client), new AllocationKeys(keys)).init(TEST_SETTINGS);
    const kv = new ConsulKvStore(client);
    for (const name of ["a", "b"]) {
      const agent = await TestNodeAgent.start({ consulAddress: consul.agent.httpAddress, keys, name });
      agents.push(agent);
      const fallback = new LeaderlessFallback({
        kv,
        keys,
        reader: readerFor(kv, keys),
        nodeName: name,
        graceMs: 1000,
        passEveryMs: 300,
        acquire: (diskId, index) => agent.acquireLocally(diskId, index),
        logger: silentLogger,
      });
      fallback.start();
      fallbacks.push(fallback);
    }
  });

  afterAll(async () => {
    await cleanUpAll(
      () => host?.stop(),
      () => Promise.all(fallbacks.map((fallback) => fallback.stop())),
      () => Promise.all(agents.map((agent) => agent.stop())),
      () => client.close(),
      () => consul.stop(),
    );
  });

  const epochsUsed = (diskId: string): number[] =>
    agents.flatMap((agent) => agent.calls.filter((call) => call.diskId === diskId).map((call) => call.epoch));

  it("after the grace, the nodes take the free paths of a new disk themselves, spread as placement spreads them", async () => {
    await addTestDisk(client, keys, "00001", "lonely", ["198.51.100.21", "203.0.113.21"]);
    const reader = readerFor(new ConsulKvStore(client), keys);
    const state = await until(
      "both paths served",
      async () => {
        const now = await reader.read();
        return everyPathServed(now) ? now : undefined;
      },
      { retryErrors: true },
    );
    expect(noDiskTwiceOnANode(state)).toBe(true);
    expect(new Set(state.paths.map((path) => path.node))).toEqual(new Set(["a", "b"]));
    expect(new Set(epochsUsed("00001"))).toEqual(new Set([0]));
  });

  it("once a coordinator is elected the nodes leave placement to it", async () => {
    host = startCoordinatorHost({ consulAddress: consul.agent.httpAddress, keys, name: "a" });
    await until("an elected coordinator", () => host?.election.term, { retryErrors: true });
    await addTestDisk(client, keys, "00002", "led", ["198.51.100.22", "203.0.113.22"]);
    const reader = readerFor(new ConsulKvStore(client), keys);
    await until(
      "both paths served",
      async () => {
        const now = await reader.read();
        return everyPathServed(now) ? now : undefined;
      },
      { retryErrors: true },
    );
    const epochs = epochsUsed("00002");
    expect(epochs.length).toBeGreaterThan(0);
    expect(epochs.every((epoch) => epoch === host?.election.term?.epoch)).toBe(true);
  });
});
