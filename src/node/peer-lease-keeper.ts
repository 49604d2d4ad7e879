import { performance } from "node:perf_hooks";
import type { LeaseGrant, NodeEndpoint, NodeRpc } from "../assignment/node-rpc.js";
import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { watchLeaseExpiries } from "./lease-expiry-watch.js";
import type { LeaseSnapshot } from "./lease-mirror.js";
import type { PeerLease } from "./peer-lease-port.js";
import {
  GrantTable,
  LeaseHolder,
  provenSilenceMs,
  SilenceEvidence,
  type PeerLeaseSettings,
  type SilenceReport,
} from "./peer-lease.js";

/**
 * How much later than this node's the other granters' last grant to a silent peer may be, plus a
 * renew's round trip, when a proof round is timed (scheduleProofRounds).
 */
const PROOF_ROUND_SLACK_MS = 30;

/** The peer-lease settings of a running node (config `lease.*`). */
export interface LeaseTiming extends PeerLeaseSettings {
  /** A renew to every peer this often. */
  readonly heartbeatMs: number;
  /** The tear-down starts this long before the lease ends (it must be done by then). */
  readonly teardownBudgetMs: number;
}

/**
 * The clock-rate bound and margin every sanpathd uses (not settings: the safety argument assumes
 * them). ε = 1 %, a hundred times NTP's worst slew; the margin covers scheduling and a report's way
 * to the observer.
 */
export const PEER_LEASE_MARGINS = { clockRateError: 0.01, marginMs: 100 } as const;

/** Who is in the cluster, as the node records say. */
export interface LeaseMembers {
  /** Every other node, with the address its sanpathd answers at. */
  readonly peers: readonly NodeEndpoint[];
  /** Nodes in the cluster, this one included; undefined while unknown (then no lease is held). */
  readonly size: number | undefined;
}

export interface PeerLeaseKeeperOptions {
  readonly self: string;
  readonly timing: LeaseTiming;
  readonly rpc: Pick<NodeRpc, "renewLease">;
  readonly members: () => LeaseMembers;
  readonly logger: Logger;
  /** Monotonic clock in ms; default performance.now. */
  readonly now?: () => number;
}

/** A peer's side of this node's lease, for Status. */
export interface LeasePeerStatus {
  readonly node: string;
  /** How long ago (ms) the peer last granted a renew this node sent; undefined when it never did. */
  readonly grantedAgoMs: number | undefined;
  /** The last renew to it failed (no answer in time, or refused), with why. */
  readonly lastError: string | undefined;
}

export interface LeaseStatus {
  readonly holds: boolean;
  /** How long the lease still holds (ms); 0 without one. */
  readonly validForMs: number;
  readonly clusterSize: number | undefined;
  readonly peers: readonly LeasePeerStatus[];
  readonly renewals: number;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
}

/**
 * This node's peer lease and its part in the others' (docs/design/peer-leases.md; the rules and
 * their safety argument are in peer-lease.ts). Every heartbeat it renews with every peer (RenewLease,
 * deadline = heartbeat) and records, from each answer, the grant (its lease) and the peer's silences
 * (evidence for expiry proofs). It answers the peers' renews the same way (`answer`). A renew waits
 * for its answer as long as the answer could still extend the lease (leaseMs − teardownBudgetMs);
 * meanwhile no other renew goes to that peer. A peer the members newly name is renewed with at
 * once, at the next read of them (members()).
 *
 * Listeners hear of every change of `fenceAt`, the instant (this node's clock) by which its tear-down
 * must have started: the lease's end minus the tear-down budget.
 */
export class PeerLeaseKeeper implements PeerLease {
  readonly startedAt: number;
  private readonly now: () => number;
  private readonly grants: GrantTable;
  private readonly holder: LeaseHolder;
  private readonly evidence: SilenceEvidence;
  private readonly listeners = new Set<() => void>();
  private readonly activityListeners = new Set<() => void>();
  private readonly inFlight = new Set<string>();
  private readonly lastGrantSent = new Map<string, number>();
  private readonly lastErrors = new Map<string, string>();
  private readonly stopping = new AbortController();
  private granting = true;
  private started = false;
  /** The peers members() named when last read. */
  private lastPeers = new Set<string>();
  private renewals = 0;
  private lastFenceAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The extra renew rounds timed for a silent peer's expiry proof, by peer. */
  private readonly proofRounds = new Map<string, NodeJS.Timeout>();

  constructor(private readonly options: PeerLeaseKeeperOptions) {
    this.now = options.now ?? (() => performance.now());
    this.startedAt = this.now();
    this.grants = new GrantTable(this.startedAt);
    this.holder = new LeaseHolder(options.timing, options.self);
    this.evidence = new SilenceEvidence(options.timing);
  }

  get timing(): LeaseTiming {
    return this.options.timing;
  }

  /** Renews every heartbeat until stop(). */
  start(): void {
    if (this.started || this.stopping.signal.aborted) return;
    this.started = true;
    const tick = (): void => {
      void this.renewRound();
      this.scheduleProofRounds();
      this.timer = setTimeout(tick, this.options.timing.heartbeatMs);
    };
    tick();
  }

  /** Stops renewing and granting (a stopping node must not keep others' leases alive). */
  stop(): void {
    this.granting = false;
    this.stopping.abort();
    clearTimeout(this.timer);
    for (const timer of this.proofRounds.values()) clearTimeout(timer);
    this.proofRounds.clear();
  }

  /**
   * A silent peer's lease can be proven over once the other granters report it silent for long
   * enough; they report it in their answers to this node's renews, which go every heartbeat. So
   * when a peer's silence will reach that length before the next heartbeat, one more round goes
   * out just then: the proof (and the placement of its paths) comes up to a heartbeat sooner.
   */
  private scheduleProofRounds(): void {
    const { heartbeatMs, clockRateError: e } = this.options.timing;
    // The silence the other granters must report, as this node's grant table counts it: their
    // clocks may run slow (e), and their last grant may be a little later than ours (slack).
    const needed = (provenSilenceMs(this.options.timing) * (1 + e)) / (1 - e) + PROOF_ROUND_SLACK_MS;
    const now = this.now();
    for (const peer of this.members().peers) {
      const dueInMs = needed - this.grants.silentFor(peer.name, now);
      if (dueInMs <= 0 || dueInMs > heartbeatMs || this.proofRounds.has(peer.name)) continue;
      const timer = setTimeout(() => {
        this.proofRounds.delete(peer.name);
        if (!this.stopping.signal.aborted) void this.renewRound();
      }, dueInMs);
      this.proofRounds.set(peer.name, timer);
    }
  }

  /** Calls `listener` whenever fenceAt() may have moved. Returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Calls `listener` after each change of what snapshot() shows: a grant given, a renew answered.
   * Returns the unsubscribe.
   */
  onActivity(listener: () => void): () => void {
    this.activityListeners.add(listener);
    return () => this.activityListeners.delete(listener);
  }

  answerRenew(node: string, holdMs: number): Promise<LeaseGrant> {
    return Promise.resolve(this.answer(node, holdMs));
  }

  /** A peer's renew: granted (remembered now) unless this node stopped, with this node's silences. */
  answer(node: string, holdMs = 0): LeaseGrant {
    const now = this.now();
    const { clockRateError: e } = this.options.timing;
    // The hold is measured here, on a clock that may run fast: stretched so that it covers the
    // holder's (holder.granted adds holdMs as measured on its own clock).
    if (this.granting && node !== this.options.self)
      this.grants.grant(node, now, (holdMs * (1 + e)) / (1 - e));
    const silences = new Map<string, number>();
    for (const name of this.knownNodes()) {
      if (name !== this.options.self) silences.set(name, Math.floor(this.grants.silentFor(name, now)));
    }
    this.notifyActivity();
    return { node: this.options.self, granted: this.granting, silences };
  }

  /** When the lease ends (this node's clock); undefined without one. */
  validUntil(): number | undefined {
    const size = this.members().size;
    return size === undefined ? undefined : this.holder.validUntil(size);
  }

  /** When the tear-down must start for the lease held now; undefined without one. */
  fenceAt(): number | undefined {
    const until = this.validUntil();
    return until === undefined ? undefined : until - this.options.timing.teardownBudgetMs;
  }

  /** Whether this node may serve now: its lease holds for longer than the tear-down takes. */
  holds(now = this.now()): boolean {
    const fenceAt = this.fenceAt();
    return fenceAt !== undefined && now < fenceAt;
  }

  /**
   * Whether `subject` provably held no lease at some instant at or after `notBefore` (this node's
   * clock): this node's own grant table read now, and the newest silences its peers reported.
   */
  expiryProven(subject: string, notBefore: number): boolean {
    const size = this.members().size;
    if (size === undefined || subject === this.options.self) return false;
    const now = this.now();
    const own: SilenceReport = {
      silentForMs: this.grants.silentFor(subject, now),
      askedAt: now,
      answeredAt: now,
    };
    return this.evidence.proven(subject, size, notBefore, new Map([[this.options.self, own]]));
  }

  /**
   * Calls `onExpiry` each heartbeat in which another member's lease is newly proven over (for
   * placement to act at once, with proofs of its own), until `signal` aborts.
   */
  watchExpiries(signal: AbortSignal, onExpiry: (nodes: readonly string[]) => void): void {
    watchLeaseExpiries(
      this,
      () => this.members(),
      signal,
      onExpiry,
      (listener) => this.onActivity(listener),
    );
  }

  /** Whether `subject` renewed with this node within `withinMs` (it is alive and reaches us). */
  renewedWithin(subject: string, withinMs: number): boolean {
    return this.grants.silentFor(subject, this.now()) < withinMs;
  }

  /** Current time on the keeper's clock (the `notBefore` of an expiry proof is read from it). */
  clock(): number {
    return this.now();
  }

  /** The grant table and the peers' reports, now (for a LeaseMirror on another thread). */
  snapshot(): LeaseSnapshot {
    return {
      at: this.now(),
      grantsSince: this.startedAt,
      lastGrants: [...this.grants.entries()],
      reports: [...this.evidence.entries()],
    };
  }

  status(): LeaseStatus {
    const now = this.now();
    const until = this.validUntil();
    return {
      holds: this.holds(now),
      // A cluster of one holds its lease for good: shown as the largest uint32.
      validForMs: until === undefined ? 0 : Math.min(0xffff_ffff, Math.max(0, Math.floor(until - now))),
      clusterSize: this.members().size,
      peers: this.members().peers.map((peer) => {
        const sentAt = this.lastGrantSent.get(peer.name);
        return {
          node: peer.name,
          grantedAgoMs: sentAt === undefined ? undefined : Math.floor(now - sentAt),
          lastError: this.lastErrors.get(peer.name),
        };
      }),
      renewals: this.renewals,
      leaseMs: this.options.timing.leaseMs,
      heartbeatMs: this.options.timing.heartbeatMs,
    };
  }

  /** One renew to every peer whose previous renew has ended; resolves when all have. */
  async renewRound(): Promise<void> {
    const { peers } = this.members();
    await Promise.all(peers.filter((peer) => !this.inFlight.has(peer.name)).map((peer) => this.renew(peer)));
  }

  /**
   * A restart: one renew to every peer asking for the lease to be held `holdMs` longer, so that
   * the next sanpathd has that long to take over (node-session.ts handOver). Resolves when every
   * peer answered or gave up.
   */
  async holdForHandover(holdMs: number): Promise<void> {
    const { peers } = this.members();
    await Promise.all(peers.map((peer) => this.renew(peer, holdMs)));
  }

  private async renew(peer: NodeEndpoint, holdMs = 0): Promise<void> {
    // A grant counts from the renew's send time, so a slow answer still extends the lease: wait as
    // long as an answer can still be of use (a busy peer on a loaded machine answers late).
    const { leaseMs, teardownBudgetMs } = this.options.timing;
    const deadlineMs = Math.max(1, leaseMs - teardownBudgetMs);
    this.inFlight.add(peer.name);
    const askedAt = this.now();
    try {
      const grant = await this.options.rpc.renewLease(
        peer,
        { node: this.options.self, ...(holdMs > 0 ? { holdMs } : {}) },
        this.stopping.signal,
        deadlineMs,
      );
      const answeredAt = this.now();
      for (const [subject, silentForMs] of grant.silences) {
        if (subject !== peer.name)
          this.evidence.record(peer.name, subject, { silentForMs, askedAt, answeredAt });
      }
      if (!grant.granted) {
        this.noteError(peer.name, "refused (the node is stopping)");
        return;
      }
      this.lastErrors.delete(peer.name);
      this.lastGrantSent.set(peer.name, Math.max(askedAt, this.lastGrantSent.get(peer.name) ?? askedAt));
      this.holder.granted(peer.name, askedAt + holdMs);
      this.renewals += 1;
      this.notifyIfMoved();
    } catch (error) {
      if (!this.stopping.signal.aborted) this.noteError(peer.name, errorMessage(error));
    } finally {
      this.inFlight.delete(peer.name);
      this.notifyActivity();
    }
  }

  /**
   * The members now. Once started, a peer the last read did not name (a node that joined; in the
   * lease worker, every peer once the node records are first read) is renewed with at once, not a
   * heartbeat later, so that a starting node holds its lease as soon as it can.
   */
  private members(): LeaseMembers {
    const members = this.options.members();
    const { peers } = members;
    if (peers.length === this.lastPeers.size && peers.every((peer) => this.lastPeers.has(peer.name)))
      return members;
    const joined = peers.filter((peer) => !this.lastPeers.has(peer.name));
    this.lastPeers = new Set(peers.map((peer) => peer.name));
    // Not from inside this read (fenceAt(), a round's own list): once its caller is done.
    if (this.started && joined.length > 0) queueMicrotask(() => this.renewJoined(joined));
    return members;
  }

  private renewJoined(joined: readonly NodeEndpoint[]): void {
    if (this.stopping.signal.aborted) return;
    for (const peer of joined) if (!this.inFlight.has(peer.name)) void this.renew(peer);
  }

  private notifyActivity(): void {
    for (const listener of this.activityListeners) listener();
  }

  private noteError(peer: string, message: string): void {
    const before = this.lastErrors.get(peer);
    this.lastErrors.set(peer, message);
    if (before === undefined) this.options.logger.warn({ peer, err: message }, "peer lease renew failed");
  }

  private notifyIfMoved(): void {
    const fenceAt = this.fenceAt();
    if (fenceAt === this.lastFenceAt) return;
    this.lastFenceAt = fenceAt;
    for (const listener of this.listeners) listener();
  }

  private knownNodes(): Set<string> {
    const names = new Set(this.members().peers.map((peer) => peer.name));
    for (const name of this.grants.nodes()) names.add(name);
    return names;
  }
}
