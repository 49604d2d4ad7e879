/**
 * PlacementLoop with peer leases (placement-loop.ts PlacementLeases; node agents with leases on the
 * fakes): a node cut off from its peers keeps its Consul session, yet loses its paths once its lease
 * is proven over (its locks released unless changed since read), never before it fenced; a path
 * whose last holder is alive but lost its Consul session is let go there first (CleanPath), then
 * placed; the locks of a node that can no longer release them itself (killed: no renews, no Consul)
 * are freed and its paths placed in one pass. An address sampler at every placement attempt sees
 * no IP on two nodes.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ActiveMoves } from "../../src/assignment/active-moves.js";
import type { ClusterStateReader } from "../../src/assignment/assignment-stats.js";
import { NodeCallSlots } from "../../src/assignment/node-call-slots.js";
import { PlacementLoop, type PlacementAttempt } from "../../src/coordinator/placement-loop.js";
import { placementLeasesOf } from "../../src/coordinator/placement-leases.js";
import { parseNodeRecord, serializeNodeRecord } from "../../src/node/node-record.js";
import { ipsOn, jobServices, leaderTerm, servedTwice, type TestTerm } from "../support/coordinator-term.js";
import { ProcessCluster } from "../support/process-cluster.js";
import { until } from "../support/until.js";
import { TEST_LEASE_SESSION, TEST_LEASE_TIMING } from "../support/lease-timing.js";

const TIMING = TEST_LEASE_TIMING;
const SESSION = TEST_LEASE_SESSION;

describe("PlacementLoop with peer leases", () => {
  let cluster: ProcessCluster;
  let reader: ClusterStateReader;
  let term: TestTerm;
  let attempts: PlacementAttempt[];
  let doubles: string[];
  let running: Promise<void> | undefined;

  beforeEach(async () => {
    cluster = await ProcessCluster.start("PlacementLeases");
    for (const name of ["a", "b", "c"]) await cluster.addNode(name, { lease: TIMING, session: SESSION });
    ({ reader } = jobServices(cluster));
    term = await leaderTerm(cluster);
    attempts = [];
    doubles = [];
    running = startLoop(term.signal, 100);
  });

  /** a's placement loop (a coordinates), passing every `resyncMs` when nothing pokes it. */
  function startLoop(signal: AbortSignal, resyncMs: number, rpcTimeoutMs = 2000): Promise<void> {
    const keeper = cluster.node("a").lease;
    if (keeper === undefined) throw new Error("no lease keeper on a");
    return new PlacementLoop({
      reader,
      store: jobServices(cluster).store,
      nodes: cluster.rpc,
      epoch: term.epoch,
      signal,
      logger: cluster.logger,
      moves: new ActiveMoves(),
      slots: new NodeCallSlots(),
      lockDelayMs: 0,
      rpcTimeoutMs,
      resyncMs,
      minIntervalMs: 20,
      nodeName: "a",
      lease: placementLeasesOf(keeper, cluster.kv, cluster.keys),
      onAttempt: (attempt) => {
        attempts.push(attempt);
        doubles.push(...servedTwice(cluster));
      },
    }).run();
  }
  afterEach(async () => {
    term.end();
    await running;
    await cluster.close();
  });

  async function servedBy(): Promise<Map<string, string>> {
    const state = await reader.read();
    return new Map(state.paths.map((path) => [path.ip, path.node]));
  }

  /** The node serving `ip` once it is neither unplaced nor on b. */
  async function placedOffB(ip: string): Promise<string> {
    return await until(
      "b's path placed elsewhere",
      async () => {
        const holder = (await servedBy()).get(ip);
        return holder !== undefined && holder !== "" && holder !== "b" ? holder : undefined;
      },
      5000,
    );
  }

  /** b's path `ip` placed on a or c at its first try (no target blamed), never on two nodes. */
  async function expectPlacedAtFirstTry(ip: string, attemptsBefore: number): Promise<void> {
    expect(["a", "c"]).toContain(await placedOffB(ip));
    const forIp = attempts.slice(attemptsBefore).filter((attempt) => attempt.ip === ip);
    expect(forIp.filter((attempt) => !attempt.placed)).toEqual([]);
    expect(forIp.filter((attempt) => attempt.placed)).toHaveLength(1);
    expect(doubles).toEqual([]);
  }

  async function pathOf(node: string): Promise<string> {
    return await until(
      `a path on ${node}`,
      async () => [...(await servedBy())].find(([, holder]) => holder === node)?.[0],
      5000,
    );
  }

  it("places the paths of a node cut off from its peers once its lease is proven over, after it fenced", async () => {
    await cluster.addDisk({ name: "d", pathCount: 3 });
    const ip = await pathOf("b");
    const b = cluster.node("b");
    expect(ipsOn(b)).toContain(ip);
    const session = (await b.agent.status(0, AbortSignal.timeout(1000))).session.id;

    cluster.cutLeases("b");
    const newHolder = await placedOffB(ip);
    expect(["a", "c"]).toContain(newHolder);
    expect(ipsOn(b)).not.toContain(ip);
    const placed = attempts.findLast((attempt) => attempt.ip === ip && attempt.placed);
    expect(placed?.node).toBe(newHolder);
    expect(doubles).toEqual([]);
    const status = await b.agent.status(0, AbortSignal.timeout(1000));
    expect(status.session.fencesByCause["lease-lost"]).toBeGreaterThanOrEqual(1);
    // The old session was not the coordinator's to end: its locks were released one by one.
    expect(session).toBeDefined();
  });

  it("frees the locks of a node whose lease is proven over and places its paths in the same pass, without reading the cluster again", async () => {
    await cluster.addDisk({ name: "d", pathCount: 3 });
    const ip = await pathOf("b");
    // What each read of the cluster said of the path, and what the last read said when it was placed.
    const heldPerRead: string[] = [];
    const read = reader.read.bind(reader);
    reader.read = async (options) => {
      const state = await read(options);
      heldPerRead.push(state.paths.find((path) => path.ip === ip)?.node ?? "?");
      return state;
    };
    const lastReadAtAcquire: string[] = [];
    const acquire = cluster.rpc.acquirePath.bind(cluster.rpc);
    cluster.rpc.acquirePath = (node, request, signal) => {
      if (heldPerRead.length > 0) lastReadAtAcquire.push(heldPerRead.at(-1) ?? "");
      return acquire(node, request, signal);
    };
    // b as after a kill -9: no renews, and it cannot release its own locks (its session lives on).
    cluster.cutConsul("b");
    cluster.cutLeases("b");
    expect(["a", "c"]).toContain(await placedOffB(ip));
    expect(doubles).toEqual([]);
    expect(ipsOn(cluster.node("b"))).not.toContain(ip);
    // The pass read the path still locked by b, released the lock, and placed it from that read.
    expect(lastReadAtAcquire).toContain("b");
  });

  it("asks a live last holder whose Consul session ended to let its path go before placing it", async () => {
    await cluster.addDisk({ name: "d", pathCount: 3 });
    const ip = await pathOf("b");
    const b = cluster.node("b");
    const session = (await b.agent.status(0, AbortSignal.timeout(1000))).session.id ?? "";
    // Cordoned, so that the path goes to another node and b must let it go first.
    const recordKey = cluster.keys.node("b");
    const record = await cluster.kv.get(recordKey);
    if (record === undefined) throw new Error("no node record for b");
    await cluster.kv.put(
      recordKey,
      serializeNodeRecord({ ...parseNodeRecord(record.value), cordoned: true }),
    );
    const before = attempts.length;
    // Consul drops b's session (as when b is cut off from Consul): its locks are free at once (no
    // lock-delay), while b, renewing rarely, still serves and still holds its peer lease.
    await cluster.store.sessions.destroy(session);
    const placed = await until(
      "b's path placed again",
      () => attempts.slice(before).find((attempt) => attempt.ip === ip && attempt.placed),
      5000,
    );
    expect(["a", "c"]).toContain(placed.node);
    const calls = cluster.rpc.callLog.map((call) => `${call.method} ${call.node}`);
    const clean = calls.lastIndexOf("CleanPath b");
    expect(clean).toBeGreaterThanOrEqual(0);
    expect(calls.indexOf(`AcquirePath ${placed.node}`, clean)).toBeGreaterThan(clean);
    expect(ipsOn(b)).not.toContain(ip);
    // b was asked, not fenced: it still holds its lease and serves its other paths.
    expect((await b.agent.status(0, AbortSignal.timeout(1000))).session.fencesByCause["lease-lost"]).toBe(0);
    expect(doubles).toEqual([]);
  });

  it("a last holder that renewed a moment ago but does not answer its CleanPath: the path waits for the proof, the targets are not blamed", async () => {
    await cluster.addDisk({ name: "d", pathCount: 3 });
    const ip = await pathOf("b");
    const b = cluster.node("b");
    const session = (await b.agent.status(0, AbortSignal.timeout(1000))).session.id ?? "";
    const before = attempts.length;
    const callsBefore = cluster.rpc.callLog.length;
    // As when b is powered off: nothing answers at its address, it renews no more, and Consul ends
    // its session within the lease (its locks free at once), so b looks alive to a's lease for a
    // moment and is asked to let its path go.
    cluster.rpc.unserve(b.address);
    cluster.cutLeases("b");
    await cluster.store.sessions.destroy(session);
    // Placed at its first try: no target was excluded for b's silence (that waited ~10 s before).
    await expectPlacedAtFirstTry(ip, before);
    const calls = cluster.rpc.callLog.slice(callsBefore).map((call) => `${call.method} ${call.node}`);
    expect(calls.filter((call) => call === "CleanPath b").length).toBeLessThanOrEqual(1);
  });

  it("a CleanPath to a last holder that never answers (powered off) ends when its lease is proven over: placed then, not after the call's deadline", async () => {
    // The calls' deadline is a minute here: only the proof can end the wait in time.
    term.end();
    await running;
    const next = new AbortController();
    running = startLoop(next.signal, 100, 60_000);
    try {
      await cluster.addDisk({ name: "d", pathCount: 3 });
      const ip = await pathOf("b");
      const b = cluster.node("b");
      const session = (await b.agent.status(0, AbortSignal.timeout(1000))).session.id ?? "";
      const before = attempts.length;
      const hangs = (_input: unknown, signal: AbortSignal): Promise<never> =>
        new Promise((_resolve, reject) =>
          signal.addEventListener("abort", () => reject(new Error("the call was abandoned"))),
        );
      // Packets to b are dropped: every call hangs; it renews no more; Consul ended its session.
      cluster.rpc.serve(b.address, {
        acquirePath: hangs,
        cleanPath: hangs,
        acquirePaths: hangs,
        cleanPaths: hangs,
        renewLease: hangs,
      });
      cluster.cutLeases("b");
      await cluster.store.sessions.destroy(session);
      await expectPlacedAtFirstTry(ip, before);
    } finally {
      next.abort();
    }
  });

  it("a new coordinator's first passes place a dead holder's paths once its lease is proven over, without waiting for a resync", async () => {
    await cluster.addDisk({ name: "d", pathCount: 3 });
    const ip = await pathOf("b");
    term.end();
    await running;
    const keeper = cluster.node("a").lease;
    if (keeper === undefined) throw new Error("no lease keeper on a");
    const [diskId, index] = [...(await reader.read()).paths]
      .filter((path) => path.ip === ip)
      .map((path) => [path.diskId, path.index] as const)[0] ?? ["", 0];
    const lockedBy = (await cluster.lockOf(diskId, index))?.session;
    // As after a kill -9 of b's sanpathd: its locks stay with its session (nothing releases them).
    const mutations = new Set(["lock.release", "session.destroy", "txn", "kv.put", "kv.delete"]);
    cluster.kvFaults.failNext((operation) => mutations.has(operation), { times: 100_000 });
    const cutAt = keeper.clock();
    cluster.cutLeases("b");
    await until("b's lease proven over", () => keeper.expiryProven("b", cutAt) || undefined, 5000);
    expect((await cluster.lockOf(diskId, index))?.session).toBe(lockedBy);
    cluster.kvFaults.clear();
    // The next term's loop: its first pass reads b's lock before any report a proof could use, and
    // nothing pokes it afterwards (no Consul change, a resync a minute away).
    const next = new AbortController();
    running = startLoop(next.signal, 60_000);
    try {
      const newHolder = await placedOffB(ip);
      expect(["a", "c"]).toContain(newHolder);
      expect(doubles).toEqual([]);
    } finally {
      next.abort();
    }
  });
});
