/**
 * What the coordinator Election (src/coordinator/election.ts) tells the event history, on the
 * in-memory Consul of src/testing: `coordinator-elected` (node, actor, the lock's LockIndex as
 * epoch) when a node starts leading, and `coordinator-stepped-down` (the epoch it held, why, how
 * long it led) when that term ends; a follower records nothing until it leads.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConsulKeys } from "../../src/consul/keys.js";
import { Election, type HolderLease, type Term } from "../../src/coordinator/election.js";
import { serializeLeaderRecord } from "../../src/coordinator/leader-record.js";
import type { EventInput } from "../../src/events/event-log.js";
import { releaseLock } from "../../src/kv/locks.js";
import { createLogger } from "../../src/log/logger.js";
import { inMemoryCluster, type InMemoryCluster } from "../../src/testing/in-memory-cluster.js";
import { until } from "../support/until.js";

const FENCE_DEADLINE_MS = 900;
const WAIT = { timeoutMs: 5000, intervalMs: 10 };

describe("Election's coordinator events", () => {
  const keys = new ConsulKeys("ElectionEvents");
  let store: InMemoryCluster;
  let events: EventInput[];
  let elections: Election[];

  beforeEach(() => {
    store = inMemoryCluster();
    events = [];
    elections = [];
  });
  afterEach(async () => {
    store.consul.faults.clear();
    await Promise.all(elections.map((election) => election.stop()));
  });

  /** One sanpathd's election: it leads until its term's signal aborts. */
  function candidate(name: string, holderLease?: HolderLease): Election {
    const election = new Election({
      kv: store.kv,
      sessions: store.sessions,
      keys,
      record: { node: name, address: `${name}.test:7410` },
      ttlSeconds: 10,
      lockDelaySeconds: 3,
      fenceDeadlineMs: FENCE_DEADLINE_MS,
      retryMs: 50,
      logger: createLogger({ level: "silent" }),
      lead: (term) =>
        new Promise<void>((resolve) =>
          term.signal.addEventListener("abort", () => resolve(), { once: true }),
        ),
      events: { record: (event) => events.push(event) },
      ...(holderLease === undefined ? {} : { holderLease }),
    });
    elections.push(election);
    election.start();
    return election;
  }

  const elected = (election: Election, not?: Term): Promise<Term> =>
    until("a term", () => (election.term === not ? undefined : election.term), WAIT);

  /** The coordinator lock's LockIndex now (the epoch of the term holding it). */
  const lockIndex = async (): Promise<number | undefined> =>
    (await store.kv.get(keys.coordinatorLock()))?.lockIndex;

  it("records the election with the lock's epoch, and on stop the step-down with that epoch and how long it led", async () => {
    const startedAt = Date.now();
    const x = candidate("x");
    const term = await elected(x);
    const electedSeen = Date.now();
    expect(term.epoch).toBeGreaterThan(0);
    expect(term.epoch).toBe(await lockIndex());
    expect(events).toEqual([{ kind: "coordinator-elected", node: "x", actor: "x", epoch: term.epoch }]);

    await sleep(300);
    // Leading: nothing more is recorded.
    expect(events).toHaveLength(1);
    const stopAt = Date.now();
    await x.stop();
    const stoppedAt = Date.now();
    expect(term.signal.aborted).toBe(true);
    expect(events).toHaveLength(2);
    const [, steppedDown] = events;
    expect(steppedDown).toMatchObject({
      kind: "coordinator-stepped-down",
      node: "x",
      actor: "x",
      epoch: term.epoch,
      reason: "stopping",
    });
    // From the election to the step-down: between what the test saw of both.
    expect(steppedDown?.durationMs).toBeGreaterThanOrEqual(stopAt - electedSeen);
    expect(steppedDown?.durationMs).toBeLessThanOrEqual(stoppedAt - startedAt);
  });

  it("a leader whose lock is taken from it records 'lock lost' with its epoch, then its next election with a higher epoch", async () => {
    const startedAt = Date.now();
    const x = candidate("x");
    const first = await elected(x);
    const electedSeen = Date.now();
    await sleep(200);
    expect(events).toHaveLength(1);
    const releasedAt = Date.now();
    expect(await releaseLock(store.kv, keys.coordinatorLock(), first.session)).toBe(true);

    const second = await elected(x, first);
    const secondSeen = Date.now();
    expect(second.epoch).toBeGreaterThan(first.epoch);
    expect(second.epoch).toBe(await lockIndex());
    expect(events.map(({ durationMs: _duration, ...event }) => event)).toEqual([
      { kind: "coordinator-elected", node: "x", actor: "x", epoch: first.epoch },
      { kind: "coordinator-stepped-down", node: "x", actor: "x", epoch: first.epoch, reason: "lock lost" },
      { kind: "coordinator-elected", node: "x", actor: "x", epoch: second.epoch },
    ]);
    // It led from its election until the lock was released.
    expect(events[1]?.durationMs).toBeGreaterThanOrEqual(releasedAt - electedSeen);
    expect(events[1]?.durationMs).toBeLessThanOrEqual(secondSeen - startedAt);
  });

  it("a leader cut off from Consul steps down once its session is unconfirmed for the fence deadline", async () => {
    const startedAt = Date.now();
    const x = candidate("x");
    const term = await elected(x);
    const electedSeen = Date.now();
    await sleep(400);
    expect(events).toHaveLength(1);
    const cutAt = Date.now();
    store.consul.faults.setUnreachable(true);
    await until("the step-down", () => events[1], WAIT);
    const steppedDownSeen = Date.now();
    // Not at once: only once no renew has been confirmed for the fence deadline (renews go every third of it).
    expect(steppedDownSeen - cutAt).toBeGreaterThanOrEqual(200);
    expect(events[1]).toMatchObject({
      kind: "coordinator-stepped-down",
      node: "x",
      actor: "x",
      epoch: term.epoch,
      reason: "session unconfirmed",
    });
    expect(events[1]?.durationMs).toBeGreaterThanOrEqual(cutAt - electedSeen);
    expect(events[1]?.durationMs).toBeLessThanOrEqual(steppedDownSeen - startedAt);
    // No new term while Consul stays away.
    await sleep(FENCE_DEADLINE_MS);
    expect(events).toHaveLength(2);
    expect(x.term).toBeUndefined();
  });

  it("a follower records nothing while another leads, then its own election once the leader steps down", async () => {
    const x = candidate("x");
    const xTerm = await elected(x);
    const y = candidate("y");
    await sleep(300);
    expect(y.term).toBeUndefined();
    expect(events).toEqual([{ kind: "coordinator-elected", node: "x", actor: "x", epoch: xTerm.epoch }]);

    await x.stop();
    const yTerm = await elected(y);
    expect(yTerm.epoch).toBeGreaterThan(xTerm.epoch);
    expect(events.map((event) => [event.kind, event.node, event.actor, event.epoch])).toEqual([
      ["coordinator-elected", "x", "x", xTerm.epoch],
      ["coordinator-stepped-down", "x", "x", xTerm.epoch],
      ["coordinator-elected", "y", "y", yTerm.epoch],
    ]);
  });

  describe("with peer leases", () => {
    /** A leader whose sanpathd died while its session lives on (its Consul agent still renews nothing, TTL long). */
    async function deadLeader(name: string): Promise<{ session: string; epoch: number }> {
      const session = await store.sessions.create({
        name: `${name} coordinator`,
        ttlSeconds: 3600,
        lockDelaySeconds: 0,
      });
      const value = serializeLeaderRecord({ node: name, address: `${name}.test:7410` });
      expect(await store.kv.acquire(keys.coordinatorLock(), session, value)).toBe(true);
      return { session, epoch: (await lockIndex()) ?? 0 };
    }

    /** Leases as the keeper reports them: `expired` nodes are proven without a lease since `provenSince`. */
    function leases() {
      const state = { expired: new Set<string>(), provenSince: Infinity, clock: 0, asked: [] as string[] };
      const lease: HolderLease = {
        clock: () => state.clock,
        expiryProven: (node, notBefore) => {
          state.asked.push(node);
          return state.expired.has(node) && notBefore <= state.provenSince;
        },
        recheckMs: 20,
      };
      return { state, lease };
    }

    it("frees a dead leader's lock once its lease provably expired after the lock was read, and leads with a higher epoch", async () => {
      const dead = await deadLeader("x");
      const { state, lease } = leases();
      state.clock = 1000;
      const y = candidate("y", lease);
      await until("y asks about x's lease", () => (state.asked.includes("x") ? true : undefined), WAIT);
      // Not proven yet: the lock stays x's and y does not lead.
      await sleep(200);
      expect(y.term).toBeUndefined();
      expect((await store.kv.get(keys.coordinatorLock()))?.session).toBe(dead.session);
      // A proof about a time before y read the lock is no proof.
      state.expired.add("x");
      state.provenSince = 999;
      await sleep(200);
      expect(y.term).toBeUndefined();
      state.provenSince = 1000;
      const term = await elected(y);
      expect(term.epoch).toBeGreaterThan(dead.epoch);
      expect((await store.kv.get(keys.coordinatorLock()))?.session).toBe(term.session);
    });

    it("tries again when Consul fails the freeing write (a raft election), and then leads", async () => {
      const dead = await deadLeader("x");
      const { state, lease } = leases();
      state.expired.add("x");
      state.provenSince = Infinity;
      store.consul.faults.failNext("txn", { times: 3 });
      const y = candidate("y", lease);
      const term = await elected(y);
      expect(term.epoch).toBeGreaterThan(dead.epoch);
    });

    it("never frees a lock whose holder's lease is not proven expired", async () => {
      const dead = await deadLeader("x");
      const { state, lease } = leases();
      state.expired.add("z");
      state.provenSince = Infinity;
      const y = candidate("y", lease);
      await until("y asks about x's lease", () => (state.asked.includes("x") ? true : undefined), WAIT);
      await sleep(300);
      expect(y.term).toBeUndefined();
      expect((await store.kv.get(keys.coordinatorLock()))?.session).toBe(dead.session);
    });
  });
});
