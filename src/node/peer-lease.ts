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
 *   - An expiry proof needs a majority of the cluster whose silences all cover one common stretch
 *     [T − W, T] of the observer's clock, W = provenSilenceMs = leaseMs × (1 + ε) / (1 − ε) +
 *     marginMs: more than leaseMs / (1 − ε) of real time in which none of them granted N. Any lease
 *     of N held at T rests on grants from a majority made in that stretch, and two majorities share a
 *     node: N held no lease at T, so its fence had torn everything down by T (SilenceEvidence).
 *   - Silences reported at different instants are only combined through that common stretch: a
 *     node whose grants came from alternating peers was never silent to a majority at once.
 *   - N may win a lease again after T, but a fenced node never serves under its old locks again
 *     (node-session.ts); so the proof is used only for locks seen before the reports were asked
 *     for (`notBefore`).
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

  /**
   * Grants `node` now; with `holdMs` (a restart's hand-over, already stretched by the clock-rate
   * bound) its silence starts only at the end of the hold.
   */
  grant(node: string, now: number, holdMs = 0): void {
    this.lastGrant.set(node, Math.max(this.lastGrant.get(node) ?? Number.NEGATIVE_INFINITY, now + holdMs));
  }

  /** Every node granted at least once. */
  nodes(): IterableIterator<string> {
    return this.lastGrant.keys();
  }

  /** Each node granted at least once, with its last grant (a hold's end when later). */
  entries(): IterableIterator<[string, number]> {
    return this.lastGrant.entries();
  }

  /** How long this node has granted `node` nothing (since its start, when never). */
  silentFor(node: string, now: number): number {
    return Math.max(0, now - (this.lastGrant.get(node) ?? this.startedAt));
  }
}

/**
 * One granter's answer about one node: how long it had granted that node nothing when it answered
 * (its own clock), and when, on the observer's clock, the question was sent and the answer came back.
 * The silence was measured somewhere in between.
 */
export interface SilenceReport {
  readonly silentForMs: number;
  readonly askedAt: number;
  readonly answeredAt: number;
}

/**
 * What an observer (the coordinator, or a node placing paths without one) has heard about each node's
 * grants, and the expiry proofs it makes of them.
 *
 * A report says: the reporter granted the subject nothing during a stretch that began no later than
 * `answeredAt − silentForMs × (1 − ε) / (1 + ε)` and ended no earlier than `askedAt` (observer's
 * clock, stretched both ways by ε). A proof needs a majority of the cluster whose stretches all cover
 * one common interval [T − W, T] with W = provenSilenceMs: a lease held at T rests on grants made
 * within W before T by a majority, and that majority shares a reporter with this one. So the subject
 * held no lease at T, and T is not earlier than `notBefore` (every report was asked for after it).
 *
 * Reports taken at different instants are not combined otherwise: a node whose grants came from
 * alternating peers (first one link down, then the other) may never have been silent to a majority
 * at once, though each peer was silent for a while.
 */
export class SilenceEvidence {
  private readonly reports = new Map<string, Map<string, SilenceReport>>();

  constructor(private readonly settings: PeerLeaseSettings) {}

  /** The newest answer of `reporter` about `subject` (an older one than held is ignored). */
  record(reporter: string, subject: string, report: SilenceReport): void {
    let bySubject = this.reports.get(subject);
    if (bySubject === undefined) this.reports.set(subject, (bySubject = new Map<string, SilenceReport>()));
    const before = bySubject.get(reporter);
    if (before === undefined || report.askedAt >= before.askedAt) bySubject.set(reporter, report);
  }

  /** Forgets a node: as a subject and as a reporter. */
  forget(node: string): void {
    this.reports.delete(node);
    for (const bySubject of this.reports.values()) bySubject.delete(node);
  }

  /** Every report held: reporter, subject, report. */
  *entries(): IterableIterator<[string, string, SilenceReport]> {
    for (const [subject, bySubject] of this.reports)
      for (const [reporter, report] of bySubject) yield [reporter, subject, report];
  }

  /** The reports held about `subject`, by reporter. */
  about(subject: string): ReadonlyMap<string, SilenceReport> {
    return this.reports.get(subject) ?? new Map<string, SilenceReport>();
  }

  /**
   * Whether `subject` provably held no lease at some instant at or after `notBefore` (observer's
   * clock), in a cluster of `clusterSize`. `extra` adds reports not recorded (the observer's own
   * grant table, read now).
   */
  proven(
    subject: string,
    clusterSize: number,
    notBefore: number,
    extra: ReadonlyMap<string, SilenceReport> = new Map<string, SilenceReport>(),
  ): boolean {
    const merged = new Map(this.about(subject));
    for (const [reporter, report] of extra) merged.set(reporter, report);
    merged.delete(subject);
    return coversCommonWindow([...merged.values()], majorityOf(clusterSize), notBefore, this.settings);
  }
}

/**
 * Whether `count` of `reports`, each asked for at or after `notBefore`, have silence stretches that
 * all cover one interval of provenSilenceMs (observer's clock).
 */
export function coversCommonWindow(
  reports: readonly SilenceReport[],
  count: number,
  notBefore: number,
  settings: PeerLeaseSettings,
): boolean {
  const { clockRateError: e } = settings;
  const needed = provenSilenceMs(settings);
  const stretches = reports
    .filter((report) => report.askedAt >= notBefore)
    .map((report) => ({
      end: report.askedAt,
      start: report.answeredAt - (report.silentForMs * (1 - e)) / (1 + e),
    }));
  // Try each report's end as the common end T: among the stretches reaching T, the `count` that
  // began earliest decide.
  for (const { end: commonEnd } of stretches) {
    const starts = stretches
      .filter((stretch) => stretch.end >= commonEnd)
      .map((stretch) => stretch.start)
      .sort((a, b) => a - b);
    const latestStart = starts[count - 1];
    if (latestStart !== undefined && commonEnd - latestStart >= needed) return true;
  }
  return false;
}
