import type { Logger } from "../log/logger.js";
import type { ActiveMoves } from "./active-moves.js";
import { applyMoves } from "./assignment-model.js";
import type { ClusterState, NodeRecordView } from "./assignment-stats.js";
import type { JobEventBody } from "./job-model.js";
import { isFinalJobPathStatus, type JobPathRecord } from "./job-record.js";
import { pathEvent } from "./path-move.js";
import { replanTarget, type ReplanRule } from "./replan-target.js";

export interface MoveReplannerOptions {
  /** The cluster's paths and nodes as of now. */
  readState: (signal: AbortSignal) => Promise<Pick<ClusterState, "paths" | "nodes">>;
  rule: ReplanRule;
  /** The job's path records by IP, shared with the runner and the mover. */
  records: Map<string, JobPathRecord>;
  /** The moves under way, shared with the placement loop (it counts each path on its target). */
  moves: ActiveMoves;
  /** Writes records and events to the job's journal. */
  append: (entry: { records?: JobPathRecord[]; events: JobEventBody[] }) => Promise<void>;
  signal: AbortSignal;
  logger: Logger;
  now: () => Date;
}

/** A move given a new target, recorded in Consul; or why it could not be. */
export type Replanned =
  { readonly record: JobPathRecord; readonly target: NodeRecordView } | { readonly reason: string };

/**
 * Gives a move whose target can no longer take its path (offline, cordoned, no longer eligible) a
 * new target by the job's planner rule (replan-target.ts), over the cluster as it is now with the
 * job's other unfinished moves counted on their targets (those re-planned before included). The
 * new target is in the path record in Consul (status unchanged) before the move goes on, with a
 * "queued" event saying why: a coordinator taking over later moves the path there.
 */
export class MoveReplanner {
  private readonly options: MoveReplannerOptions;

  constructor(options: MoveReplannerOptions) {
    this.options = options;
  }

  /** `why`: what is wrong with the current target, for people. */
  async replan(planned: JobPathRecord, why: string): Promise<Replanned> {
    const { records, rule, signal, logger } = this.options;
    const state = await this.options.readState(signal);
    // From here to records.set nothing awaits: re-plans running side by side each see the targets
    // the others chose.
    const record = records.get(planned.ip) ?? planned;
    const others = [...records.values()].filter(
      (other) => other.ip !== record.ip && !isFinalJobPathStatus(other.status),
    );
    const chosen = replanTarget(applyMoves(state.paths, others), state.nodes, record.ip, rule);
    if ("reason" in chosen) return chosen;
    const target = state.nodes.find((node) => node.name === chosen.node);
    if (target === undefined) return { reason: `node ${chosen.node} was chosen but has no node record` };
    const next: JobPathRecord = { ...record, targetNode: chosen.node, updatedAt: this.options.now() };
    records.set(next.ip, next);
    this.options.moves.retarget(next.ip, next.targetNode);
    const note = `${why}: re-planned from ${record.targetNode} to ${next.targetNode}`;
    logger.info(
      { jobId: next.jobId, ip: next.ip, from: record.targetNode, to: next.targetNode, why },
      "move re-planned",
    );
    await this.options.append({
      records: [next],
      events: [pathEvent(next, "queued", next.sourceNode, note)],
    });
    return { record: next, target };
  }
}
