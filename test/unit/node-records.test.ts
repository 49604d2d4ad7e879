import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  parseJobPathRecord,
  serializeJobPathRecord,
  withJobPathStatus,
  type JobPathRecord,
} from "../../src/assignment/job-record.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { createLogger } from "../../src/log/logger.js";
import { EpochGate } from "../../src/node/epoch-gate.js";
import { LeaseMembership } from "../../src/node/lease-membership.js";
import { InMemoryConsul } from "../../src/testing/in-memory-consul.js";
import { InMemoryKvStore } from "../../src/testing/in-memory-kv-store.js";
import { parseNodeRecord, serializeNodeRecord } from "../../src/node/node-record.js";
import { PathJournal, type LocalPath } from "../../src/node/path-journal.js";

const RECORD: JobPathRecord = {
  jobId: "job-7",
  diskId: "00001",
  diskName: "web",
  index: 2,
  ip: "198.51.100.50",
  sourceNode: "a",
  targetNode: "b",
  status: "pending",
  updatedAt: new Date("2024-03-01T10:00:00.000Z"),
};

describe("EpochGate", () => {
  it("refuses an epoch below the highest seen with ABORTED / STALE_EPOCH and counts it", () => {
    const gate = new EpochGate();
    gate.admit(3);
    gate.admit(5);
    gate.admit(5);
    expect(gate.highest).toBe(5);
    let refused: unknown;
    try {
      gate.admit(4);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(SanpathError);
    expect(refused).toMatchObject({ kind: "aborted", reason: "STALE_EPOCH", field: "epoch" });
    expect((refused as Error).message).toContain("4 is older than epoch 5");
    expect(gate.refusedCount).toBe(1);
    expect(gate.highest).toBe(5);
  });

  it("epoch 0 (node-local) is never refused and never raises the highest", () => {
    const gate = new EpochGate();
    gate.admit(9);
    gate.admit(0);
    expect(gate.highest).toBe(9);
    expect(gate.refusedCount).toBe(0);
  });

  it("a negative or fractional epoch is an invalid field", () => {
    expect(() => new EpochGate().admit(-1)).toThrow(/epoch/);
    expect(() => new EpochGate().admit(1.5)).toThrow(/epoch/);
  });
});

describe("reassignment job record (<root>/Assignment/<ip>)", () => {
  it("round-trips, with and without an error", () => {
    expect(parseJobPathRecord(serializeJobPathRecord(RECORD))).toEqual(RECORD);
    const failed = withJobPathStatus(RECORD, "failed", new Date("2024-03-01T10:01:00.000Z"), "tgtd down");
    expect(parseJobPathRecord(serializeJobPathRecord(failed))).toEqual({
      ...RECORD,
      status: "failed",
      updatedAt: new Date("2024-03-01T10:01:00.000Z"),
      error: "tgtd down",
    });
    // A new status without an error drops the old one.
    expect(withJobPathStatus(failed, "pending", new Date(0)).error).toBeUndefined();
  });

  it("writes the documented JSON shape", () => {
    expect(JSON.parse(serializeJobPathRecord(RECORD))).toEqual({
      jobId: "job-7",
      diskId: "00001",
      diskName: "web",
      index: 2,
      ip: "198.51.100.50",
      sourceNode: "a",
      targetNode: "b",
      status: "pending",
      updatedAt: "2024-03-01T10:00:00.000Z",
    });
  });

  it.each([
    ["not JSON", "{", "not JSON"],
    ["a list", "[]", "not a JSON object"],
    ["a bad status", serializeJobPathRecord(RECORD).replace('"pending"', '"done"'), "status must be one of"],
    ["a bad index", serializeJobPathRecord(RECORD).replace('"index":2', '"index":9'), "index must be"],
    ["a bad ip", serializeJobPathRecord(RECORD).replace("198.51.100.50", "198.51.100"), "ip must be"],
    ["no job id", serializeJobPathRecord(RECORD).replace('"job-7"', '""'), "jobId must be text"],
  ])("refuses %s as DATA_LOSS naming the rule", (_what, text, rule) => {
    expect(() => parseJobPathRecord(text, "PetaSAN/Assignment/198.51.100.50")).toThrow(rule);
    try {
      parseJobPathRecord(text);
    } catch (error) {
      expect(error).toMatchObject({ kind: "data_loss", reason: "METADATA_UNREADABLE" });
    }
  });
});

describe("node record (<root>/Nodes/<name>)", () => {
  it("round-trips and keeps the documented shape", () => {
    const record = {
      name: "a",
      address: "192.0.2.11:7410",
      interfaces: { subnet1: "eth1", subnet2: undefined },
      version: "0.1.0",
      cordoned: true,
      startedAt: new Date("2024-03-01T10:00:00.000Z"),
      session: "11111111-1111-1111-1111-111111111111",
    };
    const text = serializeNodeRecord(record);
    expect(JSON.parse(text)).toEqual({
      name: "a",
      address: "192.0.2.11:7410",
      interfaces: { subnet1: "eth1" },
      version: "0.1.0",
      cordoned: true,
      startedAt: "2024-03-01T10:00:00.000Z",
      session: "11111111-1111-1111-1111-111111111111",
    });
    expect(parseNodeRecord(text)).toEqual(record);
  });

  it("carries the node's degraded state (since, reason) and refuses a broken one naming the field", () => {
    const record = {
      name: "a",
      address: "192.0.2.11:7410",
      interfaces: { subnet1: "eth1", subnet2: "eth2" },
      version: "0.1.0",
      cordoned: false,
      startedAt: new Date("2024-03-01T10:00:00.000Z"),
      session: undefined,
      degraded: { since: new Date("2024-03-01T10:05:00.000Z"), reason: "tgtd does not answer" },
    };
    const text = serializeNodeRecord(record);
    expect((JSON.parse(text) as { degraded: unknown }).degraded).toEqual({
      since: "2024-03-01T10:05:00.000Z",
      reason: "tgtd does not answer",
    });
    expect(parseNodeRecord(text)).toEqual(record);
    const broken = { ...(JSON.parse(text) as object), degraded: { since: "yesterday", reason: "x" } };
    expect(() => parseNodeRecord(JSON.stringify(broken))).toThrow("degraded.since must be an ISO 8601 time");
  });

  it("carries the lease worker's address; peers renew there, and on the main address when a record has none (an older node)", async () => {
    const base = {
      interfaces: { subnet1: "eth1", subnet2: undefined },
      version: "0.1.0",
      cordoned: false,
      startedAt: new Date("2024-03-01T10:00:00.000Z"),
      session: undefined,
    };
    const withLease = { ...base, name: "b", address: "192.0.2.12:7410", leaseAddress: "192.0.2.12:7411" };
    const text = serializeNodeRecord(withLease);
    expect((JSON.parse(text) as { leaseAddress: unknown }).leaseAddress).toBe("192.0.2.12:7411");
    expect(parseNodeRecord(text)).toEqual(withLease);
    expect(() => parseNodeRecord(JSON.stringify({ ...JSON.parse(text), leaseAddress: 7411 }))).toThrow(
      "leaseAddress must be text",
    );

    const kv = new InMemoryKvStore(new InMemoryConsul());
    const keys = new ConsulKeys();
    await kv.put(keys.node("b"), text);
    await kv.put(keys.node("c"), serializeNodeRecord({ ...base, name: "c", address: "192.0.2.13:7410" }));
    const membership = new LeaseMembership({
      kv,
      keys,
      self: "a",
      logger: createLogger({ level: "silent" }),
    });
    await membership.refresh();
    expect(membership.current()).toEqual({
      peers: [
        { name: "b", address: "192.0.2.12:7411" },
        { name: "c", address: "192.0.2.13:7410" },
      ],
      size: 3,
    });
  });

  it("refuses a record without a name or start time", () => {
    expect(() =>
      parseNodeRecord('{"address":"x","interfaces":{},"startedAt":"2024-01-01T00:00:00Z"}'),
    ).toThrow("name must be text");
    expect(() => parseNodeRecord('{"name":"a","address":"x","interfaces":{}}')).toThrow("startedAt");
  });
});

describe("PathJournal: write-ahead list of what the node configured", () => {
  let dir = "";
  afterEach(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  const entry = (index: number, state: LocalPath["state"] = "configuring"): LocalPath => ({
    diskId: "00001",
    index,
    ip: `198.51.100.${50 + index}`,
    prefixLength: 24,
    interface: "eth1",
    vlanId: index === 2 ? 20 : undefined,
    iqn: "iqn.2016-05.org.example:00001",
    state,
  });

  it("is on disk when put resolves, and a new journal reads it back", async () => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-journal-"));
    const file = join(dir, "sub", "node-paths.json");
    const journal = await PathJournal.open(file);
    await journal.put(entry(1));
    await journal.put(entry(2, "served"));
    await journal.setState("00001/1", "served");
    await journal.remove("00001/3");
    const reopened = await PathJournal.open(file);
    expect(reopened.values()).toEqual([entry(1, "served"), entry(2, "served")]);
    expect(reopened.byIp("198.51.100.52")?.vlanId).toBe(20);
    await reopened.remove("00001/1");
    expect((await PathJournal.open(file)).keys()).toEqual(["00001/2"]);
  });

  it("the last of concurrent writes wins on disk", async () => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-journal-"));
    const file = join(dir, "node-paths.json");
    const journal = await PathJournal.open(file);
    await Promise.all([1, 2, 3, 4].map((index) => journal.put(entry(index))));
    await Promise.all([journal.remove("00001/2"), journal.setState("00001/4", "cleaning")]);
    const onDisk = JSON.parse(readFileSync(file, "utf8")) as { paths: LocalPath[] };
    expect(onDisk.paths.map((path) => `${path.index}:${path.state}`)).toEqual([
      "1:configuring",
      "3:configuring",
      "4:cleaning",
    ]);
  });

  it("concurrent changes (written together): each put resolves only once its entry is on disk", async () => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-journal-"));
    const file = join(dir, "node-paths.json");
    const journal = await PathJournal.open(file);
    const onDisk = (): string[] =>
      (JSON.parse(readFileSync(file, "utf8")) as { paths: LocalPath[] }).paths.map((path) => `${path.index}`);
    const seen: string[][] = [];
    await Promise.all(
      [1, 2, 3, 4, 5, 6].map((index) =>
        journal.put(entry(index)).then(() => {
          // Write-ahead: when put resolves, its entry is in the file.
          expect(onDisk()).toContain(String(index));
          seen.push(onDisk());
        }),
      ),
    );
    expect(seen).toHaveLength(6);
    expect(onDisk()).toEqual(["1", "2", "3", "4", "5", "6"]);
  });

  it("a removal not waited for is in memory at once and on disk after flush()", async () => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-journal-"));
    const file = join(dir, "node-paths.json");
    const journal = await PathJournal.open(file);
    await journal.put(entry(1));
    await journal.put(entry(2));
    void journal.remove("00001/1");
    expect(journal.keys()).toEqual(["00001/2"]);
    await journal.flush();
    expect((await PathJournal.open(file)).keys()).toEqual(["00001/2"]);
  });

  it("keeps the highest coordinator epoch across a reopen, and an EpochGate started from it refuses older ones", async () => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-journal-"));
    const file = join(dir, "node-paths.json");
    const journal = await PathJournal.open(file);
    expect(journal.highestEpoch).toBe(0);
    await journal.raiseHighestEpoch(7);
    await journal.raiseHighestEpoch(5);
    await journal.put(entry(1));
    const reopened = await PathJournal.open(file);
    expect(reopened.highestEpoch).toBe(7);
    const gate = new EpochGate(reopened.highestEpoch);
    expect(() => gate.admit(6)).toThrow(/older than epoch 7/);
    gate.admit(7);
    gate.admit(0);
    // A journal written before the epoch was recorded reads as 0.
    writeFileSync(file, JSON.stringify({ version: 1, paths: [] }));
    expect((await PathJournal.open(file)).highestEpoch).toBe(0);
  });

  it("a missing file is empty; unreadable entries are skipped with a warning", async () => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-journal-"));
    expect((await PathJournal.open(join(dir, "none.json"))).values()).toEqual([]);
    const file = join(dir, "node-paths.json");
    writeFileSync(file, JSON.stringify({ version: 1, paths: [entry(1), { ...entry(2), ip: "nope" }] }));
    const warnings: unknown[] = [];
    const logger = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Parameters<
      typeof PathJournal.open
    >[1];
    expect((await PathJournal.open(file, logger)).keys()).toEqual(["00001/1"]);
    expect(warnings).toHaveLength(1);
    writeFileSync(file, "{not json");
    expect((await PathJournal.open(file, logger)).values()).toEqual([]);
  });
});
