import { randomBytes } from "node:crypto";
import { FieldReader, parseJsonObject, unreadable } from "../errors/stored-record.js";
import type { JobPathRecord, JobPathStatus } from "./job-record.js";

export type JobKind = "auto" | "manual" | "drain";

/**
 * "creating" while its path records are being written (longer jobs take several transactions);
 * the coordinator runs "pending" and "running" jobs; "cancelling" drops pending moves. The last
 * four are final: the job is then in the history.
 */
export type JobState =
  | "creating"
  | "pending"
  | "running"
  | "cancelling"
  | "succeeded"
  | "partially_failed"
  | "failed"
  | "cancelled";

const JOB_KINDS: readonly JobKind[] = ["auto", "manual", "drain"];
const JOB_STATES: readonly JobState[] = [
  "creating",
  "pending",
  "running",
  "cancelling",
  "succeeded",
  "partially_failed",
  "failed",
  "cancelled",
];

export function isFinalJobState(state: JobState): boolean {
  return state === "succeeded" || state === "partially_failed" || state === "failed" || state === "cancelled";
}

/**
 * The root record of the running job, at `<root>/Assignment`. Its existence means "a job runs":
 * a new job is created with a check-and-set on index 0, so two can never coexist.
 *
 *   {"id":"20250101-120000-ab12","kind":"auto","state":"running","moveCount":12,"parallelism":16,
 *    "createTime":"…","startedBy":"cli","drainNode":"","requestedOn":"node-a"}
 */
export interface JobHeader {
  /** Time-ordered: "YYYYMMDD-HHMMSS-xxxx" (UTC), so history keys sort by age. */
  readonly id: string;
  readonly kind: JobKind;
  readonly state: JobState;
  /** Number of path records the job has (all written once the job leaves "creating"). */
  readonly moveCount: number;
  /** Moves in flight at once. */
  readonly parallelism: number;
  readonly createTime: Date;
  readonly startedBy: string;
  /** Drain jobs: the node being drained; "" otherwise. */
  readonly drainNode: string;
  /**
   * Manual jobs: the node the request named, or "auto" (the planner chose the targets). Unset for
   * other kinds and in manual jobs stored before it existed (taken as a named node).
   */
  readonly manualTarget?: string | undefined;
  /** The node whose API took the request. */
  readonly requestedOn: string;
  /**
   * Why the job was started, when not by a person's request (auto failback: "auto failback of
   * node-b: …"); said in its job-started and job-finished events. Unset otherwise.
   */
  readonly reason?: string | undefined;
  /** Set once the job has ended. */
  readonly finishTime?: Date | undefined;
  /** Why the job as a whole failed (not set for failures of single moves). */
  readonly error?: string | undefined;
}

export interface JobTotals {
  readonly total: number;
  readonly pending: number;
  readonly moving: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
}

/** A job as clients see it: running (from the Assignment records) or finished (from the history). */
export interface Job {
  readonly header: JobHeader;
  /** In disk id, then path index order. */
  readonly moves: readonly JobPathRecord[];
  readonly totals: JobTotals;
  /** Highest event sequence number written so far (0: none). */
  readonly lastSequence: number;
}

export type PathPhase = "queued" | "cleaning" | "released" | "acquiring" | "serving" | "failed" | "cancelled";

const PATH_PHASES: readonly PathPhase[] = [
  "queued",
  "cleaning",
  "released",
  "acquiring",
  "serving",
  "failed",
  "cancelled",
];

export interface PathEvent {
  readonly diskId: string;
  readonly index: number;
  readonly ip: string;
  readonly phase: PathPhase;
  readonly sourceNode: string;
  readonly targetNode: string;
  /** With "failed"; with "queued" when the move was given another target, why. */
  readonly reason?: string | undefined;
}

export type JobEventBody =
  | { readonly kind: "path"; readonly path: PathEvent }
  | { readonly kind: "totals"; readonly totals: JobTotals }
  | { readonly kind: "finished"; readonly finalState: JobState };

/** One entry of a job's event log, `<root>/JobEvents/<job>/<sequence>`. Sequences start at 1. */
export interface JobEvent {
  readonly sequence: number;
  readonly jobId: string;
  readonly time: Date;
  /** The job's state when the event was written. */
  readonly state: JobState;
  readonly body: JobEventBody;
}

const ID_PATTERN = /^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$/;

/** A new job id for `now`: "YYYYMMDD-HHMMSS-xxxx" in UTC; sorts by creation time. */
export function newJobId(now: Date): string {
  const iso = now.toISOString();
  const date = iso.slice(0, 10).replaceAll("-", "");
  const time = iso.slice(11, 19).replaceAll(":", "");
  return `${date}-${time}-${randomBytes(2).toString("hex")}`;
}

export function isJobId(text: string): boolean {
  return ID_PATTERN.test(text);
}

export function totalsOf(moves: readonly { readonly status: JobPathStatus }[]): JobTotals {
  const counts = { pending: 0, moving: 0, succeeded: 0, failed: 0, cancelled: 0 };
  for (const move of moves) counts[move.status] += 1;
  return { total: moves.length, ...counts };
}

/**
 * The state a job ends in: cancelled when a cancel dropped moves, failed when every move failed,
 * partially failed when some did, succeeded otherwise (also with no move at all).
 */
export function finalStateOf(totals: JobTotals): JobState {
  if (totals.cancelled > 0) return "cancelled";
  if (totals.failed > 0) return totals.failed === totals.total ? "failed" : "partially_failed";
  return "succeeded";
}

export function compareMoves(a: JobPathRecord, b: JobPathRecord): number {
  return a.diskId < b.diskId ? -1 : a.diskId > b.diskId ? 1 : a.index - b.index;
}

export function serializeJobHeader(header: JobHeader): string {
  return JSON.stringify(headerJson(header));
}

function headerJson(header: JobHeader): Record<string, unknown> {
  return {
    id: header.id,
    kind: header.kind,
    state: header.state,
    moveCount: header.moveCount,
    parallelism: header.parallelism,
    createTime: header.createTime.toISOString(),
    startedBy: header.startedBy,
    drainNode: header.drainNode,
    ...(header.manualTarget === undefined ? {} : { manualTarget: header.manualTarget }),
    requestedOn: header.requestedOn,
    ...(header.reason === undefined ? {} : { reason: header.reason }),
    ...(header.finishTime === undefined ? {} : { finishTime: header.finishTime.toISOString() }),
    ...(header.error === undefined ? {} : { error: header.error }),
  };
}

export function parseJobHeader(text: string, what = "reassignment job record"): JobHeader {
  return headerFrom(new FieldReader(parseJsonObject(text, what), what));
}

function headerFrom(read: FieldReader): JobHeader {
  const id = read.text("id", false);
  const error = read.optionalText("error");
  const manualTarget = read.optionalText("manualTarget");
  const reason = read.optionalText("reason");
  return {
    id,
    kind: read.oneOf("kind", JOB_KINDS),
    state: read.oneOf("state", JOB_STATES),
    moveCount: read.count("moveCount"),
    parallelism: read.count("parallelism"),
    createTime: read.time("createTime"),
    startedBy: read.text("startedBy"),
    drainNode: read.text("drainNode"),
    ...(manualTarget === undefined ? {} : { manualTarget }),
    requestedOn: read.text("requestedOn"),
    ...(reason === undefined ? {} : { reason }),
    finishTime: read.optionalTime("finishTime"),
    ...(error === undefined ? {} : { error }),
  };
}

function totalsJson(totals: JobTotals): Record<string, number> {
  return {
    total: totals.total,
    pending: totals.pending,
    moving: totals.moving,
    succeeded: totals.succeeded,
    failed: totals.failed,
    cancelled: totals.cancelled,
  };
}

function totalsFrom(read: FieldReader): JobTotals {
  return {
    total: read.count("total"),
    pending: read.count("pending"),
    moving: read.count("moving"),
    succeeded: read.count("succeeded"),
    failed: read.count("failed"),
    cancelled: read.count("cancelled"),
  };
}

/**
 * A finished job at `<root>/JobHistory/<id>`: the header (with finishTime), the moves in the
 * compact form [diskId, diskName, index, ip, sourceNode, targetNode, status, updatedAt, error],
 * the totals and the last event sequence.
 */
export function serializeHistory(job: Job): string {
  return JSON.stringify({
    ...headerJson(job.header),
    totals: totalsJson(job.totals),
    lastSequence: job.lastSequence,
    moves: job.moves.map((move) => [
      move.diskId,
      move.diskName,
      move.index,
      move.ip,
      move.sourceNode,
      move.targetNode,
      move.status,
      move.updatedAt.toISOString(),
      move.error ?? "",
    ]),
  });
}

export function parseHistory(text: string, what = "reassignment history record"): Job {
  const record = parseJsonObject(text, what);
  const read = new FieldReader(record, what);
  const header = headerFrom(read);
  const rows = record.moves;
  if (!Array.isArray(rows)) throw unreadable(what, "moves must be a list");
  const moves = rows.map((row: unknown, position): JobPathRecord => {
    if (!Array.isArray(row) || row.length !== 9) throw unreadable(what, `moves[${position}] is malformed`);
    const [diskId, diskName, index, ip, sourceNode, targetNode, status, updatedAt, error] = row as unknown[];
    if (
      typeof diskId !== "string" ||
      typeof diskName !== "string" ||
      typeof index !== "number" ||
      typeof ip !== "string" ||
      typeof sourceNode !== "string" ||
      typeof targetNode !== "string" ||
      typeof status !== "string" ||
      typeof updatedAt !== "string" ||
      typeof error !== "string"
    ) {
      throw unreadable(what, `moves[${position}] has a field of the wrong type`);
    }
    return {
      jobId: header.id,
      diskId,
      diskName,
      index,
      ip,
      sourceNode,
      targetNode,
      status: status as JobPathStatus,
      updatedAt: new Date(updatedAt),
      ...(error === "" ? {} : { error }),
    };
  });
  return {
    header,
    moves,
    totals: totalsFrom(read.object("totals")),
    lastSequence: read.count("lastSequence"),
  };
}

export function serializeJobEvent(event: JobEvent): string {
  const { body } = event;
  return JSON.stringify({
    sequence: event.sequence,
    jobId: event.jobId,
    time: event.time.toISOString(),
    state: event.state,
    ...(body.kind === "path"
      ? {
          path: {
            diskId: body.path.diskId,
            index: body.path.index,
            ip: body.path.ip,
            phase: body.path.phase,
            sourceNode: body.path.sourceNode,
            targetNode: body.path.targetNode,
            ...(body.path.reason === undefined ? {} : { reason: body.path.reason }),
          },
        }
      : body.kind === "totals"
        ? { totals: totalsJson(body.totals) }
        : { finished: body.finalState }),
  });
}

export function parseJobEvent(text: string, what = "reassignment event"): JobEvent {
  const record = parseJsonObject(text, what);
  const read = new FieldReader(record, what);
  let body: JobEventBody;
  if (record.path !== undefined) {
    const path = read.object("path");
    const reason = path.optionalText("reason");
    body = {
      kind: "path",
      path: {
        diskId: path.text("diskId"),
        index: path.count("index"),
        ip: path.text("ip"),
        phase: path.oneOf("phase", PATH_PHASES),
        sourceNode: path.text("sourceNode"),
        targetNode: path.text("targetNode"),
        ...(reason === undefined ? {} : { reason }),
      },
    };
  } else if (record.totals !== undefined) {
    body = { kind: "totals", totals: totalsFrom(read.object("totals")) };
  } else {
    body = { kind: "finished", finalState: read.oneOf("finished", JOB_STATES) };
  }
  return {
    sequence: read.count("sequence"),
    jobId: read.text("jobId"),
    time: read.time("time"),
    state: read.oneOf("state", JOB_STATES),
    body,
  };
}
