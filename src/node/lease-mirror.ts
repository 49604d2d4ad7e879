import { SilenceEvidence, type PeerLeaseSettings, type SilenceReport } from "./peer-lease.js";

/**
 * What a lease keeper knew at one instant (`at`, lease clock): its own grant table and every
 * silence report its peers gave it. The lease worker sends one after each change; the main thread
 * makes its expiry proofs from the newest (LeaseMirror).
 */
export interface LeaseSnapshot {
  readonly at: number;
  /** When the keeper's grant table began: a node never granted has been silent since then. */
  readonly grantsSince: number;
  /** Node → its last grant (lease clock; a restart's hold may put it after `at`). */
  readonly lastGrants: readonly (readonly [string, number])[];
  /** Reporter, subject, report: the newest report of each reporter about each subject. */
  readonly reports: readonly (readonly [string, string, SilenceReport])[];
}

/**
 * The main thread's copy of the lease worker's proof material. A copy is always behind the worker,
 * and a grant table read late would make a node look silent for longer than it was: so the worker's
 * own table counts as a report taken at the snapshot's instant (askedAt = answeredAt = `at`), which
 * claims silence only up to `at`. A late copy therefore proves an expiry later, never earlier: the
 * proof rules of peer-lease.ts hold unchanged.
 */
export class LeaseMirror {
  private snapshot: LeaseSnapshot | undefined;
  private evidence: SilenceEvidence;
  private lastGrants = new Map<string, number>();

  constructor(
    private readonly settings: PeerLeaseSettings,
    private readonly self: string,
  ) {
    this.evidence = new SilenceEvidence(settings);
  }

  /** Takes a newer snapshot (an older one than held is ignored). */
  apply(snapshot: LeaseSnapshot): void {
    if (this.snapshot !== undefined && snapshot.at < this.snapshot.at) return;
    this.snapshot = snapshot;
    this.lastGrants = new Map(snapshot.lastGrants);
    const evidence = new SilenceEvidence(this.settings);
    for (const [reporter, subject, report] of snapshot.reports) evidence.record(reporter, subject, report);
    this.evidence = evidence;
  }

  /** When the newest snapshot was taken; undefined before the first. */
  get takenAt(): number | undefined {
    return this.snapshot?.at;
  }

  /** Whether `subject` provably held no lease at some instant at or after `notBefore`. */
  expiryProven(subject: string, clusterSize: number, notBefore: number): boolean {
    const snapshot = this.snapshot;
    if (snapshot === undefined || subject === this.self) return false;
    const own: SilenceReport = {
      silentForMs: this.silentAtSnapshot(subject, snapshot),
      askedAt: snapshot.at,
      answeredAt: snapshot.at,
    };
    return this.evidence.proven(subject, clusterSize, notBefore, new Map([[this.self, own]]));
  }

  /** Whether `subject` renewed with this node within `withinMs` before `now`, as far as the copy shows. */
  renewedWithin(subject: string, withinMs: number, now: number): boolean {
    const snapshot = this.snapshot;
    if (snapshot === undefined) return false;
    return this.silentAtSnapshot(subject, snapshot) + Math.max(0, now - snapshot.at) < withinMs;
  }

  private silentAtSnapshot(subject: string, snapshot: LeaseSnapshot): number {
    return Math.max(0, snapshot.at - (this.lastGrants.get(subject) ?? snapshot.grantsSince));
  }
}
