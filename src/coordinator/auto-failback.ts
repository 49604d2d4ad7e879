import { setTimeout as sleep } from "node:timers/promises";
import { isEligible, type PlannedMove } from "../assignment/assignment-model.js";
import type { ClusterState } from "../assignment/assignment-stats.js";
import { planAverage } from "../assignment/average-planner.js";
import type { JobStore } from "../assignment/job-store.js";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { isAborted } from "../util/abort.js";

/** The failback.* settings the component runs on (config.ts FailbackConfig without `enabled`). */
export interface AutoFailbackSettings {
  /** How long a returned node must stay eligible before its failback job (ms). */
  readonly healthyForMs: number;
  /** The failback job's parallelism. */
  readonly maxConcurrentMoves: number;
  /** The least time between the end of one failback job and the start of the next (ms). */
  readonly minIntervalMs: number;
}

export interface AutoFailbackOptions {
  /** The cluster's paths and nodes (the same read a rebalance plans on). */
  reader: { read(options: { signal?: AbortSignal }): Promise<ClusterState> };
  /** Where the job is stored, as StartReassignment stores it (the coordinator's job loop runs it). */
  store: Pick<JobStore, "create" | "readRunning">;
  settings: AutoFailbackSettings;
  /** The term: run() ends when it aborts. */
  signal: AbortSignal;
  logger: Logger;
  /** The coordinator's node name: the job's requestedOn. */
  nodeName: string;
  /** How often the nodes are looked at (default 2 s). */
  checkIntervalMs?: number;
  /** Milliseconds; only differences matter (default Date.now). */
  now?: () => number;
}

/** What one look decided, for logs and tests. */
export type FailbackDecision =
  | { readonly kind: "idle" }
  | {
      readonly kind: "waiting";
      readonly nodes: readonly string[];
      readonly why: "job-running" | "min-interval";
    }
  | { readonly kind: "nothing-to-move"; readonly nodes: readonly string[] }
  | {
      readonly kind: "started";
      readonly nodes: readonly string[];
      readonly jobId: string;
      readonly moves: number;
    };

/**
 * Auto failback (issue #17, config failback.*; off by default): the elected coordinator moves
 * paths back to a node that came back, once it has stayed back for a while.
 *
 * Every `checkIntervalMs` it reads the cluster and tracks each node's eligibility (online, not
 * cordoned, not degraded: the planners' rule). A node seen ineligible (or offline) is "away"; when
 * an away node is seen eligible again its timer starts, and when it is seen away again before
 * `healthyForMs` have passed (a flapping node) the timer is dropped and starts afresh on its next
 * return. A node that was never seen away (it was eligible at the first look, or is new) never
 * triggers a failback.
 *
 * Once a returned node has been eligible for `healthyForMs`, no job exists (any job: a failback
 * never queues behind or races a job someone started), and the last failback job this coordinator
 * started ended at least `minIntervalMs` ago, it plans with the average planner — the plan a
 * `sanpath paths rebalance` would get — and keeps only the moves ONTO the returned nodes that are
 * due: a failback brings paths back to the node that lost them and does not rebalance the rest of
 * the cluster behind the operator's back. Those moves are stored as an ordinary "auto" job through
 * JobStore.create, as StartReassignment does: the coordinator's job loop runs it, listings and
 * events show it (startedBy and reason "auto failback of <node>"), CancelReassignment cancels it,
 * and its parallelism is `maxConcurrentMoves`. The nodes are then done (no second failback until
 * they go away and come back); an empty plan also ends their wait.
 *
 * The timers live in this object, made afresh for each term: a new coordinator starts with none,
 * so a node that returned before it was elected is not failed back to until it goes away and
 * returns again (conservative: a coordinator change never causes moves of its own).
 */
export class AutoFailback {
  private readonly options: AutoFailbackOptions;
  private readonly now: () => number;
  /** Nodes seen ineligible and not seen eligible since. */
  private readonly away = new Set<string>();
  /** Returned nodes: eligible again since (now()). */
  private readonly returned = new Map<string, number>();
  /** Nodes seen at all (a node seen first eligible was never away). */
  private readonly seen = new Set<string>();
  /** The failback job this coordinator stored, while it has not been seen ended. */
  private jobId: string | undefined;
  /** When that job was first seen ended (now()). */
  private lastEndedAt: number | undefined;

  constructor(options: AutoFailbackOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Looks every checkIntervalMs until the term ends; a failed look is logged and tried again. */
  async run(): Promise<void> {
    const { signal, logger } = this.options;
    const interval = this.options.checkIntervalMs ?? 2000;
    logger.info({ ...this.options.settings }, "auto failback on");
    while (!signal.aborted) {
      try {
        await this.check();
      } catch (error) {
        if (isAborted(signal)) return;
        logger.warn({ err: errorMessage(error) }, "auto failback: looking at the nodes failed; trying again");
      }
      await sleep(interval, undefined, { signal }).catch(() => undefined);
    }
  }

  /** One look at the nodes, and a failback job if one is due. */
  async check(): Promise<FailbackDecision> {
    const { reader, store, signal, settings, logger } = this.options;
    const state = await reader.read({ signal });
    const now = this.now();
    this.track(state, now);

    if (this.jobId !== undefined) {
      const running = await store.readRunning({ signal });
      if (running?.header.id === this.jobId) return this.waitingOrIdle(now, "job-running");
      logger.info({ jobId: this.jobId }, "auto failback: the failback job has ended");
      this.jobId = undefined;
      this.lastEndedAt = now;
    }
    const due = this.due(now);
    if (due.length === 0) return { kind: "idle" };
    if (this.lastEndedAt !== undefined && now - this.lastEndedAt < settings.minIntervalMs) {
      return { kind: "waiting", nodes: due, why: "min-interval" };
    }
    const running = await store.readRunning({ signal });
    if (running !== undefined) return { kind: "waiting", nodes: due, why: "job-running" };

    const targets = new Set(due);
    const moves = planAverage(state.paths, state.nodes).moves.filter((move) => targets.has(move.targetNode));
    if (moves.length === 0) {
      for (const node of due) this.returned.delete(node);
      logger.info({ nodes: due }, "auto failback: nothing to move back (the cluster is balanced)");
      return { kind: "nothing-to-move", nodes: due };
    }
    return await this.start(due, moves);
  }

  private async start(nodes: readonly string[], moves: readonly PlannedMove[]): Promise<FailbackDecision> {
    const { store, signal, settings, logger, nodeName } = this.options;
    const who = `auto failback of ${nodes.join(", ")}`;
    let jobId: string;
    try {
      const job = await store.create(
        {
          kind: "auto",
          drainNode: "",
          moves,
          parallelism: settings.maxConcurrentMoves,
          startedBy: who,
          requestedOn: nodeName,
          reason: `${who}: eligible again for ${settings.healthyForMs} ms or more; the average planner's moves onto it`,
        },
        { signal },
      );
      jobId = job.header.id;
    } catch (error) {
      // Someone started a job meanwhile: try again after it.
      if (error instanceof SanpathError && error.reason === "REASSIGNMENT_RUNNING") {
        return { kind: "waiting", nodes, why: "job-running" };
      }
      throw error;
    }
    for (const node of nodes) this.returned.delete(node);
    this.jobId = jobId;
    logger.info(
      { jobId, nodes, moves: moves.length, parallelism: settings.maxConcurrentMoves },
      "auto failback: job stored",
    );
    return { kind: "started", nodes, jobId, moves: moves.length };
  }

  private waitingOrIdle(now: number, why: "job-running"): FailbackDecision {
    const due = this.due(now);
    return due.length === 0 ? { kind: "idle" } : { kind: "waiting", nodes: due, why };
  }

  /** Returned nodes eligible for healthyForMs or more, by name. */
  private due(now: number): string[] {
    const { healthyForMs } = this.options.settings;
    return [...this.returned]
      .filter(([, since]) => now - since >= healthyForMs)
      .map(([node]) => node)
      .sort();
  }

  private track(state: ClusterState, now: number): void {
    const { logger } = this.options;
    const listed = new Set<string>();
    for (const node of state.nodes) {
      const name = node.name;
      listed.add(name);
      const firstLook = !this.seen.has(name);
      this.seen.add(name);
      if (!isEligible(node)) {
        if (this.returned.delete(name)) {
          logger.info(
            { node: name },
            "auto failback: the node went away again before it was due; its wait restarts",
          );
        }
        this.away.add(name);
        continue;
      }
      if (firstLook || !this.away.delete(name)) continue;
      this.returned.set(name, now);
      logger.info(
        { node: name, healthyForMs: this.options.settings.healthyForMs },
        "auto failback: the node is back; paths move back to it once it stays so",
      );
    }
    // A node whose record is gone is forgotten.
    for (const name of this.seen) {
      if (listed.has(name)) continue;
      this.seen.delete(name);
      this.away.delete(name);
      this.returned.delete(name);
    }
  }
}
