/**
 * NodeSession when the node's Consul agent dies and comes back (a kill -9 that the supervisor or
 * systemd undoes): the node fences, stays fenced while nothing answers, and once the agent answers
 * again it creates a new session by itself and serves again, on the fakes of src/testing. The same
 * on a real dev cluster: test/e2e/supervision.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import type { EventInput } from "../../src/events/event-log.js";
import { createLogger } from "../../src/log/logger.js";
import { NodeSession } from "../../src/node/node-session.js";
import { inMemoryCluster, type InMemoryCluster } from "../../src/testing/in-memory-cluster.js";
import { PROCESS_SESSION, ProcessCluster, type ProcessNode } from "../support/process-cluster.js";
import { until } from "../support/until.js";

const signal = (): AbortSignal => AbortSignal.timeout(5000);

describe("NodeSession across an outage of the node's Consul agent", () => {
  let cluster: ProcessCluster;
  let a: ProcessNode;
  let diskId: string;

  beforeEach(async () => {
    cluster = await ProcessCluster.start();
    a = await cluster.addNode("a");
    diskId = await cluster.addDisk();
  });
  afterEach(async () => {
    cluster.store.consul.faults.clear();
    await cluster.close();
  });

  const pathIp = async (index: number): Promise<string> =>
    (await cluster.disks.getDisk(diskId)).paths.find((path) => path.index === index)?.ip ?? "";
  const ipUp = (ip: string): boolean => a.network.kernelAddresses().some((address) => address.ip === ip);

  it("fences while the agent is gone, then creates a new session by itself and serves again", async () => {
    await a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());
    const ip1 = await pathIp(1);
    expect(ipUp(ip1)).toBe(true);
    const before = (await a.agent.status(0, signal())).session;
    expect(before.healthy).toBe(true);

    // kill -9 of the agent: nothing answers on it, and the servers declare the node failed.
    const { consul } = cluster.store;
    consul.faults.setUnreachable(true);
    consul.invalidateNode(consul.nodeName);

    await until(
      "the node fences",
      async () => ((await a.agent.status(0, signal())).session.fenced ? true : undefined),
      { timeoutMs: PROCESS_SESSION.fenceDeadlineMs * 5 },
    );
    await until("its path IP goes", () => (ipUp(ip1) ? undefined : true));
    // Longer than the create back-off's first steps: it keeps trying without serving.
    await sleep(2000);
    const away = (await a.agent.status(0, signal())).session;
    expect({ fenced: away.fenced, healthy: away.healthy, fences: away.fences }).toEqual({
      fenced: true,
      healthy: false,
      fences: 1,
    });
    await expect(a.agent.acquirePath({ epoch: 1, diskId, index: 2, jobId: "" }, signal())).rejects.toThrow();

    // The agent is back (same node, same data).
    consul.faults.setUnreachable(false);
    const after = await until(
      "a new, healthy session",
      async () => {
        const session = (await a.agent.status(0, signal())).session;
        return session.healthy && !session.fenced && session.id !== before.id ? session : undefined;
      },
      { timeoutMs: 10_000 },
    );
    expect(after.fences).toBe(1);
    // The fenced session is retired: destroyed in Consul.
    await until("the old session is destroyed", async () =>
      (await cluster.store.sessions.info(before.id ?? "")) === undefined ? true : undefined,
    );

    // It serves again: a free path at once, and its old path once that path's lock-delay is over.
    await a.agent.acquirePath({ epoch: 1, diskId, index: 2, jobId: "" }, signal());
    expect(ipUp(await pathIp(2))).toBe(true);
    expect(await cluster.lockOf(diskId, 2)).toEqual({ holder: "a", session: after.id });
    cluster.store.clock.advance(PROCESS_SESSION.lockDelaySeconds * 1000);
    await a.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());
    expect(ipUp(ip1)).toBe(true);
    expect(await cluster.lockOf(diskId, 1)).toEqual({ holder: "a", session: after.id });
  }, 30_000);
});

/**
 * What NodeSession tells the event history when it fences: one `fence` per fence, about this node,
 * by this node, its reason "<cause>: <detail>"; nothing while it serves or when it stops gracefully.
 */
describe("NodeSession's fence events", () => {
  const SETTINGS = { ...PROCESS_SESSION, fenceDeadlineMs: 900 };
  let store: InMemoryCluster;
  let events: EventInput[];
  let tornDown: string[];
  let session: NodeSession;

  beforeEach(async () => {
    store = inMemoryCluster();
    events = [];
    tornDown = [];
    session = new NodeSession({
      sessions: store.sessions,
      nodeName: "node-a",
      settings: SETTINGS,
      logger: createLogger({ level: "silent" }),
      onFence: (reason) => {
        tornDown.push(reason);
        return Promise.resolve();
      },
      onSession: () => Promise.resolve(),
      releaseLocksOf: () => Promise.resolve(0),
      events: { record: (event) => events.push(event) },
    });
    session.start();
    await healthy();
  });
  afterEach(async () => {
    store.consul.faults.clear();
    await session.stop(() => Promise.resolve(), 2000);
  });

  /** The session's id once it is active and confirmed, other than `not`. */
  const healthy = (not?: string): Promise<string> =>
    until(
      "an active session",
      () => {
        const status = session.status();
        return status.healthy && status.id !== undefined && status.id !== not ? status.id : undefined;
      },
      { timeoutMs: 5000, intervalMs: 10 },
    );

  it("records one fence when Consul ends the session, and one when a caller reports it gone", async () => {
    const first = session.status().id ?? "";
    // Serving and renewing: nothing to record.
    await sleep(SETTINGS.fenceDeadlineMs + 200);
    expect(events).toEqual([]);

    store.consul.invalidateSession(first);
    await until("a fence event", () => events[0], { timeoutMs: 5000, intervalMs: 10 });
    expect(events).toEqual([
      {
        kind: "fence",
        node: "node-a",
        actor: "node-a",
        reason: "session-gone: Consul says the session no longer exists",
      },
    ]);
    expect(tornDown).toEqual(["Consul says the session no longer exists"]);

    // It recovers with a new session (not a fence), then an acquire is answered "invalid session".
    const second = await healthy(first);
    expect(events).toHaveLength(1);
    session.reportLost("acquire answered: invalid session");
    // Already fenced: a second report is the same fence.
    session.reportLost("acquire answered: invalid session");
    expect(events).toHaveLength(2);
    expect(events[1]).toEqual({
      kind: "fence",
      node: "node-a",
      actor: "node-a",
      reason: "session-gone: Consul says the session is gone (acquire answered: invalid session)",
    });
    expect(session.status().fencesByCause).toEqual({ "session-gone": 2, unconfirmed: 0, "lease-lost": 0 });
    await healthy(second);
    expect(events).toHaveLength(2);
  });

  it("records an unconfirmed fence once Consul has not answered within the fence deadline", async () => {
    const confirmed = session.status().lastConfirmedAt?.getTime() ?? Number.NaN;
    store.consul.faults.setUnreachable(true);
    const fence = await until("a fence event", () => events[0], { timeoutMs: 5000, intervalMs: 10 });
    // Not before the deadline after the last confirmation (a renew confirmed after the cut only delays it).
    expect(Date.now()).toBeGreaterThanOrEqual(confirmed + SETTINGS.fenceDeadlineMs - 20);
    expect(fence).toEqual({
      kind: "fence",
      node: "node-a",
      actor: "node-a",
      reason: `unconfirmed: the session was not confirmed within ${SETTINGS.fenceDeadlineMs} ms`,
    });
    // Fenced while Consul stays away: no new session, no further event.
    await sleep(SETTINGS.fenceDeadlineMs * 2);
    expect(events).toHaveLength(1);
    expect(session.status()).toMatchObject({ fenced: true, fences: 1 });
  });

  it("records nothing when it stops gracefully", async () => {
    await session.stop(() => Promise.resolve(), 2000);
    expect(session.status().phase).toBe("stopped");
    expect(events).toEqual([]);
  });
});
