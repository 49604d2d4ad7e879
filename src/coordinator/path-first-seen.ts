import type { PathAssignment } from "../assignment/assignment-model.js";

/**
 * When each path was first read in its present lock state (its holder, session and ModifyIndex,
 * or free with its last holder), on a given clock. An expiry proof for a path's holder must come
 * from silences asked for after that read: anything the holder did to the path since would show as
 * another state (peer-lease.ts). Re-reading the same state keeps the first reading, so that the
 * proof is not pushed back by every pass.
 */
export class PathFirstSeen {
  private readonly seen = new Map<string, { readonly state: string; readonly at: number }>();

  /** Notes every path of a read made just before `at`; forgets paths no longer there. */
  note(paths: readonly PathAssignment[], at: number): void {
    const present = new Set<string>();
    for (const path of paths) {
      present.add(path.ip);
      const state = `${path.node}|${path.lock?.session ?? ""}|${path.lock?.modifyIndex ?? ""}|${path.lastHolder ?? ""}`;
      if (this.seen.get(path.ip)?.state !== state) this.seen.set(path.ip, { state, at });
    }
    for (const ip of this.seen.keys()) if (!present.has(ip)) this.seen.delete(ip);
  }

  /** When `ip` was first read in its present state; `fallback` when it was not noted. */
  since(ip: string, fallback: number): number {
    return this.seen.get(ip)?.at ?? fallback;
  }
}
