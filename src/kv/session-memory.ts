/**
 * What a daemon remembers about its sessions across restarts: the session it holds and those it
 * has not retired yet. A daemon restarted after a crash ends them at once (releasing their locks)
 * instead of waiting for their TTL. The file adapter is src/files/session-state-file.ts.
 */
export interface SessionMemory {
  /** The remembered sessions, the active one first; empty when nothing is remembered. */
  read(): Promise<string[]>;
  /** Remembers `active` as held and `retiring` as still to retire. */
  write(active: string, retiring: readonly string[]): Promise<void>;
  /** Forgets every session (a clean stop destroyed them). */
  forget(): Promise<void>;
}

/** A memory that remembers nothing: a daemon without a state directory. */
export const NO_SESSION_MEMORY: SessionMemory = {
  read: () => Promise.resolve([]),
  write: () => Promise.resolve(),
  forget: () => Promise.resolve(),
};
