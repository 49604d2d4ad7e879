import { isIPv4 } from "node:net";
import { FieldReader, parseJsonObject, unreadable } from "../errors/stored-record.js";

/**
 * One path of a running reassignment job, stored as JSON at `<root>/Assignment/<ip>`
 * (ConsulKeys.assignmentPath). The coordinator writes it `pending`; the source node's CleanPath
 * marks it `moving`; the target node's AcquirePath marks it `succeeded`; the coordinator marks
 * `failed` or `cancelled`. PetaSAN kept the same record per IP (PathAssignmentInfo).
 *
 *   {"jobId":"j-…","diskId":"00001","diskName":"web","index":1,"ip":"198.51.100.50",
 *    "sourceNode":"a","targetNode":"b","status":"pending","updatedAt":"2024-…Z"}
 */
export type JobPathStatus = "pending" | "moving" | "succeeded" | "failed" | "cancelled";

export const JOB_PATH_STATUSES: readonly JobPathStatus[] = [
  "pending",
  "moving",
  "succeeded",
  "failed",
  "cancelled",
];

export interface JobPathRecord {
  readonly jobId: string;
  readonly diskId: string;
  readonly diskName: string;
  /** 1-based path index. */
  readonly index: number;
  readonly ip: string;
  /** The node serving the path when the job was planned ("" when nobody did). */
  readonly sourceNode: string;
  readonly targetNode: string;
  readonly status: JobPathStatus;
  readonly updatedAt: Date;
  /** Why the path failed, for people. */
  readonly error?: string | undefined;
}

/** A finished path is not touched by nodes any more. */
export function isFinalJobPathStatus(status: JobPathStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled";
}

export function serializeJobPathRecord(record: JobPathRecord): string {
  return JSON.stringify({
    jobId: record.jobId,
    diskId: record.diskId,
    diskName: record.diskName,
    index: record.index,
    ip: record.ip,
    sourceNode: record.sourceNode,
    targetNode: record.targetNode,
    status: record.status,
    updatedAt: record.updatedAt.toISOString(),
    ...(record.error === undefined ? {} : { error: record.error }),
  });
}

/** Parses a record; anything malformed is DATA_LOSS / METADATA_UNREADABLE naming the field. */
export function parseJobPathRecord(text: string, key = "assignment record"): JobPathRecord {
  const record = parseJsonObject(text, key);
  const read = new FieldReader(record, key);
  const index = record.index;
  if (typeof index !== "number" || !Number.isInteger(index) || index < 1 || index > 8) {
    throw unreadable(key, "index must be a whole number in 1..8");
  }
  const ip = read.text("ip", false);
  if (!isIPv4(ip)) throw unreadable(key, "ip must be an IPv4 address");
  const status = read.text("status", false);
  if (!(JOB_PATH_STATUSES as readonly string[]).includes(status)) {
    throw unreadable(key, `status must be one of ${JOB_PATH_STATUSES.join(", ")}`);
  }
  const updatedAt = new Date(read.text("updatedAt", false));
  if (Number.isNaN(updatedAt.getTime())) throw unreadable(key, "updatedAt must be an ISO 8601 time");
  const error = record.error;
  if (error !== undefined && typeof error !== "string") throw unreadable(key, "error must be text");
  return {
    jobId: read.text("jobId", false),
    diskId: read.text("diskId", false),
    diskName: read.text("diskName"),
    index,
    ip,
    sourceNode: read.text("sourceNode"),
    targetNode: read.text("targetNode"),
    status: status as JobPathStatus,
    updatedAt,
    ...(error === undefined ? {} : { error }),
  };
}

/** The record with a new status and time (and error, for `failed`). */
export function withJobPathStatus(
  record: JobPathRecord,
  status: JobPathStatus,
  at: Date,
  error?: string,
): JobPathRecord {
  const { error: _previousError, ...rest } = record;
  return { ...rest, status, updatedAt: at, ...(error === undefined ? {} : { error }) };
}
