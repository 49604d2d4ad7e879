import { Metadata, status as Status, type ServiceError } from "@grpc/grpc-js";
import { isSanpathError, type ErrorKind } from "../errors/sanpath-error.js";
import { escapeControls } from "../util/escape-controls.js";

/** Trailing metadata keys of a failed call (see proto/sanpath/v1/common.proto). */
export const REASON_METADATA_KEY = "sanpath-reason";
export const FIELD_METADATA_KEY = "sanpath-field";

const CODE_OF_KIND: Readonly<Record<ErrorKind, Status>> = {
  invalid_argument: Status.INVALID_ARGUMENT,
  not_found: Status.NOT_FOUND,
  already_exists: Status.ALREADY_EXISTS,
  failed_precondition: Status.FAILED_PRECONDITION,
  aborted: Status.ABORTED,
  resource_exhausted: Status.RESOURCE_EXHAUSTED,
  unavailable: Status.UNAVAILABLE,
  deadline_exceeded: Status.DEADLINE_EXCEEDED,
  data_loss: Status.DATA_LOSS,
  unauthenticated: Status.UNAUTHENTICATED,
  permission_denied: Status.PERMISSION_DENIED,
  cancelled: Status.CANCELLED,
  internal: Status.INTERNAL,
};

/** Node error codes that mean "a dependency cannot be reached right now". */
const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_HEADERS_TIMEOUT",
]);

/** An RPC that exists in the contract but whose implementation is not built yet. */
export class NotBuiltYetError extends Error {
  override readonly name = "NotBuiltYetError";

  constructor(readonly method: string) {
    super(`${method} is not built yet`);
  }
}

/** What a failed call sends: code, a message for a person, and trailing metadata. */
export interface GrpcFailure {
  code: Status;
  details: string;
  metadata: Metadata;
  /** Not a known failure: the message is generic and the original belongs in the log. */
  internal: boolean;
}

/**
 * The one mapping from thrown values to gRPC statuses:
 * - SanpathError: its kind's code, its message, `sanpath-reason` and `sanpath-field`;
 * - NotBuiltYetError: UNIMPLEMENTED;
 * - a gRPC error of a call to another node: passed on when it carries a sanpath reason,
 *   UNAVAILABLE / DEADLINE_EXCEEDED passed on, anything else INTERNAL;
 * - a Node network errno anywhere in the cause chain: UNAVAILABLE;
 * - AbortError / TimeoutError: CANCELLED / DEADLINE_EXCEEDED;
 * - anything else: INTERNAL with a generic message (its text may hold secrets), `errorId` in it.
 * Control characters in messages (which may echo a request's text) are escaped ("\u0007"), and
 * messages longer than MAX_DETAILS_LENGTH are cut.
 */
export function toGrpcFailure(error: unknown, errorId?: string): GrpcFailure {
  const failure = mapFailure(error, errorId);
  return { ...failure, details: boundedDetails(escapeControls(failure.details)) };
}

/** The longest message a status carries: it travels in an HTTP/2 trailer, which peers cap at 8..16 KiB. */
export const MAX_DETAILS_LENGTH = 1024;

/** A message cut to MAX_DETAILS_LENGTH (a rule message may quote a hostile 1 MB value). */
function boundedDetails(details: string): string {
  if (details.length <= MAX_DETAILS_LENGTH) return details;
  return `${details.slice(0, MAX_DETAILS_LENGTH - 64)}… (message cut: ${details.length} characters)`;
}

function mapFailure(error: unknown, errorId?: string): GrpcFailure {
  const metadata = new Metadata();
  if (isSanpathError(error)) {
    if (error.reason !== undefined) metadata.set(REASON_METADATA_KEY, error.reason);
    if (error.field !== undefined) metadata.set(FIELD_METADATA_KEY, error.field);
    return {
      code: CODE_OF_KIND[error.kind],
      details: error.message,
      metadata,
      internal: error.kind === "internal",
    };
  }
  if (error instanceof NotBuiltYetError) {
    return { code: Status.UNIMPLEMENTED, details: error.message, metadata, internal: false };
  }
  if (isGrpcServiceError(error)) {
    const reason = firstString(error.metadata, REASON_METADATA_KEY);
    if (reason !== undefined) {
      metadata.set(REASON_METADATA_KEY, reason);
      const field = firstString(error.metadata, FIELD_METADATA_KEY);
      if (field !== undefined) metadata.set(FIELD_METADATA_KEY, field);
      return { code: error.code, details: error.details, metadata, internal: false };
    }
    if (error.code === Status.UNAVAILABLE || error.code === Status.DEADLINE_EXCEEDED) {
      return {
        code: error.code,
        details: `a call to another node failed: ${error.details}`,
        metadata,
        internal: false,
      };
    }
  }
  const errno = findUnreachableErrno(error);
  if (errno !== undefined) {
    return {
      code: Status.UNAVAILABLE,
      details: `a dependency is unreachable (${errno})`,
      metadata,
      internal: false,
    };
  }
  if (error instanceof Error && error.name === "TimeoutError") {
    return { code: Status.DEADLINE_EXCEEDED, details: "the operation timed out", metadata, internal: false };
  }
  if (error instanceof Error && error.name === "AbortError") {
    return { code: Status.CANCELLED, details: "the operation was cancelled", metadata, internal: false };
  }
  const suffix = errorId === undefined ? "" : ` (error id ${errorId}; details are in the sanpathd log)`;
  return { code: Status.INTERNAL, details: `internal error${suffix}`, metadata, internal: true };
}

/** The value grpc-js takes in a unary callback or a stream's "error" event. */
export function toServiceErrorObject(failure: GrpcFailure): Partial<ServiceError> & Error {
  return Object.assign(new Error(failure.details), {
    code: failure.code,
    details: failure.details,
    metadata: failure.metadata,
  });
}

function isGrpcServiceError(error: unknown): error is ServiceError {
  if (!(error instanceof Error)) return false;
  const candidate = error as Partial<ServiceError>;
  return (
    typeof candidate.code === "number" &&
    typeof candidate.details === "string" &&
    candidate.metadata instanceof Metadata
  );
}

function firstString(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === "string" ? value : undefined;
}

/** "ECONNREFUSED 127.0.0.1:8500" for the first network errno in the cause chain. */
function findUnreachableErrno(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const { code, address, port } = current as NodeJS.ErrnoException & { address?: unknown; port?: unknown };
    if (typeof code === "string" && UNREACHABLE_CODES.has(code)) {
      return typeof address === "string" && typeof port === "number" ? `${code} ${address}:${port}` : code;
    }
    current = current.cause;
  }
  return undefined;
}
