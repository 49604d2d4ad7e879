/**
 * NodeAgent on the fakes (test/support/process-cluster.ts): AcquirePath, CleanPath, idempotency,
 * epoch refusal, a lock held elsewhere, and a fence that comes while an acquire is in flight. The
 * same behaviour is checked on real nodes by test/integration/node-paths.test.ts and
 * node-failover.test.ts; here each case takes milliseconds.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { ProcessCluster, type ProcessNode } from "../support/process-cluster.js";
import { rejectionAs } from "../support/thrown.js";
import { until } from "../support/until.js";

const signal = (): AbortSignal => AbortSignal.timeout(5000);

describe("NodeAgent on in-memory Consul, target and network", () => {
  let cluster: ProcessCluster;
  let a: ProcessNode;
  let diskId: string;
  let ip1: string;

  beforeEach(async () => {
    cluster = await ProcessCluster.start();
    a = await cluster.addNode("a");
    diskId = await cluster.addDisk();
    ip1 = (await cluster.disks.getDisk(diskId)).paths.find((path) => path.index === 1)?.ip ?? "";
    expect(ip1).not.toBe("");
  });
  afterEach(async () => {
    await cluster.close();
  });

  /** What node `node` has of path 1: IP on the network, portal enabled, journal entry. */
  async function servedOn(node: ProcessNode) {
    const status = await node.agent.status(0, signal());
    return {
      ip: node.network.kernelAddresses().some((address) => address.ip === ip1),
      portal: node.target
        .serviceTargets()
        .some((target) => target.portals.some((portal) => portal.ip === ip1 && portal.enabled)),
      journal: node.journal.byIp(ip1)?.state,
      listed: status.paths.some((path) => path.ip === ip1),
    };
  }

  it("acquires a path: lock held by its session naming the node, IP up, portal on, journalled", async () => {
    const result = await a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());
    expect(result.alreadyServed).toBe(false);
    expect(result.path).toMatchObject({ diskId, index: 1, ip: ip1, device: "eth1", lockHeld: true });
    const status = await a.agent.status(0, signal());
    expect(await cluster.lockOf(diskId, 1)).toEqual({ holder: "a", session: status.session.id });
    expect(await servedOn(a)).toEqual({ ip: true, portal: true, journal: "served", listed: true });
    expect(a.network.arps.map((arp) => arp.ip)).toContain(ip1);
  });

  it("a second AcquirePath of a served path changes nothing and says so", async () => {
    await a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());
    const adds = a.network.faults.callsOf("addAddress").length;
    const again = await a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());
    expect(again.alreadyServed).toBe(true);
    expect(a.network.kernelAddresses().filter((address) => address.ip === ip1)).toHaveLength(1);
    expect(a.network.faults.callsOf("addAddress").length - adds).toBeLessThanOrEqual(1);
    expect(await servedOn(a)).toEqual({ ip: true, portal: true, journal: "served", listed: true });
  });

  it("cleans a path: IP gone, target dropped, lock released at once (another node acquires it)", async () => {
    const b = await cluster.addNode("b");
    await a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());
    const cleaned = await a.agent.cleanPath(
      { epoch: 1, target: { kind: "path", diskId, index: 1 }, jobId: "" },
      signal(),
    );
    expect(cleaned).toEqual({ wasServed: true, diskId, index: 1, targetDropped: true });
    expect(await servedOn(a)).toEqual({ ip: false, portal: false, journal: undefined, listed: false });
    expect(a.target.serviceTargets()).toEqual([]);
    expect((await cluster.lockOf(diskId, 1))?.session).toBeUndefined();
    // An explicit release has no lock-delay: B takes it without the clock moving.
    await b.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());
    expect((await cluster.lockOf(diskId, 1))?.holder).toBe("b");
    expect(await servedOn(b)).toMatchObject({ ip: true, portal: true });
  });

  it("CleanPath with Consul unreachable still tears a served path down; the lock stays for Consul or the coordinator to end", async () => {
    await a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());
    const session = (await a.agent.status(0, signal())).session.id;
    cluster.kvFaults.setUnreachable(true);
    try {
      const cleaned = await a.agent.cleanPath(
        { epoch: 1, target: { kind: "ip", ip: ip1 }, jobId: "" },
        signal(),
      );
      expect(cleaned).toMatchObject({ wasServed: true, diskId, index: 1 });
      expect(await servedOn(a)).toEqual({ ip: false, portal: false, journal: undefined, listed: false });
      // Nothing served here any more, but whether the lock is ours cannot be known: say so.
      const again = await rejectionAs(
        SanpathError,
        a.agent.cleanPath({ epoch: 1, target: { kind: "path", diskId, index: 1 }, jobId: "" }, signal()),
      );
      expect(again.kind).toBe("unavailable");
    } finally {
      cluster.kvFaults.setUnreachable(false);
    }
    expect((await cluster.lockOf(diskId, 1))?.session).toBe(session);
  });

  it("CleanPath of a path not served here (by path or by IP) reports it was not served", async () => {
    expect(
      await a.agent.cleanPath({ epoch: 1, target: { kind: "path", diskId, index: 2 }, jobId: "" }, signal()),
    ).toEqual({ wasServed: false, diskId, index: 2, targetDropped: false });
    expect(
      await a.agent.cleanPath({ epoch: 1, target: { kind: "ip", ip: "192.0.2.77" }, jobId: "" }, signal()),
    ).toEqual({ wasServed: false, diskId: "", index: 0, targetDropped: false });
  });

  it("refuses a path another node holds, naming it, and configures nothing", async () => {
    const b = await cluster.addNode("b");
    await b.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());
    const error = await rejectionAs(
      SanpathError,
      a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal()),
    );
    expect(error.reason).toBe("PATH_HELD_ELSEWHERE");
    expect(error.message).toContain("node b");
    expect(await servedOn(a)).toEqual({ ip: false, portal: false, journal: undefined, listed: false });
    expect((await cluster.lockOf(diskId, 1))?.holder).toBe("b");
  });

  it("refuses an epoch below the highest it has admitted, for acquire, clean and status alike", async () => {
    await a.agent.acquirePath({ epoch: 7, diskId, index: 1, jobId: "" }, signal());
    for (const call of [
      () => a.agent.acquirePath({ epoch: 6, diskId, index: 2, jobId: "" }, signal()),
      () => a.agent.cleanPath({ epoch: 6, target: { kind: "path", diskId, index: 1 }, jobId: "" }, signal()),
      () => a.agent.status(6, signal()),
    ]) {
      const error = await rejectionAs(SanpathError, call());
      expect(error.reason).toBe("STALE_EPOCH");
    }
    expect(a.journal.highestEpoch).toBe(7);
    expect(await servedOn(a)).toEqual({ ip: true, portal: true, journal: "served", listed: true });
    expect(a.journal.get(`${diskId}/2`)).toBeUndefined();
    expect((await a.agent.status(0, signal())).counters.staleEpochsRefused).toBe(3);
  });

  it("a failed set-up step undoes what it did and releases the lock", async () => {
    a.target.faults.failNext("enablePortal", new SanpathError("unavailable", "tgtd gone (injected)"), 2);
    const error = await rejectionAs(
      SanpathError,
      a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal()),
    );
    expect(error.message).toContain("tgtd gone");
    expect(await servedOn(a)).toEqual({ ip: false, portal: false, journal: undefined, listed: false });
    expect((await cluster.lockOf(diskId, 1))?.session).toBeUndefined();
    expect((await a.agent.status(0, signal())).counters.acquireFailures).toBe(1);
  });

  it("a fence during an acquire aborts it: NODE_FENCED, no IP left, the lock not released by us", async () => {
    a.target.faults.hangNext("enablePortal");
    const acquiring = a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());
    await until("the acquire to reach enablePortal", () =>
      a.target.faults.callsOf("enablePortal").length > 0 ? true : undefined,
    );
    const session = (await a.agent.status(0, signal())).session.id ?? "";
    expect((await cluster.lockOf(diskId, 1))?.session).toBe(session);
    cluster.store.consul.invalidateSession(session);
    const error = await rejectionAs(SanpathError, acquiring);
    expect(error.reason).toBe("NODE_FENCED");
    await until("the fence tear-down", () =>
      a.network.kernelAddresses().some((address) => address.ip === ip1) ? undefined : true,
    );
    // The lock went with the invalidated session: in its lock-delay, nobody can take it yet.
    expect((await cluster.lockOf(diskId, 1))?.session).toBeUndefined();
    expect(cluster.store.consul.inLockDelay(cluster.keys.diskPath(diskId, 1))).toBe(true);
    // A new session comes, and with it a node that serves again (but not this path: no lock).
    await until("a new session", async () => {
      const status = await a.agent.status(0, signal());
      return status.session.healthy && status.session.id !== session ? true : undefined;
    });
    expect((await a.agent.status(0, signal())).session.fences).toBe(1);
    expect(await servedOn(a)).toMatchObject({ ip: false, portal: false });
  });

  it("tells the metrics of each reconcile pass: the one at session start reads the daemons afresh", async () => {
    const passes: { fresh: boolean; seconds: number }[] = [];
    await cluster.addNode("b", {
      onReconcilePass: (fresh, seconds) => passes.push({ fresh, seconds }),
    });
    await until("b's first reconcile pass", () => (passes.length > 0 ? true : undefined));
    expect(passes[0]?.fresh).toBe(true);
    expect(passes[0]?.seconds).toBeGreaterThanOrEqual(0);
    expect(passes[0]?.seconds).toBeLessThan(5);
  });

  it("a stop tears every path down, releases the locks and destroys the session", async () => {
    await a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());
    await a.agent.acquirePath({ epoch: 1, diskId, index: 2, jobId: "" }, signal());
    const session = (await a.agent.status(0, signal())).session.id ?? "";
    await cluster.stopNode("a");
    expect(a.network.kernelAddresses()).toEqual([]);
    expect(a.target.serviceTargets()).toEqual([]);
    expect(a.journal.values()).toEqual([]);
    expect(await cluster.store.sessions.info(session)).toBeUndefined();
    for (const index of [1, 2]) {
      expect((await cluster.lockOf(diskId, index))?.session).toBeUndefined();
      expect(cluster.store.consul.inLockDelay(cluster.keys.diskPath(diskId, index))).toBe(false);
    }
    expect(await a.memory.read()).toEqual([]);
  });
});
