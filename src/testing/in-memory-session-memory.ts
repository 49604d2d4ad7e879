import type { SessionMemory } from "../kv/session-memory.js";

const SESSION_ID = /^[0-9a-fA-F-]{36}$/;

/**
 * SessionMemory in memory, with the file adapter's (src/files/session-state-file.ts) rules: the
 * active session first, then the retiring ones, no duplicates, nothing that is not a session id.
 * `failWrites` makes writes fail (a full or read-only disk).
 */
export class InMemorySessionMemory implements SessionMemory {
  private remembered: string[] = [];
  private writeError: Error | undefined;

  read(): Promise<string[]> {
    return Promise.resolve([...this.remembered]);
  }

  write(active: string, retiring: readonly string[]): Promise<void> {
    if (this.writeError !== undefined) return Promise.reject(this.writeError);
    this.remembered = [...new Set([active, ...retiring].filter((id) => SESSION_ID.test(id)))];
    return Promise.resolve();
  }

  forget(): Promise<void> {
    this.remembered = [];
    return Promise.resolve();
  }

  /** Every later write fails with `error` (undefined: writes work again). */
  failWrites(error: Error | undefined): void {
    this.writeError = error;
  }
}
