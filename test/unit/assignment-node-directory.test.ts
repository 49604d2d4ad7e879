import { unusedKv } from "../support/kv-override.js";
import type { LiveSessions } from "../../src/kv/session-store.js";
import type { KvStore } from "../../src/kv/kv-store.js";
import type { KvEntry } from "../../src/kv/kv-store.js";
import { describe, expect, it } from "vitest";
import { NodeDirectory } from "../../src/assignment/node-directory.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { serializeNodeRecord } from "../../src/node/node-record.js";

const keys = new ConsulKeys("NodeDirectoryTest");

/** Node records and sessions in memory; counts the reads and can hold them until released. */
function memoryKv() {
  const records = new Map<string, string>();
  const sessions = new Set<string>();
  const counts = { list: 0, sessions: 0, get: 0 };
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => undefined;
  const kv: KvStore = {
    ...unusedKv(),
    get: () => {
      counts.get++;
      return Promise.resolve(undefined);
    },
    list: async (prefix) => {
      counts.list++;
      await gate;
      const entries: KvEntry[] = [];
      for (const [key, value] of records) if (key.startsWith(prefix)) entries.push({ key, value } as KvEntry);
      return entries;
    },
  };
  const live: LiveSessions = {
    liveSessions: async () => {
      counts.sessions++;
      await gate;
      return new Set(sessions);
    },
  };
  const putNode = (name: string, session: string, cordoned = false): void => {
    records.set(
      keys.node(name),
      serializeNodeRecord({
        name,
        address: `192.0.2.${name.charCodeAt(0) % 200}:7410`,
        interfaces: { subnet1: "eth1" },
        version: "test",
        cordoned,
        startedAt: new Date(0),
        session,
      }),
    );
  };
  const hold = (): void => {
    gate = new Promise((resolve) => {
      open = resolve;
    });
  };
  return { kv, live, records, sessions, counts, putNode, hold, release: () => open() };
}

describe("node directory: one shared view of node records and live sessions for a job's moves", () => {
  it("concurrent lookups share one read of the records and the sessions", async () => {
    const memory = memoryKv();
    memory.putNode("a", "s-a");
    memory.putNode("b", "s-b", true);
    memory.sessions.add("s-a");
    memory.hold();
    let now = 0;
    const directory = new NodeDirectory({
      kv: memory.kv,
      sessions: memory.live,
      keys,
      maxAgeMs: 300,
      clock: () => now,
    });
    const lookups = Array.from({ length: 20 }, (_, i) => directory.get(i % 2 === 0 ? "a" : "b"));
    memory.release();
    const views = await Promise.all(lookups);
    expect(memory.counts).toEqual({ list: 1, sessions: 1, get: 0 });
    expect(directory.readCount).toBe(1);
    expect(views[0]).toMatchObject({ name: "a", online: true, cordoned: false, subnets: [1] });
    expect(views[1]).toMatchObject({ name: "b", online: false, cordoned: true });
    now = 299;
    await directory.get("a");
    expect(directory.readCount).toBe(1);
  });

  it("a view older than maxAgeMs is read again and shows what changed", async () => {
    const memory = memoryKv();
    memory.putNode("a", "s-a");
    memory.sessions.add("s-a");
    let now = 0;
    const directory = new NodeDirectory({
      kv: memory.kv,
      sessions: memory.live,
      keys,
      maxAgeMs: 300,
      clock: () => now,
    });
    expect((await directory.get("a"))?.online).toBe(true);
    memory.sessions.delete("s-a");
    memory.putNode("c", "s-c");
    now = 300;
    expect((await directory.get("a"))?.online).toBe(false);
    expect((await directory.get("c"))?.name).toBe("c");
    expect(directory.readCount).toBe(2);
  });

  it("a node without a record, or with an unreadable one, is undefined", async () => {
    const memory = memoryKv();
    memory.records.set(keys.node("broken"), "{not json");
    const directory = new NodeDirectory({ kv: memory.kv, sessions: memory.live, keys });
    expect(await directory.get("broken")).toBeUndefined();
    expect(await directory.get("nobody")).toBeUndefined();
  });

  it("a failed read fails its callers and the next lookup reads again", async () => {
    const memory = memoryKv();
    memory.putNode("a", "s-a");
    let fail = true;
    const list = memory.kv.list.bind(memory.kv);
    memory.kv.list = (prefix, options) =>
      fail ? Promise.reject(new Error("consul down")) : list(prefix, options);
    const directory = new NodeDirectory({ kv: memory.kv, sessions: memory.live, keys });
    await expect(directory.get("a")).rejects.toThrow("consul down");
    fail = false;
    expect((await directory.get("a"))?.name).toBe("a");
  });

  it("a caller whose signal aborts stops waiting; the others still get the view", async () => {
    const memory = memoryKv();
    memory.putNode("a", "s-a");
    memory.hold();
    const directory = new NodeDirectory({ kv: memory.kv, sessions: memory.live, keys });
    const quitting = new AbortController();
    const first = directory.get("a", { signal: quitting.signal });
    const second = directory.get("a");
    quitting.abort(new Error("gave up"));
    await expect(first).rejects.toThrow("gave up");
    memory.release();
    expect((await second)?.name).toBe("a");
    expect(directory.readCount).toBe(1);
  });
});
