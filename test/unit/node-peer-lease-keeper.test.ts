/**
 * Peer leases in node agents (peer-lease-keeper.ts, node-session.ts with a lease): nodes renew with
 * each other and serve while a majority grants; a node cut off from its peers fences on its own,
 * while a Consul that answers nothing fences nobody; the others prove the cut node's lease over.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LeaseGrant, LeaseRenewal, NodeEndpoint } from "../../src/assignment/node-rpc.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { createLogger } from "../../src/log/logger.js";
import { PeerLeaseKeeper, type LeaseMembers, type LeaseTiming } from "../../src/node/peer-lease-keeper.js";
import { MAX_LEASE_HOLD_MS } from "../../src/node/peer-lease-port.js";
import { provenSilenceMs } from "../../src/node/peer-lease.js";
import { settle } from "../../src/testing/manual-clock.js";
import { ProcessCluster } from "../support/process-cluster.js";
import { rejectionAs } from "../support/thrown.js";
import { until } from "../support/until.js";
import { TEST_LEASE_TIMING } from "../support/lease-timing.js";

const TIMING = TEST_LEASE_TIMING;

describe("peer leases between node agents", () => {
  let cluster: ProcessCluster;

  beforeEach(async () => {
    cluster = await ProcessCluster.start("PeerLease");
    for (const name of ["a", "b", "c"]) await cluster.addNode(name, { lease: TIMING });
  });
  afterEach(async () => {
    await cluster.close();
  });

  const status = (name: string) => cluster.node(name).agent.status(0, AbortSignal.timeout(2000));

  it("every node holds its lease from its peers' grants and answers their renews with its silences", async () => {
    await until("every lease held", async () => {
      for (const name of ["a", "b", "c"]) if ((await status(name)).lease?.holds !== true) return undefined;
      return true;
    });
    const lease = (await status("a")).lease;
    expect(lease?.clusterSize).toBe(3);
    expect(lease?.peers.map((peer) => peer.node).sort()).toEqual(["b", "c"]);
    expect(
      lease?.peers.every((peer) => peer.grantedAgoMs !== undefined && peer.lastError === undefined),
    ).toBe(true);
    const grant = await cluster.node("b").agent.renewLease({ node: "a" });
    expect(grant).toMatchObject({ node: "b", granted: true });
    expect(grant.silences.get("a")).toBe(0);
    expect(grant.silences.get("c")).toBeLessThan(TIMING.leaseMs);
  });

  it("in process as over gRPC, a renew naming no node or holding over 60 s is refused (hold_ms, the rule)", async () => {
    const b = cluster.node("b").agent;
    const renew = (renewal: LeaseRenewal) => rejectionAs(SanpathError, (async () => b.renewLease(renewal))());
    const tooLong = await renew({ node: "a", holdMs: MAX_LEASE_HOLD_MS + 1 });
    expect(tooLong).toMatchObject({ kind: "invalid_argument", field: "hold_ms" });
    expect(tooLong.message).toBe("hold_ms: must be at most 60000");
    expect((await renew({ node: "" })).field).toBe("node");
    expect((await b.renewLease({ node: "a", holdMs: MAX_LEASE_HOLD_MS })).granted).toBe(true);
  });

  it("a node cut off from its peers fences by itself, and the others prove its lease over", async () => {
    const disk = await cluster.addDisk({ pathCount: 1 });
    const a = cluster.node("a");
    await a.agent.acquirePath({ epoch: 0, diskId: disk, index: 1, jobId: "" }, AbortSignal.timeout(5000));
    const ip = a.journal.served()[0]?.ip;
    expect(ip).toBeDefined();
    expect(await a.network.hasAddress(ip ?? "")).toBe(true);
    const b = cluster.node("b").lease;
    if (b === undefined) throw new Error("no lease keeper on b");
    const cutAt = b.clock();
    expect(b.expiryProven("a", cutAt)).toBe(false);

    cluster.cutLeases("a");
    await until(
      "a fenced",
      async () => ((await status("a")).session.fencesByCause["lease-lost"] === 1 ? true : undefined),
      5000,
    );
    expect(await a.network.hasAddress(ip ?? "")).toBe(false);
    // Without its lease it takes nothing, though Consul answers.
    expect((await status("a")).session.healthy).toBe(false);
    await until("b proves a's lease over", () => (b.expiryProven("a", cutAt) ? true : undefined), 5000);
    expect(b.clock() - cutAt).toBeGreaterThanOrEqual(provenSilenceMs(TIMING) - TIMING.leaseMs);
    // b and c still hold theirs: each has the other.
    expect((await status("b")).lease?.holds).toBe(true);
    expect((await status("c")).lease?.holds).toBe(true);

    cluster.healLeases("a");
    await until("a serves again", async () => ((await status("a")).session.healthy ? true : undefined), 5000);
    // A proof is never made from silences asked for before `notBefore`.
    expect(b.expiryProven("a", b.clock())).toBe(false);
  });

  it("Consul answering nothing for longer than the fence deadline fences nobody", async () => {
    const disk = await cluster.addDisk({ pathCount: 1 });
    const a = cluster.node("a");
    await a.agent.acquirePath({ epoch: 0, diskId: disk, index: 1, jobId: "" }, AbortSignal.timeout(5000));
    const ip = a.journal.served()[0]?.ip ?? "";
    cluster.kvFaults.setUnreachable(true);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const during = await status("a");
    cluster.kvFaults.setUnreachable(false);
    expect(during.session.fenced).toBe(false);
    expect(during.counters.fences).toBe(0);
    expect(during.lease?.holds).toBe(true);
    expect(await a.network.hasAddress(ip)).toBe(true);
  });
});

describe("a restart with peer leases", () => {
  it("holds the lease for the successor: the paths stay served, nothing is swept or fenced", async () => {
    const cluster = await ProcessCluster.start("PeerLeaseRestart");
    try {
      const session = { ttlSeconds: 10, lockDelaySeconds: 0, fenceDeadlineMs: 3000 };
      for (const name of ["a", "b", "c"]) await cluster.addNode(name, { lease: TIMING, session });
      const disk = await cluster.addDisk({ pathCount: 1 });
      const a = cluster.node("a");
      await a.agent.acquirePath({ epoch: 0, diskId: disk, index: 1, jobId: "" }, AbortSignal.timeout(5000));
      const ip = a.journal.served()[0]?.ip ?? "";
      const sessionBefore = (await a.agent.status(0, AbortSignal.timeout(1000))).session.id;
      // The successor starts after far longer than a lease (400 ms): only the hold keeps the path.
      const handedOver = await cluster.restartNode("a", { lease: TIMING, session, startDelayMs: 1200 });
      expect(handedOver).toBe(true);
      const after = await cluster.node("a").agent.status(0, AbortSignal.timeout(1000));
      expect(after.session.id).toBe(sessionBefore);
      expect(after.paths.map((path) => path.ip)).toEqual([ip]);
      expect(await cluster.node("a").network.hasAddress(ip)).toBe(true);
      expect(after.session.fences).toBe(0);
      // Meanwhile b proved nothing about a: its silence counts from the end of the hold.
      const b = cluster.node("b").lease;
      expect(b?.expiryProven("a", 0)).toBe(false);
    } finally {
      await cluster.close();
    }
  });
});

describe("a peer newly in the members", () => {
  it("is renewed with at the keeper's next read of them, not a heartbeat (10 s) later", async () => {
    const endpoint = (name: string): NodeEndpoint => ({ name, address: `${name}:1` });
    let members: LeaseMembers = { peers: [endpoint("b")], size: 2 };
    const renewed: string[] = [];
    const keeper = new PeerLeaseKeeper({
      self: "a",
      timing: { ...TIMING, heartbeatMs: 10_000, leaseMs: 40_000 },
      members: () => members,
      logger: createLogger({ level: "silent" }),
      rpc: {
        renewLease: (peer): Promise<LeaseGrant> => {
          renewed.push(peer.name);
          return Promise.resolve({ node: peer.name, granted: true, silences: new Map() });
        },
      },
    });
    try {
      // Read before start: nothing is renewed until start(), which renews with every peer.
      members = { peers: [endpoint("b"), endpoint("c")], size: 3 };
      keeper.status();
      await settle();
      expect(renewed).toEqual([]);
      keeper.start();
      await settle();
      expect(renewed.sort()).toEqual(["b", "c"]);

      // d joins; the lease worker's next read is its fenceAt() once the members came.
      members = { peers: [...members.peers, endpoint("d")], size: 4 };
      keeper.fenceAt();
      await settle();
      expect(renewed.slice(2)).toEqual(["d"]);

      // e joins and renews here first (a node starting in the same process): e is renewed with at once.
      members = { peers: [...members.peers, endpoint("e")], size: 5 };
      keeper.answer("e");
      await settle();
      expect(renewed.slice(3)).toEqual(["e"]);
      expect(keeper.status().peers.every((peer) => peer.grantedAgoMs !== undefined)).toBe(true);

      // Nobody new: a read renews nothing until the heartbeat.
      keeper.fenceAt();
      await settle();
      expect(renewed).toHaveLength(4);
    } finally {
      keeper.stop();
    }
  });
});

describe("a peer that goes silent", () => {
  it("is proven over by a renew round timed for it, not at the next heartbeat (1 s later)", async () => {
    const timing: LeaseTiming = { ...TIMING, heartbeatMs: 1000, leaseMs: 400 };
    const names = ["a", "b", "c"];
    const dead = new Set<string>();
    const keepers = new Map<string, PeerLeaseKeeper>();
    const endpoint = (name: string): NodeEndpoint => ({ name, address: `${name}:1` });
    for (const self of names) {
      keepers.set(
        self,
        new PeerLeaseKeeper({
          self,
          timing,
          members: () => ({ peers: names.filter((n) => n !== self).map(endpoint), size: 3 }),
          logger: createLogger({ level: "silent" }),
          rpc: {
            renewLease: (peer, renewal): Promise<LeaseGrant> => {
              const keeper = keepers.get(peer.name);
              if (keeper === undefined || dead.has(peer.name) || dead.has(self))
                return Promise.reject(new SanpathError("unavailable", `${peer.name} is down (test)`));
              return Promise.resolve(keeper.answer(renewal.node, renewal.holdMs ?? 0));
            },
          },
        }),
      );
    }
    const keeper = (name: string): PeerLeaseKeeper => {
      const found = keepers.get(name);
      if (found === undefined) throw new Error(`no keeper ${name}`);
      return found;
    };
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      // a and b renew at 0, 1000, 2000 ms; c at 600, 1600 ms, then dies at 1700 ms.
      const start = performance.now();
      keeper("a").start();
      keeper("b").start();
      await sleep(600);
      keeper("c").start();
      await sleep(1100);
      dead.add("c");
      keeper("c").stop();
      // c's silence reaches the proof's length ~470 ms after its last renew (1600 ms): a's tick at
      // 2000 ms times a round for ~2070 ms, and b's answer to it completes the proof. Without it,
      // b's next report comes with a's 3000 ms heartbeat.
      await until("c's lease proven over by a", () => (keeper("a").expiryProven("c", 0) ? true : undefined), {
        intervalMs: 5,
      });
      const provenAfterMs = performance.now() - start;
      expect(provenAfterMs).toBeGreaterThan(1600 + provenSilenceMs(timing));
      expect(provenAfterMs).toBeLessThan(2700);
    } finally {
      for (const each of keepers.values()) each.stop();
    }
  });
});
