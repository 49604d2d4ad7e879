import { invalidField, SanpathError } from "../errors/sanpath-error.js";

/**
 * Ceph pool names as sanpath accepts them: 1..64 characters of ASCII letters, digits, '_', '.',
 * '-', starting with a letter, digit or '_'. Ceph itself allows more, but '/' and '@' break rbd
 * image specs ("pool/image@snap"), and a leading '-' or '.' confuses command lines and hides files.
 */

export const MAX_POOL_NAME_LENGTH = 64;

const POOL_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function poolNameProblem(name: string): string | undefined {
  if (name.length > MAX_POOL_NAME_LENGTH) {
    return `is ${name.length} characters long; a pool name is at most ${MAX_POOL_NAME_LENGTH}`;
  }
  if (!POOL_NAME_PATTERN.test(name)) {
    return `"${name}" is not a valid pool name: letters, digits, '_', '.', '-', not starting with '.' or '-'`;
  }
  return undefined;
}

export function validatePoolName(name: string, field: string): string {
  const problem = poolNameProblem(name);
  if (problem !== undefined) throw invalidField(field, problem);
  return name;
}

/** Whether an image store call failed because the Ceph pool does not exist. */
export function isMissingPool(error: unknown): boolean {
  return (
    error instanceof SanpathError &&
    error.kind === "failed_precondition" &&
    error.reason === undefined &&
    /pool .*does not exist/i.test(error.message)
  );
}
