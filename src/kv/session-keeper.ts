import { performance } from "node:perf_hooks";
import { invalidField, SanpathError } from "../errors/sanpath-error.js";
import { isAborted } from "../util/abort.js";
import { pause } from "../util/pause.js";
import { checkSessionId, type SessionStore } from "./session-store.js";

export interface SessionKeeperOptions {
  sessions: SessionStore;
  sessionId: string;
  /** The session's TTL: renewals run every ttl/3. */
  ttlSeconds: number;
  /** Overrides the renew period (ms); default ttl/3. */
  renewEveryMs?: number;
  /** Deadline of one renew call; default min(the store's default deadline, renew period). */
  renewTimeoutMs?: number;
  /** Wait after a failed renew before the next try; default min(1 s, renew period). */
  retryAfterMs?: number;
  /** Monotonic clock in ms; default performance.now. */
  now?: () => number;
  /** Consul confirmed the session: it is alive until at least `at` + TTL. */
  onConfirmed?: (at: number) => void;
  /** A renew did not get an answer (timeout, Consul unreachable, no leader). The session may be alive. */
  onRenewFailed?: (error: SanpathError) => void;
  /** Consul says the session no longer exists. Called once; the keeper stops renewing. */
  onLost?: () => void;
}

/**
 * Keeps a session alive by renewing it every ttl/3 and reports precisely what it learns. It does not
 * decide about fencing: the node agent compares `msSinceConfirmed()` with its fence deadline.
 *
 * `lastConfirmedAt` is the clock reading taken *before* sending the renew that Consul confirmed, so
 * the session is known to live until at least lastConfirmedAt + TTL.
 */
export class SessionKeeper {
  private readonly options: SessionKeeperOptions;
  private readonly now: () => number;
  private readonly renewEveryMs: number;
  private readonly renewTimeoutMs: number;
  private readonly retryAfterMs: number;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private confirmedAt: number | undefined;
  private isLost = false;

  constructor(options: SessionKeeperOptions) {
    checkSessionId(options.sessionId);
    if (!Number.isFinite(options.ttlSeconds) || options.ttlSeconds <= 0) {
      throw invalidField("session.ttlSeconds", "must be a positive number of seconds");
    }
    this.options = options;
    this.now = options.now ?? (() => performance.now());
    this.renewEveryMs = options.renewEveryMs ?? (options.ttlSeconds * 1000) / 3;
    if (!Number.isFinite(this.renewEveryMs) || this.renewEveryMs <= 0) {
      throw invalidField("session.renewEveryMs", "must be a positive number of milliseconds");
    }
    this.renewTimeoutMs =
      options.renewTimeoutMs ?? Math.min(options.sessions.defaultTimeoutMs, this.renewEveryMs);
    this.retryAfterMs = options.retryAfterMs ?? Math.min(1000, this.renewEveryMs);
  }

  get sessionId(): string {
    return this.options.sessionId;
  }

  /** Clock reading (see `now`) before the last confirmed renew; undefined before the first. */
  get lastConfirmedAt(): number | undefined {
    return this.confirmedAt;
  }

  /** True once Consul said the session is gone. */
  get lost(): boolean {
    return this.isLost;
  }

  /** Time since the last confirmation; Infinity before the first. */
  msSinceConfirmed(): number {
    return this.confirmedAt === undefined ? Number.POSITIVE_INFINITY : this.now() - this.confirmedAt;
  }

  /** Starts renewing at once. Calling it twice is a no-op. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops renewing (cancels a renew in flight); resolves when the loop has ended. Does not destroy the session. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const sentAt = this.now();
      let alive: boolean;
      try {
        alive = await this.options.sessions.renew(this.options.sessionId, {
          signal,
          timeoutMs: this.renewTimeoutMs,
        });
      } catch (error) {
        if (isAborted(signal)) return;
        this.options.onRenewFailed?.(
          error instanceof SanpathError
            ? error
            : new SanpathError("internal", "session renew failed", { cause: error }),
        );
        if (!(await pause(Math.max(0, sentAt + this.retryAfterMs - this.now()), this.stopping.signal)))
          return;
        continue;
      }
      if (isAborted(signal)) return;
      if (!alive) {
        this.isLost = true;
        this.options.onLost?.();
        return;
      }
      this.confirmedAt = sentAt;
      this.options.onConfirmed?.(sentAt);
      if (!(await pause(Math.max(0, sentAt + this.renewEveryMs - this.now()), this.stopping.signal))) return;
    }
  }
}
