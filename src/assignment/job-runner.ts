import type { KvStore } from "../kv/kv-store.js";
import type { EventLog } from "../events/event-log.js";
import type { LiveSessions } from "../kv/session-store.js";
import { isAborted } from "../util/abort.js";
import type { ConsulKeys } from "../consul/keys.js";
import { SanpathError } from "../errors/sanpath-error.js";
import type { MetricsRecorder } from "../metrics/metrics-recorder.js";
import type { Logger } from "../log/logger.js";
import type { ActiveMoves } from "./active-moves.js";
import { ClusterStateReader } from "./assignment-stats.js";
import { readJobEvents } from "./job-events.js";
import { JobJournal } from "./job-journal.js";
import {
  compareMoves,
  finalStateOf,
  parseJobHeader,
  serializeJobEvent,
  type Job,
  type JobEventBody,
  type JobHeader,
  type JobState,
} from "./job-model.js";
import { withJobPathStatus, type JobPathRecord } from "./job-record.js";
import type { Fence, JobStore, RunningJob } from "./job-store.js";
import { interleaveByDisk } from "./move-order.js";
import { MoveReplanner } from "./move-replanner.js";
import { MoveScheduler } from "./move-scheduler.js";
import { NodeCallSlots } from "./node-call-slots.js";
import { NodeDirectory } from "./node-directory.js";
import type { NodeRpc } from "./node-rpc.js";
import { pathEvent, PathMover } from "./path-move.js";
import { replanRuleOf } from "./replan-target.js";

/** What the runner needs of the coordinator's term. */
export interface LeaderTerm {
  readonly epoch: number;
  readonly fence: Fence;
  /** Aborted when this node stops leading: the runner stops at once and writes nothing more. */
  readonly signal: AbortSignal;
}

export interface JobRunnerOptions {
  kv: KvStore;
  sessions: LiveSessions;
  keys: ConsulKeys;
  store: JobStore;
  nodes: NodeRpc;
  term: LeaderTerm;
  logger: Logger;
  /** Moves are counted and timed here (default: nowhere). */
  metrics?: MetricsRecorder | undefined;
  /** Job starts and ends, and every move, are recorded here (default: nowhere). */
  events?: EventLog | undefined;
  /** The moves under way and their targets, shared with the placement loop. */
  moves: ActiveMoves;
  /**
   * The cluster's paths and nodes, read to re-plan a move whose target can no longer take its path
   * (default: a ClusterStateReader over kv, sessions and keys).
   */
  reader?: Pick<ClusterStateReader, "read">;
  /**
   * Calls in flight per node, shared with the placement loop (default: a bound of its own,
   * DEFAULT_CALLS_PER_NODE). A move starts when its source and its target both have a free slot.
   */
  slots?: NodeCallSlots;
  /** A move failed and its path may be free: place it now, on another node than `excluded` ("" = any). */
  onMoveFailed?: (ip: string, excluded: string) => void;
  /** Deadline of one CleanPath / AcquirePath call, from when it has its node's call slot (default 20 s). */
  rpcTimeoutMs?: number;
  /**
   * Node records and live sessions are read for all moves together, at most this often (default
   * 300 ms; see NodeDirectory).
   */
  nodeViewMaxAgeMs?: number;
  /** A job still "creating" after this long lost its creator and is failed (default 60 s). */
  creatingTimeoutMs?: number;
  now?: () => Date;
}

export type RunOutcome = "none" | "waiting" | "finished" | "stopped";

/**
 * Runs the reassignment job stored in Consul, on the coordinator (PetaSAN's MangePathAssignment
 * .process, without SSH and polling). Moves run in parallel up to the job's parallelism, and no
 * more at once on one node than its call slots allow (MoveScheduler); each is CleanPath on the
 * node holding the path, then AcquirePath on the target (PathMover, path-move.ts), every phase
 * written to the path record and the event log (JobJournal). A move whose target can no longer
 * take the path when it starts (offline, cordoned, not eligible) is given another one by the job's
 * planner rule first (MoveReplanner), or fails saying why not. A failed move ends "failed" with its
 * reason, and its path is either still served where it was (CleanPath refused it) or handed back
 * to placement (the placement loop is told at once and places it as soon as Consul shows it
 * free). A new coordinator calls run() again and continues where the records say: a "moving" path
 * is checked where it is now and its move finished.
 */
export class JobRunner {
  private readonly options: JobRunnerOptions;
  private readonly now: () => Date;
  private readonly moves = new Map<string, JobPathRecord>();
  private readonly slots: NodeCallSlots;
  private readonly mover: PathMover;
  private state: JobState = "pending";
  private cancelling = false;
  private journal: JobJournal | undefined;
  private replanner: MoveReplanner | undefined;
  private scheduler: MoveScheduler<JobPathRecord> | undefined;
  private owner: string | undefined;

  constructor(options: JobRunnerOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
    this.slots = options.slots ?? new NodeCallSlots();
    const nodeDirectory = new NodeDirectory({
      kv: options.kv,
      sessions: options.sessions,
      keys: options.keys,
      signal: options.term.signal,
      ...(options.nodeViewMaxAgeMs === undefined ? {} : { maxAgeMs: options.nodeViewMaxAgeMs }),
    });
    this.mover = new PathMover({
      kv: options.kv,
      keys: options.keys,
      nodes: options.nodes,
      term: options.term,
      logger: options.logger,
      moves: options.moves,
      nodeDirectory,
      records: this.moves,
      append: (entry) => this.append(entry),
      replan: (record, why) => {
        if (this.replanner === undefined) return Promise.reject(new Error("the job is not loaded"));
        return this.replanner.replan(record, why);
      },
      onMoveFailed: options.onMoveFailed,
      metrics: options.metrics,
      events: options.events,
      owner: () => this.owner,
      rpcTimeoutMs: options.rpcTimeoutMs,
      now: this.now,
    });
  }

  async run(): Promise<RunOutcome> {
    const { store, term, logger } = this.options;
    const signal = term.signal;
    const running = await store.readRunning({ signal });
    if (running === undefined) return "none";
    const { header } = running;
    if (header.state === "creating") {
      const age = this.now().getTime() - header.createTime.getTime();
      if (age < (this.options.creatingTimeoutMs ?? 60_000)) return "waiting";
      logger.warn({ jobId: header.id }, "job left half stored by its creator: failing it");
      try {
        await this.start(running);
        this.cancelling = true;
        await this.end({
          ...header,
          error: "the job was not stored completely (the node creating it stopped)",
        });
      } finally {
        this.options.moves.unload();
      }
      return "finished";
    }
    try {
      await this.start(running);
      const watching = this.watchCancel(running);
      try {
        if (this.state === "pending") await this.markRunning(running);
        await this.runMoves(header.parallelism);
      } finally {
        this.stopWatch.abort();
        await watching;
      }
      if (signal.aborted) return "stopped";
      await this.end(header);
      return "finished";
    } finally {
      this.options.moves.unload();
    }
  }

  private readonly stopWatch = new AbortController();

  /** Loads the records and the event log and queues the events a new log needs. */
  private async start(running: RunningJob): Promise<void> {
    const { kv, keys, term, logger } = this.options;
    const { header } = running;
    this.owner = header.startedBy;
    this.state = header.state === "creating" ? "pending" : header.state;
    this.cancelling = header.state === "cancelling";
    for (const move of running.moves) this.moves.set(move.ip, move);
    this.options.moves.load(header.id, running.moves);
    const events = await readJobEvents(kv, keys, header.id, { signal: term.signal });
    const lastSequence = events.at(-1)?.sequence ?? 0;
    const seen = new Set<string>();
    for (const event of events) if (event.body.kind === "path") seen.add(event.body.path.ip);
    this.journal = new JobJournal({
      kv,
      keys,
      fence: term.fence,
      jobId: header.id,
      lastSequence,
      records: running.moves,
      state: () => this.state,
      signal: term.signal,
      logger,
      ...(this.options.now === undefined ? {} : { now: this.options.now }),
    });
    const reader =
      this.options.reader ?? new ClusterStateReader({ kv, sessions: this.options.sessions, keys, logger });
    this.replanner = new MoveReplanner({
      readState: (signal) => reader.read({ signal }),
      rule: replanRuleOf(header),
      records: this.moves,
      moves: this.options.moves,
      append: (entry) => this.append(entry),
      signal: term.signal,
      logger,
      now: this.now,
    });
    logger.info(
      { jobId: header.id, state: header.state, moves: running.moves.length, lastSequence, epoch: term.epoch },
      lastSequence === 0 ? "running reassignment job" : "resuming reassignment job",
    );
    const queued = running.moves
      .filter((move) => move.status === "pending" && !seen.has(move.ip))
      .map((move): JobEventBody => pathEvent(move, "queued"));
    for (let offset = 0; offset < queued.length; offset += 60) {
      void this.append({ events: queued.slice(offset, offset + 60) });
    }
  }

  private append(entry: { records?: JobPathRecord[]; events: JobEventBody[] }): Promise<void> {
    if (this.journal === undefined) return Promise.reject(new Error("the journal is not open"));
    return this.journal.append(entry);
  }

  private async markRunning(running: RunningJob): Promise<void> {
    const { store, term } = this.options;
    try {
      await store.setState(
        term.fence,
        running,
        { ...running.header, state: "running" },
        { signal: term.signal },
      );
      this.state = "running";
      const { header } = running;
      this.options.events?.record({
        kind: "job-started",
        jobId: header.id,
        actor: header.startedBy,
        node: header.drainNode === "" ? undefined : header.drainNode,
        reason:
          `${header.kind} job of ${header.moveCount} moves, parallelism ${header.parallelism}` +
          (header.drainNode === "" ? "" : `, draining ${header.drainNode}`) +
          `, requested on ${header.requestedOn}` +
          (header.reason === undefined ? "" : `: ${header.reason}`),
      });
    } catch (error) {
      if (!(error instanceof SanpathError) || error.reason !== "CAS_CONFLICT") throw error;
      // Changed meanwhile: a cancel.
      const now = await store.readRunning({ signal: term.signal });
      if (now?.header.id === running.header.id && now.header.state === "cancelling") {
        this.state = "cancelling";
        this.cancelling = true;
      }
    }
    await this.append({ events: [{ kind: "totals", totals: this.totals() }] });
  }

  private totals() {
    if (this.journal === undefined) throw new Error("the journal is not open");
    return this.journal.totals();
  }

  /** Follows the root record: a cancel stops new moves from starting. */
  private async watchCancel(running: RunningJob): Promise<void> {
    const { kv, keys, term } = this.options;
    const signal = AbortSignal.any([term.signal, this.stopWatch.signal]);
    let index = 0;
    while (!signal.aborted && !this.cancelling) {
      try {
        const answer = await kv.getBlocking(keys.assignmentRoot(), { index, waitSeconds: 30, signal });
        index = answer.index;
        const now = answer.entry === undefined ? undefined : parseJobHeader(answer.entry.value);
        if (now?.id === running.header.id && now.state === "cancelling") {
          this.cancelling = true;
          this.state = "cancelling";
          this.scheduler?.recheck();
          this.options.logger.info(
            { jobId: running.header.id },
            "job cancel requested: pending moves are dropped",
          );
          void this.append({ events: [{ kind: "totals", totals: this.totals() }] }).catch(() => undefined);
        }
      } catch {
        if (isAborted(signal)) return;
        index = 0;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  private async runMoves(parallelism: number): Promise<void> {
    const all = [...this.moves.values()];
    // Moves a previous coordinator started come first.
    const queue = [
      ...all.filter((move) => move.status === "moving"),
      ...interleaveByDisk(all.filter((move) => move.status === "pending")),
    ];
    const scheduler = new MoveScheduler(queue, {
      parallelism: Math.max(1, parallelism),
      slots: this.slots,
      nodesOf: (move) => [move.sourceNode, move.targetNode],
      keep: (move) => {
        if (!this.cancelling || move.status !== "pending") return true;
        // Dropped by the cancel: placement need not count it on its target any more.
        this.options.moves.end(move.ip);
        return false;
      },
      run: (move, held) => this.mover.move(move, held),
      signal: this.options.term.signal,
    });
    this.scheduler = scheduler;
    try {
      await scheduler.run();
    } finally {
      this.scheduler = undefined;
    }
  }

  /** Drops the moves that never started (after a cancel), writes the finished event, files the job. */
  private async end(header: JobHeader): Promise<Job> {
    const { store, term, logger } = this.options;
    const dropped = [...this.moves.values()].filter((move) => move.status === "pending");
    for (let offset = 0; offset < dropped.length; offset += 30) {
      const chunk = dropped.slice(offset, offset + 30).map((move) => {
        const next = withJobPathStatus(
          move,
          "cancelled",
          this.now(),
          header.error ?? "cancelled before it started",
        );
        this.moves.set(next.ip, next);
        return next;
      });
      void this.append({ records: chunk, events: chunk.map((move) => pathEvent(move, "cancelled")) });
    }
    const journal = this.journal;
    if (journal === undefined) throw new Error("the journal is not open");
    await journal.flushed();
    const totals = journal.totals();
    const finalState: JobState = header.error === undefined ? finalStateOf(totals) : "failed";
    this.state = finalState;
    // The finished event goes in with the move to the history: a watcher that sees it finds the
    // job finished, and a coordinator that fails before finds it still to finish.
    const sequence = journal.lastSequence + 1;
    const finishTime = this.now();
    const finished = await store.finish(
      term.fence,
      {
        header: { ...header, state: finalState, finishTime },
        moves: [...this.moves.values()].sort(compareMoves),
        totals,
        lastSequence: sequence,
      },
      { signal: term.signal },
      [
        {
          verb: "set",
          key: this.options.keys.assignmentEvent(header.id, sequence),
          value: serializeJobEvent({
            sequence,
            jobId: header.id,
            time: finishTime,
            state: finalState,
            body: { kind: "finished", finalState },
          }),
        },
      ],
    );
    logger.info({ jobId: header.id, state: finalState, totals }, "reassignment job finished");
    this.options.events?.record({
      kind: "job-finished",
      time: finishTime,
      jobId: header.id,
      actor: header.startedBy,
      node: header.drainNode === "" ? undefined : header.drainNode,
      result: finalState,
      durationMs: finishTime.getTime() - header.createTime.getTime(),
      reason:
        `${header.kind} job: ${totals.succeeded} of ${totals.total} moved, ${totals.failed} failed, ` +
        `${totals.cancelled} cancelled` +
        (header.error === undefined ? "" : ` (${header.error})`) +
        (header.reason === undefined ? "" : `; ${header.reason}`),
    });
    return finished;
  }
}
