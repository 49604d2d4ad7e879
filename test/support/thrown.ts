/**
 * What a call throws, or what a promise rejects with, for assertions on the error itself.
 *
 * Every helper fails the test when nothing is thrown (or the promise resolves). The typed forms
 * (`thrownAs`, `rejectionAs`) also fail it when the error is not of the expected class: that
 * error is rethrown as it is, so the report shows what was thrown instead.
 *
 *   expect(thrownAs(SanpathError, () => parseDiskId("x")).field).toBe("disk");
 *   expect((await rejectionAs(SanpathError, store.readMetadata("gone"))).kind).toBe("not_found");
 */

/** A class of errors, for `instanceof` (any constructor, whatever its parameters). */
export type ErrorClass<E> = abstract new (...args: never[]) => E;

/** What `action` throws; fails the test when it returns. */
export function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw, nothing was thrown");
}

/** The `type` error `action` throws; fails the test when it returns or throws anything else. */
export function thrownAs<E>(type: ErrorClass<E>, action: () => unknown): E {
  const error = thrown(action);
  if (error instanceof type) return error;
  throw error;
}

/** What `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  const outcome = await promise.then(
    (value: unknown) => ({ rejected: false as const, value }),
    (error: unknown) => ({ rejected: true as const, error }),
  );
  if (!outcome.rejected)
    throw new Error(`expected a rejection, the promise resolved with ${String(outcome.value)}`);
  return outcome.error;
}

/** The `type` error `promise` rejects with; fails the test when it resolves or rejects otherwise. */
export async function rejectionAs<E>(type: ErrorClass<E>, promise: Promise<unknown>): Promise<E> {
  const error = await rejection(promise);
  if (error instanceof type) return error;
  throw error;
}
