/** What kind of failure a domain error is; src/api/grpc-status.ts maps each kind to one gRPC code. */
export type ErrorKind =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "aborted"
  | "resource_exhausted"
  | "unavailable"
  | "deadline_exceeded"
  | "data_loss"
  | "unauthenticated"
  | "permission_denied"
  | "cancelled"
  | "internal";

/** Machine-readable reasons; the names of the proto ErrorReason values without their prefix. */
export type ErrorReason =
  | "INVALID_FIELD"
  | "DATA_MISSING"
  | "WRONG_DATA"
  | "WRONG_SUBNET"
  | "IP_USED_ALREADY"
  | "IP_OUT_OF_RANGE"
  | "DISK_EXISTS"
  | "DISK_NAME_EXISTS"
  | "DISK_NOT_FOUND"
  | "DISK_NOT_STOPPED"
  | "METADATA_UNREADABLE"
  | "DISK_LIST_ERROR"
  | "SHRINK_REFUSED"
  | "CLUSTER_NOT_INITIALIZED"
  | "SUBNET_IN_USE"
  | "REASSIGNMENT_RUNNING"
  | "PLAN_STALE"
  | "JOB_NOT_FOUND"
  | "NODE_NOT_FOUND"
  | "NODE_CORDONED"
  | "PATH_NOT_FOUND"
  | "PATH_HELD_ELSEWHERE"
  | "STALE_EPOCH"
  | "CAS_CONFLICT"
  | "NO_LEADER"
  | "NODE_FENCED"
  | "NODE_DEGRADED"
  | "CONSUL_UNAVAILABLE"
  | "CEPH_UNAVAILABLE"
  | "DRIVER_FAILED"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED";

export interface SanpathErrorOptions {
  reason?: ErrorReason;
  /** The request or config field at fault, e.g. "manual_ips[1]". */
  field?: string;
  cause?: unknown;
}

/**
 * A failure the domain understands. The message is for a person and names the field and the rule;
 * kind + reason are for machines.
 */
export class SanpathError extends Error {
  override readonly name = "SanpathError";
  readonly kind: ErrorKind;
  readonly reason: ErrorReason | undefined;
  readonly field: string | undefined;

  constructor(kind: ErrorKind, message: string, options: SanpathErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.reason = options.reason;
    this.field = options.field;
  }
}

/** A request or config field broke a rule. The message should say which rule. */
export function invalidField(field: string, rule: string, cause?: unknown): SanpathError {
  return new SanpathError("invalid_argument", `${field}: ${rule}`, {
    reason: "INVALID_FIELD",
    field,
    cause,
  });
}

export function isSanpathError(error: unknown): error is SanpathError {
  return error instanceof SanpathError;
}

/** The message of any thrown value, for logs and wrapping. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
