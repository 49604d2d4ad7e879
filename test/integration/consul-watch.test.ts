import { cleanUpAll } from "../support/clean-up.js";
import { kvOf } from "../support/consul-stores.js";
import { watchKey, watchPrefix, type KeySnapshot, type PrefixSnapshot } from "../../src/kv/watch.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import type { SanpathError } from "../../src/errors/sanpath-error.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";

/** Runs the iteration in the background, collecting what it yields. */
function collect<T>(iterable: AsyncIterable<T>): { seen: T[]; done: Promise<void> } {
  const seen: T[] = [];
  const done = (async () => {
    for await (const item of iterable) seen.push(item);
  })();
  return { seen, done };
}

describe("watches against a real agent", () => {
  let consul: ConsulHarness;
  let client: ConsulClient;
  beforeAll(async () => {
    consul = await startConsulHarness("consul-watch");
    client = new ConsulClient({ address: consul.agent.httpAddress, timeoutMs: 2000 });
  });
  afterAll(async () => {
    await cleanUpAll(
      () => client.close(),
      () => consul.stop(),
    );
  });

  it("yields the current state, then each change, and ends when the signal aborts", async () => {
    await client.put("t/prefix/a", "1");
    const controller = new AbortController();
    const { seen, done } = collect(
      watchPrefix(kvOf(client), "t/prefix/", { signal: controller.signal, waitSeconds: 30 }),
    );
    try {
      await expect.poll(() => seen.length).toBe(1);
      expect(seen[0]?.entries.map((entry) => entry.value)).toEqual(["1"]);
      await client.put("t/prefix/b", "2");
      await expect.poll(() => seen.at(-1)?.entries.length).toBe(2);
      await client.delete("t/prefix/a");
      await expect.poll(() => seen.at(-1)?.entries.map((entry) => entry.key)).toEqual(["t/prefix/b"]);
      const indexes = seen.map((snapshot) => snapshot.index);
      expect(new Set(indexes).size).toBe(indexes.length);
    } finally {
      controller.abort();
      await done;
    }
  });

  it("follows one key through creation, update and deletion", async () => {
    const controller = new AbortController();
    const { seen, done } = collect<KeySnapshot>(
      watchKey(kvOf(client), "t/key/k", { signal: controller.signal, waitSeconds: 30 }),
    );
    try {
      await expect.poll(() => seen.length).toBe(1);
      expect(seen[0]?.entry).toBeUndefined();
      await client.put("t/key/k", "v1");
      await expect.poll(() => seen.at(-1)?.entry?.value).toBe("v1");
      await client.put("t/key/k", "v2");
      await expect.poll(() => seen.at(-1)?.entry?.value).toBe("v2");
      await client.delete("t/key/k");
      await expect.poll(() => seen.length > 3 && seen.at(-1)?.entry === undefined).toBe(true);
    } finally {
      controller.abort();
      await done;
    }
  });

  it("survives an agent restart and sees a write made afterwards", async () => {
    await client.put("t/restart/before", "old");
    const controller = new AbortController();
    const errors: SanpathError[] = [];
    const { seen, done } = collect<PrefixSnapshot>(
      watchPrefix(kvOf(client), "t/restart/", {
        signal: controller.signal,
        waitSeconds: 30,
        minBackoffMs: 20,
        maxBackoffMs: 200,
        onError: (error) => errors.push(error),
      }),
    );
    try {
      await expect.poll(() => seen.at(-1)?.entries.map((entry) => entry.key)).toEqual(["t/restart/before"]);
      const pidBefore = consul.agent.pid;
      await consul.restart();
      expect(consul.agent.pid).not.toBe(pidBefore);
      // The dev agent keeps data in memory: the restarted one starts empty.
      await client.put("t/restart/after", "new");
      await expect
        .poll(() => seen.at(-1)?.entries.map((entry) => [entry.key, entry.value]), { timeout: 15_000 })
        .toEqual([["t/restart/after", "new"]]);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((error) => error.kind === "unavailable")).toBe(true);
    } finally {
      controller.abort();
      await done;
    }
  });

  it("ends at once when the signal is already aborted, and throws on a bad argument", async () => {
    const controller = new AbortController();
    controller.abort();
    const { seen, done } = collect(watchPrefix(kvOf(client), "t/prefix/", { signal: controller.signal }));
    await done;
    expect(seen).toEqual([]);
    const live = new AbortController();
    try {
      await expect(
        collect(watchPrefix(kvOf(client), "t/prefix/", { signal: live.signal, waitSeconds: 0 })).done,
      ).rejects.toMatchObject({ kind: "invalid_argument", field: "waitSeconds" });
    } finally {
      live.abort();
    }
  });
});
