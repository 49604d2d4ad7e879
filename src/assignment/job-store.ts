import type { KvStore } from "../kv/kv-store.js";
import { MAX_OPS_PER_TRANSACTION, type KvEntry, type KvOperation } from "../kv/kv-store.js";
import { TransactionConflictError } from "../kv/transaction-conflict.js";
import type { CallOptions } from "../util/call-options.js";
import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import type { PlannedMove } from "./assignment-model.js";
import { jobNotFound, leadershipLost, reassignmentRunning } from "./job-errors.js";
import {
  compareMoves,
  finalStateOf,
  isFinalJobState,
  newJobId,
  parseHistory,
  parseJobHeader,
  serializeHistory,
  serializeJobEvent,
  serializeJobHeader,
  totalsOf,
  type Job,
  type JobHeader,
  type JobKind,
} from "./job-model.js";
import { parseJobPathRecord, serializeJobPathRecord, type JobPathRecord } from "./job-record.js";

/** Proof of leadership for coordinator writes: a check-session on the coordinator lock. */
export interface Fence {
  readonly lockKey: string;
  readonly session: string;
}

export function fenceOperation(fence: Fence): KvOperation {
  return { verb: "check-session", key: fence.lockKey, session: fence.session };
}

/** The running job as stored: its root record (with the index to check-and-set it) and path records. */
export interface RunningJob {
  readonly header: JobHeader;
  readonly rootIndex: number;
  readonly moves: readonly JobPathRecord[];
}

export interface NewJob {
  readonly kind: JobKind;
  readonly moves: readonly PlannedMove[];
  readonly parallelism: number;
  readonly startedBy: string;
  readonly drainNode: string;
  /** Manual jobs: the node the request named, or "auto". */
  readonly manualTarget?: string | undefined;
  readonly requestedOn: string;
  /** Why the job is started, when not by a person's request (JobHeader.reason). */
  readonly reason?: string | undefined;
}

export interface JobStoreOptions {
  kv: KvStore;
  keys: ConsulKeys;
  /** Finished jobs kept in the history (default 20). */
  historyLimit?: number;
  now?: () => Date;
}

/** A finished job keeps at most this many moves in its history record (Consul values are ≤ 512 KiB). */
const MAX_HISTORY_MOVES = 2000;
/** Path records per creation transaction besides the check of the root record. */
const RECORDS_PER_CHUNK = MAX_OPS_PER_TRANSACTION - 1;

/**
 * Reassignment jobs in Consul:
 *   <root>/Assignment              root record (JobHeader); exists while a job exists
 *   <root>/Assignment/<ip>         one JobPathRecord per move
 *   <root>/JobEvents/<id>/<seq>    event log (job-journal.ts writes, job-events.ts reads)
 *   <root>/JobHistory/<id>         finished jobs (the last `historyLimit`)
 * Any node creates, reads and cancels jobs; only the coordinator changes a running job, with writes
 * fenced by its session on the coordinator lock.
 */
export class JobStore {
  readonly keys: ConsulKeys;
  private readonly kv: KvStore;
  private readonly historyLimit: number;
  private readonly now: () => Date;

  constructor(options: JobStoreOptions) {
    this.kv = options.kv;
    this.keys = options.keys;
    this.historyLimit = options.historyLimit ?? 20;
    this.now = options.now ?? (() => new Date());
  }

  /** The job under `<root>/Assignment`, if any. */
  async readRunning(options: CallOptions = {}): Promise<RunningJob | undefined> {
    const entries = await this.kv.list(this.keys.assignmentRoot(), options);
    return this.runningFrom(entries);
  }

  private runningFrom(entries: readonly KvEntry[]): RunningJob | undefined {
    const rootKey = this.keys.assignmentRoot();
    const root = entries.find((entry) => entry.key === rootKey);
    if (root === undefined) return undefined;
    const header = parseJobHeader(root.value, rootKey);
    const moves: JobPathRecord[] = [];
    for (const entry of entries) {
      if (this.keys.parseAssignmentPath(entry.key) === undefined) continue;
      const record = parseJobPathRecord(entry.value, entry.key);
      if (record.jobId === header.id) moves.push(record);
    }
    moves.sort(compareMoves);
    return { header, rootIndex: root.modifyIndex, moves };
  }

  /**
   * Stores a new job before anything runs: the root record is created with a check-and-set on
   * index 0, so a job that exists refuses the new one (FAILED_PRECONDITION, REASSIGNMENT_RUNNING).
   * A job of more moves than one transaction holds is written "creating" first and made "pending"
   * once all its path records are in. A job without moves goes straight to the history, succeeded.
   */
  async create(job: NewJob, options: CallOptions = {}): Promise<Job> {
    const createTime = this.now();
    const header: JobHeader = {
      id: newJobId(createTime),
      kind: job.kind,
      state: job.moves.length === 0 ? "succeeded" : "pending",
      moveCount: job.moves.length,
      parallelism: job.parallelism,
      createTime,
      startedBy: job.startedBy,
      drainNode: job.drainNode,
      ...(job.manualTarget === undefined ? {} : { manualTarget: job.manualTarget }),
      requestedOn: job.requestedOn,
      ...(job.reason === undefined ? {} : { reason: job.reason }),
    };
    if (job.moves.length === 0) return await this.createEmpty(header, options);

    const records = job.moves.map((move): JobPathRecord => ({
      jobId: header.id,
      diskId: move.diskId,
      diskName: move.diskName,
      index: move.index,
      ip: move.ip,
      sourceNode: move.sourceNode,
      targetNode: move.targetNode,
      status: "pending",
      updatedAt: createTime,
    }));
    const rootKey = this.keys.assignmentRoot();
    const oneChunk = records.length <= RECORDS_PER_CHUNK;
    const first = oneChunk ? header : { ...header, state: "creating" as const };
    const recordOps = records.map((record): KvOperation => ({
      verb: "set",
      key: this.keys.assignmentPath(record.ip),
      value: serializeJobPathRecord(record),
    }));
    let rootIndex: number;
    try {
      const result = await this.kv.transaction(
        [
          { verb: "cas", key: rootKey, value: serializeJobHeader(first), index: 0 },
          ...recordOps.slice(0, RECORDS_PER_CHUNK),
        ],
        options,
      );
      rootIndex = result.results[0]?.modifyIndex ?? 0;
    } catch (error) {
      if (error instanceof TransactionConflictError && error.opIndex === 0) {
        const running = await this.readRunning(options).catch(() => undefined);
        throw reassignmentRunning(running?.header.id);
      }
      throw error;
    }
    if (!oneChunk) {
      try {
        for (let offset = RECORDS_PER_CHUNK; offset < recordOps.length; offset += RECORDS_PER_CHUNK) {
          const chunk = recordOps.slice(offset, offset + RECORDS_PER_CHUNK);
          await this.kv.transaction(
            [{ verb: "check-index", key: rootKey, index: rootIndex }, ...chunk],
            options,
          );
        }
        await this.kv.transaction(
          [{ verb: "cas", key: rootKey, value: serializeJobHeader(header), index: rootIndex }],
          options,
        );
      } catch (error) {
        // Leave nothing half made; a root left behind anyway is failed by the coordinator later.
        await this.kv
          .transaction([
            { verb: "check-index", key: rootKey, index: rootIndex },
            { verb: "delete-tree", key: rootKey },
          ])
          .catch(() => undefined);
        throw new SanpathError(
          error instanceof SanpathError ? error.kind : "unavailable",
          `the job could not be stored completely: ${errorMessage(error)}`,
          {
            cause: error,
            ...(error instanceof SanpathError && error.reason ? { reason: error.reason } : {}),
          },
        );
      }
    }
    return { header, moves: records.sort(compareMoves), totals: totalsOf(records), lastSequence: 0 };
  }

  private async createEmpty(header: JobHeader, options: CallOptions): Promise<Job> {
    const finished: JobHeader = { ...header, finishTime: header.createTime };
    const totals = totalsOf([]);
    const job: Job = { header: finished, moves: [], totals, lastSequence: 2 };
    const events = [
      { sequence: 1, body: { kind: "totals" as const, totals } },
      { sequence: 2, body: { kind: "finished" as const, finalState: finished.state } },
    ];
    try {
      await this.kv.transaction(
        [
          { verb: "check-not-exists", key: this.keys.assignmentRoot() },
          {
            verb: "cas",
            key: this.keys.assignmentHistory(header.id),
            value: serializeHistory(job),
            index: 0,
          },
          ...events.map((event): KvOperation => ({
            verb: "cas",
            key: this.keys.assignmentEvent(header.id, event.sequence),
            value: serializeJobEvent({
              ...event,
              jobId: header.id,
              time: header.createTime,
              state: finished.state,
            }),
            index: 0,
          })),
        ],
        options,
      );
    } catch (error) {
      if (error instanceof TransactionConflictError && error.opIndex === 0) {
        const running = await this.readRunning(options).catch(() => undefined);
        throw reassignmentRunning(running?.header.id);
      }
      throw error;
    }
    await this.trimHistory(options).catch(() => undefined);
    return job;
  }

  /** The job `id`, running or finished; "" = the running one, else the newest finished one. */
  async get(id: string, options: CallOptions = {}): Promise<Job> {
    const running = await this.readRunning(options);
    if (running !== undefined && (id === "" || running.header.id === id)) {
      return this.jobOf(running, await this.lastSequence(running.header.id, options));
    }
    if (id === "") {
      const newest = (await this.historyIds(options)).at(-1);
      if (newest === undefined) throw jobNotFound("");
      return await this.getFinished(newest, options);
    }
    return await this.getFinished(id, options);
  }

  async getFinished(id: string, options: CallOptions = {}): Promise<Job> {
    let key: string;
    try {
      key = this.keys.assignmentHistory(id);
    } catch {
      throw jobNotFound(id);
    }
    const entry = await this.kv.get(key, options);
    if (entry === undefined) throw jobNotFound(id);
    return parseHistory(entry.value, key);
  }

  /** Finished jobs, newest first, then the running one. */
  async list(options: CallOptions = {}): Promise<Job[]> {
    const [history, running] = await Promise.all([
      this.kv.list(this.keys.assignmentHistories(), options),
      this.readRunning(options),
    ]);
    const jobs = history
      .map((entry) => parseHistory(entry.value, entry.key))
      .sort((a, b) => (a.header.id < b.header.id ? 1 : a.header.id > b.header.id ? -1 : 0));
    if (running !== undefined) {
      jobs.push(this.jobOf(running, await this.lastSequence(running.header.id, options)));
    }
    return jobs;
  }

  jobOf(running: RunningJob, lastSequence: number): Job {
    return {
      header: running.header,
      moves: running.moves,
      totals: totalsOf(running.moves),
      lastSequence,
    };
  }

  /** Highest event sequence of the job (0: no event yet). */
  async lastSequence(jobId: string, options: CallOptions = {}): Promise<number> {
    const names = await this.kv.keys(this.keys.assignmentEvents(jobId), options);
    let last = 0;
    for (const name of names) last = Math.max(last, this.keys.parseAssignmentEvent(jobId, name) ?? 0);
    return last;
  }

  /**
   * Asks the running job to stop: pending moves are dropped, moves under way finish. A job that
   * has already finished is returned as it is.
   */
  async requestCancel(id: string, options: CallOptions = {}): Promise<Job> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const running = await this.readRunning(options);
      if (running === undefined || (id !== "" && running.header.id !== id)) {
        if (id === "") throw jobNotFound("");
        return await this.getFinished(id, options);
      }
      const { header } = running;
      if (header.state === "cancelling" || isFinalJobState(header.state)) {
        return this.jobOf(running, await this.lastSequence(header.id, options));
      }
      const cancelling: JobHeader = { ...header, state: "cancelling" };
      try {
        const result = await this.kv.transaction(
          [
            {
              verb: "cas",
              key: this.keys.assignmentRoot(),
              value: serializeJobHeader(cancelling),
              index: running.rootIndex,
            },
          ],
          options,
        );
        const rootIndex = result.results[0]?.modifyIndex ?? running.rootIndex;
        return this.jobOf(
          { ...running, header: cancelling, rootIndex },
          await this.lastSequence(header.id, options),
        );
      } catch (error) {
        if (!(error instanceof TransactionConflictError)) throw error;
      }
    }
    throw new SanpathError("aborted", "the job kept changing; cancel again", { reason: "CAS_CONFLICT" });
  }

  /** Coordinator: changes the root record's state, unless somebody changed it since `running` was read. */
  async setState(
    fence: Fence,
    running: RunningJob,
    header: JobHeader,
    options: CallOptions = {},
  ): Promise<number> {
    const result = await this.fenced(
      fence,
      [
        {
          verb: "cas",
          key: this.keys.assignmentRoot(),
          value: serializeJobHeader(header),
          index: running.rootIndex,
        },
      ],
      options,
    );
    return result[1]?.modifyIndex ?? running.rootIndex;
  }

  /**
   * Coordinator: the job has ended. It goes to the history (with its final state, totals and last
   * sequence) and its Assignment records are deleted, in one transaction with `alongWith` (the
   * finished event); older history beyond the limit is dropped with its events.
   */
  async finish(
    fence: Fence,
    job: Job,
    options: CallOptions = {},
    alongWith: readonly KvOperation[] = [],
  ): Promise<Job> {
    const finalState = isFinalJobState(job.header.state) ? job.header.state : finalStateOf(job.totals);
    const finished: Job = {
      ...job,
      header: { ...job.header, state: finalState, finishTime: job.header.finishTime ?? this.now() },
      moves: job.moves.slice(0, MAX_HISTORY_MOVES),
    };
    await this.fenced(
      fence,
      [
        { verb: "set", key: this.keys.assignmentHistory(job.header.id), value: serializeHistory(finished) },
        { verb: "delete-tree", key: this.keys.assignmentRoot() },
        ...alongWith,
      ],
      options,
    );
    await this.trimHistory(options).catch(() => undefined);
    return finished;
  }

  /** Runs `operations` after a check-session on the coordinator lock; a failed check is NO_LEADER. */
  async fenced(fence: Fence, operations: readonly KvOperation[], options: CallOptions = {}) {
    try {
      return (await this.kv.transaction([fenceOperation(fence), ...operations], options)).results;
    } catch (error) {
      if (error instanceof TransactionConflictError && error.opIndex === 0) {
        throw leadershipLost("the coordinator lock is held by another session");
      }
      throw error;
    }
  }

  private async historyIds(options: CallOptions): Promise<string[]> {
    const prefix = this.keys.assignmentHistories();
    const names = await this.kv.keys(prefix, options);
    return names
      .map((name) => name.slice(prefix.length))
      .filter((id) => id !== "" && !id.includes("/"))
      .sort();
  }

  /** Drops the oldest finished jobs (and their events) beyond the history limit. */
  async trimHistory(options: CallOptions = {}): Promise<void> {
    const ids = await this.historyIds(options);
    const dropped = ids.slice(0, Math.max(0, ids.length - this.historyLimit));
    for (const id of dropped) {
      await this.kv.transaction(
        [
          { verb: "delete", key: this.keys.assignmentHistory(id) },
          { verb: "delete-tree", key: this.keys.assignmentEvents(id) },
        ],
        options,
      );
    }
  }
}
