import { setMaxListeners } from "node:events";
import type { EventLog } from "../events/event-log.js";
import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage } from "../errors/sanpath-error.js";
import { InvalidSessionError } from "../kv/invalid-session.js";
import type { KvStore } from "../kv/kv-store.js";
import { releaseLock, releaseLockIfUnchanged } from "../kv/locks.js";
import { SessionKeeper } from "../kv/session-keeper.js";
import { NO_SESSION_MEMORY, type SessionMemory } from "../kv/session-memory.js";
import type { SessionStore } from "../kv/session-store.js";
import { watchKey } from "../kv/watch.js";
import type { Logger } from "../log/logger.js";
import { isAborted } from "../util/abort.js";
import { parseLeaderRecord, serializeLeaderRecord, type LeaderRecord } from "./leader-record.js";
import { pause } from "../util/pause.js";

/** One stretch of leadership. */
export interface Term {
  /** The coordinator lock's LockIndex when it was acquired: sent on every NodeService call. */
  readonly epoch: number;
  /** The session holding the lock: writes that need leadership carry a check-session on lockKey. */
  readonly session: string;
  readonly lockKey: string;
  /**
   * The lock-delay of the sessions in this cluster (ms): the election's own setting, which is the
   * cluster's session.lockDelaySeconds, the one every node's session has too.
   */
  readonly lockDelayMs: number;
  /** Aborted as soon as this node stops leading (lock lost, session unconfirmed, shutdown). */
  readonly signal: AbortSignal;
}

export interface ElectionOptions {
  kv: KvStore;
  sessions: SessionStore;
  keys: ConsulKeys;
  /** Written as the lock's value. */
  record: LeaderRecord;
  /** TTL of the coordinator session (10 s .. 24 h). */
  ttlSeconds: number;
  /** Lock-delay of the coordinator session: how long a crashed leader's lock stays un-lockable. */
  lockDelaySeconds: number;
  /**
   * A leader that cannot confirm its session for this long steps down; shorter than the lock-delay,
   * so that it has stopped before anybody else can lead.
   */
  fenceDeadlineMs: number;
  logger: Logger;
  /** Runs while this node leads; must settle soon after `term.signal` aborts. */
  lead: (term: Term) => Promise<void>;
  /**
   * Whether this node may lead now (peer leases: it holds its lease). A leader that may not steps
   * down and releases the lock at once, so that a node that reaches its peers coordinates; a node
   * that may not does not try to lead. Default: always.
   */
  mayLead?: () => boolean;
  /**
   * Peer leases: a lock held by a node whose lease provably expired (a sanpathd killed while its
   * Consul agent lives on, so its session would end only by TTL) is released, if unchanged since it
   * was read, so that the next coordinator need not wait for Consul. That node has stepped down
   * by then (a leader without its lease does), and the new term's higher epoch fences whatever it
   * still sends.
   */
  holderLease?: HolderLease;
  /** The Consul node of the session; default the agent's own. */
  sessionNode?: string;
  /** Pause after a failure or while the free lock is in its lock-delay (default 1000 ms). */
  retryMs?: number;
  /** Blocking-query wait while watching the lock (default 30 s). */
  waitSeconds?: number;
  /**
   * Remembers the session id, so that a daemon restarted after a crash ends its predecessor's
   * session at once instead of waiting for its TTL (then only the lock-delay delays the next
   * leader); default none.
   */
  sessionMemory?: SessionMemory;
  /** Elections won and terms ended are recorded here (default: nowhere). */
  events?: EventLog | undefined;
}

/** What the election needs of the peer leases to free a dead leader's lock. */
export interface HolderLease {
  /** The lease clock (ms); read after the lock so that a proof comes after what was read. */
  clock(): number;
  /** `node` provably held no lease at some instant at or after `notBefore`. */
  expiryProven(node: string, notBefore: number): boolean;
  /** How often to ask `expiryProven` while a lock holder's lease is not yet proven expired. */
  readonly recheckMs: number;
}

/** How often a node without its peer lease checks again whether it may bid for the lock. */
const LEASE_POLL_MS = 50;

type StepDownReason = "lock lost" | "session lost" | "session unconfirmed" | "peer lease lost" | "stopping";

interface OwnSession {
  readonly id: string;
  readonly keeper: SessionKeeper;
}

/**
 * Leader election on the coordinator lock, after Consul's api/lock.go: a session (serfHealth + TTL,
 * behaviour release), an acquire with the leader record as value, and a blocking watch of the key.
 * A follower tries again when the key has no holder (waiting out a lock-delay); a leader steps down
 * when the key no longer names its session, when Consul says the session is gone, or when it could
 * not confirm the session within the fence deadline. On stop a leader releases the lock (no
 * lock-delay) so that another node takes over at once, then destroys its session.
 */
export class Election {
  private readonly options: ElectionOptions;
  private readonly key: string;
  private readonly stopping = new AbortController();
  private readonly retryMs: number;
  private readonly memory: SessionMemory;
  private loop: Promise<void> | undefined;
  private session: OwnSession | undefined;
  private current: Term | undefined;
  /** Numbers the holder-lease checks: only the newest one runs. */
  private holderCheck = 0;

  constructor(options: ElectionOptions) {
    this.options = options;
    this.key = options.keys.coordinatorLock();
    this.retryMs = options.retryMs ?? 1000;
    this.memory = options.sessionMemory ?? NO_SESSION_MEMORY;
  }

  /** The term this node leads now, if any. */
  get term(): Term | undefined {
    return this.current;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Steps down (releasing the lock) and ends the session; resolves when done. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { kv, logger } = this.options;
    const signal = this.stopping.signal;
    const value = serializeLeaderRecord(this.options.record);
    await this.retirePrevious();
    while (!signal.aborted) {
      try {
        if (!(this.options.mayLead?.() ?? true)) {
          // Polled often: a node that just gained its lease (a start, a coordinator's successor)
          // should not sit out a whole retry interval before it bids for the lock.
          await pause(LEASE_POLL_MS, signal);
          continue;
        }
        const session = await this.ensureSession();
        if (await kv.acquire(this.key, session.id, value, { signal })) {
          await this.leadWhileHeld(session);
        } else {
          await this.waitForFreeLock(session);
        }
      } catch (error) {
        if (isAborted(signal)) break;
        if (error instanceof InvalidSessionError) {
          logger.info("coordinator session is gone; making a new one");
          await this.dropSession(false);
          continue;
        }
        logger.warn({ err: errorMessage(error) }, "coordinator election: Consul call failed; retrying");
        await pause(this.retryMs, signal);
      }
    }
    await this.dropSession(true);
  }

  private async ensureSession(): Promise<OwnSession> {
    if (this.session !== undefined && !this.session.keeper.lost) return this.session;
    await this.dropSession(false);
    const { sessions, ttlSeconds, lockDelaySeconds, fenceDeadlineMs } = this.options;
    const id = await sessions.create(
      {
        name: `sanpath coordinator ${this.options.record.node}`,
        ttlSeconds,
        lockDelaySeconds,
        behavior: "release",
        ...(this.options.sessionNode === undefined ? {} : { node: this.options.sessionNode }),
      },
      { signal: this.stopping.signal },
    );
    const keeper = new SessionKeeper({
      sessions,
      sessionId: id,
      ttlSeconds,
      renewEveryMs: Math.min((ttlSeconds * 1000) / 3, fenceDeadlineMs / 3),
      onLost: () => this.options.logger.warn({ session: id }, "coordinator session lost"),
    });
    keeper.start();
    this.session = { id, keeper };
    await this.memory.write(id, []).catch((error: unknown) => {
      this.options.logger.warn({ err: errorMessage(error) }, "could not remember the coordinator session");
    });
    return this.session;
  }

  /** Ends the sessions a crashed predecessor left (named in the session memory). */
  private async retirePrevious(): Promise<void> {
    for (const previous of await this.memory.read()) {
      try {
        await this.options.sessions.destroy(previous, { timeoutMs: 3000, signal: this.stopping.signal });
        this.options.logger.info({ session: previous }, "previous coordinator session ended");
      } catch (error) {
        this.options.logger.warn(
          { err: errorMessage(error) },
          "could not end the previous coordinator session",
        );
      }
    }
  }

  /** Stops renewing; `destroy` also ends the session in Consul (best effort). */
  private async dropSession(destroy: boolean): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (session === undefined) return;
    await session.keeper.stop();
    if (destroy || !session.keeper.lost) {
      await this.options.sessions.destroy(session.id, { timeoutMs: 2000 }).catch(() => undefined);
    }
    await this.memory.forget().catch(() => undefined);
  }

  private async leadWhileHeld(session: OwnSession): Promise<void> {
    const { kv, logger } = this.options;
    const entry = await kv.get(this.key, { signal: this.stopping.signal });
    if (entry?.session !== session.id) return;
    const ended = new AbortController();
    // Every call made during the term listens to this signal.
    setMaxListeners(0, ended.signal);
    const term: Term = {
      epoch: entry.lockIndex,
      session: session.id,
      lockKey: this.key,
      lockDelayMs: this.options.lockDelaySeconds * 1000,
      signal: ended.signal,
    };
    this.current = term;
    logger.info({ epoch: term.epoch, session: session.id }, "elected coordinator");
    const node = this.options.record.node;
    const electedAt = Date.now();
    this.options.events?.record({ kind: "coordinator-elected", node, actor: node, epoch: term.epoch });
    const leading = Promise.resolve()
      .then(() => this.options.lead(term))
      .catch((error: unknown) => {
        logger.error({ err: errorMessage(error), epoch: term.epoch }, "coordinator work failed");
      });
    const reason = await this.holdUntilLost(session);
    ended.abort(new Error(`coordinator stepped down: ${reason}`));
    this.options.events?.record({
      kind: "coordinator-stepped-down",
      node,
      actor: node,
      epoch: term.epoch,
      reason,
      durationMs: Date.now() - electedAt,
    });
    this.current = undefined;
    await leading;
    if (reason === "stopping" || reason === "peer lease lost") {
      const released = await releaseLock(kv, this.key, session.id, undefined, { timeoutMs: 3000 }).catch(
        (error: unknown) => {
          logger.warn({ err: errorMessage(error) }, "could not release the coordinator lock");
          return false;
        },
      );
      logger.info({ epoch: term.epoch, released, reason }, "stepped down as coordinator, lock released");
      return;
    }
    logger.warn({ epoch: term.epoch, reason }, "stepped down as coordinator");
    // A leader that lost its lock or could not confirm its session starts over with a new session.
    await this.dropSession(reason === "session unconfirmed");
  }

  /** Resolves with the reason this node no longer (surely) leads. */
  private async holdUntilLost(session: OwnSession): Promise<StepDownReason> {
    const local = new AbortController();
    const stop = (): void => local.abort();
    this.stopping.signal.addEventListener("abort", stop, { once: true });
    const checks = new Promise<StepDownReason>((resolve) => {
      const timer = setInterval(
        () => {
          if (session.keeper.lost) resolve("session lost");
          else if (!(this.options.mayLead?.() ?? true)) resolve("peer lease lost");
          else if (session.keeper.msSinceConfirmed() > this.options.fenceDeadlineMs) {
            resolve("session unconfirmed");
          }
        },
        Math.max(50, Math.min(250, this.options.fenceDeadlineMs / 10)),
      );
      local.signal.addEventListener("abort", () => clearInterval(timer), { once: true });
    });
    const watching = (async (): Promise<StepDownReason> => {
      for await (const snapshot of watchKey(this.options.kv, this.key, {
        signal: local.signal,
        waitSeconds: this.options.waitSeconds ?? 30,
        onError: (error) => this.options.logger.debug({ err: error.message }, "coordinator lock watch"),
      })) {
        if (snapshot.entry?.session !== session.id) return "lock lost";
      }
      return "stopping";
    })();
    try {
      return await Promise.race([checks, watching]);
    } finally {
      local.abort();
      this.stopping.signal.removeEventListener("abort", stop);
      await watching.catch(() => undefined);
    }
  }

  /** Returns once the lock has no holder (or names this session), pausing while it is in lock-delay. */
  private async waitForFreeLock(session: OwnSession): Promise<void> {
    const local = new AbortController();
    const stop = (): void => local.abort();
    this.stopping.signal.addEventListener("abort", stop, { once: true });
    let first = true;
    try {
      for await (const snapshot of watchKey(this.options.kv, this.key, {
        signal: local.signal,
        waitSeconds: this.options.waitSeconds ?? 30,
        onError: (error) => this.options.logger.debug({ err: error.message }, "coordinator lock watch"),
      })) {
        if (session.keeper.lost) return;
        const holder = snapshot.entry?.session;
        if (holder === undefined || holder === session.id) {
          // Free at the first look means the acquire just failed on a free key: its lock-delay.
          if (first && holder === undefined) await pause(this.retryMs, local.signal);
          return;
        }
        first = false;
        const entry = snapshot.entry;
        if (entry !== undefined) this.watchHolderLease(entry, local);
      }
    } finally {
      local.abort();
      this.stopping.signal.removeEventListener("abort", stop);
    }
  }

  /**
   * While the lock stays as read, asks every recheckMs whether its holder's lease provably expired
   * since the read; if so releases the lock (only if unchanged) and ends the wait (`wait` aborts).
   * A later snapshot aborts the previous check through `wait` or supersedes it.
   */
  private watchHolderLease(
    entry: { readonly session?: string | undefined; readonly modifyIndex: number; readonly value: string },
    wait: AbortController,
  ): void {
    const lease = this.options.holderLease;
    const holderSession = entry.session;
    if (lease === undefined || holderSession === undefined) return;
    const holder = parseLeaderRecord(entry.value).node;
    if (holder === "" || holder === this.options.record.node) return;
    const notBefore = lease.clock();
    const check = ++this.holderCheck;
    void (async () => {
      while (!wait.signal.aborted && check === this.holderCheck) {
        if (!(await pause(lease.recheckMs, wait.signal))) return;
        if (check !== this.holderCheck || !lease.expiryProven(holder, notBefore)) continue;
        let released: boolean;
        try {
          released = await releaseLockIfUnchanged(
            this.options.kv,
            this.key,
            holderSession,
            entry.modifyIndex,
            {
              signal: wait.signal,
              timeoutMs: 3000,
            },
          );
        } catch (error) {
          // Aborted: another node freed it first or this one stops. Otherwise (Consul without a
          // raft leader for a moment, as when the partitioned coordinator's server led it) try again.
          if (isAborted(wait.signal)) return;
          this.options.logger.warn(
            { err: errorMessage(error), holder },
            "could not free the coordinator lock; retrying",
          );
          continue;
        }
        if (released) {
          this.options.logger.warn(
            { holder, session: holderSession },
            "freed the coordinator lock: its holder's peer lease provably expired",
          );
          wait.abort();
        }
        return;
      }
    })();
  }
}
