/**
 * Tells the daemon's Consul clients when the Consul raft leader changed (the Consul monitor sees
 * it), so that each ends its idempotent requests in flight: one sent while the old leader was
 * unreachable waits for a connection to it until Consul's dial timeout (see
 * ConsulClient.abandonIdempotentRequests), and sent again it reaches the new leader.
 */
export type LeaderChangeListener = (leader: string, previous: string) => number;

export class RaftLeaderChanges {
  private last: string | undefined;
  private readonly listeners = new Set<LeaderChangeListener>();

  /** Calls `listener` at each change; returns the unsubscribe. */
  subscribe(listener: LeaderChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The leader the agent names now ("" = none). At a leader other than the last one named (not
   * the first seen, not "none"), tells the listeners; returns how many requests they ended, or
   * undefined when nothing changed.
   */
  observe(leader: string): number | undefined {
    if (leader === "") return undefined;
    const previous = this.last;
    this.last = leader;
    if (previous === undefined || previous === leader) return undefined;
    let ended = 0;
    for (const listener of [...this.listeners]) ended += listener(leader, previous);
    return ended;
  }
}
