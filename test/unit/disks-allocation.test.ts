import { unusedKv } from "../support/kv-override.js";
import type { KvStore } from "../../src/kv/kv-store.js";
import type { KvEntry, KvOperation } from "../../src/kv/kv-store.js";
import { TransactionConflictError } from "../../src/kv/transaction-conflict.js";
import { describe, expect, it } from "vitest";
import { ConsulKeys } from "../../src/consul/keys.js";
import { AllocationDraft } from "../../src/disks/allocation-draft.js";
import { AllocationKeys, ipBlockBase } from "../../src/disks/allocation-keys.js";
import { Bitmap } from "../../src/util/bitmap.js";
import { retryOnConflict } from "../../src/disks/conflict-retry.js";
import {
  parseDiskAllocation,
  serializeDiskAllocation,
  type DiskAllocation,
} from "../../src/disks/disk-allocation.js";
import { pageToken, parsePageToken } from "../../src/disks/disk-listing.js";
import { Mutex } from "../../src/util/mutex.js";
import { tryParseIpv4 } from "../../src/disks/ipv4.js";
import { thrown } from "../support/thrown.js";

/** Reads only: the entries given (transactions are not needed by AllocationDraft.read). */
function readOnlyKv(entries: Record<string, string>): KvStore {
  const entry = (key: string, value: string): KvEntry => ({
    key,
    value,
    flags: 0,
    createIndex: 7,
    modifyIndex: 7,
    lockIndex: 0,
  });
  return {
    ...unusedKv(),
    get: (key) => Promise.resolve(key in entries ? entry(key, entries[key] ?? "") : undefined),
    list: (prefix) =>
      Promise.resolve(
        Object.entries(entries)
          .filter(([key]) => key.startsWith(prefix))
          .map(([key, value]) => entry(key, value)),
      ),
  };
}

const keys = new AllocationKeys(new ConsulKeys("Root"));

describe("AllocationDraft", () => {
  it("reads the id bitmap and the IP blocks, and writes back only what changed, CAS-guarded", async () => {
    const ids = new Bitmap(99_999);
    ids.add(0);
    const block = new Bitmap(4096);
    const address = tryParseIpv4("198.51.100.10") ?? 0;
    block.add(address - ipBlockBase(address));
    const draft = await AllocationDraft.read(
      readOnlyKv({
        [keys.diskIdBitmap()]: ids.encode(),
        [keys.ipBlock(ipBlockBase(address))]: block.encode(),
        "Root/Allocations/IpBlocks/not-a-block": "x",
      }),
      keys,
    );
    expect(draft.firstFreeId()).toBe("00002");
    expect(draft.isIpUsed("198.51.100.10")).toBe(true);
    expect(draft.isIpUsed("198.51.100.11")).toBe(false);
    expect(draft.writeOperations()).toEqual([]);
    expect(draft.idGuard()).toEqual({ verb: "check-index", key: "Root/Allocations/DiskIdBitmap", index: 7 });

    draft.takeId("00002");
    draft.takeIp("203.0.113.7");
    const operations = draft.writeOperations();
    expect(operations).toHaveLength(2);
    expect(operations[0]).toMatchObject({ verb: "cas", key: "Root/Allocations/DiskIdBitmap", index: 7 });
    // A block nobody wrote yet is created only if it is still absent.
    expect(operations[1]).toMatchObject({
      verb: "cas",
      key: "Root/Allocations/IpBlocks/203.0.112.0",
      index: 0,
    });
    expect([...draft.usedIps()]).toEqual(["198.51.100.10", "203.0.113.7"]);
    expect(draft.anyIpUsedIn(tryParseIpv4("203.0.113.0") ?? 0, tryParseIpv4("203.0.113.255") ?? 0)).toBe(
      true,
    );
    expect(draft.anyIpUsedIn(tryParseIpv4("203.0.113.8") ?? 0, tryParseIpv4("203.0.113.255") ?? 0)).toBe(
      false,
    );
  });

  it("deletes a record that a release empties, and only checks one it never had", async () => {
    const ids = new Bitmap(99_999);
    ids.add(4);
    const draft = await AllocationDraft.read(readOnlyKv({ [keys.diskIdBitmap()]: ids.encode() }), keys);
    draft.releaseId("00005");
    draft.takeIp("198.51.100.9");
    draft.releaseIp("198.51.100.9");
    const operations: KvOperation[] = draft.writeOperations();
    expect(operations).toEqual([
      { verb: "delete-cas", key: "Root/Allocations/DiskIdBitmap", index: 7 },
      { verb: "check-not-exists", key: "Root/Allocations/IpBlocks/198.51.96.0" },
    ]);
  });

  it("says RESOURCE_EXHAUSTED when every id is taken", async () => {
    const ids = new Bitmap(99_999);
    for (let bit = 0; bit < 99_999; bit++) ids.add(bit);
    const draft = await AllocationDraft.read(readOnlyKv({ [keys.diskIdBitmap()]: ids.encode() }), keys);
    expect(thrown(() => draft.firstFreeId())).toMatchObject({ kind: "resource_exhausted" });
  });
});

describe("allocation records, page tokens, retries", () => {
  const allocation: DiskAllocation = {
    id: "00042",
    name: "Backup Disk",
    pool: "rbd",
    ips: ["198.51.100.10", "203.0.113.10"],
    node: "node-1",
    token: "t-1",
    createTime: new Date("2024-05-01T10:00:00.000Z"),
    state: "active",
    lease: { token: "l-1", until: new Date("2024-05-01T10:02:00.000Z") },
  };

  it("round-trips an allocation record and refuses a malformed one", () => {
    expect(parseDiskAllocation(serializeDiskAllocation(allocation), "k")).toEqual(allocation);
    const noLease = { ...allocation, lease: undefined };
    expect(parseDiskAllocation(serializeDiskAllocation(noLease), "k")).toEqual(noLease);
    for (const broken of [
      "{",
      "[]",
      JSON.stringify({ ...JSON.parse(serializeDiskAllocation(allocation)), ips: ["x"] }),
    ]) {
      expect(thrown(() => parseDiskAllocation(broken, "k"))).toMatchObject({
        kind: "data_loss",
        reason: "METADATA_UNREADABLE",
      });
    }
  });

  it("page tokens carry the last id and refuse anything else", () => {
    expect(parsePageToken(pageToken("00017"))).toBe("00017");
    for (const bad of ["", "00017", "!!", Buffer.from("after:1").toString("base64url")]) {
      expect(thrown(() => parsePageToken(bad))).toMatchObject({ field: "page_token" });
    }
  });

  it("retries a lost CAS with backoff and gives up with ABORTED / CAS_CONFLICT", async () => {
    const conflict = (): TransactionConflictError =>
      new TransactionConflictError([{ opIndex: 1, what: "stale" }], 0, undefined);
    let calls = 0;
    const value = await retryOnConflict(
      "t",
      { attempts: 5, baseDelayMs: 1, maxDelayMs: 2 },
      undefined,
      () => {
        calls += 1;
        return calls < 3 ? Promise.reject(conflict()) : Promise.resolve("done");
      },
    );
    expect([value, calls]).toEqual(["done", 3]);
    await expect(
      retryOnConflict("t", { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 }, undefined, () =>
        Promise.reject(conflict()),
      ),
    ).rejects.toMatchObject({ kind: "aborted", reason: "CAS_CONFLICT" });
    const other = new Error("boom");
    calls = 0;
    await expect(
      retryOnConflict("t", { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 }, undefined, () => {
        calls += 1;
        return Promise.reject(other);
      }),
    ).rejects.toBe(other);
    expect(calls).toBe(1);
  });

  it("runs mutex sections one at a time, in order, even after one fails", async () => {
    const mutex = new Mutex();
    const order: string[] = [];
    const section =
      (name: string, fail = false) =>
      async () => {
        order.push(`${name}+`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        order.push(`${name}-`);
        if (fail) throw new Error(name);
        return name;
      };
    const results = await Promise.allSettled([
      mutex.run(section("a")),
      mutex.run(section("b", true)),
      mutex.run(section("c")),
    ]);
    expect(order).toEqual(["a+", "a-", "b+", "b-", "c+", "c-"]);
    expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  });
});
