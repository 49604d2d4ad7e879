/**
 * The KvStore contract: what every KvStore (the Consul adapter, the in-memory fake) must do.
 * Register it from a test file with a factory: kvStoreContract("ConsulKvStore", () => fixture).
 */
import { describe, expect, it } from "vitest";
import { InvalidSessionError } from "../../src/kv/invalid-session.js";
import { lockHolder, releaseLock } from "../../src/kv/locks.js";
import { kvTransactionTests } from "./kv-transaction.contract.js";
import { conflictOf, rejectionOf, settledFlag, useStoreFixture, type StoreFactory } from "./store-fixture.js";

export function kvStoreContract(name: string, factory: StoreFactory): void {
  describe(`KvStore contract: ${name}`, () => {
    const { fixture, session } = useStoreFixture(factory);

    describe("reads and writes", () => {
      it("writes, reads, lists and deletes keys with their flags and indexes", async () => {
        const { kv, prefix: p } = fixture();
        expect(await kv.put(`${p}a`, "ä value", { flags: 7 })).toBe(true);
        expect(await kv.put(`${p}b/c`, "")).toBe(true);
        const a = await kv.get(`${p}a`);
        expect(a).toMatchObject({ key: `${p}a`, value: "ä value", flags: 7, lockIndex: 0 });
        expect(a?.session).toBeUndefined();
        expect(a?.modifyIndex).toBeGreaterThan(0);
        expect(a?.createIndex).toBe(a?.modifyIndex);
        expect((await kv.get(`${p}b/c`))?.value).toBe("");
        expect(await kv.get(`${p}missing`)).toBeUndefined();
        expect((await kv.list(p)).map((entry) => entry.key)).toEqual([`${p}a`, `${p}b/c`]);
        expect(await kv.list(`${p}none/`)).toEqual([]);
        expect(await kv.delete(`${p}a`)).toBe(true);
        expect(await kv.get(`${p}a`)).toBeUndefined();
        expect(await kv.delete(`${p}a`)).toBe(true);
      });

      it("keeps CreateIndex and grows ModifyIndex on every write; a plain write takes the flags given", async () => {
        const { kv, prefix: p } = fixture();
        await kv.put(`${p}k`, "1", { flags: 3 });
        const first = await kv.get(`${p}k`);
        await kv.put(`${p}k`, "2");
        const second = await kv.get(`${p}k`);
        if (first === undefined || second === undefined) throw new Error("key missing");
        expect(second.createIndex).toBe(first.createIndex);
        expect(second.modifyIndex).toBeGreaterThan(first.modifyIndex);
        expect(second.flags).toBe(0);
        await kv.put(`${p}other`, "x");
        const other = await kv.get(`${p}other`);
        expect(other?.modifyIndex).toBeGreaterThan(second.modifyIndex);
      });

      it("lists keys, cut at the separator like folders", async () => {
        const { kv, prefix: p } = fixture();
        for (const key of ["s/a", "s/b/c", "s/b/d/e", "sx"]) await kv.put(`${p}${key}`, "1");
        expect(await kv.keys(`${p}s/`)).toEqual([`${p}s/a`, `${p}s/b/c`, `${p}s/b/d/e`]);
        expect(await kv.keys(`${p}s/`, { separator: "/" })).toEqual([`${p}s/a`, `${p}s/b/`]);
        expect(await kv.keys(`${p}s`, { separator: "/" })).toEqual([`${p}s/`, `${p}sx`]);
        expect(await kv.keys(`${p}s/b`, { separator: "/" })).toEqual([`${p}s/b/`]);
        expect(await kv.keys(`${p}none/`)).toEqual([]);
      });

      it("a recursive delete removes every key starting with the prefix, no more", async () => {
        const { kv, prefix: p } = fixture();
        for (const key of ["t/a", "t/b/c", "tx", "u"]) await kv.put(`${p}${key}`, "1");
        expect(await kv.delete(`${p}t/`, { recurse: true })).toBe(true);
        expect(await kv.keys(p)).toEqual([`${p}tx`, `${p}u`]);
        expect(await kv.delete(`${p}t`, { recurse: true })).toBe(true);
        expect(await kv.keys(p)).toEqual([`${p}u`]);
      });

      it("CAS: 0 writes only when absent, a stale index changes nothing, the current one writes", async () => {
        const { kv, prefix: p } = fixture();
        expect(await kv.put(`${p}x`, "1", { cas: 0 })).toBe(true);
        expect(await kv.put(`${p}x`, "2", { cas: 0 })).toBe(false);
        const entry = await kv.get(`${p}x`);
        if (entry === undefined) throw new Error("key missing");
        expect(await kv.put(`${p}x`, "3", { cas: entry.modifyIndex + 1000 })).toBe(false);
        expect(await kv.put(`${p}absent`, "3", { cas: entry.modifyIndex })).toBe(false);
        expect(await kv.get(`${p}absent`)).toBeUndefined();
        expect(await kv.delete(`${p}x`, { cas: entry.modifyIndex + 1000 })).toBe(false);
        expect(await kv.delete(`${p}x`, { cas: 0 })).toBe(false);
        expect((await kv.get(`${p}x`))?.value).toBe("1");
        expect(await kv.put(`${p}x`, "4", { cas: entry.modifyIndex })).toBe(true);
        const updated = await kv.get(`${p}x`);
        expect(updated?.value).toBe("4");
        expect(await kv.delete(`${p}x`, { cas: updated?.modifyIndex ?? 0 })).toBe(true);
        expect(await kv.get(`${p}x`)).toBeUndefined();
        // A key that is not there counts as deleted, whatever the CAS index.
        expect(await kv.delete(`${p}x`, { cas: 12345 })).toBe(true);
      });

      it("listIndexed answers with an index that grows with writes under the prefix", async () => {
        const { kv, prefix: p } = fixture();
        const empty = await kv.listIndexed(`${p}idx/`);
        expect(empty).toMatchObject({ entries: [] });
        expect(empty.index).toBeGreaterThanOrEqual(1);
        await kv.put(`${p}idx/a`, "1");
        const one = await kv.listIndexed(`${p}idx/`);
        expect(one.entries.map((entry) => entry.value)).toEqual(["1"]);
        expect(one.index).toBeGreaterThanOrEqual(one.entries[0]?.modifyIndex ?? Infinity);
        await kv.delete(`${p}idx/a`);
        const gone = await kv.listIndexed(`${p}idx/`);
        expect(gone.entries).toEqual([]);
        expect(gone.index).toBeGreaterThan(one.index);
      });

      it("refuses keys that are empty or start with a slash, and bad numbers, naming the field", async () => {
        const { kv } = fixture();
        const bad = { kind: "invalid_argument", reason: "INVALID_FIELD" };
        await expect(kv.get("/t/x")).rejects.toMatchObject({ ...bad, field: "key" });
        await expect(kv.get("")).rejects.toMatchObject({ ...bad, field: "key" });
        await expect(kv.put("/t/x", "v")).rejects.toMatchObject({ ...bad, field: "key" });
        await expect(kv.delete("", { recurse: true })).rejects.toMatchObject({ ...bad, field: "key" });
        await expect(kv.list("/t/")).rejects.toMatchObject({ ...bad, field: "prefix" });
        await expect(kv.keys("/t/")).rejects.toMatchObject({ ...bad, field: "prefix" });
        await expect(kv.listIndexed("/t/")).rejects.toMatchObject({ ...bad, field: "prefix" });
        await expect(kv.put("t/x", "v", { cas: -1 })).rejects.toMatchObject({ ...bad, field: "cas" });
        await expect(kv.put("t/x", "v", { flags: 1.5 })).rejects.toMatchObject({ ...bad, field: "flags" });
        await expect(kv.delete("t/x", { cas: -1 })).rejects.toMatchObject({ ...bad, field: "cas" });
        await expect(kv.acquire("/t/x", "s", "v")).rejects.toMatchObject({ ...bad, field: "key" });
        const someSession = "00000000-0000-0000-0000-000000000000";
        await expect(kv.acquire("t/x", someSession, "v", { flags: -1 })).rejects.toMatchObject({
          ...bad,
          field: "flags",
        });
        await expect(kv.release("/t/x", "s", "v")).rejects.toMatchObject({ ...bad, field: "key" });
      });

      it("a call with an aborted signal is cancelled", async () => {
        const { kv, prefix: p } = fixture();
        const controller = new AbortController();
        controller.abort();
        await expect(kv.get(`${p}x`, { signal: controller.signal })).rejects.toMatchObject({
          kind: "cancelled",
        });
        await expect(kv.put(`${p}x`, "v", { signal: controller.signal })).rejects.toMatchObject({
          kind: "cancelled",
        });
        expect(await kv.get(`${p}x`)).toBeUndefined();
      });
    });

    describe("transactions", () => {
      kvTransactionTests(fixture, session);
    });

    describe("blocking reads", () => {
      it("index 0 answers at once; a write to the key wakes a waiting read with a greater index", async () => {
        const { kv, prefix: p } = fixture();
        await kv.put(`${p}k`, "v1");
        const first = await kv.getBlocking(`${p}k`, { index: 0, waitSeconds: 5 });
        expect(first).toMatchObject({ reset: false, entry: { value: "v1" } });
        expect(first.index).toBe(first.entry?.modifyIndex);
        const waiting = kv.getBlocking(`${p}k`, { index: first.index, waitSeconds: 30 });
        await kv.put(`${p}k`, "v2");
        const second = await waiting;
        expect(second.entry?.value).toBe("v2");
        expect(second.index).toBeGreaterThan(first.index);
        expect(second.reset).toBe(false);

        const missing = await kv.getBlocking(`${p}none`, { index: 0, waitSeconds: 5 });
        expect(missing.entry).toBeUndefined();
        expect(missing.index).toBeGreaterThanOrEqual(1);
      });

      it("a deletion wakes a read of the key", async () => {
        const { kv, prefix: p } = fixture();
        await kv.put(`${p}k`, "v1");
        const first = await kv.getBlocking(`${p}k`, { index: 0, waitSeconds: 5 });
        const waiting = kv.getBlocking(`${p}k`, { index: first.index, waitSeconds: 30 });
        await kv.delete(`${p}k`);
        const gone = await waiting;
        expect(gone.entry).toBeUndefined();
        expect(gone.index).toBeGreaterThan(first.index);
      });

      it("a write under the prefix wakes a waiting list", async () => {
        const { kv, prefix: p } = fixture();
        await kv.put(`${p}dir/a`, "1");
        const first = await kv.listBlocking(`${p}dir/`, { index: 0, waitSeconds: 5 });
        expect(first.entries.map((entry) => entry.value)).toEqual(["1"]);
        const waiting = kv.listBlocking(`${p}dir/`, { index: first.index, waitSeconds: 30 });
        await kv.put(`${p}dir/b`, "2");
        const second = await waiting;
        expect(second.entries.map((entry) => entry.value)).toEqual(["1", "2"]);
        expect(second.index).toBeGreaterThan(first.index);
      });

      it("without a change, answers after waitSeconds with the same index and state", async () => {
        const { kv, prefix: p, elapse } = fixture();
        await kv.put(`${p}quiet/k`, "v");
        const first = await kv.getBlocking(`${p}quiet/k`, { index: 0, waitSeconds: 1 });
        const listed = await kv.listBlocking(`${p}quiet/`, { index: 0, waitSeconds: 1 });
        const waiting = kv.getBlocking(`${p}quiet/k`, { index: first.index, waitSeconds: 1 });
        const waitingList = kv.listBlocking(`${p}quiet/`, { index: listed.index, waitSeconds: 1 });
        const settled = settledFlag(waiting);
        await elapse(500);
        expect(settled()).toBe(false);
        await elapse(700);
        expect(await waiting).toMatchObject({ index: first.index, reset: false, entry: { value: "v" } });
        expect(await waitingList).toMatchObject({ index: listed.index, reset: false });
      });

      it("an index ahead of the store's (a restarted store) answers with index 0 and reset", async () => {
        const { kv, prefix: p, elapse } = fixture();
        await kv.put(`${p}k`, "v");
        const now = await kv.getBlocking(`${p}k`, { index: 0, waitSeconds: 5 });
        const ahead = kv.getBlocking(`${p}k`, { index: now.index + 1_000_000, waitSeconds: 1 });
        await elapse(1200);
        expect(await ahead).toMatchObject({ index: 0, reset: true, entry: { value: "v" } });
      });

      it("is cancelled when the signal aborts, and validates its arguments", async () => {
        const { kv, prefix: p } = fixture();
        await kv.put(`${p}k`, "v");
        const first = await kv.getBlocking(`${p}k`, { index: 0, waitSeconds: 5 });
        const controller = new AbortController();
        const waiting = kv.getBlocking(`${p}k`, {
          index: first.index,
          waitSeconds: 60,
          signal: controller.signal,
        });
        setTimeout(() => controller.abort(), 20);
        await expect(waiting).rejects.toMatchObject({ kind: "cancelled" });
        await expect(kv.getBlocking(`${p}k`, { index: 0, waitSeconds: 0 })).rejects.toMatchObject({
          kind: "invalid_argument",
          field: "waitSeconds",
        });
        await expect(kv.listBlocking(p, { index: 0, waitSeconds: 601 })).rejects.toMatchObject({
          field: "waitSeconds",
        });
        await expect(kv.getBlocking(`${p}k`, { index: -1, waitSeconds: 1 })).rejects.toMatchObject({
          field: "index",
        });
        await expect(kv.getBlocking(`/${p}k`, { index: 0, waitSeconds: 1 })).rejects.toMatchObject({
          field: "key",
        });
      });
    });

    describe("locks", () => {
      it("acquire: one holder at a time; re-acquiring keeps LockIndex and rewrites the value", async () => {
        const { kv, prefix: p } = fixture();
        const first = await session("first", 0);
        const second = await session("second", 0);
        expect(await kv.acquire(`${p}lock`, first, "node-a", { flags: 3 })).toBe(true);
        expect(await kv.acquire(`${p}lock`, second, "node-b")).toBe(false);
        const held = await kv.get(`${p}lock`);
        expect(held).toMatchObject({ value: "node-a", flags: 3, lockIndex: 1, session: first });
        expect(held?.createIndex).toBe(held?.modifyIndex);
        expect(await kv.acquire(`${p}lock`, first, "node-a again")).toBe(true);
        const again = await kv.get(`${p}lock`);
        expect(again).toMatchObject({ value: "node-a again", flags: 0, lockIndex: 1, session: first });
        expect(again?.modifyIndex).toBeGreaterThan(held?.modifyIndex ?? Infinity);
      });

      it("release: only by the holder; replaces the value, resets flags, keeps LockIndex; no lock-delay", async () => {
        const { kv, prefix: p } = fixture();
        const first = await session("first", 15);
        const second = await session("second", 15);
        expect(await kv.acquire(`${p}lock`, first, "node-a", { flags: 3 })).toBe(true);
        expect(await kv.release(`${p}lock`, second, "by b")).toBe(false);
        expect(await kv.release(`${p}lock`, first, "released")).toBe(true);
        const released = await kv.get(`${p}lock`);
        expect(released).toMatchObject({ value: "released", flags: 0, lockIndex: 1 });
        expect(released?.session).toBeUndefined();
        expect(await kv.release(`${p}lock`, first, "again")).toBe(false);
        expect(await kv.release(`${p}missing`, first, "x")).toBe(false);
        expect(await kv.get(`${p}missing`)).toBeUndefined();
        expect(await kv.acquire(`${p}lock`, second, "node-b")).toBe(true);
        expect(await lockHolder(kv, `${p}lock`)).toMatchObject({
          session: second,
          value: "node-b",
          lockIndex: 2,
        });
      });

      it("releaseLock without a value keeps value and flags", async () => {
        const { kv, prefix: p } = fixture();
        const holder = await session("keep", 15);
        expect(await kv.acquire(`${p}keep`, holder, "node-a", { flags: 3 })).toBe(true);
        expect(await releaseLock(kv, `${p}keep`, holder)).toBe(true);
        expect(await kv.get(`${p}keep`)).toMatchObject({ value: "node-a", flags: 3, lockIndex: 1 });
        expect(await releaseLock(kv, `${p}keep`, holder)).toBe(false);
      });

      it("a plain write to a held key keeps the holder and sets LockIndex to 0 (Consul 1.8)", async () => {
        const { kv, prefix: p } = fixture();
        const holder = await session("plain", 0);
        expect(await kv.acquire(`${p}lock`, holder, "node-a")).toBe(true);
        expect(await kv.put(`${p}lock`, "overwritten")).toBe(true);
        expect(await kv.get(`${p}lock`)).toMatchObject({
          value: "overwritten",
          session: holder,
          lockIndex: 0,
        });
        await kv.transaction([{ verb: "set", key: `${p}lock`, value: "in txn" }]);
        expect(await kv.get(`${p}lock`)).toMatchObject({ value: "in txn", session: holder, lockIndex: 0 });
      });

      it("a session's end starts its lock-delay on the keys it held; it runs out", async () => {
        const { kv, sessions, prefix: p, elapse } = fixture();
        const first = await session("delayed", 1);
        const second = await session("waiting", 0);
        expect(await kv.acquire(`${p}lock`, first, "node-a")).toBe(true);
        const held = await kv.get(`${p}lock`);
        await sessions.destroy(first);
        const released = await kv.get(`${p}lock`);
        expect(released).toMatchObject({ value: "node-a", lockIndex: 1 });
        expect(released?.session).toBeUndefined();
        expect(released?.modifyIndex).toBeGreaterThan(held?.modifyIndex ?? Infinity);
        expect(await kv.acquire(`${p}lock`, second, "node-b")).toBe(false);
        const error = await conflictOf(
          kv.transaction([{ verb: "lock", key: `${p}lock`, value: "node-b", session: second }]),
        );
        expect(error.what).toBe(`failed to lock key "${p}lock" due to lock delay`);
        // Plain writes are not held up by a lock-delay.
        expect(await kv.put(`${p}lock`, "plain")).toBe(true);
        await elapse(1100);
        expect(await kv.acquire(`${p}lock`, second, "node-b")).toBe(true);
        expect(await kv.get(`${p}lock`)).toMatchObject({ session: second, lockIndex: 1 });
      });

      it("acquiring with a session that does not exist is InvalidSessionError, in a transaction a conflict", async () => {
        const { kv, sessions, prefix: p } = fixture();
        const gone = await session("gone", 0);
        await sessions.destroy(gone);
        const error = await rejectionOf(kv.acquire(`${p}gone`, gone, "x"));
        expect(error).toBeInstanceOf(InvalidSessionError);
        expect(error).toMatchObject({ kind: "failed_precondition", sessionId: gone });
        const conflict = await conflictOf(
          kv.transaction([{ verb: "lock", key: `${p}gone`, value: "x", session: gone }]),
        );
        expect(conflict.what).toBe(`invalid session "${gone}"`);
        expect(await kv.get(`${p}gone`)).toBeUndefined();
        expect(await kv.release(`${p}gone`, gone, "x")).toBe(false);
      });

      it("check-session guards a write by the lock holder", async () => {
        const { kv, prefix: p } = fixture();
        const holder = await session("holder", 0);
        const other = await session("other", 0);
        expect(await kv.acquire(`${p}lock`, holder, "node-a")).toBe(true);
        const error = await conflictOf(
          kv.transaction([
            { verb: "check-session", key: `${p}lock`, session: other },
            { verb: "set", key: `${p}guarded`, value: "by other" },
          ]),
        );
        expect(error.opIndex).toBe(0);
        expect(await kv.get(`${p}guarded`)).toBeUndefined();
        await kv.transaction([
          { verb: "check-session", key: `${p}lock`, session: holder },
          { verb: "set", key: `${p}guarded`, value: "by holder" },
        ]);
        expect((await kv.get(`${p}guarded`))?.value).toBe("by holder");
      });
    });
  });
}
