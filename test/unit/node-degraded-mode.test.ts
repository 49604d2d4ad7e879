/**
 * Degraded mode (src/node/degraded-mode.ts) on the fakes: a node whose target daemon dies and does
 * not come back within the bound hands every path off (IP gone first, then the lock released
 * explicitly, so another node takes it at once), says so in its node record, Status and health,
 * refuses paths, and takes paths again only once its data path has stayed healthy for a while.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConsulKeys } from "../../src/consul/keys.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import type { EventInput } from "../../src/events/event-log.js";
import { createLogger } from "../../src/log/logger.js";
import { DegradedMode } from "../../src/node/degraded-mode.js";
import { KvPathLocks } from "../../src/node/kv-path-locks.js";
import { LocalTeardown } from "../../src/node/local-teardown.js";
import { parseNodeRecord } from "../../src/node/node-record.js";
import { PathJournal } from "../../src/node/path-journal.js";
import { PathQueue } from "../../src/node/path-queue.js";
import { PathSetup } from "../../src/node/path-setup.js";
import { inMemoryCluster } from "../../src/testing/in-memory-cluster.js";
import { InMemoryNetworkDriver } from "../../src/testing/in-memory-network-driver.js";
import { InMemoryTargetDriver } from "../../src/testing/in-memory-target-driver.js";
import { ProcessCluster, type ProcessNode } from "../support/process-cluster.js";
import { rejectionAs } from "../support/thrown.js";
import { until } from "../support/until.js";

const UNHEALTHY_AFTER_MS = 300;
const RECOVER_AFTER_MS = 1500;

describe("a node whose data path fails", () => {
  let cluster: ProcessCluster;
  let a: ProcessNode;
  let b: ProcessNode;
  let diskId: string;
  let healthReports: [boolean, string][];

  const acquire = (node: ProcessNode, index: number) =>
    node.agent.acquirePath({ epoch: 1, diskId, index, jobId: "" }, AbortSignal.timeout(5000));
  const ipOf = (index: number): string => {
    const ip = a.journal.get(`${diskId}/${index}`)?.ip;
    if (ip === undefined) throw new Error(`path ${index} is not in A's journal`);
    return ip;
  };
  const recordOfA = async () => {
    const entry = await cluster.kv.get(cluster.keys.node("a"));
    if (entry === undefined) throw new Error("A has no node record");
    return parseNodeRecord(entry.value);
  };
  const degraded = async (node: ProcessNode) =>
    (await node.agent.status(0, AbortSignal.timeout(5000))).dataPath.degraded;

  beforeEach(async () => {
    cluster = await ProcessCluster.start("DegradedMode");
    healthReports = [];
    a = await cluster.addNode("a", {
      dataPathProbeMs: 50,
      dataPathUnhealthyAfterMs: UNHEALTHY_AFTER_MS,
      dataPathRecoverAfterMs: RECOVER_AFTER_MS,
      onDataPathHealthChange: (healthy, reason) => healthReports.push([healthy, reason]),
    });
    b = await cluster.addNode("b");
    diskId = await cluster.addDisk();
    await acquire(a, 1);
    await acquire(a, 2);
  });
  afterEach(async () => {
    await cluster.close();
  });

  it("hands every path off: IPs gone, locks released at once, record, Status and health say degraded", async () => {
    const ips = [ipOf(1), ipOf(2)];
    a.target.external.stopService();
    await until("A degraded", () => degraded(a), { timeoutMs: 5000, intervalMs: 20 });
    await until(
      "both locks released",
      async () =>
        (await cluster.lockOf(diskId, 1))?.session === undefined &&
        (await cluster.lockOf(diskId, 2))?.session === undefined
          ? true
          : undefined,
      { timeoutMs: 5000, intervalMs: 20 },
    );
    expect(a.network.kernelAddresses().some((address) => ips.includes(address.ip))).toBe(false);
    // Released explicitly: no lock-delay, B takes the path at once.
    await acquire(b, 1);
    expect((await cluster.lockOf(diskId, 1))?.holder).toBe("b");

    const record = await recordOfA();
    expect(record.degraded?.reason).toContain("does not answer");
    const status = await a.agent.status(0, AbortSignal.timeout(5000));
    expect(status.dataPath).toMatchObject({ healthy: false, answering: false });
    expect(status.dataPath.degraded?.reason).toContain("does not answer");
    expect(status.counters.degradations).toBe(1);
    expect(status.paths).toEqual([]);
    expect(healthReports.at(-1)?.[0]).toBe(false);
    expect(healthReports.at(-1)?.[1]).toMatch(/^degraded: /);

    const refused = await rejectionAs(SanpathError, acquire(a, 2));
    expect(refused.reason).toBe("NODE_DEGRADED");
    expect(refused.message).toContain("node a is degraded");
    expect((await cluster.lockOf(diskId, 2))?.session).toBeUndefined();
  });

  it("stays degraded while the data path relapses, and leaves once it stayed healthy: record cleared, paths taken again", async () => {
    a.target.external.stopService();
    await until("A degraded", () => degraded(a), { timeoutMs: 5000, intervalMs: 20 });
    const since = (await degraded(a))?.since;

    a.target.external.startService();
    await until(
      "A's data path healthy",
      async () => ((await a.agent.status(0, AbortSignal.timeout(5000))).dataPath.healthy ? true : undefined),
      { timeoutMs: 5000, intervalMs: 20 },
    );
    a.target.external.stopService();
    // The relapse turns the data path unhealthy again (300 ms) long before the recovery wait ends.
    await until(
      "A's data path unhealthy again",
      async () => ((await a.agent.status(0, AbortSignal.timeout(5000))).dataPath.healthy ? undefined : true),
      { timeoutMs: 5000, intervalMs: 20 },
    );
    await new Promise((resolve) => setTimeout(resolve, RECOVER_AFTER_MS + 300));
    expect((await degraded(a))?.since).toEqual(since);
    // One stretch of degraded mode, counted once.
    expect((await a.agent.status(0, AbortSignal.timeout(5000))).counters.degradations).toBe(1);
    expect((await recordOfA()).degraded).toBeDefined();

    a.target.external.startService();
    await until("A no longer degraded", async () => ((await degraded(a)) === undefined ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    await until(
      "A's record no longer degraded",
      async () => ((await recordOfA()).degraded === undefined ? true : undefined),
      { timeoutMs: 5000, intervalMs: 20 },
    );
    expect(healthReports.at(-1)).toEqual([true, ""]);
    await acquire(a, 2);
    expect((await cluster.lockOf(diskId, 2))?.holder).toBe("a");
    expect(a.network.kernelAddresses().some((address) => address.ip === ipOf(2))).toBe(true);
  });

  it("keeps an operator's cordon when it enters and leaves degraded mode", async () => {
    const entry = await cluster.kv.get(cluster.keys.node("a"));
    if (entry === undefined) throw new Error("A has no node record");
    await cluster.kv.put(
      cluster.keys.node("a"),
      JSON.stringify({ ...JSON.parse(entry.value), cordoned: true }),
    );
    a.target.external.stopService();
    await until(
      "A's record degraded",
      async () => ((await recordOfA()).degraded === undefined ? undefined : true),
      {
        timeoutMs: 5000,
        intervalMs: 20,
      },
    );
    expect((await recordOfA()).cordoned).toBe(true);
    a.target.external.startService();
    await until(
      "A's record no longer degraded",
      async () => ((await recordOfA()).degraded === undefined ? true : undefined),
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    expect((await recordOfA()).cordoned).toBe(true);
  });

  it("a node with nothing served whose target daemon dies is degraded too (nothing is placed on it)", async () => {
    const c = await cluster.addNode("c", {
      dataPathProbeMs: 50,
      dataPathUnhealthyAfterMs: UNHEALTHY_AFTER_MS,
    });
    c.target.external.stopService();
    await until("C degraded", () => degraded(c), { timeoutMs: 5000, intervalMs: 20 });
    const entry = await cluster.kv.get(cluster.keys.node("c"));
    expect(parseNodeRecord(entry?.value ?? "").degraded?.reason).toContain("does not answer");
    expect((await rejectionAs(SanpathError, acquire(c, 2))).reason).toBe("NODE_DEGRADED");
  });

  it("a fenced and re-joined node's new record still says degraded", async () => {
    a.target.external.stopService();
    await until("A degraded", () => degraded(a), { timeoutMs: 5000, intervalMs: 20 });
    const session = (await a.agent.status(0, AbortSignal.timeout(5000))).session.id ?? "";
    await cluster.store.sessions.destroy(session);
    await until(
      "A on a new session",
      async () => {
        const record = await recordOfA();
        return record.session !== undefined && record.session !== session ? record : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    expect((await recordOfA()).degraded).toBeDefined();
  });
});

/**
 * What DegradedMode tells the event history: `degraded` (node, actor, why) the moment it enters,
 * `recovered` (node, actor, how long it was degraded) only once the data path has stayed healthy
 * for the whole recover interval. Its timers and `since` run on setTimeout and Date, faked here.
 */
describe("DegradedMode's events", () => {
  const RECOVER_MS = 1500;
  let events: EventInput[];
  let mode: DegradedMode;
  let entered: number;

  beforeEach(async () => {
    vi.useFakeTimers({
      toFake: ["setTimeout", "clearTimeout", "Date"],
      now: new Date("2026-03-01T10:00:00Z"),
    });
    const { kv } = inMemoryCluster();
    const keys = new ConsulKeys("DegradedEvents");
    const logger = createLogger({ level: "silent" });
    const journal = await PathJournal.open(undefined);
    const queue = new PathQueue();
    events = [];
    mode = new DegradedMode({
      nodeName: "node-a",
      kv,
      keys,
      journal,
      locks: new KvPathLocks(kv, keys),
      queue,
      teardown: new LocalTeardown({
        journal,
        setup: new PathSetup(new InMemoryTargetDriver(), new InMemoryNetworkDriver({ interfaces: ["eth1"] })),
        queue,
        session: { ttlSeconds: 10, lockDelaySeconds: 3, fenceDeadlineMs: 900 },
        logger,
      }),
      currentSession: () => undefined,
      recoverAfterMs: RECOVER_MS,
      logger,
      events: { record: (event) => events.push(event) },
    });
    entered = Date.now();
  });
  afterEach(async () => {
    await mode.stop();
    vi.useRealTimers();
  });

  it("records degraded once when the data path fails, with the node as actor and the probe's reason", () => {
    mode.dataPathChanged(true, "");
    expect(events).toEqual([]);
    mode.dataPathChanged(false, "the target daemon does not answer");
    expect(events).toEqual([
      { kind: "degraded", node: "node-a", actor: "node-a", reason: "the target daemon does not answer" },
    ]);
    // Still failing, for another reason: the same stretch of degraded mode, not a new event.
    vi.advanceTimersByTime(5000);
    mode.dataPathChanged(false, "portal missing");
    expect(events).toHaveLength(1);
    expect(mode.entries).toBe(1);
  });

  it("records recovered only once the data path stayed healthy for the recover interval, with how long it was degraded", () => {
    mode.dataPathChanged(false, "the target daemon does not answer");
    vi.advanceTimersByTime(4000);
    mode.dataPathChanged(true, "");
    vi.advanceTimersByTime(RECOVER_MS / 2);
    // A second healthy verdict does not restart the wait.
    mode.dataPathChanged(true, "");
    vi.advanceTimersByTime(RECOVER_MS / 2 - 1);
    expect(events.map((event) => event.kind)).toEqual(["degraded"]);
    expect(mode.current).toBeDefined();

    vi.advanceTimersByTime(1);
    expect(mode.current).toBeUndefined();
    expect(events).toEqual([
      { kind: "degraded", node: "node-a", actor: "node-a", reason: "the target daemon does not answer" },
      {
        kind: "recovered",
        node: "node-a",
        actor: "node-a",
        durationMs: 4000 + RECOVER_MS,
        reason: `the data path stayed healthy for ${RECOVER_MS} ms`,
      },
    ]);
    expect(Date.now() - entered).toBe(4000 + RECOVER_MS);
    // Healthy from then on: nothing more.
    mode.dataPathChanged(true, "");
    vi.advanceTimersByTime(RECOVER_MS * 4);
    expect(events).toHaveLength(2);
  });

  it("a relapse within the recover interval records nothing and restarts the wait; a later failure is a new degraded", () => {
    mode.dataPathChanged(false, "the target daemon does not answer");
    mode.dataPathChanged(true, "");
    vi.advanceTimersByTime(RECOVER_MS - 100);
    mode.dataPathChanged(false, "the target daemon does not answer again");
    // Past where the first wait would have ended: still degraded, no event.
    vi.advanceTimersByTime(RECOVER_MS);
    expect(events.map((event) => event.kind)).toEqual(["degraded"]);

    mode.dataPathChanged(true, "");
    vi.advanceTimersByTime(RECOVER_MS);
    expect(events.map((event) => event.kind)).toEqual(["degraded", "recovered"]);
    expect(events[1]?.durationMs).toBe(RECOVER_MS - 100 + RECOVER_MS + RECOVER_MS);

    mode.dataPathChanged(false, "tgtd exited");
    expect(events[2]).toEqual({ kind: "degraded", node: "node-a", actor: "node-a", reason: "tgtd exited" });
    expect(mode.entries).toBe(2);
  });
});
