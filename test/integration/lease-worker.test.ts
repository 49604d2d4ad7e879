/**
 * The peer lease on worker threads (src/lease-worker/): three LeaseWorkers, real worker threads,
 * real gRPC listeners on loopback, renewing with each other. The point of the worker: a main thread
 * blocked for longer than a lease neither loses its node's lease nor leaves the peers' renews
 * unanswered; a main thread wedged for longer than the limit lets the lease end.
 */
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load-config.js";
import { LeaseWorker, type LeaseWorkerOptions } from "../../src/lease-worker/lease-worker.js";
import { createLogger } from "../../src/log/logger.js";
import type { LeaseMembers, LeaseTiming } from "../../src/node/peer-lease-keeper.js";
import { untilTrue } from "../support/until.js";

const TIMING: LeaseTiming = {
  heartbeatMs: 100,
  leaseMs: 600,
  teardownBudgetMs: 150,
  clockRateError: 0.01,
  marginMs: 50,
};
const NAMES = ["n1", "n2", "n3"] as const;

/** Keeps the main thread busy (no timer, no message, no I/O callback runs meanwhile). */
function blockMainThread(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

describe("LeaseWorker (lease renewed and granted on a worker thread)", () => {
  const started: LeaseWorker[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((worker) => worker.close()));
  });

  async function startCluster(
    overrides: Partial<Record<(typeof NAMES)[number], Partial<LeaseWorkerOptions>>> = {},
  ): Promise<Map<string, LeaseWorker>> {
    const addresses = new Map<string, string>();
    const membersOf = (self: string) => (): LeaseMembers => ({
      peers: NAMES.filter((name) => name !== self && addresses.has(name)).map((name) => ({
        name,
        address: addresses.get(name) ?? "",
      })),
      size: NAMES.length,
    });
    const workers = new Map<string, LeaseWorker>();
    for (const name of NAMES) {
      const config = await loadConfig({
        env: { SANPATH_AUTH_MODE: "none", SANPATH_NODE_NAME: name },
        flags: { listen: "127.0.0.1:0" },
        dev: true,
      });
      const worker = await LeaseWorker.start({
        self: name,
        timing: TIMING,
        listen: "127.0.0.1:0",
        config,
        logLevel: "silent",
        members: membersOf(name),
        logger: createLogger({ level: "silent" }),
        ...overrides[name],
      });
      started.push(worker);
      workers.set(name, worker);
      addresses.set(name, `127.0.0.1:${worker.port}`);
    }
    await untilTrue(
      "every node holds its lease and renews with both peers",
      () =>
        [...workers.values()].every(
          (worker) =>
            worker.holds() && worker.status().peers.every((peer) => peer.grantedAgoMs !== undefined),
        ) && [...workers.values()].every((worker) => worker.status().peers.length === NAMES.length - 1),
      { timeoutMs: 10_000 },
    );
    return workers;
  }

  function get(workers: Map<string, LeaseWorker>, name: string): LeaseWorker {
    const worker = workers.get(name);
    if (worker === undefined) throw new Error(`no worker ${name}`);
    return worker;
  }

  it("keeps every lease while the main thread is blocked for three leases, and shows the renewals at once after", async () => {
    const workers = await startCluster();
    const n1 = get(workers, "n1");
    const before = n1.fenceAt();
    expect(before).toBeDefined();
    const blockedAt = performance.now();
    blockMainThread(3 * TIMING.leaseMs);
    // No message from the worker has been read yet: fenceAt comes from shared memory.
    const after = n1.fenceAt() ?? Number.NEGATIVE_INFINITY;
    expect(after).toBeGreaterThan((before ?? 0) + 2 * TIMING.leaseMs);
    expect(after).toBeGreaterThan(blockedAt + 3 * TIMING.leaseMs - TIMING.heartbeatMs * 4);
    for (const worker of workers.values()) expect(worker.holds()).toBe(true);
    // The peers' renews were answered meanwhile: each one's view of the others is fresh.
    await untilTrue(
      "the snapshots of the blocked time arrive",
      () => n1.renewedWithin("n2", TIMING.leaseMs),
      {
        timeoutMs: 2000,
      },
    );
    const status = n1.status();
    expect(status.holds).toBe(true);
    expect(status.peers.map((peer) => peer.node).sort()).toEqual(["n2", "n3"]);
    expect(status.renewals).toBeGreaterThan(10);
  });

  it("a cluster of one holds its lease for good without a renew, and the main thread hears of it", async () => {
    const config = await loadConfig({
      env: { SANPATH_AUTH_MODE: "none", SANPATH_NODE_NAME: "solo" },
      flags: { listen: "127.0.0.1:0" },
      dev: true,
    });
    const cluster: { size: number | undefined } = { size: undefined };
    const worker = await LeaseWorker.start({
      self: "solo",
      timing: TIMING,
      listen: "127.0.0.1:0",
      config,
      logLevel: "silent",
      members: () => ({ peers: [], size: cluster.size }),
      logger: createLogger({ level: "silent" }),
    });
    started.push(worker);
    let changes = 0;
    worker.onChange(() => (changes += 1));
    // Until the members are known (the first read of the node records) there is no lease.
    await new Promise((resolve) => setTimeout(resolve, 3 * TIMING.heartbeatMs));
    expect(worker.holds()).toBe(false);
    cluster.size = 1;
    await untilTrue("the lone node holds its lease", () => worker.holds(), { timeoutMs: 3000 });
    expect(worker.fenceAt()).toBe(Number.POSITIVE_INFINITY);
    await untilTrue("the main thread is told", () => changes > 0, { timeoutMs: 3000 });
    expect(worker.status().holds).toBe(true);
  });

  it("a listener that cannot bind: start() rejects naming the address, and no failure of a running lease is reported", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const address = taken.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    const failures: string[] = [];
    try {
      const config = await loadConfig({
        env: { SANPATH_AUTH_MODE: "none", SANPATH_NODE_NAME: "late" },
        flags: { listen: "127.0.0.1:0" },
        dev: true,
      });
      await expect(
        LeaseWorker.start({
          self: "late",
          timing: TIMING,
          listen: `127.0.0.1:${address.port}`,
          config,
          logLevel: "silent",
          members: () => ({ peers: [], size: 1 }),
          logger: createLogger({ level: "silent" }),
          onFailure: (reason) => failures.push(reason),
        }),
      ).rejects.toThrow(/lease worker/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(failures).toEqual([]);
    } finally {
      taken.close();
    }
  });

  it("a stopped node's lease is proven over by the others; a renew on the main port is answered by the worker", async () => {
    const workers = await startCluster();
    const n1 = get(workers, "n1");
    const grant = await n1.answerRenew("n2", 0);
    expect(grant.granted).toBe(true);
    expect([...grant.silences.keys()].sort()).toEqual(["n2", "n3"]);

    const notBefore = n1.clock();
    expect(n1.expiryProven("n3", notBefore)).toBe(false);
    await get(workers, "n3").close();
    const closedAt = performance.now();
    await untilTrue("n1 proves n3's lease over", () => n1.expiryProven("n3", notBefore), {
      timeoutMs: 10_000,
    });
    // Not before a whole lease (stretched by ε, plus the margin) has passed since n3 went quiet.
    expect(performance.now() - closedAt).toBeGreaterThan(TIMING.leaseMs);
    expect(n1.expiryProven("n2", notBefore)).toBe(false);
    expect(n1.holds()).toBe(true);
  });

  it("a main thread wedged for longer than the limit: the worker stops renewing, says so, and the lease ends", async () => {
    const failures: string[] = [];
    const workers = await startCluster({
      n1: { mainSilenceLimitMs: 1000, onFailure: (reason) => failures.push(reason) },
    });
    const n1 = get(workers, "n1");
    blockMainThread(2000);
    await untilTrue("n1's worker gives up", () => failures.length > 0, { timeoutMs: 3000 });
    expect(failures[0]).toMatch(/main thread said nothing for \d+ ms/);
    await untilTrue("n1's lease ends", () => !n1.holds(), { timeoutMs: 3000 });
    const fenceAt = n1.fenceAt() ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 3 * TIMING.heartbeatMs));
    expect(n1.fenceAt()).toBe(fenceAt);
    expect(get(workers, "n2").holds()).toBe(true);
  });
});
