import { unusedKv } from "../support/kv-override.js";
import type { KvStore } from "../../src/kv/kv-store.js";
import type { KvOperation } from "../../src/kv/kv-store.js";
import { describe, expect, it } from "vitest";
import { JobJournal } from "../../src/assignment/job-journal.js";
import { parseJobEvent } from "../../src/assignment/job-model.js";
import type { JobPathRecord } from "../../src/assignment/job-record.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { createLogger } from "../../src/log/logger.js";

const keys = new ConsulKeys("JobJournalTest");
const fence = { lockKey: keys.coordinatorLock(), session: "coordinator-session" };

function record(i: number, status: JobPathRecord["status"]): JobPathRecord {
  return {
    jobId: "job-1",
    diskId: String(i).padStart(5, "0"),
    diskName: `disk-${i}`,
    index: 1,
    ip: `198.51.100.${10 + i}`,
    sourceNode: "a",
    targetNode: "b",
    status,
    updatedAt: new Date(0),
  };
}

/** Transactions are held until the test lets the next one through; each is kept. */
function heldTransactions() {
  const transactions: KvOperation[][] = [];
  const gates: (() => void)[] = [];
  const kv: KvStore = {
    ...unusedKv(),
    transaction: (operations) => {
      transactions.push([...operations]);
      return new Promise((resolve) => {
        gates.push(() => {
          resolve({ results: [] });
        });
      });
    },
  };
  const passOne = async (): Promise<void> => {
    for (let i = 0; i < 20 && gates.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    gates.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { kv, transactions, passOne };
}

describe("job journal: concurrent moves share transactions (group commit)", () => {
  it("entries appended while a write is in flight go together in the next transaction, sequences consecutive", async () => {
    const held = heldTransactions();
    const journal = new JobJournal({
      kv: held.kv,
      keys,
      fence,
      jobId: "job-1",
      lastSequence: 4,
      records: Array.from({ length: 9 }, (_, i) => record(i, "pending")),
      state: () => "running",
      signal: new AbortController().signal,
      logger: createLogger({ level: "silent" }),
    });
    const pathEvent = (i: number) => ({
      kind: "path" as const,
      path: {
        diskId: record(i, "moving").diskId,
        index: 1,
        ip: record(i, "moving").ip,
        phase: "cleaning" as const,
        sourceNode: "a",
        targetNode: "b",
      },
    });
    const written: number[] = [];
    const appends = Array.from({ length: 9 }, (_, i) =>
      journal.append({ records: [record(i, "moving")], events: [pathEvent(i)] }).then(() => written.push(i)),
    );
    await held.passOne();
    expect(written).toEqual([0]);
    await held.passOne();
    await Promise.all(appends);
    expect(written).toHaveLength(9);
    // The first move's entry went alone; the eight that came while it was written went in one.
    expect(held.transactions).toHaveLength(2);
    const second = held.transactions[1] ?? [];
    expect(second[0]).toEqual({ verb: "check-session", key: fence.lockKey, session: fence.session });
    const recordKeys = second.filter((op) => op.verb === "set" && op.key.startsWith(keys.assignmentPaths()));
    expect(recordKeys).toHaveLength(8);
    const sequences = held.transactions
      .flat()
      .filter(
        (op): op is Extract<KvOperation, { verb: "set" }> =>
          op.verb === "set" && op.key.startsWith(keys.assignmentEvents("job-1")),
      )
      .map((op) => parseJobEvent(op.value).sequence);
    // One path event per move, and one totals event per transaction.
    expect(sequences).toEqual(Array.from({ length: 11 }, (_, i) => 5 + i));
    expect(journal.lastSequence).toBe(15);
    expect(journal.totals()).toMatchObject({ moving: 9 });
  });
});
