import { SanpathError } from "../errors/sanpath-error.js";
import { checkKey, consulUnavailable, type CallOptions, type ConsulClient } from "./consul-client.js";
import { runTransaction, TransactionConflictError } from "./transaction.js";

export interface LockHolder {
  session: string;
  value: string;
  flags: number;
  /**
   * How many times the key has been acquired. For the coordinator lock this is the coordinator's
   * epoch: it only grows, and each new holder sees a higher one.
   */
  lockIndex: number;
  modifyIndex: number;
}

/**
 * The session does not exist (destroyed, expired, invalidated): it can hold no lock. Consul answers
 * an acquire with such a session with HTTP 500 "invalid session".
 */
export class InvalidSessionError extends SanpathError {
  readonly sessionId: string;

  constructor(operation: string, sessionId: string, cause: unknown) {
    super("failed_precondition", `consul ${operation}: session ${sessionId} does not exist`, { cause });
    this.sessionId = sessionId;
  }
}

/**
 * Acquires `key` for `sessionId` and writes `value`. False when another session holds it or the
 * key is in its lock-delay after the previous holder's session ended. Re-acquiring a key the session
 * already holds succeeds (and rewrites the value). Throws InvalidSessionError when the session is gone.
 */
export async function acquireLock(
  client: ConsulClient,
  key: string,
  sessionId: string,
  value: string,
  options: CallOptions & { flags?: number } = {},
): Promise<boolean> {
  checkKey(key);
  const outcome = await client.callAccepting("lock.acquire", options, [500], (raw, common) =>
    raw.kv.set({
      ...common,
      key,
      value,
      acquire: sessionId,
      ...(options.flags === undefined ? {} : { flags: options.flags }),
    }),
  );
  if (outcome.ok) return outcome.value === true;
  const { rejection } = outcome;
  if (/invalid session|session lookup/i.test(`${rejection.message} ${bodyText(rejection.body)}`)) {
    throw new InvalidSessionError("lock.acquire", sessionId, rejection);
  }
  throw consulUnavailable("lock.acquire", `answered 500: ${rejection.message}`, rejection);
}

/**
 * Releases `key` if `sessionId` holds it. An explicit release has no lock-delay: another session
 * can acquire at once. With `value`, the key's value is replaced; without, value and flags are kept.
 * False when the session does not hold the key.
 */
export async function releaseLock(
  client: ConsulClient,
  key: string,
  sessionId: string,
  value?: string,
  options: CallOptions = {},
): Promise<boolean> {
  checkKey(key);
  if (value !== undefined) {
    const result = await client.call("lock.release", options, (raw, common) =>
      raw.kv.set({ ...common, key, value, release: sessionId }),
    );
    return result === true;
  }
  // A release through the KV endpoint always writes the body: unlock in a transaction that
  // carries the current value, guarded by the ModifyIndex it was read at.
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const current = await client.get(key, options);
    if (current?.session !== sessionId) return false;
    try {
      await runTransaction(
        client,
        [
          { verb: "check-index", key, index: current.modifyIndex },
          { verb: "unlock", key, value: current.value, flags: current.flags, session: sessionId },
        ],
        options,
      );
      return true;
    } catch (error) {
      // The key changed between the read and the unlock: read again.
      if (!(error instanceof TransactionConflictError)) throw error;
    }
  }
  throw new SanpathError("aborted", `consul lock.release: ${key} kept changing, release not done`, {
    reason: "CAS_CONFLICT",
  });
}

/** The session holding `key`, or undefined when the key is absent or not locked. */
export async function lockHolder(
  client: ConsulClient,
  key: string,
  options: CallOptions = {},
): Promise<LockHolder | undefined> {
  const entry = await client.get(key, options);
  if (entry?.session === undefined) return undefined;
  return {
    session: entry.session,
    value: entry.value,
    flags: entry.flags,
    lockIndex: entry.lockIndex,
    modifyIndex: entry.modifyIndex,
  };
}

function bodyText(body: unknown): string {
  if (typeof body === "string") return body;
  if (Buffer.isBuffer(body)) return body.toString("utf8");
  return "";
}
