import { TransactionConflictError } from "../kv/transaction-conflict.js";
import { setTimeout as sleep } from "node:timers/promises";
import { SanpathError } from "../errors/sanpath-error.js";

/** How a read-modify-write of shared Consul records is retried when a CAS loses a race. */
export interface ConflictRetryPolicy {
  readonly attempts: number;
  /** Full jitter: the k-th wait is random in 0..min(maxDelayMs, baseDelayMs * 2^k). */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_CONFLICT_RETRY: ConflictRetryPolicy = { attempts: 60, baseDelayMs: 5, maxDelayMs: 200 };

/** Thrown by an attempt to ask for another one (a race was lost; nothing was written). */
export class RetryableConflict extends Error {
  override readonly name = "RetryableConflict";
}

/**
 * Runs `attempt` until it returns, retrying after a jittered, growing wait when it throws
 * RetryableConflict or a TransactionConflictError. Gives up with ABORTED / CAS_CONFLICT after
 * `policy.attempts` tries; any other error ends it at once.
 */
export async function retryOnConflict<T>(
  what: string,
  policy: ConflictRetryPolicy,
  signal: AbortSignal | undefined,
  attempt: (attemptNumber: number) => Promise<T>,
): Promise<T> {
  let last: unknown;
  for (let attemptNumber = 1; attemptNumber <= policy.attempts; attemptNumber++) {
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      if (!(error instanceof RetryableConflict || error instanceof TransactionConflictError)) throw error;
      last = error;
    }
    const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attemptNumber, 20));
    await sleep(Math.random() * ceiling, undefined, signal === undefined ? {} : { signal });
  }
  throw new SanpathError(
    "aborted",
    `${what}: other requests kept changing the same Consul records; gave up after ${policy.attempts} attempts (retrying is safe)`,
    { reason: "CAS_CONFLICT", cause: last },
  );
}
