import type { KvStore } from "../kv/kv-store.js";
import { MAX_OPS_PER_TRANSACTION, type KvOperation } from "../kv/kv-store.js";
import { TransactionConflictError } from "../kv/transaction-conflict.js";
import { isAborted } from "../util/abort.js";
import { setTimeout as sleep } from "node:timers/promises";
import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { leadershipLost } from "./job-errors.js";
import {
  serializeJobEvent,
  totalsOf,
  type JobEventBody,
  type JobState,
  type JobTotals,
} from "./job-model.js";
import { serializeJobPathRecord, type JobPathRecord, type JobPathStatus } from "./job-record.js";
import { fenceOperation, type Fence } from "./job-store.js";

/** Path records to write and the events that say what happened, written together. */
export interface JournalEntry {
  readonly records?: readonly JobPathRecord[];
  readonly events: readonly JobEventBody[];
}

export interface JobJournalOptions {
  kv: KvStore;
  keys: ConsulKeys;
  fence: Fence;
  jobId: string;
  /** The last sequence already in Consul (0 for a new log). */
  lastSequence: number;
  /** The job's path records as stored: totals sent after path events count what is written. */
  records: readonly JobPathRecord[];
  /** The job's state as of now, stamped on each event. */
  state: () => JobState;
  /** The coordinator's term: once aborted nothing more is written. */
  signal: AbortSignal;
  logger: Logger;
  now?: () => Date;
  /** First pause after Consul did not answer; doubles up to 2 s (default 100 ms). */
  retryMs?: number;
}

interface Waiting {
  readonly entry: JournalEntry;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Operations one entry may take at most: the rest of a transaction is the fence and a totals event. */
const MAX_ENTRY_OPS = MAX_OPS_PER_TRANSACTION - 2;

/**
 * The coordinator's writer of a job's path records and event log. Entries are queued and written in
 * batches, one Consul transaction each: a check-session on the coordinator lock, the records, the
 * events with consecutive sequence numbers, and after path events one totals event. A batch Consul
 * did not answer is sent again as it was (same sequences, same values: writing it twice is harmless),
 * so the log has neither gaps nor duplicates; a failed fence (another coordinator leads) ends the
 * journal, and the next coordinator continues after the last sequence it finds in Consul.
 */
export class JobJournal {
  private readonly options: JobJournalOptions;
  private readonly now: () => Date;
  private readonly queue: Waiting[] = [];
  private draining: Promise<void> | undefined;
  private readonly statuses = new Map<string, JobPathStatus>();
  private written: number;
  private broken: Error | undefined;

  constructor(options: JobJournalOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
    this.written = options.lastSequence;
    for (const record of options.records) this.statuses.set(record.ip, record.status);
  }

  /** Totals of the records as written (or being written). */
  totals(): JobTotals {
    return totalsOf([...this.statuses.values()].map((status) => ({ status })));
  }

  /** The last sequence written (confirmed by Consul). */
  get lastSequence(): number {
    return this.written;
  }

  /** Resolves once the entry is in Consul; rejects when the journal can no longer write. */
  append(entry: JournalEntry): Promise<void> {
    const ops = (entry.records?.length ?? 0) + entry.events.length;
    if (ops > MAX_ENTRY_OPS) {
      return Promise.reject(
        new Error(`a journal entry holds at most ${MAX_ENTRY_OPS} operations, got ${ops}`),
      );
    }
    if (this.broken !== undefined) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      this.startDrain();
    });
  }

  private startDrain(): void {
    if (this.draining !== undefined) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      // Appended after the last batch was taken but before the drain ended.
      if (this.queue.length > 0 && this.broken === undefined) this.startDrain();
    });
  }

  /** Waits until everything queued is written; throws when the journal could not write it. */
  async flushed(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
    if (this.broken !== undefined) throw this.broken;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      try {
        await this.write(batch.map((waiting) => waiting.entry));
        for (const waiting of batch) waiting.resolve();
      } catch (error) {
        this.broken = error instanceof Error ? error : new Error(errorMessage(error));
        for (const waiting of [...batch, ...this.queue.splice(0)]) waiting.reject(error);
      }
    }
  }

  private takeBatch(): Waiting[] {
    const batch: Waiting[] = [];
    let ops = 1;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (next === undefined) break;
      const size = (next.entry.records?.length ?? 0) + next.entry.events.length;
      if (batch.length > 0 && ops + size + 1 > MAX_OPS_PER_TRANSACTION) break;
      batch.push(next);
      this.queue.shift();
      ops += size;
    }
    return batch;
  }

  private async write(entries: readonly JournalEntry[]): Promise<void> {
    const { keys, jobId, kv, fence, signal } = this.options;
    const time = this.now();
    const state = this.options.state();
    const operations: KvOperation[] = [fenceOperation(fence)];
    const events: JobEventBody[] = [];
    for (const entry of entries) {
      for (const record of entry.records ?? []) {
        this.statuses.set(record.ip, record.status);
        operations.push({
          verb: "set",
          key: keys.assignmentPath(record.ip),
          value: serializeJobPathRecord(record),
        });
      }
      events.push(...entry.events);
    }
    if (events.some((event) => event.kind === "path")) {
      events.push({ kind: "totals", totals: this.totals() });
    }
    let sequence = this.written;
    for (const body of events) {
      sequence += 1;
      operations.push({
        verb: "set",
        key: keys.assignmentEvent(jobId, sequence),
        value: serializeJobEvent({ sequence, jobId, time, state, body }),
      });
    }
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) {
        throw new SanpathError("cancelled", "the coordinator term ended; the journal stopped");
      }
      try {
        await kv.transaction(operations, { signal });
        this.written = sequence;
        return;
      } catch (error) {
        if (error instanceof TransactionConflictError) {
          if (error.opIndex === 0) throw leadershipLost("the coordinator lock is held by another session");
          throw error;
        }
        if (isAborted(signal)) throw error;
        if (!(error instanceof SanpathError) || error.kind !== "unavailable") throw error;
        const delay = Math.min(2000, (this.options.retryMs ?? 100) * 2 ** Math.min(attempt - 1, 5));
        this.options.logger.warn(
          { jobId, attempt, err: errorMessage(error) },
          "job journal: Consul did not answer; writing the batch again",
        );
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
  }
}
