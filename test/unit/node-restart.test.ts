/**
 * Zero-outage restart on the fakes: a daemon stopped to restart leaves its targets, portals and IPs
 * up and hands its session over; the next daemon adopts it, so nothing is taken down and no lock
 * changes. When the hand-over cannot be used (too late, session gone, nothing handed over), the
 * next daemon starts from a clean node as after a crash, and the locks are freed.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProcessCluster, type ProcessNode } from "../support/process-cluster.js";
import { until } from "../support/until.js";

describe("restarting a node's daemon", () => {
  let cluster: ProcessCluster;
  let a: ProcessNode;
  let diskId: string;

  const acquire = (node: ProcessNode, index: number) =>
    node.agent.acquirePath({ epoch: 1, diskId, index, jobId: "" }, AbortSignal.timeout(5000));
  const sessionOf = async (node: ProcessNode) =>
    (await node.agent.status(0, AbortSignal.timeout(5000))).session.id;
  const locks = async () => [
    await cluster.kv.get(cluster.keys.diskPath(diskId, 1)),
    await cluster.kv.get(cluster.keys.diskPath(diskId, 2)),
  ];

  beforeEach(async () => {
    cluster = await ProcessCluster.start("NodeRestart");
    a = await cluster.addNode("a", { dataPathProbeMs: 50 });
    diskId = await cluster.addDisk();
    await acquire(a, 1);
    await acquire(a, 2);
  });
  afterEach(async () => {
    await cluster.close();
  });

  it("keeps every path up: the next daemon adopts the session, nothing is taken down, no lock changes", async () => {
    const session = await sessionOf(a);
    const before = await locks();
    const ips = a.network.kernelAddresses().map((address) => address.ip);
    const portals = a.target.serviceTargets().flatMap((target) => target.portals);
    a.network.faults.clearCalls();
    a.target.faults.clearCalls();

    expect(await cluster.restartNode("a")).toBe(true);
    const b = cluster.node("a");
    expect(await sessionOf(b)).toBe(session);
    expect(await cluster.store.sessions.info(session ?? "")).toBeDefined();
    expect(b.network.faults.callsOf("removeAddress")).toEqual([]);
    expect(b.target.faults.callsOf("disablePortal")).toEqual([]);
    expect(b.target.faults.callsOf("dropTarget")).toEqual([]);
    expect(b.network.kernelAddresses().map((address) => address.ip)).toEqual(ips);
    expect(b.target.serviceTargets().flatMap((target) => target.portals)).toEqual(portals);
    expect((await locks()).map((entry) => [entry?.session, entry?.modifyIndex])).toEqual(
      before.map((entry) => [entry?.session, entry?.modifyIndex]),
    );
    const status = await b.agent.status(0, AbortSignal.timeout(5000));
    expect(
      status.paths.map((path) => [path.index, path.lockHeld, path.ipPresent, path.portalEnabled]),
    ).toEqual([
      [1, true, true, true],
      [2, true, true, true],
    ]);
    // The adopted session is kept alive and the node works on: a path given up and taken again.
    await b.agent.cleanPath(
      { epoch: 1, target: { kind: "path", diskId, index: 2 }, jobId: "" },
      AbortSignal.timeout(5000),
    );
    await acquire(b, 2);
    expect((await cluster.lockOf(diskId, 2))?.session).toBe(session);
    expect(await b.handover.peek()).toBeUndefined();
  });

  it("a hand-over whose time is up is not adopted: the next daemon sweeps the node and takes a new session", async () => {
    const session = await sessionOf(a);
    const handedOver = await a.agent.handOver();
    expect(handedOver).toBe(true);
    cluster.rpc.unserve(a.address);
    cluster.nodes.delete("a");
    a.handover.reboot();
    const { journal, memory, handover, target, network } = a;
    const b = await cluster.addNode("a", { journal, memory, handover, target, network });
    expect(await sessionOf(b)).not.toBe(session);
    expect(b.network.kernelAddresses()).toEqual([]);
    // The old session is retired once the new one is announced: its locks released, then destroyed.
    await until(
      "the old session retired",
      async () => ((await cluster.store.sessions.info(session ?? "")) === undefined ? true : undefined),
      { timeoutMs: 5000, intervalMs: 20 },
    );
    expect((await locks()).map((entry) => entry?.session)).toEqual([undefined, undefined]);
  });

  it("a handed-over session that Consul no longer has is not adopted: clean start, nothing left up", async () => {
    const session = await sessionOf(a);
    expect(await a.agent.handOver()).toBe(true);
    cluster.rpc.unserve(a.address);
    cluster.nodes.delete("a");
    await cluster.store.sessions.destroy(session ?? "");
    const { journal, memory, handover, target, network } = a;
    const b = await cluster.addNode("a", { journal, memory, handover, target, network });
    expect(await sessionOf(b)).not.toBe(session);
    expect(b.network.kernelAddresses()).toEqual([]);
    expect(b.target.serviceTargets().flatMap((target) => target.portals)).toEqual([]);
    expect(await b.handover.peek()).toBeUndefined();
  });

  it("a fenced daemon hands nothing over", async () => {
    cluster.store.consul.faults.setUnreachable(true);
    await until(
      "A fenced",
      async () => ((await a.agent.status(0, AbortSignal.timeout(5000))).session.fenced ? true : undefined),
      { timeoutMs: 5000, intervalMs: 20 },
    );
    expect(await a.agent.handOver()).toBe(false);
    expect(await a.handover.peek()).toBeUndefined();
    cluster.store.consul.faults.setUnreachable(false);
  });
});
