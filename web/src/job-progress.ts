/**
 * The live job view's model: built from GetReassignment, then advanced by each WatchReassignment
 * message. Pure functions returning new models, so the page re-renders from the model alone.
 */
import type { Job, JobTotals, JobWatchMessage, PathMove } from "./api-model.js";
import { isFinalJobState, moveStatusLabel, pathPhaseLabel } from "./labels.js";

export interface JobPathRow {
  /** "<disk id>/<index>". */
  key: string;
  diskId: string;
  diskName: string;
  index: number;
  ip: string;
  sourceNode: string;
  targetNode: string;
  /** A PathPhase name, or the MoveStatus name of a GetReassignment snapshot before any event. */
  phase: string;
  /** Why it failed, or why it was given another target. */
  reason: string;
}

export interface JobView {
  id: string;
  kind: string;
  state: string;
  startedBy: string;
  drainNode: string;
  createTime: string;
  finishTime: string;
  totals: JobTotals;
  rows: JobPathRow[];
  /** The highest sequence applied; watch again after it. */
  lastSequence: number;
  /** The job has ended (a final state or a `finished` message). */
  finished: boolean;
}

export function pathKey(diskId: string, index: number): string {
  return `${diskId}/${index}`;
}

/** The phase a snapshot's move status stands for; MOVING has no single phase, so it stays. */
function phaseOfStatus(status: string): string {
  switch (status) {
    case "MOVE_STATUS_PENDING":
      return "PATH_PHASE_QUEUED";
    case "MOVE_STATUS_SUCCEEDED":
      return "PATH_PHASE_SERVING";
    case "MOVE_STATUS_FAILED":
      return "PATH_PHASE_FAILED";
    case "MOVE_STATUS_CANCELLED":
      return "PATH_PHASE_CANCELLED";
    default:
      return status;
  }
}

/** "acquiring", "failed", or "moving" for a snapshot's MOVE_STATUS_MOVING. */
export function phaseLabel(phase: string): string {
  return phase.startsWith("MOVE_STATUS_") ? moveStatusLabel(phase) : pathPhaseLabel(phase);
}

function rowOf(pathMove: PathMove): JobPathRow {
  const m = pathMove.move;
  return {
    key: pathKey(m.diskId, m.index),
    diskId: m.diskId,
    diskName: m.diskName,
    index: m.index,
    ip: m.ip,
    sourceNode: m.sourceNode,
    targetNode: m.targetNode,
    phase: phaseOfStatus(pathMove.status),
    reason: pathMove.error,
  };
}

export function jobViewOf(job: Job): JobView {
  return {
    id: job.id,
    kind: job.kind,
    state: job.state,
    startedBy: job.startedBy,
    drainNode: job.drainNode,
    createTime: job.createTime,
    finishTime: job.finishTime,
    totals: job.totals,
    rows: job.moves.map(rowOf),
    lastSequence: job.lastSequence,
    finished: isFinalJobState(job.state),
  };
}

/**
 * The view after one watch message. Messages of another job, and messages at or below the last
 * sequence applied (sent again after a reconnect), leave the view as it is.
 */
export function applyJobMessage(view: JobView, message: JobWatchMessage): JobView {
  if (message.jobId !== "" && view.id !== "" && message.jobId !== view.id) return view;
  if (message.sequence > 0 && message.sequence <= view.lastSequence) return view;
  const next: JobView = { ...view, lastSequence: Math.max(view.lastSequence, message.sequence) };
  if (message.state !== "" && !view.finished) next.state = message.state;
  if (message.totals !== undefined) next.totals = message.totals;
  if (message.path !== undefined) {
    const event = message.path;
    const key = pathKey(event.diskId, event.index);
    const existing = view.rows.find((row) => row.key === key);
    const updated: JobPathRow = {
      key,
      diskId: event.diskId,
      diskName: existing?.diskName ?? "",
      index: event.index,
      ip: event.ip || (existing?.ip ?? ""),
      sourceNode: event.sourceNode || (existing?.sourceNode ?? ""),
      targetNode: event.targetNode || (existing?.targetNode ?? ""),
      phase: event.phase,
      reason: event.reason,
    };
    next.rows =
      existing === undefined ? [...view.rows, updated] : view.rows.map((r) => (r === existing ? updated : r));
  }
  if (message.finished !== undefined) {
    next.state = message.finished;
    next.finished = true;
    if (next.finishTime === "") next.finishTime = message.time;
  } else if (isFinalJobState(next.state)) {
    next.finished = true;
  }
  return next;
}

/**
 * The view once the watch ended, with the stored job's state, totals and finish time; the rows
 * stay as the events left them (they carry reasons a snapshot does not).
 */
export function mergeFinalState(view: JobView, stored: JobView): JobView {
  return {
    ...view,
    state: stored.state === "JOB_STATE_UNSPECIFIED" ? view.state : stored.state,
    totals: stored.totals,
    finishTime: stored.finishTime || view.finishTime,
    finished: view.finished || stored.finished,
    lastSequence: Math.max(view.lastSequence, stored.lastSequence),
  };
}

/** Moves that ended (succeeded, failed or cancelled) and all moves, for a progress bar. */
export function jobProgress(totals: JobTotals): { done: number; total: number } {
  const done = totals.succeeded + totals.failed + totals.cancelled;
  return { done, total: Math.max(totals.total, done) };
}
