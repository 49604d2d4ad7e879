/**
 * What only the in-memory fakes have (the shared semantics are in test/contract): the manual clock,
 * injected outages, a restarted store, a node whose sessions fail, and the helpers built on the ports.
 */
import { describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { SessionKeeper } from "../../src/kv/session-keeper.js";
import { TransactionConflictError } from "../../src/kv/transaction-conflict.js";
import { watchPrefix, type PrefixSnapshot } from "../../src/kv/watch.js";
import { inMemoryCluster } from "../../src/testing/in-memory-cluster.js";
import { InMemorySessionMemory } from "../../src/testing/in-memory-session-memory.js";
import { ManualClock, SystemClock } from "../../src/testing/manual-clock.js";
import { InMemoryConsul } from "../../src/testing/in-memory-consul.js";
import { InMemoryKvStore } from "../../src/testing/in-memory-kv-store.js";

const unavailable = { kind: "unavailable", reason: "CONSUL_UNAVAILABLE" };

describe("ManualClock", () => {
  it("fires timers in due order as it advances, each at its own time", () => {
    const clock = new ManualClock(0);
    const fired: [string, number][] = [];
    clock.setTimerAt(30, () => fired.push(["c", clock.now()]));
    clock.setTimerAt(10, () => {
      fired.push(["a", clock.now()]);
      clock.setTimerAt(20, () => fired.push(["b", clock.now()]));
    });
    const cancel = clock.setTimerAt(15, () => fired.push(["cancelled", clock.now()]));
    cancel();
    clock.advance(25);
    expect(fired).toEqual([
      ["a", 10],
      ["b", 20],
    ]);
    expect(clock.now()).toBe(25);
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(5);
    expect(fired.at(-1)).toEqual(["c", 30]);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });

  it("runs a timer that is due already in a later tick", async () => {
    const clock = new ManualClock(100);
    let fired = false;
    clock.setTimerAt(50, () => (fired = true));
    expect(fired).toBe(false);
    await Promise.resolve();
    expect(fired).toBe(true);
  });

  it("SystemClock times out for real", async () => {
    const clock = new SystemClock();
    const started = clock.now();
    await new Promise<void>((resolve) => clock.setTimerAt(started + 20, resolve));
    expect(clock.now() - started).toBeGreaterThanOrEqual(15);
  });
});

describe("InMemoryConsul faults", () => {
  it("an unreachable store fails every call with CONSUL_UNAVAILABLE, blocking ones in flight too", async () => {
    const { consul, kv, sessions } = inMemoryCluster();
    await kv.put("k", "v");
    const first = await kv.getBlocking("k", { index: 0, waitSeconds: 60 });
    const waiting = kv.getBlocking("k", { index: first.index, waitSeconds: 60 });
    consul.faults.setUnreachable(true);
    await expect(waiting).rejects.toMatchObject(unavailable);
    await expect(kv.get("k")).rejects.toMatchObject({ ...unavailable, message: /consul kv\.get/ });
    await expect(kv.put("k", "w")).rejects.toMatchObject(unavailable);
    await expect(kv.transaction([{ verb: "set", key: "k", value: "w" }])).rejects.toMatchObject(unavailable);
    await expect(sessions.create({ name: "s", ttlSeconds: 10, lockDelaySeconds: 0 })).rejects.toMatchObject(
      unavailable,
    );
    await expect(kv.getBlocking("k", { index: 0, waitSeconds: 1 })).rejects.toMatchObject(unavailable);
    consul.faults.setUnreachable(false);
    expect((await kv.get("k"))?.value).toBe("v");
  });

  it("failNext fails the next calls of one operation only, with the error asked for", async () => {
    const { consul, kv } = inMemoryCluster();
    consul.faults.failNext("kv.put", { times: 2 });
    await expect(kv.put("a", "1")).rejects.toMatchObject(unavailable);
    expect(await kv.get("a")).toBeUndefined();
    await expect(kv.put("a", "1")).rejects.toBeInstanceOf(SanpathError);
    expect(await kv.put("a", "1")).toBe(true);
    consul.faults.failNext(["txn"], { error: () => new Error("boom") });
    await expect(kv.transaction([{ verb: "set", key: "b", value: "2" }])).rejects.toThrow("boom");
    expect(await kv.get("b")).toBeUndefined();
  });

  it("a failure of a later transaction chunk says how many chunks were committed", async () => {
    const { consul, kv } = inMemoryCluster();
    let calls = 0;
    consul.faults.failNext((operation) => operation === "txn" && ++calls === 2);
    const operations = Array.from({ length: 70 }, (_, i) => ({
      verb: "set" as const,
      key: `t/${i}`,
      value: "",
    }));
    const error: unknown = await kv.transaction(operations).catch((caught: unknown) => caught);
    expect(error).not.toBeInstanceOf(TransactionConflictError);
    expect(error).toMatchObject({ ...unavailable, message: /chunk 2 of 2; 1 committed before it/ });
    expect(await kv.keys("t/")).toHaveLength(64);
  });

  it("a restarted store is empty, and its index went backwards: watches start over", async () => {
    const { consul, kv } = inMemoryCluster();
    for (let i = 0; i < 5; i += 1) await kv.put(`w/${i}`, "old");
    const controller = new AbortController();
    const errors: SanpathError[] = [];
    const seen: PrefixSnapshot[] = [];
    const done = (async () => {
      for await (const snapshot of watchPrefix(kv, "w/", {
        signal: controller.signal,
        minBackoffMs: 1,
        maxBackoffMs: 2,
        onError: (error) => errors.push(error),
      })) {
        seen.push(snapshot);
      }
    })();
    try {
      await expect.poll(() => seen.length).toBe(1);
      consul.restart();
      await kv.put("w/new", "new");
      await expect.poll(() => seen.at(-1)?.entries.map((entry) => entry.key)).toEqual(["w/new"]);
      expect(errors.every((error) => error.kind === "unavailable")).toBe(true);
    } finally {
      controller.abort();
      await done;
    }
  });

  it("a node that fails ends its sessions (serfHealth) and frees their locks", async () => {
    const { consul, kv, sessions } = inMemoryCluster();
    const onA = await sessions.create({ name: "a", node: "node-a", ttlSeconds: 10, lockDelaySeconds: 0 });
    const onB = await sessions.create({ name: "b", node: "node-b", ttlSeconds: 10, lockDelaySeconds: 0 });
    const unchecked = await sessions.create({
      name: "c",
      node: "node-a",
      checks: [],
      ttlSeconds: 10,
      lockDelaySeconds: 0,
    });
    expect(await kv.acquire("lock", onA, "a")).toBe(true);
    consul.invalidateNode("node-a");
    expect(await sessions.liveSessions()).toEqual(new Set([onB, unchecked]));
    expect(await kv.acquire("lock", onB, "b")).toBe(true);
  });
});

describe("the port helpers on the fakes", () => {
  it("SessionKeeper keeps a session alive across its TTL and reports it lost once destroyed", async () => {
    const { kv, sessions, clock } = inMemoryCluster();
    const id = await sessions.create({ name: "kept", ttlSeconds: 10, lockDelaySeconds: 0 });
    expect(await kv.acquire("lock", id, "me")).toBe(true);
    let lost = false;
    const keeper = new SessionKeeper({
      sessions,
      sessionId: id,
      ttlSeconds: 10,
      renewEveryMs: 5,
      now: () => clock.now(),
      onLost: () => (lost = true),
    });
    keeper.start();
    try {
      // Real renewals every 5 ms while store time runs 60 s ahead in 1 s steps.
      for (let second = 0; second < 60; second += 1) {
        await clock.advanceAndSettle(1000);
        await new Promise((resolve) => setTimeout(resolve, 6));
      }
      expect((await kv.get("lock"))?.session).toBe(id);
      await sessions.destroy(id);
      await expect.poll(() => lost).toBe(true);
    } finally {
      await keeper.stop();
    }
  });

  it("InMemorySessionMemory can be made to fail writes", async () => {
    const memory = new InMemorySessionMemory();
    memory.failWrites(new Error("disk full"));
    await expect(memory.write("00000000-0000-0000-0000-000000000001", [])).rejects.toThrow("disk full");
    memory.failWrites(undefined);
    await memory.write("00000000-0000-0000-0000-000000000001", []);
    expect(await memory.read()).toEqual(["00000000-0000-0000-0000-000000000001"]);
  });

  it("a store on the SystemClock times out blocking reads in real time", async () => {
    const consul = new InMemoryConsul({ clock: new SystemClock() });
    const kv = new InMemoryKvStore(consul);
    await kv.put("k", "v");
    const first = await kv.getBlocking("k", { index: 0, waitSeconds: 1 });
    const started = Date.now();
    const again = await kv.getBlocking("k", { index: first.index, waitSeconds: 1 });
    expect(again.index).toBe(first.index);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(() => consul.manualClock).toThrow(/another clock/);
    consul.close();
  });
});
