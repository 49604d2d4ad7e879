/**
 * The node's Consul session and self-fencing.
 *
 * One session per node: tied to the node's Consul agent (check serfHealth) and to a TTL that the
 * daemon renews (SessionKeeper), behaviour "release", lock-delay `lockDelaySeconds`. Path locks are
 * taken with it; giving a path up releases its lock explicitly (no lock-delay).
 *
 * Self-fencing. `lastConfirmedAt` is the clock reading taken when the last renew that Consul
 * answered "alive" was SENT (or when the create was sent). When the session has not been confirmed
 * for `fenceDeadlineMs` (or Consul says it is gone), the node fences at once: every served path is
 * torn down locally (portal off, IP removed), nothing is served or acquired until a NEW session exists,
 * which is created once Consul answers again; then the node reconciles.
 *
 * Why no IP is ever up on two nodes (the safety argument):
 *   - Consul answered a renew that we sent at t_c = lastConfirmedAt: the session was alive when the
 *     renew reached it, after t_c. So it is invalidated (TTL expiry, serfHealth critical, destroy) at
 *     some t_inv ≥ t_c.
 *   - Another node can lock our path only after the lock is free: after an explicit release (we only
 *     release after our local tear-down is complete), or after t_inv + lockDelay (Consul keeps a key
 *     whose session was invalidated un-lockable for the lock-delay).
 *   - We start tearing down at t_c + fenceDeadline at the latest (the timer below; earlier if Consul
 *     says the session is gone) and are done by t_c + fenceDeadline + teardown, which is below
 *     t_c + lockDelay ≤ t_inv + lockDelay as long as teardown < lockDelay − fenceDeadline (the config
 *     requires fenceDeadline < lockDelay; the tear-down's steps run under that budget: portal off
 *     with half of it, IP removal with the rest, for all paths at once, and the IP is removed even
 *     when the portal step fails; a step that overruns is logged and retried by a second sweep:
 *     local-teardown.ts).
 *   - Clocks: both intervals are short and measured on monotonic clocks (ours and the Consul servers'),
 *     so only their rates matter, not their offsets.
 *   - Restart (handOver, then the next process's adoption): the old process sends a last renew,
 *     confirmed at t_c, stops renewing and leaves the paths up. Exactly one of the successor and the
 *     old process's crash guard claims the hand-over (an atomic rename). The successor claims only
 *     before t_c + fenceDeadline and bounds its renew by the time left: confirmed, the session was
 *     alive (the locks still ours) and the argument goes on from that renew's send time; not
 *     confirmed in time, it sweeps everything at once, no later than the fence would have started.
 *     The guard claims at t_c + fenceDeadline and tears down as the fence would. Both measure on the
 *     machine's CLOCK_MONOTONIC (kv/session-handover.ts).
 *   - Operations in flight when the fence comes (an AcquirePath adding an IP) run under the session's
 *     generation signal: the fence aborts it (killing the command), and the operation undoes what it
 *     did; the tear-down also sweeps again once they have settled.
 *
 * Peer leases (liveness.mode peer-lease, the default; `lease` set; docs/design/peer-leases.md). The
 * argument above is replaced by this one, and Consul only records ownership (lock-delay 0):
 *   - The node may act (current()) only while it holds its peer lease (peer-lease-keeper.ts: a
 *     majority granted a renew it sent within leaseMs) for longer than the tear-down budget, or,
 *     right after a restart, while the lease its predecessor handed over lasts (`fenceBy`).
 *   - It fences when that ends (fence at lease end − teardownBudgetMs; the tear-down runs within the
 *     budget, local-teardown.ts): done before the lease ends on its own clock. A generation that
 *     never held a lease has served nothing and does not fence. An unconfirmed Consul renew no
 *     longer fences: a Consul raft election fences nobody. Consul saying the session is gone still
 *     fences (a node never serves a path whose lock it no longer holds for longer than that).
 *   - A fenced generation never serves again: the next one has a new session, and takes paths only
 *     through new locks. Its old locks are released explicitly (retire) after the tear-down.
 *   - Another node is given this node's path only when (coordinator/placement-loop.ts) this node
 *     released it, or CleanPath here answered (it let it go), or a majority proved this node's lease
 *     over at an instant after the path was read in its present state (peer-lease.ts): this node had
 *     fenced by then, and any lock in that state was its fenced generation's.
 *   - CleanPath tears a local path down even when Consul cannot be read (tearing down only ever
 *     serves less); the lock it could not read is left for Consul or the coordinator to end.
 *   - The coordinator itself: a leader steps down (and releases its lock) when it loses its lease;
 *     a node waiting for the lock frees it, if unchanged since read, once its holder's lease is
 *     proven over after that read (coordinator/election.ts). Two coordinators may overlap for the
 *     moment the old one takes to notice; nothing above depends on the coordinator being alone —
 *     path locks, leases and the new term's higher epoch (refused-when-stale at every node) do.
 *     When the coordinator dies with a node, the next coordinator proves both leases over from
 *     the silences every peer reports (they do not depend on who coordinates).
 *   - A frozen sanpathd (SIGSTOP) cannot act on its lease: its crash guard, a separate process, gets
 *     every new lease end (CrashGuard.leaseUntil) and tears down at the last one it heard of.
 *   - Clocks: every interval is measured on one machine's monotonic clock; rates within ε = 1 %.
 */
import { performance } from "node:perf_hooks";
import { errorMessage } from "../errors/sanpath-error.js";
import { SessionKeeper } from "../kv/session-keeper.js";
import { NO_SESSION_MEMORY, type SessionMemory } from "../kv/session-memory.js";
import type { SessionStore } from "../kv/session-store.js";
import type { Logger } from "../log/logger.js";
import { isAborted } from "../util/abort.js";
import { jitteredBackoffMs, pause } from "../util/pause.js";
import type { EventLog } from "../events/event-log.js";
import { nodeFenced } from "./node-errors.js";

export interface SessionSettings {
  ttlSeconds: number;
  lockDelaySeconds: number;
  fenceDeadlineMs: number;
}

/** The session the node may act with, and a signal aborted the moment it may no longer. */
export interface ActiveSession {
  readonly id: string;
  readonly signal: AbortSignal;
}

/** A predecessor's session taken over, and when the renew that confirmed it was sent (monotonic ms). */
export interface AdoptedSession {
  readonly id: string;
  readonly sentAt: number;
  /** With peer leases: when the predecessor would have started its tear-down (monotonic ms). */
  readonly fenceBy?: number | undefined;
}

export type SessionPhase = "starting" | "active" | "fenced" | "stopped";

export interface SessionStatus {
  id: string | undefined;
  phase: SessionPhase;
  /** Active and confirmed within the fence deadline. */
  healthy: boolean;
  /** Wall-clock time of the last confirmation (when its renew was sent). */
  lastConfirmedAt: Date | undefined;
  fenced: boolean;
  fences: number;
  /** Fences by cause: Consul said the session is gone, or it was not confirmed in time. */
  fencesByCause: Readonly<Record<FenceCause, number>>;
  lastFenceReason: string | undefined;
  /** Renews Consul confirmed, since start. */
  confirmations: number;
}

export type FenceCause = "session-gone" | "unconfirmed" | "lease-lost";

/**
 * The node's peer lease as the session sees it (peer-lease-keeper.ts). With one, the lease decides
 * when the node fences, not Consul's confirmations (see "Peer leases" above).
 */
export interface LeaseView {
  /** When the tear-down must start for the lease held now (this clock); undefined without one. */
  fenceAt(): number | undefined;
  /** Calls `listener` whenever fenceAt may have moved; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  /** A restart: asks the peers to hold the lease for the successor; resolves when they answered. */
  holdForHandover?(): Promise<void>;
}

export interface NodeSessionOptions {
  sessions: SessionStore;
  nodeName: string;
  settings: SessionSettings;
  /** Remembers the session ids so that the next daemon on this node can retire them; default none. */
  memory?: SessionMemory;
  logger: Logger;
  /** Tears down every path served here. Started the moment the node fences. */
  onFence: (reason: string) => Promise<void>;
  /** A new session is active (write the node record, reconcile). */
  onSession: (session: ActiveSession) => Promise<void>;
  /** Releases (explicitly) every lock a session holds; returns how many. */
  releaseLocksOf: (sessionId: string, signal: AbortSignal) => Promise<number>;
  /** Monotonic clock in ms; default performance.now. */
  now?: () => number;
  /** Each fence is recorded here (default: nowhere). */
  events?: EventLog | undefined;
  /** Peer leases decide when to fence (default: Consul confirmations do). */
  lease?: LeaseView | undefined;
}

const MIN_BACKOFF_MS = 250;
const LEASE_RECHECK_MS = 1000;
const MAX_BACKOFF_MS = 5000;

interface Held {
  id: string;
  keeper: SessionKeeper;
  generation: AbortController;
  ended: Promise<void>;
  end: () => void;
}

export class NodeSession {
  private phase: SessionPhase = "starting";
  private held: Held | undefined;
  /** Sessions of this node (a predecessor's, or fenced ones) whose locks are still to be released. */
  private toRetire: string[] = [];
  private confirmedAt: number | undefined;
  private confirmedWall: Date | undefined;
  private fenceTimer: NodeJS.Timeout | undefined;
  private fenceCount = 0;
  private readonly fencesByCause: Record<FenceCause, number> = {
    "session-gone": 0,
    unconfirmed: 0,
    "lease-lost": 0,
  };
  /** With peer leases: the predecessor's lease end this generation inherited (adoption). */
  private adoptedFenceBy: number | undefined;
  /** With peer leases: this generation has held a lease (or inherited one), so losing it fences. */
  private leaseHeld = false;
  private confirmations = 0;
  private lastFenceReason: string | undefined;
  private teardown: Promise<void> = Promise.resolve();
  private loop: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly memory: SessionMemory;

  constructor(private readonly options: NodeSessionOptions) {
    this.now = options.now ?? (() => performance.now());
    this.log = options.logger;
    this.memory = options.memory ?? NO_SESSION_MEMORY;
    options.lease?.onChange(() => this.armFenceTimer());
  }

  /** Renew period: three renews fit in the fence deadline (and in the TTL). */
  get renewEveryMs(): number {
    const { ttlSeconds, fenceDeadlineMs } = this.options.settings;
    return Math.min((ttlSeconds * 1000) / 3, fenceDeadlineMs / 3);
  }

  status(): SessionStatus {
    return {
      id: this.held?.id,
      phase: this.phase,
      healthy: this.current() !== undefined,
      lastConfirmedAt: this.confirmedWall,
      fenced: this.phase === "fenced",
      fences: this.fenceCount,
      fencesByCause: { ...this.fencesByCause },
      lastFenceReason: this.lastFenceReason,
      confirmations: this.confirmations,
    };
  }

  /** The session, when the node may act with it now (active and confirmed within the deadline). */
  current(): ActiveSession | undefined {
    const held = this.held;
    if (this.phase !== "active" || held === undefined || held.generation.signal.aborted) return undefined;
    if (this.options.lease !== undefined) {
      const until = this.leaseDeadline();
      return until !== undefined && this.now() < until
        ? { id: held.id, signal: held.generation.signal }
        : undefined;
    }
    if (this.confirmedAt === undefined) return undefined;
    if (this.now() - this.confirmedAt >= this.options.settings.fenceDeadlineMs) return undefined;
    return { id: held.id, signal: held.generation.signal };
  }

  /**
   * Starts the life cycle: retire the previous daemon's session, create ours (or go on with the one
   * `adopted` from a predecessor that handed it over, confirmed by a renew sent at `sentAt`), keep
   * it, fence, recover.
   */
  start(adopted?: AdoptedSession): void {
    this.loop ??= this.run(adopted);
  }

  /** Consul said the session is gone (e.g. an acquire answered "invalid session"): fence now. */
  reportLost(why: string): void {
    this.fence(`Consul says the session is gone (${why})`, "session-gone");
  }

  /**
   * Graceful stop: stops renewing, runs `tearDown` (the caller removes every served path), then
   * releases the session's locks explicitly and destroys it, so that other nodes can take the paths
   * at once. When Consul cannot be reached the session is left to expire (2 × TTL, then lock-delay).
   */
  async stop(tearDown: () => Promise<void>, timeoutMs = 5000): Promise<void> {
    const held = await this.halt("sanpathd is stopping");
    await tearDown();
    if (held === undefined) return;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const released = await this.options.releaseLocksOf(held.id, signal);
      await this.options.sessions.destroy(held.id, { signal });
      const [next, ...rest] = this.toRetire.filter((id) => id !== held.id);
      if (next === undefined) await this.memory.forget();
      else await this.remember(next, rest);
      this.log.info({ session: held.id, released }, "session destroyed after its paths were released");
    } catch (error) {
      this.log.warn(
        { session: held.id, err: errorMessage(error) },
        "could not release and destroy the session: it expires after 2 × TTL",
      );
    }
  }

  /**
   * Restart: stops renewing without ending the session (its locks stay held, the paths served) and
   * confirms it once more, so that the successor has the whole fence deadline to take it over.
   * Returns the session and how long it may still be used (until this daemon would have fenced);
   * undefined when there is no confirmed session to hand over.
   */
  async handOver(timeoutMs = 2000): Promise<{ id: string; validForMs: number } | undefined> {
    const wasActive = this.current() !== undefined;
    if (wasActive) await this.options.lease?.holdForHandover?.().catch(() => undefined);
    const leaseUntil = this.leaseDeadline();
    const held = await this.halt("sanpathd is restarting");
    if (held === undefined || !wasActive || this.confirmedAt === undefined) return undefined;
    const sentAt = this.now();
    try {
      if (await this.options.sessions.renew(held.id, { signal: AbortSignal.timeout(timeoutMs) }))
        this.confirmedAt = Math.max(this.confirmedAt, sentAt);
      else return undefined;
    } catch (error) {
      this.log.warn({ session: held.id, err: errorMessage(error) }, "last renew before the hand-over failed");
    }
    const until =
      this.options.lease === undefined
        ? this.confirmedAt + this.options.settings.fenceDeadlineMs
        : (leaseUntil ?? Number.NEGATIVE_INFINITY);
    const validForMs = until - this.now();
    return validForMs > 0 ? { id: held.id, validForMs } : undefined;
  }

  /** Stops renewing, the life cycle and operations under the session; returns the session held. */
  private async halt(why: string): Promise<Held | undefined> {
    const held = this.held;
    this.phase = "stopped";
    clearTimeout(this.fenceTimer);
    this.stopping.abort();
    held?.generation.abort(nodeFenced(this.options.nodeName, why));
    held?.end();
    await held?.keeper.stop();
    await this.loop;
    await this.teardown;
    return held;
  }

  /**
   * The old session is retired after the new one is active and announced (node record), not
   * before: releasing its locks frees its paths, and the coordinator must then already see this
   * node as alive, or it places them as if the node were dead. The state file lists the sessions
   * still to retire, so a crash in between leaves none behind.
   */
  private async run(adopted: AdoptedSession | undefined): Promise<void> {
    this.toRetire = (await this.memory.read().catch(() => [])).filter((id) => id !== adopted?.id);
    let next = adopted;
    while (!this.stopping.signal.aborted) {
      const toRetire = this.toRetire;
      const created = next ?? (await this.create());
      next = undefined;
      if (created === undefined) return;
      const held = this.activate(created.id, created.sentAt, created.fenceBy);
      await this.remember(created.id, toRetire);
      try {
        await this.options.onSession({ id: held.id, signal: held.generation.signal });
      } catch (error) {
        this.log.warn({ err: errorMessage(error) }, "start of the new session's work failed");
      }
      for (const old of toRetire) {
        if (!(await this.retire(old))) return;
      }
      if (toRetire.length > 0) {
        this.toRetire = [];
        await this.remember(created.id, []);
      }
      await held.ended;
      if (isAborted(this.stopping.signal)) return;
      await this.teardown;
      this.toRetire = [held.id];
    }
  }

  private activate(id: string, sentAt: number, fenceBy?: number): Held {
    let end = (): void => undefined;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const { settings, sessions } = this.options;
    const renewEveryMs = this.renewEveryMs;
    let failures = 0;
    const keeper = new SessionKeeper({
      sessions,
      sessionId: id,
      ttlSeconds: settings.ttlSeconds,
      renewEveryMs,
      renewTimeoutMs: Math.min(sessions.defaultTimeoutMs, renewEveryMs),
      retryAfterMs: Math.min(500, renewEveryMs / 2),
      now: this.now,
      onConfirmed: (at) => {
        failures = 0;
        this.confirmed(id, at);
      },
      onRenewFailed: (error) => {
        failures += 1;
        if (failures === 1 || failures % 10 === 0) {
          this.log.warn({ session: id, failures, err: error.message }, "session renew failed");
        }
      },
      onLost: () => this.fence("Consul says the session no longer exists", "session-gone"),
    });
    const held: Held = { id, keeper, generation: new AbortController(), ended, end };
    this.held = held;
    this.phase = "active";
    this.confirmedAt = undefined;
    this.adoptedFenceBy = fenceBy;
    this.leaseHeld = false;
    this.confirmed(id, sentAt);
    if (this.options.lease !== undefined) this.armFenceTimer();
    keeper.start();
    this.log.info(
      { session: id, ttlSeconds: settings.ttlSeconds, lockDelaySeconds: settings.lockDelaySeconds },
      "session active",
    );
    return held;
  }

  private confirmed(id: string, at: number): void {
    if (this.phase !== "active" || this.held?.id !== id) return;
    if (this.confirmedAt !== undefined && at <= this.confirmedAt) return;
    this.confirmations += 1;
    this.confirmedAt = at;
    this.confirmedWall = new Date(Date.now() - (this.now() - at));
    if (this.options.lease === undefined) this.armFenceTimer();
  }

  private armFenceTimer(): void {
    if (this.options.lease !== undefined) {
      this.armLeaseTimer();
      return;
    }
    clearTimeout(this.fenceTimer);
    if (this.confirmedAt === undefined) return;
    const deadline = this.confirmedAt + this.options.settings.fenceDeadlineMs;
    const delay = deadline - this.now();
    if (delay <= 0) {
      this.fence(
        `the session was not confirmed within ${this.options.settings.fenceDeadlineMs} ms`,
        "unconfirmed",
      );
      return;
    }
    this.fenceTimer = setTimeout(() => this.armFenceTimer(), delay);
  }

  /** The end of what this generation may serve under: its lease, or the lease it inherited. */
  private leaseDeadline(): number | undefined {
    const own = this.options.lease?.fenceAt();
    if (own === undefined) return this.adoptedFenceBy;
    return this.adoptedFenceBy === undefined ? own : Math.max(own, this.adoptedFenceBy);
  }

  /**
   * Peer leases: fences when the lease this generation held (or inherited) ends without a renewal
   * a majority granted. A generation that never held one has served nothing, so it waits.
   */
  private armLeaseTimer(): void {
    clearTimeout(this.fenceTimer);
    if (this.phase !== "active") return;
    const until = this.leaseDeadline();
    if (until === undefined) return;
    const delay = until - this.now();
    if (delay > 0) {
      this.leaseHeld = true;
      // Looked at again at least every second: the cluster's size may change what the lease is.
      this.fenceTimer = setTimeout(() => this.armLeaseTimer(), Math.min(delay, LEASE_RECHECK_MS));
      return;
    }
    if (this.leaseHeld || this.adoptedFenceBy !== undefined) {
      this.fence("the peer lease was not renewed by a majority of the cluster in time", "lease-lost");
    }
  }

  private fence(reason: string, cause: FenceCause): void {
    const held = this.held;
    if (this.phase !== "active" || held === undefined) return;
    this.phase = "fenced";
    this.fenceCount += 1;
    this.fencesByCause[cause] += 1;
    this.lastFenceReason = reason;
    clearTimeout(this.fenceTimer);
    held.generation.abort(nodeFenced(this.options.nodeName, reason));
    void held.keeper.stop();
    this.log.error({ session: held.id, reason }, "fencing: tearing down every path served here");
    this.options.events?.record({
      kind: "fence",
      node: this.options.nodeName,
      actor: this.options.nodeName,
      reason: `${cause}: ${reason}`,
    });
    this.teardown = this.options.onFence(reason).catch((error: unknown) => {
      this.log.error({ err: errorMessage(error) }, "fence tear-down failed");
    });
    held.end();
  }

  /** Releases the old session's locks and destroys it; retries until Consul answers. False when stopped. */
  private async retire(sessionId: string): Promise<boolean> {
    for (let attempt = 1; !this.stopping.signal.aborted; attempt++) {
      try {
        const released = await this.options.releaseLocksOf(sessionId, this.stopping.signal);
        await this.options.sessions.destroy(sessionId, { signal: this.stopping.signal });
        this.log.info({ session: sessionId, released }, "previous session retired");
        return true;
      } catch (error) {
        if (isAborted(this.stopping.signal)) return false;
        if (attempt === 1 || attempt % 20 === 0) {
          this.log.warn(
            { session: sessionId, attempt, err: errorMessage(error) },
            "cannot retire the old session yet",
          );
        }
        if (!(await pause(jitteredBackoffMs(attempt, MIN_BACKOFF_MS, MAX_BACKOFF_MS), this.stopping.signal)))
          return false;
      }
    }
    return false;
  }

  private async create(): Promise<{ id: string; sentAt: number; fenceBy?: number } | undefined> {
    const { sessions, settings, nodeName } = this.options;
    for (let attempt = 1; !this.stopping.signal.aborted; attempt++) {
      const sentAt = this.now();
      try {
        const id = await sessions.create(
          {
            name: `sanpathd ${nodeName}`,
            ttlSeconds: settings.ttlSeconds,
            lockDelaySeconds: settings.lockDelaySeconds,
            checks: ["serfHealth"],
            behavior: "release",
          },
          { signal: this.stopping.signal },
        );
        return { id, sentAt };
      } catch (error) {
        if (isAborted(this.stopping.signal)) return undefined;
        if (attempt === 1 || attempt % 20 === 0) {
          this.log.warn({ attempt, err: errorMessage(error) }, "cannot create a Consul session yet");
        }
        if (!(await pause(jitteredBackoffMs(attempt, MIN_BACKOFF_MS, MAX_BACKOFF_MS), this.stopping.signal)))
          return undefined;
      }
    }
    return undefined;
  }

  /** The sessions a predecessor left: its active one and those it had not retired yet. */
  private async remember(sessionId: string, retiring: readonly string[]): Promise<void> {
    try {
      await this.memory.write(sessionId, retiring);
    } catch (error) {
      this.log.warn({ err: errorMessage(error) }, "cannot remember the session id");
    }
  }
}
