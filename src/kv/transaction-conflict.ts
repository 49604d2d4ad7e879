import { SanpathError } from "../errors/sanpath-error.js";

export interface TransactionOpError {
  /** Index of the operation in the caller's whole list (not the chunk). */
  opIndex: number;
  what: string;
}

/**
 * Consul refused a transaction (HTTP 409): a check or CAS failed, a lock could not be taken, a
 * session is invalid. The chunk that held the failing operation was rolled back completely; chunks
 * before it stay committed (`committedChunks`).
 */
export class TransactionConflictError extends SanpathError {
  /** Global index of the first failing operation. */
  readonly opIndex: number;
  /** Consul's reason for it, e.g. `failed to set key "x", index is stale`. */
  readonly what: string;
  readonly errors: readonly TransactionOpError[];
  /** Chunks (of 64 operations) that were committed before the failing one. */
  readonly committedChunks: number;

  constructor(errors: readonly TransactionOpError[], committedChunks: number, cause: unknown) {
    const first = errors[0] ?? { opIndex: -1, what: "no error detail" };
    super("aborted", `consul transaction: operation ${first.opIndex} failed: ${first.what}`, {
      reason: "CAS_CONFLICT",
      cause,
    });
    this.opIndex = first.opIndex;
    this.what = first.what;
    this.errors = errors;
    this.committedChunks = committedChunks;
  }
}

/**
 * A store failure of transaction chunk `chunk` (0-based) of `chunkCount`: from the second chunk on,
 * its message says how many chunks were committed before it; anything else is returned unchanged.
 */
export function laterChunkFailure(error: unknown, chunk: number, chunkCount: number): unknown {
  if (chunk === 0 || !(error instanceof SanpathError)) return error;
  return new SanpathError(
    error.kind,
    `${error.message} (transaction chunk ${chunk + 1} of ${chunkCount}; ${chunk} committed before it)`,
    { ...(error.reason === undefined ? {} : { reason: error.reason }), cause: error },
  );
}
