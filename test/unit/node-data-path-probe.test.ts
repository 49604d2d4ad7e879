/**
 * The data-path probe: a served path that is not really there (IP deleted by hand, target removed
 * behind the driver's back) is found by reading the node afresh and repaired at once, without a
 * change in Consul and without waiting for the periodic reconcile (60 s in ProcessCluster).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { createLogger } from "../../src/log/logger.js";
import {
  DataPathProbe,
  type DataPathDrift,
  type DataPathProbeOptions,
} from "../../src/node/data-path-probe.js";
import { addressChangeOf } from "../../src/net/address-watch.js";
import { PathJournal } from "../../src/node/path-journal.js";
import { PathSetup } from "../../src/node/path-setup.js";
import { InMemoryAddressWatch } from "../../src/testing/in-memory-address-watch.js";
import { InMemoryNetworkDriver } from "../../src/testing/in-memory-network-driver.js";
import { InMemoryTargetDriver } from "../../src/testing/in-memory-target-driver.js";
import { ProcessCluster, type ProcessNode } from "../support/process-cluster.js";
import { localPath } from "../support/local-path.js";
import { until } from "../support/until.js";

const logger = createLogger({ level: "silent" });
const PATH = localPath({ ip: "198.51.100.21", state: "served" });
const SPEC = {
  iqn: PATH.iqn,
  backing: { kind: "file" as const, path: "/var/lib/sanpath/images/00001.img" },
  acl: { allInitiators: true, initiatorIqns: [] },
  chap: undefined,
};

/** One path configured and journalled as served, on the driver fakes, and a probe over them. */
async function served(options: Partial<DataPathProbeOptions> = {}) {
  const target = new InMemoryTargetDriver();
  const network = new InMemoryNetworkDriver({ interfaces: ["eth1"] });
  const setup = new PathSetup(target, network);
  const journal = await PathJournal.open(undefined);
  await setup.configure(PATH, SPEC, AbortSignal.timeout(1000));
  await journal.put(PATH);
  const asked: (readonly DataPathDrift[])[] = [];
  const probe = new DataPathProbe({
    setup,
    journal,
    logger,
    intervalMs: 100,
    onDrift: (drifted) => asked.push(drifted),
    ...options,
  });
  return { target, network, setup, journal, probe, asked };
}

describe("DataPathProbe.probe", () => {
  it("finds nothing to repair when every served path is there", async () => {
    const { probe, asked } = await served();
    expect(await probe.probe()).toMatchObject({ answering: true, drifted: [], repairsAsked: 0 });
    expect(asked).toEqual([]);
  });

  it("sees an IP deleted behind the driver's back and asks for a repair", async () => {
    const { network, probe, asked } = await served();
    network.external.removeAddress(PATH.ip);
    const health = await probe.probe();
    const drift = { diskId: "00001", index: 1, ip: PATH.ip, ipPresent: false, portalEnabled: true };
    expect(health).toMatchObject({ answering: true, drifted: [drift], repairsAsked: 1 });
    expect(asked).toEqual([[drift]]);
  });

  it("sees a target removed behind the driver's back (its portal is gone with it)", async () => {
    const { target, probe } = await served();
    target.external.deleteTarget(PATH.iqn);
    expect((await probe.probe()).drifted).toEqual([
      { diskId: "00001", index: 1, ip: PATH.ip, ipPresent: true, portalEnabled: false },
    ]);
  });

  it("a target daemon that does not answer is reported, and recovers when it answers", async () => {
    const { target, probe, asked } = await served();
    target.faults.failNext("listTargets", new SanpathError("unavailable", "tgtd: connection refused"));
    const down = await probe.probe();
    expect(down.answering).toBe(false);
    expect(down.lastError).toContain("refused");
    expect(asked).toEqual([]);
    expect(await probe.probe()).toMatchObject({ answering: true, lastError: undefined });
  });

  it("does not judge a path being torn down, but still asks the target daemon with nothing served", async () => {
    const { target, network, journal, probe } = await served();
    await journal.setState("00001/1", "cleaning");
    network.external.removeAddress(PATH.ip);
    const reads = target.faults.callsOf("listTargets").length;
    expect(await probe.probe()).toMatchObject({ answering: true, drifted: [] });
    expect(target.faults.callsOf("listTargets").length).toBe(reads + 1);
    target.external.stopService();
    expect(await probe.probe()).toMatchObject({ answering: false, drifted: [] });
  });

  it("does not judge a path whose state changed while the probe read the node", async () => {
    const { target, network, journal, probe } = await served();
    network.external.removeAddress(PATH.ip);
    target.faults.hangNext("listTargets");
    const probing = probe.probe();
    await target.faults.waitForHanging(1);
    await journal.setState("00001/1", "cleaning");
    target.faults.release();
    expect((await probing).drifted).toEqual([]);
  });
});

describe("DataPathProbe woken by address changes", () => {
  /** A probe with a long interval over an InMemoryAddressWatch; counts its reads of the target daemon. */
  async function watched() {
    const fixture = await served({ intervalMs: 60_000 });
    const probe = new DataPathProbe({
      setup: fixture.setup,
      journal: fixture.journal,
      logger,
      intervalMs: 60_000,
      onDrift: (drifted) => fixture.asked.push(drifted),
      addressWatch: new InMemoryAddressWatch(fixture.network),
    });
    const reads = (): number => fixture.target.faults.callsOf("listTargets").length;
    return { ...fixture, probe, reads };
  }

  it("probes at once when a served path's IP is deleted behind the node's back", async () => {
    const { network, probe, asked } = await watched();
    probe.start();
    try {
      network.external.removeAddress(PATH.ip);
      await until("the repair asked", () => (asked.length > 0 ? true : undefined), { timeoutMs: 2000 });
      expect(asked[0]?.[0]).toMatchObject({ ip: PATH.ip, ipPresent: false });
    } finally {
      await probe.stop();
    }
  });

  it("is not woken by the node's own changes: an IP added, or removed by a path's tear-down", async () => {
    const { network, setup, journal, probe, reads } = await watched();
    probe.start();
    try {
      const before = reads();
      const other = localPath({ ip: "198.51.100.22", index: 2, state: "configuring" });
      await journal.put(other);
      await setup.configure(other, SPEC, AbortSignal.timeout(1000));
      await journal.setState("00001/1", "cleaning", { durable: false });
      await setup.teardown(PATH, AbortSignal.timeout(1000));
      network.external.addAddress({ ip: "198.51.100.250", prefixLength: 24, interface: "eth1" });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(reads()).toBe(before);
    } finally {
      await probe.stop();
    }
  });
});

describe("addressChangeOf (a line of `ip -o -4 monitor address`)", () => {
  it("names the address and whether it was added or deleted", () => {
    expect(
      addressChangeOf(
        "3: eth1    inet 198.51.100.80/24 scope global eth1\\       valid_lft forever preferred_lft forever",
      ),
    ).toEqual({ kind: "added", ip: "198.51.100.80" });
    expect(
      addressChangeOf("Deleted 12: eth1.20    inet 203.0.113.7/25 brd 203.0.113.127 scope global eth1.20"),
    ).toEqual({ kind: "deleted", ip: "203.0.113.7" });
    expect(addressChangeOf("3: eth1    inet6 fe80::1/64 scope link")).toBeUndefined();
    expect(addressChangeOf("garbage")).toBeUndefined();
  });
});

describe("DataPathProbe verdict", () => {
  it("turns unhealthy once trouble lasts unhealthyAfterMs, with the reason, and healthy at the first clean probe", async () => {
    let now = 0;
    const changes: [boolean, string][] = [];
    const { target, network, setup, probe } = await served({
      unhealthyAfterMs: 3000,
      now: () => now,
      onHealthChange: (healthy, reason) => changes.push([healthy, reason]),
    });
    target.faults.failNext("listTargets", new SanpathError("unavailable", "tgtd: connection refused"), 10);
    expect(await probe.probe()).toMatchObject({ answering: false, healthy: true, reason: "" });
    now = 2999;
    expect((await probe.probe()).healthy).toBe(true);
    now = 3000;
    const down = await probe.probe();
    expect(down.healthy).toBe(false);
    expect(down.reason).toContain("does not answer");
    expect(changes).toHaveLength(1);
    expect(changes[0]?.[0]).toBe(false);
    target.faults.clearFaults();
    now = 3100;
    expect(await probe.probe()).toMatchObject({ answering: true, healthy: true, reason: "" });
    expect(changes.map(([healthy]) => healthy)).toEqual([false, true]);
    // A drift repaired within the bound never makes it unhealthy.
    network.external.removeAddress(PATH.ip);
    expect((await probe.probe()).healthy).toBe(true);
    await setup.configure(PATH, SPEC, AbortSignal.timeout(1000));
    now = 9000;
    expect(await probe.probe()).toMatchObject({ drifted: [], healthy: true });
    expect(changes).toHaveLength(2);
  });
});

describe("NodeAgent with the data-path probe on", () => {
  let cluster: ProcessCluster;
  let a: ProcessNode;
  let diskId: string;
  let ip: string;

  beforeEach(async () => {
    cluster = await ProcessCluster.start("DataPathProbe");
    a = await cluster.addNode("a", { dataPathProbeMs: 100 });
    diskId = await cluster.addDisk();
    await a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, AbortSignal.timeout(5000));
    ip = a.journal.get(`${diskId}/1`)?.ip ?? "";
  });
  afterEach(async () => {
    await cluster.close();
  });

  const ipOnNode = (): boolean => a.network.kernelAddresses().some((address) => address.ip === ip);
  const portalOn = (): boolean =>
    a.target
      .serviceTargets()
      .some((target) => target.portals.some((portal) => portal.ip === ip && portal.enabled));

  it("puts back an IP deleted by hand by itself, with no change in Consul", async () => {
    const index = cluster.store.consul.prefixIndex(cluster.keys.disks());
    a.network.external.removeAddress(ip);
    expect(ipOnNode()).toBe(false);
    await until("the IP back", () => (ipOnNode() ? true : undefined), { timeoutMs: 5000, intervalMs: 20 });
    expect(portalOn()).toBe(true);
    expect(cluster.store.consul.prefixIndex(cluster.keys.disks())).toBe(index);
    const status = await a.agent.status(0, AbortSignal.timeout(5000));
    expect(status.dataPath.repairsAsked).toBeGreaterThanOrEqual(1);
    expect((await cluster.lockOf(diskId, 1))?.holder).toBe("a");
  });

  it("with the address watch, a deleted IP is back long before the probe's interval", async () => {
    const b = await cluster.addNode("b", { dataPathProbeMs: 60_000, addressWatch: true });
    await b.agent.acquirePath({ epoch: 1, diskId, index: 2, jobId: "" }, AbortSignal.timeout(5000));
    const bIp = b.journal.get(`${diskId}/2`)?.ip ?? "";
    // The first probe has to see the path served before it can judge it.
    b.network.external.addAddress({ ip: "198.51.100.250", prefixLength: 24, interface: "eth1" });
    await new Promise((resolve) => setTimeout(resolve, 100));
    b.network.external.removeAddress(bIp);
    await until(
      "the IP back on B",
      () => (b.network.kernelAddresses().some((address) => address.ip === bIp) ? true : undefined),
      { timeoutMs: 5000, intervalMs: 20 },
    );
  });

  it("re-creates a target removed behind the driver's back, portal and all", async () => {
    a.target.external.deleteTarget(a.journal.get(`${diskId}/1`)?.iqn ?? "");
    await until("the portal back", () => (portalOn() ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 20,
    });
    expect(ipOnNode()).toBe(true);
    await until("a clean probe", async () => {
      const status = await a.agent.status(0, AbortSignal.timeout(5000));
      return status.dataPath.drifted.length === 0 && status.drift.length === 0 ? true : undefined;
    });
  });
});
