/**
 * The node agent when things break, on a two-node cluster in network namespaces (real Consul with an
 * agent per node, real Ceph, tgtd, sanpathd): kill -9 and restart of sanpathd, a cut management
 * link (self-fencing), a graceful stop. A sampler reads `ip -j addr` in both node namespaces every
 * few milliseconds throughout: no path IP may ever be up on both nodes.
 *
 * Session settings: TTL 10 s (Consul's minimum), lock-delay 6 s, fence deadline 4 s. Data path:
 * degraded after 5 s of trouble, healthy again after 2 s.
 */
import { sessionsOf } from "../support/consul-stores.js";
import { status as Status } from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/until.js";
import { HealthClient } from "../../src/cli/health-client.js";
import { parseNodeRecord } from "../../src/node/node-record.js";
import {
  grpcFailure,
  startNsCluster,
  type ClusterNode,
  type IpSampler,
  type NsCluster,
  type PresenceChange,
  type TestDisk,
} from "../harness/cluster-ns.js";
import { rejection } from "../support/thrown.js";

const KILL_IP = "198.51.100.70";
const CUT_IP = "203.0.113.71";
const STOP_IP = "198.51.100.72";

/** Calls `attempt` every `everyMs` until it resolves; returns how many attempts failed first. */
async function retryUntil(
  attempt: () => Promise<unknown>,
  timeoutMs: number,
  everyMs = 250,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let failures = 0;
  for (;;) {
    try {
      await attempt();
      return failures;
    } catch (error) {
      failures += 1;
      if (Date.now() > deadline) throw error;
    }
    await sleep(everyMs);
  }
}

function lastChange(changes: readonly PresenceChange[], ip: string, node: string, present: boolean): number {
  const found = changes.filter(
    (change) => change.ip === ip && change.node === node && change.present === present,
  );
  const last = found.at(-1);
  if (last === undefined)
    throw new Error(`the sampler never saw ${ip} ${present ? "appear" : "vanish"} on ${node}`);
  return last.at;
}

describe("node agent failures: no IP is ever up on two nodes", () => {
  let cluster: NsCluster | undefined;
  let a: ClusterNode;
  let b: ClusterNode;
  let disk: TestDisk;
  let sampler: IpSampler | undefined;

  const running = (): NsCluster => {
    if (cluster === undefined) throw new Error("the cluster did not start");
    return cluster;
  };

  beforeAll(async () => {
    // Degrade after 5 s (the default is 3 s): a tgtd restarted after 1 s is repaired in place even
    // on a loaded machine; recover after 2 s healthy.
    cluster = await startNsCluster({
      name: "node-failover",
      dataPath: { degradeAfterMs: 5000, recoverAfterMs: 2000 },
    });
    a = cluster.node("a");
    b = cluster.node("b");
    await Promise.all(cluster.nodes.map((node) => node.waitForSession()));
    // NodeService is driven by hand here: keep the coordinator from placing paths meanwhile.
    for (const node of cluster.nodes) await cluster.cordon(node.name);
    disk = await cluster.createDisk({
      id: "00001",
      paths: [{ ip: KILL_IP }, { ip: CUT_IP }, { ip: STOP_IP }],
    });
    sampler = cluster.startIpSampler(5);
  });

  afterAll(async () => {
    try {
      const report = await sampler?.stop();
      // Whatever happened in the tests, the whole run must not have had an overlap.
      expect(report?.overlaps ?? []).toEqual([]);
    } finally {
      await cluster?.destroy();
    }
  });

  it("kill -9 of A's sanpathd: the restarted A removes the IP before its new session; B takes the path; never both", async () => {
    await a.acquire(disk.id, 1);
    expect((await running().readCapacity(KILL_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
    const oldSession = (await a.status()).session?.id ?? "";

    await a.kill();
    // The crash guard takes the IP down at once; the dead daemon's session still holds the lock (its
    // agent is alive, so only the TTL would end it): B is refused, naming A.
    const guardDeadline = Date.now() + 5_000;
    while ((await a.addresses()).includes(KILL_IP) && Date.now() < guardDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await a.addresses()).not.toContain(KILL_IP);
    const refused = grpcFailure(await rejection(b.acquire(disk.id, 1)));
    expect(refused).toMatchObject({ code: Status.FAILED_PRECONDITION, reason: "PATH_HELD_ELSEWHERE" });
    expect(refused.details).toContain("node a");

    // B keeps trying while A comes back (as systemd would restart it).
    const bAcquires = retryUntil(() => b.acquire(disk.id, 1, { timeoutMs: 10_000 }), 40_000);
    await a.start();
    const status = await a.waitForSession({ notSession: oldSession });
    await bAcquires;

    expect(status.paths).toEqual([]);
    expect(await a.addresses()).not.toContain(KILL_IP);
    expect(await b.addresses()).toContain(KILL_IP);
    expect(await sessionsOf(running().consul).info(oldSession)).toBeUndefined();
    expect((await running().consul.get(running().keys.diskPath(disk.id, 1)))?.value).toBe("b");
    expect(a.log()).toContain("removed what a previous daemon left configured (before creating a session)");
    expect(a.log()).toContain("previous session retired");
    expect((await running().readCapacity(KILL_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
    // The restarted node kept the operator's cordon in its record.
    const record = await running().consul.get(running().keys.node("a"));
    expect(parseNodeRecord(record?.value ?? "").cordoned).toBe(true);
  });

  it("cutting A's management link: A fences and removes its IP before B can acquire; A recovers with a new session", async () => {
    await a.acquire(disk.id, 2);
    expect((await running().readCapacity(CUT_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
    const before = await a.status();
    const oldSession = before.session?.id ?? "";

    await a.cutMgmt();
    const cutAt = Date.now();
    const failedAttempts = await retryUntil(() => b.acquire(disk.id, 2, { timeoutMs: 10_000 }), 40_000);
    // A's session holds the lock until Consul invalidates it, then the lock-delay keeps it.
    expect(failedAttempts).toBeGreaterThan(0);

    const fenced = await a.status();
    expect(fenced.session).toMatchObject({ fenced: true, healthy: false });
    expect(fenced.paths).toEqual([]);
    expect(fenced.counters?.fences).toBe((before.counters?.fences ?? 0) + 1);
    expect(await a.addresses()).not.toContain(CUT_IP);
    const refused = grpcFailure(await rejection(a.acquire(disk.id, 3)));
    expect(refused).toMatchObject({ code: Status.UNAVAILABLE, reason: "NODE_FENCED" });
    expect(a.log()).toContain("fencing: tearing down every path served here");

    const report = await sampler?.stop();
    sampler = running().startIpSampler(5);
    expect(report?.overlaps).toEqual([]);
    // The sampler really watched the whole move (hundreds of rounds, one every few milliseconds).
    expect(report?.samples).toBeGreaterThan(100);
    const changes = report?.changes ?? [];
    const goneFromA = lastChange(changes, CUT_IP, "a", false);
    const upOnB = lastChange(changes, CUT_IP, "b", true);
    expect(goneFromA).toBeLessThan(upOnB);
    console.info(
      `link cut: A removed ${CUT_IP} after ${goneFromA - cutAt} ms, B had it after ${upOnB - cutAt} ms ` +
        `(fence deadline 4000 ms, lock-delay 6000 ms; ${report?.samples ?? 0} samples)`,
    );

    await a.healMgmt();
    const recovered = await a.waitForSession({ notSession: oldSession, timeoutMs: 40_000 });
    expect(recovered.paths).toEqual([]);
    expect(recovered.session?.fenced).toBe(false);
    // The first reconcile with the new session drops what the fence left (the target): no drift.
    const deadline = Date.now() + 20_000;
    while ((await a.status()).drift.length > 0 && Date.now() < deadline) await sleep(200);
    expect((await a.status()).drift).toEqual([]);
    expect(await a.tgtd.tgtadm(["--op", "show", "--mode", "target"])).toBe("");
    expect((await running().readCapacity(CUT_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
    // Serving again: A takes a path.
    await a.acquire(disk.id, 3);
    expect((await running().readCapacity(STOP_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
  });

  it("kill -9 of A's tgtd, restarted 1 s later (systemd's Restart=always): A re-creates its targets in place, keeps the lock, and the path reads again", async () => {
    expect(await a.addresses()).toContain(STOP_IP);
    const before = await running().consul.get(running().keys.diskPath(disk.id, 3));
    await a.tgtd.killAndRestart(1000);
    await until(
      "the path readable again from the client",
      async () =>
        (await running().readCapacity(STOP_IP, disk.iqn)).bytes === disk.sizeBytes ? true : undefined,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const after = await running().consul.get(running().keys.diskPath(disk.id, 3));
    expect(after?.session).toBe(before?.session);
    expect(after?.modifyIndex).toBe(before?.modifyIndex);
    await until("no drift on A", async () => ((await a.status()).drift.length === 0 ? true : undefined), {
      timeoutMs: 10_000,
    });
    const status = await a.status();
    expect(status.dataPath?.degraded).toBe(false);
    expect(status.dataPath?.repairsAsked).toBeGreaterThanOrEqual(1);
  });

  it("an IP deleted by hand on A is put back by A's data-path probe, with no change in Consul", async () => {
    expect(await a.addresses()).toContain(STOP_IP);
    const before = await running().consul.get(running().keys.diskPath(disk.id, 3));
    await running().topology.exec("a", "ip", ["addr", "del", `${STOP_IP}/24`, "dev", "eth1"]);
    await until(
      "the IP back on A",
      async () => ((await a.addresses()).includes(STOP_IP) ? true : undefined),
      {
        timeoutMs: 10_000,
        intervalMs: 50,
      },
    );
    const after = await running().consul.get(running().keys.diskPath(disk.id, 3));
    expect(after?.modifyIndex).toBe(before?.modifyIndex);
    expect(after?.session).toBe(before?.session);
    expect((await running().readCapacity(STOP_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
    expect((await a.status()).drift).toEqual([]);
  });

  it("a graceful stop of A tears its paths down and releases the locks at once (no lock-delay)", async () => {
    expect(await a.addresses()).toContain(STOP_IP);
    await a.stop();
    expect(await a.addresses()).not.toContain(STOP_IP);
    expect((await running().consul.get(running().keys.diskPath(disk.id, 3)))?.session).toBeUndefined();
    await b.acquire(disk.id, 3);
    expect((await running().readCapacity(STOP_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
    await a.start();
    expect((await a.waitForSession()).paths).toEqual([]);
  });

  it("A's tgtd stopped for good: A degrades, hands the path off (B takes it at once), and serves again once tgtd is back", async () => {
    await b.clean({ diskId: disk.id, index: 3 });
    await a.acquire(disk.id, 3);
    expect(await a.addresses()).toContain(STOP_IP);
    const health = new HealthClient(`unix://${a.socketPath}`);
    const nodeService = (): Promise<string> =>
      health.check("sanpath.v1.NodeService", new Date(Date.now() + 2000)).catch(() => "no answer");
    try {
      expect(await nodeService()).toBe("SERVING");
      await a.tgtd.kill();
      await until(
        "A's lock on the path released",
        async () =>
          (await running().consul.get(running().keys.diskPath(disk.id, 3)))?.session === undefined
            ? true
            : undefined,
        { timeoutMs: 20_000, intervalMs: 50 },
      );
      expect(await a.addresses()).not.toContain(STOP_IP);
      const status = await a.status();
      expect(status.dataPath?.degraded).toBe(true);
      expect(status.dataPath?.degradedReason).toContain("does not answer");
      expect(status.session?.healthy).toBe(true);
      expect(await nodeService()).toBe("NOT_SERVING");
      const entry = await running().consul.get(running().keys.node("a"));
      expect(parseNodeRecord(entry?.value ?? "").degraded?.reason).toContain("does not answer");
      // Released explicitly by a live session: no lock-delay.
      await b.acquire(disk.id, 3);
      expect((await running().readCapacity(STOP_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
      const refused = grpcFailure(await rejection(a.acquire(disk.id, 1)));
      expect(refused).toMatchObject({ code: Status.FAILED_PRECONDITION, reason: "NODE_DEGRADED" });

      await a.tgtd.start();
      await until(
        "A no longer degraded",
        async () => ((await a.status()).dataPath?.degraded ? undefined : true),
        {
          timeoutMs: 20_000,
          intervalMs: 100,
        },
      );
      await until(
        "NodeService SERVING again",
        async () => ((await nodeService()) === "SERVING" ? true : undefined),
        {
          timeoutMs: 5000,
        },
      );
      const back = await running().consul.get(running().keys.node("a"));
      expect(parseNodeRecord(back?.value ?? "").degraded).toBeUndefined();
    } finally {
      health.close();
    }
  });
});

/**
 * Restarts (SIGUSR2) on a cluster of their own, with the fence deadline sanpathd ships (9 s here,
 * below a 12 s lock-delay): the successor must start and confirm the session within it, which a
 * busy two-core machine does not always manage in the 4 s the tests above use.
 */
describe("restarts of sanpathd: the paths stay up", () => {
  let cluster: NsCluster | undefined;
  let a: ClusterNode;
  let disk: TestDisk;
  let sampler: IpSampler | undefined;

  const running = (): NsCluster => {
    if (cluster === undefined) throw new Error("the cluster did not start");
    return cluster;
  };
  const sampling = (): IpSampler => {
    if (sampler === undefined) throw new Error("the sampler did not start");
    return sampler;
  };

  beforeAll(async () => {
    cluster = await startNsCluster({
      name: "node-restart",
      session: { ttlSeconds: 10, lockDelaySeconds: 12, fenceDeadlineMs: 9000 },
    });
    a = cluster.node("a");
    await Promise.all(cluster.nodes.map((node) => node.waitForSession()));
    for (const node of cluster.nodes) await cluster.cordon(node.name);
    disk = await cluster.createDisk({ id: "00001", paths: [{ ip: STOP_IP }] });
    await a.acquire(disk.id, 1);
    sampler = cluster.startIpSampler(5);
  });

  afterAll(async () => {
    try {
      const report = await sampler?.stop();
      expect(report?.overlaps ?? []).toEqual([]);
    } finally {
      await cluster?.destroy();
    }
  });

  it("a restart of A's sanpathd (SIGUSR2) keeps the path served: same session and lock, the IP never leaves A, every read succeeds", async () => {
    expect(await a.addresses()).toContain(STOP_IP);
    const before = await running().consul.get(running().keys.diskPath(disk.id, 1));
    const session = (await a.status()).session?.id;
    const changesBefore = sampling().changes().length;
    const reads: { ok: boolean; at: number }[] = [];
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const result = await running().readCapacity(STOP_IP, disk.iqn);
        reads.push({ ok: result.bytes === disk.sizeBytes, at: Date.now() });
      }
    })();
    try {
      await sleep(500);
      await a.restart();
      const status = await a.waitForSession();
      expect(status.session?.id).toBe(session);
      await sleep(1000);
    } finally {
      reading = false;
      await reader;
    }
    expect(reads.filter((read) => !read.ok)).toEqual([]);
    expect(reads.length).toBeGreaterThanOrEqual(3);
    const after = await running().consul.get(running().keys.diskPath(disk.id, 1));
    expect([after?.session, after?.modifyIndex]).toEqual([before?.session, before?.modifyIndex]);
    const changes = sampling().changes().slice(changesBefore);
    expect(changes.filter((change) => change.ip === STOP_IP)).toEqual([]);
    expect(a.log()).toContain("took over the session the previous daemon handed over");
  });

  it("a restart whose successor never comes: the old daemon's crash guard takes the path down at its fence time", async () => {
    expect(await a.addresses()).toContain(STOP_IP);
    const stoppedAt = Date.now();
    await a.restart(false);
    expect(await a.addresses()).toContain(STOP_IP);
    await until(
      "the IP gone from A",
      async () => ((await a.addresses()).includes(STOP_IP) ? undefined : true),
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    // Not before the session's fence deadline (9 s) less what had passed since its last renew.
    expect(Date.now() - stoppedAt).toBeGreaterThan(1000);
    await a.start();
    const status = await a.waitForSession();
    expect(status.paths).toEqual([]);
    await until(
      "A's old lock released",
      async () =>
        (await running().consul.get(running().keys.diskPath(disk.id, 1)))?.session === undefined
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await a.acquire(disk.id, 1);
    expect((await running().readCapacity(STOP_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
  });
});
