import type { CallOptions } from "../util/call-options.js";

/** Who holds a path's lock; `session` undefined = the key exists but nobody holds it now. */
export interface PathLockState {
  readonly session: string | undefined;
  /** The holder's node name (the lock's value; the last holder's when nobody holds it). */
  readonly holderName: string;
}

export interface PathRef {
  readonly diskId: string;
  readonly index: number;
}

/**
 * The lock of each disk path: the node whose session holds it serves the path. A lock whose
 * session ended (invalidated, not destroyed after an explicit release) stays un-lockable for the
 * session's lock-delay. The adapter over the KV store is kv-path-locks.ts.
 */
export interface PathLocks {
  /**
   * Takes the path's lock for `sessionId`, naming `holderName`; false when another session holds it
   * or it is in its lock-delay. Throws InvalidSessionError (kv/invalid-session.ts) when the session
   * no longer exists.
   */
  acquire(path: PathRef, sessionId: string, holderName: string, options?: CallOptions): Promise<boolean>;
  /** Releases the lock if `sessionId` holds it (no lock-delay); false when it does not. */
  release(path: PathRef, sessionId: string, options?: CallOptions): Promise<boolean>;
  /** The lock's state; undefined when the path has no lock key. */
  state(path: PathRef, options?: CallOptions): Promise<PathLockState | undefined>;
  /** Every path whose lock `sessionId` holds. */
  heldBy(sessionId: string, options?: CallOptions): Promise<PathRef[]>;
}
