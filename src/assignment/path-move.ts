import type { ConsulKeys } from "../consul/keys.js";
import type { EventLog } from "../events/event-log.js";
import { pathHolder } from "../disks/disk-reader.js";
import { errorMessage } from "../errors/sanpath-error.js";
import type { KvStore } from "../kv/kv-store.js";
import type { MetricsRecorder } from "../metrics/metrics-recorder.js";
import type { Logger } from "../log/logger.js";
import type { ActiveMoves } from "./active-moves.js";
import { isEligible } from "./assignment-model.js";
import type { NodeRecordView } from "./assignment-stats.js";
import type { JobEventBody, PathEvent, PathPhase } from "./job-model.js";
import { withJobPathStatus, type JobPathRecord, type JobPathStatus } from "./job-record.js";
import type { HeldSlots } from "./node-call-slots.js";
import type { NodeDirectory } from "./node-directory.js";
import type { NodeEndpoint, NodeRpc, PathRequest } from "./node-rpc.js";
import type { Replanned } from "./move-replanner.js";

export interface PathMoverOptions {
  kv: KvStore;
  keys: ConsulKeys;
  nodes: NodeRpc;
  /** The coordinator's term: its epoch goes with every call; when its signal aborts, nothing more is written. */
  term: { readonly epoch: number; readonly signal: AbortSignal };
  logger: Logger;
  /** The moves under way, shared with the placement loop. */
  moves: ActiveMoves;
  nodeDirectory: NodeDirectory;
  /** The job's path records by IP, shared with the runner: a move keeps its record here. */
  records: Map<string, JobPathRecord>;
  /** Writes records and events to the job's journal. */
  append: (entry: { records?: JobPathRecord[]; events: JobEventBody[] }) => Promise<void>;
  /** A new target for a move whose target cannot take the path (MoveReplanner). */
  replan: (record: JobPathRecord, why: string) => Promise<Replanned>;
  /** A move failed and its path may be free: place it now, on another node than `excluded` ("" = any). */
  onMoveFailed?: ((ip: string, excluded: string) => void) | undefined;
  /** Deadline of one CleanPath / AcquirePath call (default 20 s). */
  rpcTimeoutMs?: number | undefined;
  /** Each move's result and step times (default: nowhere). */
  metrics?: MetricsRecorder | undefined;
  /** Each move's end is recorded here (default: nowhere). */
  events?: EventLog | undefined;
  /** Who owns the job (its started_by), for the move events. */
  owner?: (() => string | undefined) | undefined;
  now: () => Date;
}

/** A move ended with this failure; the reason goes into the record and the failed event. */
class MoveFailure extends Error {
  constructor(
    message: string,
    /** The path may have been given up: it must be placed again. */
    readonly freed: boolean,
    /** The node that failed, not to be chosen again for the path for a while ("" = none). */
    readonly failedNode = "",
  ) {
    super(message);
  }
}

/**
 * Moves one path of a reassignment job: CleanPath on the node holding it, then AcquirePath on the
 * target, every phase written to the path record and the event log. A target that can no longer
 * take the path (no record, offline, cordoned, not eligible) is replaced first (`replan`), and the
 * move fails only when no node may take it by the job's rule. A "moving" path (a previous
 * coordinator started it) is checked where it is now and its move finished. A failed move ends
 * "failed" with its reason, and its path is either still served where it was (CleanPath refused
 * it) or handed back to placement (onMoveFailed).
 */
export class PathMover {
  private readonly options: PathMoverOptions;

  constructor(options: PathMoverOptions) {
    this.options = options;
  }

  async move(planned: JobPathRecord, held: HeldSlots): Promise<void> {
    const { kv, keys, nodes, term, moves, logger, nodeDirectory } = this.options;
    const signal = term.signal;
    const { ip } = planned;
    let record = this.options.records.get(ip) ?? planned;
    let failure: MoveFailure | undefined;
    let moved = false;
    moves.begin(ip);
    const timings = new MoveTimings();
    try {
      const [entry, planned] = await Promise.all([
        kv.get(keys.diskPath(record.diskId, record.index), { signal }),
        nodeDirectory.get(record.targetNode, { signal }),
      ]);
      let target = planned;
      timings.mark("readMs");
      const holder = entry === undefined ? "" : (pathHolder(entry) ?? "");
      const request = { epoch: term.epoch, diskId: record.diskId, index: record.index, jobId: record.jobId };
      if (holder !== "" && holder === record.targetNode) {
        // A move a previous coordinator left "moving" may have its AcquirePath on the target still
        // undoing itself (the call was cancelled with the term): the lock is the target's until the
        // undo releases it. Ask the target: its path queue runs this after the undo, and an
        // AcquirePath of a path it serves changes nothing.
        if (record.status === "moving" && target?.online === true) {
          await this.acquireOn(target, record, request);
          timings.mark("acquireMs");
        }
        record = await this.update(record, "succeeded", [pathEvent(record, "serving", holder)]);
        return;
      }
      if (target === undefined || !isEligible(target)) {
        const why = whyNotEligible(record.targetNode, target);
        const replanned = await this.options.replan(record, why);
        if ("reason" in replanned) throw new MoveFailure(`${why}; ${replanned.reason}`, false);
        ({ record, target } = replanned);
        timings.mark("replanMs");
        if (holder !== "" && holder === record.targetNode) {
          record = await this.update(record, "succeeded", [pathEvent(record, "serving", holder)]);
          return;
        }
      }
      // The path is somewhere else than planned (or free), or goes elsewhere: the call slots follow.
      await held.exchange([holder, record.targetNode], signal);

      record = await this.update(
        record,
        "moving",
        holder === "" ? [] : [pathEvent(record, "cleaning", holder)],
      );
      timings.mark("movingWriteMs");
      if (holder !== "") {
        const source = await nodeDirectory.get(holder, { signal });
        if (source === undefined) {
          throw new MoveFailure(
            `source node ${holder} has no node record: it cannot be asked to give the path up`,
            false,
          );
        }
        try {
          await nodes.cleanPath(source, request, this.rpcSignal());
        } catch (error) {
          if (signal.aborted) throw error;
          // The source may have given the path up before failing or after the deadline: placement
          // takes it from here (it places the path once Consul shows it free; until then the
          // source still holds it, and its own reconciliation keeps serving what it holds).
          throw new MoveFailure(`CleanPath on ${holder}: ${errorMessage(error)}`, true, holder);
        } finally {
          held.release(holder);
        }
        timings.mark("cleanMs");
        void this.options
          .append({
            events: [pathEvent(record, "released", holder), pathEvent(record, "acquiring", holder)],
          })
          .catch(() => undefined);
      } else {
        void this.options.append({ events: [pathEvent(record, "acquiring", holder)] }).catch(() => undefined);
      }
      await this.acquireOn(target, record, request);
      timings.mark("acquireMs");
      record = await this.update(record, "succeeded", [pathEvent(record, "serving", holder)]);
      timings.mark("succeededWriteMs");
      moved = true;
      logger.debug({ jobId: record.jobId, ip, ...timings.taken }, "path moved");
    } catch (error) {
      if (signal.aborted) return;
      failure = error instanceof MoveFailure ? error : new MoveFailure(errorMessage(error), true);
      logger.warn({ jobId: record.jobId, ip, err: failure.message }, "path move failed");
      try {
        await this.update(
          record,
          "failed",
          [pathEvent(record, "failed", record.sourceNode, failure.message)],
          failure.message,
        );
      } catch (writeError) {
        logger.warn(
          { jobId: record.jobId, ip, err: errorMessage(writeError) },
          "could not record a failed move",
        );
      }
    } finally {
      // Ended either way: the placement loop may place the path again (it follows this, not the
      // records in Consul, so a failed move whose record could not be written is not left stuck).
      if (!signal.aborted) moves.end(ip);
      // Moves that did not run (already where they should be) or were cut by the term are not timed.
      if (moved || failure !== undefined) {
        this.options.metrics?.moveEnded(moved ? "succeeded" : "failed", timings.taken, timings.totalMs);
        this.options.events?.record({
          kind: "move",
          node: record.targetNode,
          diskId: record.diskId,
          pathIndex: record.index,
          ip,
          from: record.sourceNode,
          to: record.targetNode,
          durationMs: timings.totalMs,
          result: moved ? "succeeded" : "failed",
          reason: failure?.message,
          jobId: record.jobId,
          actor: this.options.owner?.(),
        });
      }
      if (failure?.freed === true && !signal.aborted) this.options.onMoveFailed?.(ip, failure.failedNode);
    }
  }

  /** AcquirePath on the target; a failure is the move's, and the path may be free (placement's). */
  private async acquireOn(target: NodeEndpoint, record: JobPathRecord, request: PathRequest): Promise<void> {
    try {
      await this.options.nodes.acquirePath(target, request, this.rpcSignal());
    } catch (error) {
      if (this.options.term.signal.aborted) throw error;
      throw new MoveFailure(
        `AcquirePath on ${record.targetNode}: ${errorMessage(error)}`,
        true,
        record.targetNode,
      );
    }
  }

  private rpcSignal(): AbortSignal {
    return AbortSignal.any([
      this.options.term.signal,
      AbortSignal.timeout(this.options.rpcTimeoutMs ?? 20_000),
    ]);
  }

  private async update(
    record: JobPathRecord,
    status: JobPathStatus,
    events: JobEventBody[],
    error?: string,
  ): Promise<JobPathRecord> {
    const next = withJobPathStatus(record, status, this.options.now(), error);
    this.options.records.set(next.ip, next);
    await this.options.append({ records: [next], events });
    return next;
  }
}

/** What keeps a node from taking a path, for the move's record. */
function whyNotEligible(name: string, node: NodeRecordView | undefined): string {
  if (node === undefined) return `target node ${name} has no node record`;
  if (!node.online) return `target node ${name} is offline (it holds no live session)`;
  if (node.cordoned) return `target node ${name} is cordoned`;
  return `target node ${name} takes no paths (it is not eligible)`;
}

/** The event of one phase of a path's move. */
export function pathEvent(
  record: JobPathRecord,
  phase: PathPhase,
  source = record.sourceNode,
  reason?: string,
): JobEventBody {
  const path: PathEvent = {
    diskId: record.diskId,
    index: record.index,
    ip: record.ip,
    phase,
    sourceNode: source,
    targetNode: record.targetNode,
    ...(reason === undefined ? {} : { reason }),
  };
  return { kind: "path", path };
}

/** Milliseconds each step of a move took, for the "path moved" log line. */
class MoveTimings {
  readonly taken: Record<string, number> = {};
  private readonly start = performance.now();
  private last = this.start;

  get totalMs(): number {
    return performance.now() - this.start;
  }

  mark(step: string): void {
    const now = performance.now();
    this.taken[step] = Math.round(now - this.last);
    this.last = now;
  }
}
