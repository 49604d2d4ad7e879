import { cleanUpAll } from "../support/clean-up.js";
import { kvOf, sessionsOf } from "../support/consul-stores.js";
import { lockHolder, releaseLock } from "../../src/kv/locks.js";
import { InvalidSessionError } from "../../src/kv/invalid-session.js";
import { type SessionOptions } from "../../src/kv/session-store.js";
import { SessionKeeper } from "../../src/kv/session-keeper.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import type { SanpathError } from "../../src/errors/sanpath-error.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { rejection } from "../support/thrown.js";

describe("sessions and locks against a real agent", () => {
  let consul: ConsulHarness;
  let client: ConsulClient;
  const created: string[] = [];

  async function session(name: string, lockDelaySeconds: number, extra: Partial<SessionOptions> = {}) {
    const id = await sessionsOf(client).create({ name, ttlSeconds: 30, lockDelaySeconds, ...extra });
    created.push(id);
    return id;
  }

  beforeAll(async () => {
    consul = await startConsulHarness("consul-locks");
    client = new ConsulClient({ address: consul.agent.httpAddress });
  });
  afterAll(async () => {
    await cleanUpAll(
      () => client.close(),
      () => consul.stop(),
    );
  });

  it("creates a session with the lock-delay as given (a string on the wire), serfHealth and a TTL", async () => {
    const id = await session("info", 15);
    const info = await sessionsOf(client).info(id);
    expect(info).toMatchObject({
      id,
      name: "info",
      node: consul.agent.nodeName,
      lockDelayMs: 15_000,
      behavior: "release",
      ttl: "30s",
      checks: ["serfHealth"],
    });
    const zero = await session("zero", 0);
    expect((await sessionsOf(client).info(zero))?.lockDelayMs).toBe(0);
    expect(await sessionsOf(client).renew(id)).toBe(true);
    await sessionsOf(client).destroy(id);
    expect(await sessionsOf(client).info(id)).toBeUndefined();
    expect(await sessionsOf(client).renew(id)).toBe(false);
  });

  it("validates TTL and lock-delay", async () => {
    await expect(session("bad", 0, { ttlSeconds: 5 })).rejects.toMatchObject({
      kind: "invalid_argument",
      field: "session.ttlSeconds",
    });
    await expect(session("bad", 0, { ttlSeconds: 86_401 })).rejects.toMatchObject({
      kind: "invalid_argument",
    });
    await expect(session("bad", 61)).rejects.toMatchObject({ field: "session.lockDelaySeconds" });
    await expect(session("bad", -1)).rejects.toMatchObject({ field: "session.lockDelaySeconds" });
  });

  it("a destroyed session frees its locks (lock-delay 0s: another session acquires at once)", async () => {
    const first = await session("first", 0);
    const second = await session("second", 0);
    expect(await kvOf(client).acquire("t/locks/free", first, "node-a")).toBe(true);
    expect(await kvOf(client).acquire("t/locks/free", second, "node-b")).toBe(false);
    expect(await lockHolder(kvOf(client), "t/locks/free")).toMatchObject({ session: first, value: "node-a" });
    await sessionsOf(client).destroy(first);
    expect(await lockHolder(kvOf(client), "t/locks/free")).toBeUndefined();
    expect(await kvOf(client).acquire("t/locks/free", second, "node-b")).toBe(true);
    expect(await lockHolder(kvOf(client), "t/locks/free")).toMatchObject({
      session: second,
      value: "node-b",
    });
  });

  it("a destroyed session with lock-delay 15s blocks re-acquiring right after", async () => {
    const first = await session("slow-first", 15);
    const second = await session("slow-second", 0);
    expect(await kvOf(client).acquire("t/locks/delayed", first, "node-a")).toBe(true);
    await sessionsOf(client).destroy(first);
    expect(await lockHolder(kvOf(client), "t/locks/delayed")).toBeUndefined();
    expect(await kvOf(client).acquire("t/locks/delayed", second, "node-b")).toBe(false);
    expect(await lockHolder(kvOf(client), "t/locks/delayed")).toBeUndefined();
  });

  it("an explicit release lets another session acquire at once despite a 15s lock-delay", async () => {
    const first = await session("release-first", 15);
    const second = await session("release-second", 15);
    expect(await kvOf(client).acquire("t/locks/released", first, "node-a")).toBe(true);
    expect(await releaseLock(kvOf(client), "t/locks/released", second)).toBe(false);
    expect(await releaseLock(kvOf(client), "t/locks/released", first, "released-by-a")).toBe(true);
    expect((await client.get("t/locks/released"))?.value).toBe("released-by-a");
    expect(await kvOf(client).acquire("t/locks/released", second, "node-b")).toBe(true);
    expect(await lockHolder(kvOf(client), "t/locks/released")).toMatchObject({
      session: second,
      value: "node-b",
    });
  });

  it("a release without a value keeps the value and flags, and the lock index counts acquisitions", async () => {
    const first = await session("keep-first", 15);
    const second = await session("keep-second", 15);
    expect(await kvOf(client).acquire("t/locks/keep", first, "node-a", { flags: 3 })).toBe(true);
    const epochA = (await lockHolder(kvOf(client), "t/locks/keep"))?.lockIndex ?? 0;
    expect(epochA).toBe(1);
    // Acquiring again with the same session keeps the epoch.
    expect(await kvOf(client).acquire("t/locks/keep", first, "node-a", { flags: 3 })).toBe(true);
    expect((await lockHolder(kvOf(client), "t/locks/keep"))?.lockIndex).toBe(epochA);

    expect(await releaseLock(kvOf(client), "t/locks/keep", first)).toBe(true);
    expect(await client.get("t/locks/keep")).toMatchObject({ value: "node-a", flags: 3 });
    expect(await releaseLock(kvOf(client), "t/locks/keep", first)).toBe(false);

    expect(await kvOf(client).acquire("t/locks/keep", second, "node-b")).toBe(true);
    expect((await lockHolder(kvOf(client), "t/locks/keep"))?.lockIndex).toBe(epochA + 1);
  });

  it("acquiring with a session that no longer exists is an InvalidSessionError, not 'held elsewhere'", async () => {
    const gone = await session("gone", 0);
    await sessionsOf(client).destroy(gone);
    const error = await rejection(kvOf(client).acquire("t/locks/gone", gone, "x"));
    expect(error).toBeInstanceOf(InvalidSessionError);
    expect(error).toMatchObject({ kind: "failed_precondition", sessionId: gone });
    expect(await releaseLock(kvOf(client), "t/locks/gone", gone, "x")).toBe(false);
    expect(await releaseLock(kvOf(client), "t/locks/gone", gone)).toBe(false);
  });

  it("SessionKeeper confirms renewals and reports lost once the session is destroyed elsewhere", async () => {
    const id = await sessionsOf(client).create({ name: "kept", ttlSeconds: 10, lockDelaySeconds: 0 });
    const confirmations: number[] = [];
    const failures: SanpathError[] = [];
    let lostCalls = 0;
    let onLost: () => void = () => undefined;
    const lost = new Promise<void>((resolve) => {
      onLost = resolve;
    });
    const keeper = new SessionKeeper({
      sessions: sessionsOf(client),
      sessionId: id,
      ttlSeconds: 10,
      renewEveryMs: 50,
      renewTimeoutMs: 5000,
      onConfirmed: (at) => confirmations.push(at),
      onRenewFailed: (error) => failures.push(error),
      onLost: () => {
        lostCalls += 1;
        onLost();
      },
    });
    expect(keeper.lastConfirmedAt).toBeUndefined();
    expect(keeper.msSinceConfirmed()).toBe(Number.POSITIVE_INFINITY);
    keeper.start();
    try {
      await expect.poll(() => confirmations.length).toBeGreaterThanOrEqual(3);
      expect(keeper.lastConfirmedAt).toBe(confirmations.at(-1));
      expect(keeper.msSinceConfirmed()).toBeLessThan(Number.POSITIVE_INFINITY);
      expect(keeper.lost).toBe(false);

      await sessionsOf(client).destroy(id);
      await lost;
      expect(keeper.lost).toBe(true);
      const confirmedBefore = confirmations.length;
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(confirmations.length).toBe(confirmedBefore);
      expect(lostCalls).toBe(1);
      expect(failures).toEqual([]);
    } finally {
      await keeper.stop();
    }
  });

  it("SessionKeeper reports failed renewals while Consul is unreachable and stops cleanly", async () => {
    const unreachable = new ConsulClient({ address: "127.0.0.1:1", timeoutMs: 500 });
    const failures: SanpathError[] = [];
    const keeper = new SessionKeeper({
      sessions: sessionsOf(unreachable),
      sessionId: "00000000-0000-0000-0000-000000000000",
      ttlSeconds: 10,
      retryAfterMs: 20,
      onRenewFailed: (error) => failures.push(error),
      onLost: () => {
        throw new Error("an unreachable Consul is not a lost session");
      },
    });
    keeper.start();
    try {
      await expect.poll(() => failures.length).toBeGreaterThanOrEqual(2);
      expect(failures[0]).toMatchObject({ kind: "unavailable", reason: "CONSUL_UNAVAILABLE" });
      expect(keeper.lastConfirmedAt).toBeUndefined();
      expect(keeper.lost).toBe(false);
    } finally {
      await keeper.stop();
      unreachable.close();
    }
    const after = failures.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(failures.length).toBe(after);
  });
});
