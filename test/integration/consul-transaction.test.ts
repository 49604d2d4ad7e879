import { cleanUpAll } from "../support/clean-up.js";
import { kvOf, sessionsOf } from "../support/consul-stores.js";
import { TransactionConflictError } from "../../src/kv/transaction-conflict.js";
import type { KvOperation } from "../../src/kv/kv-store.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { runTransaction } from "../../src/consul/transaction.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { rejection, rejectionAs } from "../support/thrown.js";

function sets(prefix: string, count: number): KvOperation[] {
  return Array.from({ length: count }, (_, i) => ({
    verb: "set" as const,
    key: `${prefix}${String(i).padStart(3, "0")}`,
    value: `v${i}`,
  }));
}

describe("transactions against a real agent", () => {
  let consul: ConsulHarness;
  let client: ConsulClient;
  beforeAll(async () => {
    consul = await startConsulHarness("consul-txn");
    client = new ConsulClient({ address: consul.agent.httpAddress });
  });
  afterAll(async () => {
    await cleanUpAll(
      () => client.close(),
      () => consul.stop(),
    );
  });

  it("splits 130 operations into chunks of 64 and applies them all", async () => {
    const { results } = await runTransaction(client, sets("t/many/", 130));
    expect(results).toHaveLength(130);
    expect(results.every((entry) => entry !== undefined && entry.modifyIndex > 0)).toBe(true);
    const stored = await client.list("t/many/");
    expect(stored).toHaveLength(130);
    expect(stored[129]).toMatchObject({ key: "t/many/129", value: "v129" });
  });

  it("rolls back only the chunk holding a failing op and reports its global index", async () => {
    const operations = sets("t/fail/", 130);
    operations[100] = { verb: "cas", key: "t/fail/100", value: "x", index: 999_999 };
    const error = await rejectionAs(TransactionConflictError, runTransaction(client, operations));
    expect(error).toMatchObject({
      kind: "aborted",
      reason: "CAS_CONFLICT",
      opIndex: 100,
      committedChunks: 1,
    });
    expect(error.what).toMatch(/index is stale|failed/);
    expect(error.message).toContain("operation 100");
    const stored = (await client.list("t/fail/")).map((entry) => entry.key);
    const expected = Array.from({ length: 64 }, (_, i) => `t/fail/${String(i).padStart(3, "0")}`);
    expect(stored).toEqual(expected);
  });

  it("applies nothing of a single chunk when one op fails", async () => {
    await client.put("t/atomic/exists", "old");
    const error = await rejectionAs(
      TransactionConflictError,
      runTransaction(client, [
        { verb: "set", key: "t/atomic/a", value: "a" },
        { verb: "check-not-exists", key: "t/atomic/exists" },
        { verb: "set", key: "t/atomic/b", value: "b" },
      ]),
    );
    expect(error.opIndex).toBe(1);
    expect(await client.get("t/atomic/a")).toBeUndefined();
    expect(await client.get("t/atomic/b")).toBeUndefined();
  });

  it("check-session fails when the session does not hold the key, passes when it does", async () => {
    const holder = await sessionsOf(client).create({ name: "holder", ttlSeconds: 30, lockDelaySeconds: 0 });
    const other = await sessionsOf(client).create({ name: "other", ttlSeconds: 30, lockDelaySeconds: 0 });
    expect(await kvOf(client).acquire("t/session/lock", holder, "node-a")).toBe(true);

    const error = await rejectionAs(
      TransactionConflictError,
      runTransaction(client, [
        { verb: "check-session", key: "t/session/lock", session: other },
        { verb: "set", key: "t/session/guarded", value: "by other" },
      ]),
    );
    expect(error.opIndex).toBe(0);
    expect(error.what).toContain("session");
    expect(await client.get("t/session/guarded")).toBeUndefined();

    await runTransaction(client, [
      { verb: "check-session", key: "t/session/lock", session: holder },
      { verb: "set", key: "t/session/guarded", value: "by holder" },
    ]);
    expect((await client.get("t/session/guarded"))?.value).toBe("by holder");
  });

  it("supports every KV verb and aligns results with the operations", async () => {
    const session = await sessionsOf(client).create({ name: "verbs", ttlSeconds: 30, lockDelaySeconds: 0 });
    await client.put("t/verbs/old", "old");
    await client.put("t/verbs/tree/a", "1");
    await client.put("t/verbs/tree/b", "2");
    const old = await client.get("t/verbs/old");
    if (old === undefined) throw new Error("t/verbs/old missing");

    const { results } = await runTransaction(client, [
      { verb: "set", key: "t/verbs/set", value: "ünïcode", flags: 5 },
      { verb: "check-not-exists", key: "t/verbs/none" },
      { verb: "check-index", key: "t/verbs/old", index: old.modifyIndex },
      { verb: "cas", key: "t/verbs/new", value: "created", index: 0 },
      { verb: "get", key: "t/verbs/set" },
      { verb: "lock", key: "t/verbs/lock", value: "node-a", session },
      { verb: "check-session", key: "t/verbs/lock", session },
      { verb: "delete-cas", key: "t/verbs/old", index: old.modifyIndex },
      { verb: "delete-tree", key: "t/verbs/tree/" },
      { verb: "unlock", key: "t/verbs/lock", value: "released", session },
      { verb: "delete", key: "t/verbs/new" },
    ]);
    expect(results).toHaveLength(11);
    expect(results[0]).toMatchObject({ key: "t/verbs/set", flags: 5 });
    expect(results[1]).toBeUndefined();
    expect(results[2]).toMatchObject({ key: "t/verbs/old" });
    expect(results[3]).toMatchObject({ key: "t/verbs/new" });
    expect(results[4]).toMatchObject({ key: "t/verbs/set", value: "ünïcode", flags: 5 });
    expect(results[5]).toMatchObject({ key: "t/verbs/lock", lockIndex: 1 });
    expect(results[6]).toMatchObject({ key: "t/verbs/lock" });
    expect(results[7]).toBeUndefined();
    expect(results[8]).toBeUndefined();
    expect(results[9]).toMatchObject({ key: "t/verbs/lock" });
    expect(results[10]).toBeUndefined();

    expect((await client.list("t/verbs/")).map((entry) => [entry.key, entry.value, entry.session])).toEqual([
      ["t/verbs/lock", "released", undefined],
      ["t/verbs/set", "ünïcode", undefined],
    ]);
  });

  it("a lock op with another holder's key is a conflict, not success", async () => {
    const a = await sessionsOf(client).create({ name: "a", ttlSeconds: 30, lockDelaySeconds: 0 });
    const b = await sessionsOf(client).create({ name: "b", ttlSeconds: 30, lockDelaySeconds: 0 });
    expect(await kvOf(client).acquire("t/lockop/k", a, "node-a")).toBe(true);
    const error = await rejectionAs(
      TransactionConflictError,
      runTransaction(client, [{ verb: "lock", key: "t/lockop/k", value: "node-b", session: b }]),
    );
    expect(error.opIndex).toBe(0);
    expect((await client.get("t/lockop/k"))?.session).toBe(a);
  });

  it("an unreachable Consul is unavailable, not a conflict", async () => {
    const nowhere = new ConsulClient({ address: "127.0.0.1:1", timeoutMs: 500 });
    try {
      const error = await rejection(runTransaction(nowhere, sets("t/x/", 1)));
      expect(error).not.toBeInstanceOf(TransactionConflictError);
      expect(error).toMatchObject({ kind: "unavailable", reason: "CONSUL_UNAVAILABLE" });
    } finally {
      nowhere.close();
    }
  });

  it("validates operations before sending anything", async () => {
    await expect(
      runTransaction(client, [
        { verb: "set", key: "t/valid/a", value: "a" },
        { verb: "set", key: "/t/valid/b", value: "b" },
      ]),
    ).rejects.toMatchObject({ kind: "invalid_argument", field: "operations[1].key" });
    expect(await client.get("t/valid/a")).toBeUndefined();
    expect(await runTransaction(client, [])).toEqual({ results: [] });
  });
});
