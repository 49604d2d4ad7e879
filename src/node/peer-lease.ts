/**
 * Peer leases (issue #17, docs/design/peer-leases.md): a node serves while a majority of the
 * cluster (itself included) granted a renew it sent within `leaseMs`; the coordinator places a
 * node's paths only once a majority reports granting it nothing for longer than any lease it could
 * hold. Pure: every time is a reading of one machine's monotonic clock, passed in.
 *
 * Why a node's lease and an expiry proof for it never overlap in real time:
 *   - The holder N counts a grant by the SEND time `s` of its renew (N's clock) and holds until
 *     s + leaseMs (N's clock): at most leaseMs / (1 − ε) of real time after the send.
 *   - A granter P received that renew at or after the send (real time) and reports N silent for
 *     `d` only when its own clock shows d since its newest grant to N: at least d / (1 + ε) of real
 *     time since that receive.
 *   - An expiry proof needs a majority of the cluster reporting silence of at least
 *     provenSilenceMs = leaseMs × (1 + ε) / (1 − ε) + marginMs, so each reporter's newest grant
 *     is more than leaseMs / (1 − ε) of real time old. Any lease of N rests on grants from a
 *     majority, and two majorities share a node: that node's newest grant to N, and with it N's
 *     lease, has ended before the proof exists.
 *   - A granter that restarted has no table: it reports silence since its own start, which is
 *     later than any grant it gave before (so never longer than the truth).
 *   - ε bounds every clock's rate error (monotonic clocks; only rates matter, never offsets).
 */

export interface PeerLeaseSettings {
  /** How long a granted renew keeps the holder's lease, from its send time (holder's clock). */
  readonly leaseMs: number;
  /** Bound on any clock's rate error (0.01 = 1 %). */
  readonly clockRateError: number;
  /** Added to the proven silence (scheduling, the time a report takes to reach the coordinator). */
  readonly marginMs: number;
}

/** Votes that make a majority of `clusterSize` nodes. */
export function majorityOf(clusterSize: number): number {
  return Math.floor(clusterSize / 2) + 1;
}

/** How long a granter must have granted nothing for its report to count towards an expiry proof. */
export function provenSilenceMs(settings: PeerLeaseSettings): number {
  const { leaseMs, clockRateError, marginMs } = settings;
  return (leaseMs * (1 + clockRateError)) / (1 - clockRateError) + marginMs;
}

/**
 * The holder's side, on every node: the newest send time each peer granted, and the lease they
 * make together with this node's own vote.
 */
export class LeaseHolder {
  private readonly newestGrant = new Map<string, number>();

  constructor(
    private readonly settings: PeerLeaseSettings,
    private readonly self: string,
  ) {}

  /** `peer` granted the renew this node sent at `sentAt` (this node's clock). */
  granted(peer: string, sentAt: number): void {
    if (peer === this.self) return;
    const before = this.newestGrant.get(peer);
    if (before === undefined || sentAt > before) this.newestGrant.set(peer, sentAt);
  }

  /** Forgets a peer that left the cluster. */
  forget(peer: string): void {
    this.newestGrant.delete(peer);
  }

  /**
   * Until when (this node's clock) the lease holds with a cluster of `clusterSize` nodes;
   * undefined when no majority ever granted. The node's own vote counts, so it needs the
   * (majority − 1)-th newest peer grant.
   */
  validUntil(clusterSize: number): number | undefined {
    const needed = majorityOf(clusterSize) - 1;
    if (needed <= 0) return Number.POSITIVE_INFINITY;
    const newest = [...this.newestGrant.values()].sort((a, b) => b - a);
    const sentAt = newest[needed - 1];
    return sentAt === undefined ? undefined : sentAt + this.settings.leaseMs;
  }

  holds(clusterSize: number, now: number): boolean {
    const until = this.validUntil(clusterSize);
    return until !== undefined && now < until;
  }
}

/** The granter's side, on every node: when it last granted each node (its own clock). */
export class GrantTable {
  private readonly lastGrant = new Map<string, number>();

  /** `startedAt`: when this table began (a restarted node knows nothing older). */
  constructor(private readonly startedAt: number) {}

  grant(node: string, now: number): void {
    this.lastGrant.set(node, now);
  }

  /** How long this node has granted `node` nothing (since its start, when never). */
  silentFor(node: string, now: number): number {
    return now - (this.lastGrant.get(node) ?? this.startedAt);
  }
}

/**
 * Whether `reports` (reporter → how long it has granted the node nothing, as it measured) prove
 * that node's lease over in a cluster of `clusterSize`: a majority of distinct reporters, each
 * silent for at least provenSilenceMs.
 */
export function expiryProven(
  reports: ReadonlyMap<string, number>,
  clusterSize: number,
  settings: PeerLeaseSettings,
): boolean {
  const needed = provenSilenceMs(settings);
  let silent = 0;
  for (const silence of reports.values()) if (silence >= needed) silent++;
  return silent >= majorityOf(clusterSize);
}
