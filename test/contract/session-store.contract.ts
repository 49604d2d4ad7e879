/**
 * The SessionStore contract: what every SessionStore (the Consul adapter, the in-memory fake) must
 * do, together with the KvStore of the same datacenter (a session's end releases its locks).
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { rejectionOf, useStoreFixture, type StoreFactory } from "./store-fixture.js";

export interface SessionContractOptions {
  /** The fixture has a `clock` the test controls: TTL expiry is checked too. */
  controlledClock?: boolean;
}

export function sessionStoreContract(
  name: string,
  factory: StoreFactory,
  options: SessionContractOptions = {},
): void {
  describe(`SessionStore contract: ${name}`, () => {
    const { fixture, session } = useStoreFixture(factory);

    it("creates a session as asked, renews it, lists it, and destroys it", async () => {
      const { sessions, nodeName } = fixture();
      const id = await session("info", 15);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      const info = await sessions.info(id);
      expect(info).toMatchObject({
        id,
        name: "info",
        node: nodeName,
        lockDelayMs: 15_000,
        behavior: "release",
        ttl: "30s",
        checks: ["serfHealth"],
      });
      expect(info?.createIndex).toBeGreaterThan(0);
      const zero = await session("zero", 0, { behavior: "delete", ttlSeconds: 10 });
      expect(await sessions.info(zero)).toMatchObject({ lockDelayMs: 0, behavior: "delete", ttl: "10s" });
      expect(await sessions.renew(id)).toBe(true);
      const live = await sessions.liveSessions();
      expect(live.has(id)).toBe(true);
      expect(live.has(zero)).toBe(true);

      await sessions.destroy(id);
      expect(await sessions.info(id)).toBeUndefined();
      expect(await sessions.renew(id)).toBe(false);
      expect((await sessions.liveSessions()).has(id)).toBe(false);
      // Destroying a session that is gone is not an error.
      await sessions.destroy(id);
    });

    it("answers for a session it never had: renew false, info undefined", async () => {
      const { sessions } = fixture();
      const unknown = randomUUID();
      expect(await sessions.renew(unknown)).toBe(false);
      expect(await sessions.info(unknown)).toBeUndefined();
      expect((await sessions.liveSessions()).has(unknown)).toBe(false);
      expect(sessions.defaultTimeoutMs).toBeGreaterThan(0);
    });

    it("refuses bad options and ids, naming the field", async () => {
      const { sessions } = fixture();
      const base = { name: "bad", ttlSeconds: 30, lockDelaySeconds: 0 };
      const bad = { kind: "invalid_argument", reason: "INVALID_FIELD" };
      await expect(sessions.create({ ...base, ttlSeconds: 5 })).rejects.toMatchObject({
        ...bad,
        field: "session.ttlSeconds",
      });
      await expect(sessions.create({ ...base, ttlSeconds: 86_401 })).rejects.toMatchObject({
        field: "session.ttlSeconds",
      });
      await expect(sessions.create({ ...base, ttlSeconds: 10.5 })).rejects.toMatchObject({
        field: "session.ttlSeconds",
      });
      await expect(sessions.create({ ...base, lockDelaySeconds: 61 })).rejects.toMatchObject({
        field: "session.lockDelaySeconds",
      });
      await expect(sessions.create({ ...base, lockDelaySeconds: -1 })).rejects.toMatchObject({
        field: "session.lockDelaySeconds",
      });
      await expect(sessions.create({ ...base, name: "" })).rejects.toMatchObject({ field: "session.name" });
      for (const call of [
        sessions.renew("not-a-session"),
        sessions.info("not-a-session"),
        sessions.destroy("not-a-session"),
      ]) {
        await expect(call).rejects.toMatchObject({ ...bad, field: "session_id" });
      }
    });

    it("destroying a session releases every key it holds, at one index, values kept", async () => {
      const { kv, sessions, prefix: p } = fixture();
      const holder = await session("holder", 0);
      const other = await session("other", 0);
      expect(await kv.acquire(`${p}a`, holder, "value-a", { flags: 2 })).toBe(true);
      expect(await kv.acquire(`${p}b`, holder, "value-b")).toBe(true);
      expect(await kv.acquire(`${p}c`, other, "value-c")).toBe(true);
      await sessions.destroy(holder);
      const [a, b, c] = await Promise.all([kv.get(`${p}a`), kv.get(`${p}b`), kv.get(`${p}c`)]);
      expect(a).toMatchObject({ value: "value-a", flags: 2, lockIndex: 1 });
      expect(a?.session).toBeUndefined();
      expect(b).toMatchObject({ value: "value-b", lockIndex: 1 });
      expect(b?.session).toBeUndefined();
      expect(a?.modifyIndex).toBe(b?.modifyIndex);
      expect(c).toMatchObject({ session: other });
      // Lock-delay 0: another session takes the key at once, with the next LockIndex.
      expect(await kv.acquire(`${p}a`, other, "taken")).toBe(true);
      expect(await kv.get(`${p}a`)).toMatchObject({ session: other, lockIndex: 2 });
    });

    it("behavior delete: destroying the session deletes the keys it holds, and no others", async () => {
      const { kv, sessions, prefix: p } = fixture();
      const holder = await session("deleting", 0, { behavior: "delete" });
      expect(await kv.acquire(`${p}held`, holder, "x")).toBe(true);
      await kv.put(`${p}free`, "y");
      expect(await kv.acquire(`${p}once`, holder, "z")).toBe(true);
      expect(await kv.release(`${p}once`, holder, "z")).toBe(true);
      await sessions.destroy(holder);
      expect(await kv.keys(p)).toEqual([`${p}free`, `${p}once`]);
    });

    it("a session's end wakes a blocking read of a key it held", async () => {
      const { kv, sessions, prefix: p } = fixture();
      const holder = await session("watched", 0);
      expect(await kv.acquire(`${p}lock`, holder, "node-a")).toBe(true);
      const first = await kv.getBlocking(`${p}lock`, { index: 0, waitSeconds: 5 });
      const waiting = kv.getBlocking(`${p}lock`, { index: first.index, waitSeconds: 30 });
      await sessions.destroy(holder);
      const after = await waiting;
      expect(after.index).toBeGreaterThan(first.index);
      expect(after.entry?.session).toBeUndefined();
    });

    it("a call with an aborted signal is cancelled", async () => {
      const { sessions } = fixture();
      const controller = new AbortController();
      controller.abort();
      const error = await rejectionOf(
        sessions.create({ name: "x", ttlSeconds: 30, lockDelaySeconds: 0 }, { signal: controller.signal }),
      );
      expect(error).toMatchObject({ kind: "cancelled" });
    });

    // Real Consul: TTL >= 10 s and invalidation up to 2 × TTL after the last renew. Only a store on a
    // clock the test controls can show it in a test's time.
    describe.runIf(options.controlledClock === true)("TTL expiry (stores on a controlled clock)", () => {
      it("a session not renewed ends 2 × TTL after its last renew, releasing its keys with lock-delay", async () => {
        const { kv, sessions, prefix: p, clock } = fixture();
        if (clock === undefined) throw new Error("controlledClock needs a fixture with a clock");
        const id = await session("expiring", 5, { ttlSeconds: 10 });
        const other = await session("other", 0, { ttlSeconds: 60 });
        expect(await kv.acquire(`${p}lock`, id, "node-a")).toBe(true);
        await clock.advanceAndSettle(15_000);
        expect(await sessions.renew(id)).toBe(true);
        await clock.advanceAndSettle(19_999);
        expect(await sessions.info(id)).toBeDefined();
        await clock.advanceAndSettle(1);
        expect(await sessions.info(id)).toBeUndefined();
        expect(await sessions.renew(id)).toBe(false);
        expect((await kv.get(`${p}lock`))?.session).toBeUndefined();
        expect(await kv.acquire(`${p}lock`, other, "node-b")).toBe(false);
        await clock.advanceAndSettle(5_000);
        expect(await kv.acquire(`${p}lock`, other, "node-b")).toBe(true);
      });
    });
  });
}
