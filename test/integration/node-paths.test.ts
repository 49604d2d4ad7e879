/**
 * The node agent on a two-node cluster in network namespaces (real Consul server + one agent per
 * node, real Ceph, a tgtd per node, sanpathd per node): AcquirePath / CleanPath move a path so that a
 * real iSCSI initiator in a client namespace reads the disk from whichever node serves it; ACL and
 * CHAP hold; epochs, idempotence, Status and drift, job records, stopped disks and reconcile.
 */
import { kvOf } from "../support/consul-stores.js";
import { releaseLock } from "../../src/kv/locks.js";
import { status as Status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseJobPathRecord, serializeJobPathRecord } from "../../src/assignment/job-record.js";
import { DriftKind } from "../../src/gen/sanpath/v1/node.js";
import { parseNodeRecord } from "../../src/node/node-record.js";
import {
  CLIENT_IQN,
  grpcFailure,
  startNsCluster,
  type ClusterNode,
  type NsCluster,
  type TestDisk,
} from "../harness/cluster-ns.js";
import { until } from "../support/until.js";
import { rejection } from "../support/thrown.js";

const OTHER_IQN = "iqn.1994-05.org.example:someone-else";
const PATH_IP = "198.51.100.50";
const PATH2_IP = "203.0.113.50";
const SECURE_IP = "198.51.100.60";

describe("node agent: paths served by real nodes, read by a real initiator", () => {
  let cluster: NsCluster | undefined;
  let disk: TestDisk;
  let secure: TestDisk;
  let a: ClusterNode;
  let b: ClusterNode;

  const running = (): NsCluster => {
    if (cluster === undefined) throw new Error("the cluster did not start");
    return cluster;
  };
  const holderOf = async (diskId: string, index: number) =>
    running().consul.get(running().keys.diskPath(diskId, index));

  beforeAll(async () => {
    // The drift test removes an IP and reads the drift before reconcile repairs it: no data-path
    // probe here (node-failover.test.ts has the probe putting an IP back by itself).
    cluster = await startNsCluster({ name: "node-paths", dataPath: { probeIntervalMs: 0 } });
    a = cluster.node("a");
    b = cluster.node("b");
    await Promise.all(cluster.nodes.map((node) => node.waitForSession()));
    // These tests drive NodeService by hand: the coordinator must not place paths meanwhile.
    for (const node of cluster.nodes) await cluster.cordon(node.name);
    disk = await cluster.createDisk({ id: "00001", paths: [{ ip: PATH_IP }, { ip: PATH2_IP }] });
    secure = await cluster.createDisk({
      id: "00002",
      paths: [{ ip: SECURE_IP }],
      acl: [CLIENT_IQN],
      chap: { user: "sanpath-user", secret: "a-chap-secret-1234" },
    });
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  it("AcquirePath on A: the client reads the disk size at the path IP", async () => {
    const acquired = await a.acquire(disk.id, 1);
    expect(acquired.alreadyServed).toBe(false);
    expect(acquired.path).toEqual({
      diskId: disk.id,
      index: 1,
      ip: PATH_IP,
      prefixLength: 24,
      interface: "eth1",
      iqn: disk.iqn,
      lockHeld: true,
      portalEnabled: true,
      ipPresent: true,
    });
    const read = await running().readCapacity(PATH_IP, disk.iqn);
    expect(read.output).toContain(String(disk.sizeBytes));
    expect(read.bytes).toBe(disk.sizeBytes);
    expect(await a.addresses()).toContain(PATH_IP);
    const holder = await holderOf(disk.id, 1);
    expect(holder?.value).toBe("a");
    expect(holder?.session).toBe((await a.status()).session?.id);
  });

  it("repeating AcquirePath is harmless: already served, one address, one target", async () => {
    const again = await a.acquire(disk.id, 1);
    expect(again.alreadyServed).toBe(true);
    expect((await a.addresses()).filter((ip) => ip === PATH_IP)).toHaveLength(1);
    expect(await a.tgtd.tgtadm(["--op", "show", "--mode", "portal"])).toBe(`Portal: ${PATH_IP}:3260,1\n`);
    expect((await running().readCapacity(PATH_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
  });

  it("AcquirePath on B while A holds the path: FAILED_PRECONDITION naming A; B configures nothing", async () => {
    const failure = grpcFailure(await rejection(b.acquire(disk.id, 1)));
    expect(failure).toMatchObject({ code: Status.FAILED_PRECONDITION, reason: "PATH_HELD_ELSEWHERE" });
    expect(failure.details).toContain("node a");
    expect(await b.addresses()).not.toContain(PATH_IP);
    expect((await b.status()).paths).toEqual([]);
  });

  it("Status reports the session, the served path, counters and the drivers", async () => {
    const status = await a.status();
    expect(status).toMatchObject({
      node: "a",
      address: `${a.mgmtIp}:7410`,
      targetDriver: "tgt",
      imageStore: "rbd",
      drift: [],
      paths: [
        { diskId: disk.id, index: 1, ip: PATH_IP, lockHeld: true, portalEnabled: true, ipPresent: true },
      ],
    });
    expect(status.session).toMatchObject({
      healthy: true,
      fenced: false,
      ttlSeconds: 10,
      lockDelaySeconds: 6,
      fenceDeadlineMs: 4000,
    });
    expect(status.session?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.now() - (status.session?.lastRenewTime?.getTime() ?? 0)).toBeLessThan(4000);
    expect(status.counters?.acquires).toBe(2);
    const record = await running().consul.get(running().keys.node("a"));
    expect(parseNodeRecord(record?.value ?? "")).toMatchObject({
      name: "a",
      address: `${a.mgmtIp}:7410`,
      interfaces: { subnet1: "eth1", subnet2: "eth2" },
      cordoned: true,
      session: status.session?.id,
    });
  });

  it("CleanPath on A: the portal and IP go, the lock is released, the target dropped; reading fails", async () => {
    const cleaned = await a.clean({ diskId: disk.id, index: 1 });
    expect(cleaned).toEqual({ wasServed: true, diskId: disk.id, index: 1, targetDropped: true });
    expect(await a.addresses()).not.toContain(PATH_IP);
    expect((await holderOf(disk.id, 1))?.session).toBeUndefined();
    expect(await a.tgtd.tgtadm(["--op", "show", "--mode", "target"])).toBe("");
    const read = await running().readCapacity(PATH_IP, disk.iqn, { timeoutMs: 3000 });
    expect(read.ok).toBe(false);

    const again = await a.clean({ ip: PATH_IP });
    expect(again).toMatchObject({ wasServed: false });
  });

  it("AcquirePath on B right after the clean (an explicit release has no lock-delay): the client reads again", async () => {
    const acquired = await b.acquire(disk.id, 1);
    expect(acquired.path?.ip).toBe(PATH_IP);
    expect((await running().readCapacity(PATH_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
    expect((await holderOf(disk.id, 1))?.value).toBe("b");
    expect(await a.addresses()).not.toContain(PATH_IP);
  });

  it("two paths of one disk on one node: cleaning one keeps the target for the other", async () => {
    await b.acquire(disk.id, 2);
    expect((await running().readCapacity(PATH2_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
    const cleaned = await b.clean({ ip: PATH2_IP });
    expect(cleaned).toEqual({ wasServed: true, diskId: disk.id, index: 2, targetDropped: false });
    expect((await running().readCapacity(PATH_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
    expect(await b.addresses()).not.toContain(PATH2_IP);
  });

  it("ACL and CHAP are enforced: a wrong initiator name or secret is refused", async () => {
    await a.acquire(secure.id, 1);
    const login = { initiator: CLIENT_IQN, user: "sanpath-user", secret: "a-chap-secret-1234" };
    const good = await running().readCapacity(SECURE_IP, secure.iqn, login);
    expect(good.bytes).toBe(secure.sizeBytes);
    const wrongName = await running().readCapacity(SECURE_IP, secure.iqn, { ...login, initiator: OTHER_IQN });
    expect(wrongName.ok).toBe(false);
    const wrongSecret = await running().readCapacity(SECURE_IP, secure.iqn, {
      ...login,
      secret: "not-the-secret-99",
    });
    expect(wrongSecret.ok).toBe(false);
    const noChap = await running().readCapacity(SECURE_IP, secure.iqn, { initiator: CLIENT_IQN });
    expect(noChap.ok).toBe(false);
    expect(a.log()).not.toContain("a-chap-secret-1234");
  });

  it("a request with an epoch below the highest seen is refused with ABORTED; epoch 0 is not fenced", async () => {
    expect((await a.status(7)).highestEpoch).toBe(7);
    const stale = grpcFailure(await rejection(a.clean({ ip: SECURE_IP }, { epoch: 6 })));
    expect(stale).toMatchObject({ code: Status.ABORTED, reason: "STALE_EPOCH" });
    const staleAcquire = grpcFailure(await rejection(a.acquire(secure.id, 1, { epoch: 3 })));
    expect(staleAcquire).toMatchObject({ code: Status.ABORTED, reason: "STALE_EPOCH" });
    // Refused before anything happened: the path is still served.
    expect((await a.status()).paths.map((path) => path.ip)).toEqual([SECURE_IP]);
    expect((await a.acquire(secure.id, 1, { epoch: 8 })).alreadyServed).toBe(true);
    expect((await a.acquire(secure.id, 1)).alreadyServed).toBe(true);
    const status = await a.status();
    expect(status.highestEpoch).toBe(8);
    expect(status.counters?.staleEpochsRefused).toBe(2);
  });

  it("rejects bad requests with the field and rule", async () => {
    expect(grpcFailure(await rejection(a.acquire("1", 1)))).toMatchObject({
      code: Status.INVALID_ARGUMENT,
      reason: "INVALID_FIELD",
    });
    expect(grpcFailure(await rejection(a.acquire(disk.id, 9))).code).toBe(Status.INVALID_ARGUMENT);
    expect(grpcFailure(await rejection(a.acquire("00099", 1)))).toMatchObject({
      code: Status.NOT_FOUND,
      reason: "DISK_NOT_FOUND",
    });
    expect(grpcFailure(await rejection(a.acquire(disk.id, 3)))).toMatchObject({
      code: Status.NOT_FOUND,
      reason: "PATH_NOT_FOUND",
    });
  });

  it("drift: an IP removed by hand shows as PARTIAL, and reconcile puts it back on the next change", async () => {
    await running().topology.exec("a", "ip", ["addr", "del", `${SECURE_IP}/24`, "dev", "eth1"]);
    const status = await a.status();
    expect(status.drift).toEqual([
      {
        diskId: secure.id,
        index: 1,
        ip: SECURE_IP,
        kind: DriftKind.DRIFT_KIND_PARTIAL,
        detail: "IP missing",
      },
    ]);
    expect(status.paths[0]).toMatchObject({
      ip: SECURE_IP,
      ipPresent: false,
      portalEnabled: true,
      lockHeld: true,
    });
    // Any change under <root>/Disks/ triggers a reconcile pass.
    await running().consul.put(running().keys.disk(disk.id), "disk", { flags: 0 });
    await until(
      "the IP back on A",
      async () => ((await a.addresses()).includes(SECURE_IP) ? true : undefined),
      { intervalMs: 100 },
    );
    expect((await a.status()).drift).toEqual([]);
    const login = { initiator: CLIENT_IQN, user: "sanpath-user", secret: "a-chap-secret-1234" };
    expect((await running().readCapacity(SECURE_IP, secure.iqn, login)).bytes).toBe(secure.sizeBytes);
  });

  it("reconcile: a path whose lock was released behind the node's back is removed locally", async () => {
    const sessionOfA = (await a.status()).session?.id ?? "";
    expect(await releaseLock(kvOf(running().consul), running().keys.diskPath(secure.id, 1), sessionOfA)).toBe(
      true,
    );
    // The path leaves Status when its tear-down starts; the IP goes at the end of it.
    await until(
      "A to drop the path",
      async () =>
        (await a.status()).paths.length === 0 && !(await a.addresses()).includes(SECURE_IP)
          ? true
          : undefined,
      { intervalMs: 100 },
    );
    expect(await a.addresses()).not.toContain(SECURE_IP);
    expect(a.log()).toContain("configured here without the lock");
  });

  it("a stopped disk: its paths are given up and AcquirePath is refused until it starts again", async () => {
    expect((await holderOf(disk.id, 1))?.value).toBe("b");
    await running().setDiskStopped(disk.id, true);
    await until(
      "B to give the path up",
      async () => ((await holderOf(disk.id, 1))?.session === undefined ? true : undefined),
      { intervalMs: 100 },
    );
    expect(await b.addresses()).not.toContain(PATH_IP);
    expect((await running().readCapacity(PATH_IP, disk.iqn, { timeoutMs: 3000 })).ok).toBe(false);
    expect(grpcFailure(await rejection(a.acquire(disk.id, 1))).code).toBe(Status.FAILED_PRECONDITION);
    await running().setDiskStopped(disk.id, false);
    await a.acquire(disk.id, 1);
    expect((await running().readCapacity(PATH_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
  });

  it("a reassignment record: CleanPath marks it moving on the source, AcquirePath succeeded on the target", async () => {
    const key = running().keys.assignmentPath(PATH_IP);
    const record = {
      jobId: "job-1",
      diskId: disk.id,
      diskName: disk.disk.name,
      index: 1,
      ip: PATH_IP,
      sourceNode: "a",
      targetNode: "b",
      status: "pending" as const,
      updatedAt: new Date(),
    };
    await running().consul.put(key, serializeJobPathRecord(record));
    const readRecord = async () => parseJobPathRecord((await running().consul.get(key))?.value ?? "");

    await a.clean({ ip: PATH_IP }, { jobId: "job-1" });
    expect((await readRecord()).status).toBe("moving");
    // A different job's acquire leaves the record alone.
    await b.acquire(disk.id, 1, { jobId: "job-2" });
    expect((await readRecord()).status).toBe("moving");
    await b.acquire(disk.id, 1, { jobId: "job-1" });
    expect(await readRecord()).toMatchObject({ status: "succeeded", targetNode: "b" });
    expect((await running().readCapacity(PATH_IP, disk.iqn)).bytes).toBe(disk.sizeBytes);
    await running().consul.delete(key);
  });
});
