/**
 * The transaction part of the KvStore contract (registered by kvStoreContract): every verb, Consul's
 * refusal messages, all-or-nothing chunks of 64, validation before anything runs.
 */
import { expect, it } from "vitest";
import type { KvOperation } from "../../src/kv/kv-store.js";
import { conflictOf, type useStoreFixture } from "./store-fixture.js";

function sets(prefix: string, count: number): KvOperation[] {
  return Array.from({ length: count }, (_, i) => ({
    verb: "set" as const,
    key: `${prefix}${String(i).padStart(3, "0")}`,
    value: `v${i}`,
  }));
}

type Fixture = ReturnType<typeof useStoreFixture>;

export function kvTransactionTests(fixture: Fixture["fixture"], session: Fixture["session"]): void {
  it("supports every KV verb and aligns results with the operations", async () => {
    const { kv, prefix: p } = fixture();
    const holder = await session("verbs", 0);
    await kv.put(`${p}old`, "old");
    await kv.put(`${p}tree/a`, "1");
    await kv.put(`${p}tree/b`, "2");
    const old = await kv.get(`${p}old`);
    if (old === undefined) throw new Error("old missing");
    const { results } = await kv.transaction([
      { verb: "set", key: `${p}set`, value: "ünïcode", flags: 5 },
      { verb: "check-not-exists", key: `${p}none` },
      { verb: "check-index", key: `${p}old`, index: old.modifyIndex },
      { verb: "cas", key: `${p}new`, value: "created", index: 0 },
      { verb: "get", key: `${p}set` },
      { verb: "lock", key: `${p}lock`, value: "node-a", session: holder },
      { verb: "check-session", key: `${p}lock`, session: holder },
      { verb: "delete-cas", key: `${p}old`, index: old.modifyIndex },
      { verb: "delete-tree", key: `${p}tree/` },
      { verb: "unlock", key: `${p}lock`, value: "released", session: holder },
      { verb: "delete", key: `${p}new` },
    ]);
    expect(results).toHaveLength(11);
    expect(results[0]).toMatchObject({ key: `${p}set`, flags: 5, value: "" });
    expect(results[1]).toBeUndefined();
    expect(results[2]).toMatchObject({ key: `${p}old`, modifyIndex: old.modifyIndex });
    expect(results[3]).toMatchObject({ key: `${p}new`, value: "" });
    expect(results[4]).toMatchObject({ key: `${p}set`, value: "ünïcode", flags: 5 });
    expect(results[5]).toMatchObject({ key: `${p}lock`, lockIndex: 1, session: holder });
    expect(results[6]).toMatchObject({ key: `${p}lock`, session: holder });
    expect(results[7]).toBeUndefined();
    expect(results[8]).toBeUndefined();
    expect(results[9]).toMatchObject({ key: `${p}lock`, lockIndex: 1 });
    expect(results[9]?.session).toBeUndefined();
    expect(results[10]).toBeUndefined();
    // One transaction, one index.
    expect(results[0]?.modifyIndex).toBe(results[5]?.modifyIndex);
    expect(results[0]?.modifyIndex).toBeGreaterThan(old.modifyIndex);
    expect((await kv.list(p)).map((entry) => [entry.key, entry.value, entry.session])).toEqual([
      [`${p}lock`, "released", undefined],
      [`${p}set`, "ünïcode", undefined],
    ]);
  });

  it("applies nothing when one operation fails, and names it", async () => {
    const { kv, prefix: p } = fixture();
    await kv.put(`${p}exists`, "old");
    const error = await conflictOf(
      kv.transaction([
        { verb: "set", key: `${p}a`, value: "a" },
        { verb: "check-not-exists", key: `${p}exists` },
        { verb: "set", key: `${p}b`, value: "b" },
      ]),
    );
    expect(error).toMatchObject({
      kind: "aborted",
      reason: "CAS_CONFLICT",
      opIndex: 1,
      committedChunks: 0,
    });
    expect(error.message).toContain("operation 1");
    expect(error.what).toBe(`key "${p}exists" exists`);
    expect(await kv.get(`${p}a`)).toBeUndefined();
    expect(await kv.get(`${p}b`)).toBeUndefined();
  });

  it("explains each kind of refusal as Consul does", async () => {
    const { kv, prefix: p } = fixture();
    const a = await session("a", 0);
    const b = await session("b", 0);
    await kv.put(`${p}k`, "v");
    const k = await kv.get(`${p}k`);
    if (k === undefined) throw new Error("k missing");
    expect(await kv.acquire(`${p}held`, a, "a")).toBe(true);
    const refusal = async (operation: KvOperation): Promise<string> =>
      (await conflictOf(kv.transaction([{ verb: "set", key: `${p}first`, value: "" }, operation]))).what;
    const stale = k.modifyIndex + 1000;
    expect(await refusal({ verb: "cas", key: `${p}k`, value: "", index: stale })).toBe(
      `failed to set key "${p}k", index is stale`,
    );
    expect(await refusal({ verb: "delete-cas", key: `${p}k`, index: stale })).toBe(
      `failed to delete key "${p}k", index is stale`,
    );
    expect(await refusal({ verb: "check-index", key: `${p}k`, index: stale })).toBe(
      `failed index check for key "${p}k", current modify index ${k.modifyIndex} != ${stale}`,
    );
    expect(await refusal({ verb: "check-index", key: `${p}none`, index: 1 })).toBe(
      `failed to check index, key "${p}none" doesn't exist`,
    );
    expect(await refusal({ verb: "get", key: `${p}none` })).toBe(`key "${p}none" doesn't exist`);
    expect(await refusal({ verb: "check-session", key: `${p}held`, session: b })).toBe(
      `failed session check for key "${p}held", current session "${a}" != "${b}"`,
    );
    expect(await refusal({ verb: "check-session", key: `${p}none`, session: b })).toBe(
      `failed to check session, key "${p}none" doesn't exist`,
    );
    expect(await refusal({ verb: "lock", key: `${p}held`, value: "", session: b })).toBe(
      `failed to lock key "${p}held", lock is already held`,
    );
    expect(await refusal({ verb: "unlock", key: `${p}held`, value: "", session: b })).toBe(
      `failed to unlock key "${p}held", lock isn't held, or is held by another session`,
    );
    expect(await kv.get(`${p}first`)).toBeUndefined();
  });

  it("reports every failing operation; later operations see the earlier ones' writes", async () => {
    const { kv, prefix: p } = fixture();
    await kv.put(`${p}k`, "v");
    const error = await conflictOf(
      kv.transaction([
        { verb: "check-index", key: `${p}none`, index: 0 },
        { verb: "set", key: `${p}new`, value: "n" },
        { verb: "get", key: `${p}new` },
        { verb: "get", key: `${p}none` },
        { verb: "check-not-exists", key: `${p}new` },
      ]),
    );
    expect(error.opIndex).toBe(0);
    expect(error.errors.map((failure) => failure.opIndex)).toEqual([0, 3, 4]);
    expect(await kv.get(`${p}new`)).toBeUndefined();
  });

  it("runs more than 64 operations in chunks of 64; a failing chunk is rolled back, earlier ones stay", async () => {
    const { kv, prefix: p } = fixture();
    const { results } = await kv.transaction(sets(`${p}many/`, 130));
    expect(results).toHaveLength(130);
    expect(results.every((entry) => entry !== undefined && entry.modifyIndex > 0)).toBe(true);
    expect(await kv.list(`${p}many/`)).toHaveLength(130);

    const operations = sets(`${p}fail/`, 130);
    operations[100] = { verb: "cas", key: `${p}fail/100`, value: "x", index: 999_999 };
    const error = await conflictOf(kv.transaction(operations));
    expect(error).toMatchObject({ opIndex: 100, committedChunks: 1 });
    expect(error.message).toContain("operation 100");
    const expected = Array.from({ length: 64 }, (_, i) => `${p}fail/${String(i).padStart(3, "0")}`);
    expect((await kv.list(`${p}fail/`)).map((entry) => entry.key)).toEqual(expected);
  });

  it("validates every operation before running any", async () => {
    const { kv, prefix: p } = fixture();
    const attempt = (operation: KvOperation) =>
      kv.transaction([{ verb: "set", key: `${p}a`, value: "a" }, operation]);
    await expect(attempt({ verb: "set", key: "/t/b", value: "b" })).rejects.toMatchObject({
      kind: "invalid_argument",
      field: "operations[1].key",
    });
    await expect(attempt({ verb: "cas", key: `${p}b`, value: "b", index: -1 })).rejects.toMatchObject({
      field: "operations[1].index",
    });
    await expect(attempt({ verb: "set", key: `${p}b`, value: "b", flags: -2 })).rejects.toMatchObject({
      field: "operations[1].flags",
    });
    await expect(attempt({ verb: "lock", key: `${p}b`, value: "b", session: "" })).rejects.toMatchObject({
      field: "operations[1].session",
    });
    await expect(attempt({ verb: "delete-tree", key: "" })).rejects.toMatchObject({
      field: "operations[1].key",
    });
    expect(await kv.get(`${p}a`)).toBeUndefined();
    expect(await kv.transaction([])).toEqual({ results: [] });
  });
}
