/**
 * A daemon that stops to be restarted at once (an upgrade, `systemctl restart`) leaves its session
 * to its successor instead of ending it: the paths stay served throughout. The record says which
 * session, and until when the successor may take it over: the moment the leaving daemon would have
 * fenced (its last confirmed renew plus the fence deadline). Whoever claims the record first owns
 * the decision: the successor adopts the session (if Consul still confirms it), or the crash guard
 * of the leaving daemon, once the time is up, tears the paths down. The file adapter is
 * src/files/session-handover-file.ts; both processes run on the same machine, so the time is kept
 * on its monotonic clock.
 */
export interface SessionHandover {
  /** Leaves `sessionId` to the next daemon for `validForMs` from now (replaces any older record). */
  leave(sessionId: string, validForMs: number): Promise<void>;
  /**
   * Takes the record, so that nobody else acts on it (atomic: of two claims, one gets it); undefined
   * when there is none. `remainingMs` ≤ 0 when the time is up (or the machine restarted since).
   */
  claim(): Promise<ClaimedHandover | undefined>;
  /** The record without taking it; undefined when there is none. */
  peek(): Promise<ClaimedHandover | undefined>;
}

export interface ClaimedHandover {
  readonly sessionId: string;
  readonly remainingMs: number;
}

/** A daemon without a state directory hands nothing over. */
export const NO_SESSION_HANDOVER: SessionHandover = {
  leave: () => Promise.reject(new Error("no state directory: the session cannot be handed over")),
  claim: () => Promise.resolve(undefined),
  peek: () => Promise.resolve(undefined),
};
