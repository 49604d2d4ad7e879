import { isSanpathError, type SanpathError } from "../../src/errors/sanpath-error.js";

/** The SanpathError a promise rejects with (fails the test if it resolves or rejects otherwise). */
export async function rejectionOf(promise: Promise<unknown>): Promise<SanpathError> {
  const outcome = await promise.then(
    () => ({ resolved: true as const }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  if (outcome.resolved) throw new Error("expected a rejection, but the call succeeded");
  if (!isSanpathError(outcome.error)) throw outcome.error;
  return outcome.error;
}
