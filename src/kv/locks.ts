import { SanpathError } from "../errors/sanpath-error.js";
import type { CallOptions } from "../util/call-options.js";
import type { KvStore } from "./kv-store.js";
import { TransactionConflictError } from "./transaction-conflict.js";

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
 * Releases `key` if `sessionId` holds it. An explicit release has no lock-delay: another session
 * can acquire at once. With `value`, the key's value is replaced; without, value and flags are kept.
 * False when the session does not hold the key.
 */
export async function releaseLock(
  kv: KvStore,
  key: string,
  sessionId: string,
  value?: string,
  options: CallOptions = {},
): Promise<boolean> {
  if (value !== undefined) return kv.release(key, sessionId, value, options);
  // A release through the KV endpoint always writes the body: unlock in a transaction that
  // carries the current value, guarded by the ModifyIndex it was read at.
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const current = await kv.get(key, options);
    if (current?.session !== sessionId) return false;
    try {
      await kv.transaction(
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

/**
 * Releases `key` from `sessionId` only if the key is unchanged since it was read at `modifyIndex`
 * (a check-and-unlock transaction), keeping its value and flags. False when it changed or the
 * session no longer holds it. For locks of a node that provably stopped serving: a lock it (or
 * anyone) took after the read is never touched.
 */
export async function releaseLockIfUnchanged(
  kv: KvStore,
  key: string,
  sessionId: string,
  modifyIndex: number,
  options: CallOptions = {},
): Promise<boolean> {
  const current = await kv.get(key, options);
  if (current?.session !== sessionId || current.modifyIndex !== modifyIndex) return false;
  try {
    await kv.transaction(
      [
        { verb: "check-index", key, index: modifyIndex },
        { verb: "unlock", key, value: current.value, flags: current.flags, session: sessionId },
      ],
      options,
    );
    return true;
  } catch (error) {
    if (error instanceof TransactionConflictError) return false;
    throw error;
  }
}

/** The session holding `key`, or undefined when the key is absent or not locked. */
export async function lockHolder(
  kv: KvStore,
  key: string,
  options: CallOptions = {},
): Promise<LockHolder | undefined> {
  const entry = await kv.get(key, options);
  if (entry?.session === undefined) return undefined;
  return {
    session: entry.session,
    value: entry.value,
    flags: entry.flags,
    lockIndex: entry.lockIndex,
    modifyIndex: entry.modifyIndex,
  };
}
