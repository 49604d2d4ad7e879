import { performance } from "node:perf_hooks";
import { invalidField, SanpathError } from "../errors/sanpath-error.js";
import { isAborted, isRecord, type CallOptions, type ConsulClient } from "./consul-client.js";
import { pause } from "../util/pause.js";

export const MIN_SESSION_TTL_SECONDS = 10;
export const MAX_SESSION_TTL_SECONDS = 86_400;
/** Consul caps lock-delay at 60 s. */
export const MAX_LOCK_DELAY_SECONDS = 60;

export interface SessionOptions {
  name: string;
  /** The node the session belongs to; defaults to the agent's own node. */
  node?: string;
  /** Renewal deadline: Consul invalidates the session at the latest 2 × TTL after the last renew. */
  ttlSeconds: number;
  /** How long a key locked by this session stays un-lockable after the session is invalidated. */
  lockDelaySeconds: number;
  /** Node health checks that invalidate the session when critical; default ["serfHealth"]. */
  checks?: readonly string[];
  /** What happens to held keys when the session ends; default "release". */
  behavior?: "release" | "delete";
}

export interface SessionInfo {
  id: string;
  name: string;
  node: string;
  lockDelayMs: number;
  behavior: string;
  ttl: string;
  checks: string[];
  createIndex: number;
}

/** Creates a session and returns its id. */
export async function createSession(
  client: ConsulClient,
  options: SessionOptions,
  callOptions: CallOptions = {},
): Promise<string> {
  const ttl = options.ttlSeconds;
  if (!Number.isInteger(ttl) || ttl < MIN_SESSION_TTL_SECONDS || ttl > MAX_SESSION_TTL_SECONDS) {
    throw invalidField(
      "session.ttlSeconds",
      `must be a whole number in ${MIN_SESSION_TTL_SECONDS}..${MAX_SESSION_TTL_SECONDS}, got ${ttl}`,
    );
  }
  const lockDelay = options.lockDelaySeconds;
  if (!Number.isInteger(lockDelay) || lockDelay < 0 || lockDelay > MAX_LOCK_DELAY_SECONDS) {
    throw invalidField(
      "session.lockDelaySeconds",
      `must be a whole number in 0..${MAX_LOCK_DELAY_SECONDS}, got ${lockDelay}`,
    );
  }
  if (options.name === "") throw invalidField("session.name", "must not be empty");
  const value = await client.call("session.create", callOptions, (raw, common) =>
    raw.session.create({
      ...common,
      name: options.name,
      ttl: `${ttl}s`,
      // A string: a number (and 0 above all) is dropped by Consul, which then applies 15 s.
      lockdelay: `${lockDelay}s`,
      checks: [...(options.checks ?? ["serfHealth"])],
      behavior: options.behavior ?? "release",
      ...(options.node === undefined ? {} : { node: options.node }),
    }),
  );
  if (!isRecord(value) || typeof value.ID !== "string" || value.ID === "") {
    throw new SanpathError("internal", "consul session.create: answer without an ID");
  }
  return value.ID;
}

/**
 * Renews a session's TTL. False when Consul says the session no longer exists (it was destroyed,
 * expired or invalidated by a failing check): the caller has lost every lock it held.
 */
export async function renewSession(
  client: ConsulClient,
  sessionId: string,
  callOptions: CallOptions = {},
): Promise<boolean> {
  checkSessionId(sessionId);
  const outcome = await client.callAccepting("session.renew", callOptions, [404], (raw, common) =>
    raw.session.renew({ ...common, id: sessionId }),
  );
  if (!outcome.ok) return false;
  return Array.isArray(outcome.value) && outcome.value.length > 0;
}

/** Destroys a session; its locks are released (with lock-delay) or its keys deleted (behavior). */
export async function destroySession(
  client: ConsulClient,
  sessionId: string,
  callOptions: CallOptions = {},
): Promise<void> {
  checkSessionId(sessionId);
  await client.call("session.destroy", callOptions, (raw, common) =>
    raw.session.destroy({ ...common, id: sessionId }),
  );
}

/** The session, or undefined when it does not exist (any more). */
export async function sessionInfo(
  client: ConsulClient,
  sessionId: string,
  callOptions: CallOptions = {},
): Promise<SessionInfo | undefined> {
  checkSessionId(sessionId);
  const value = await client.call("session.info", callOptions, (raw, common) =>
    raw.session.info({ ...common, id: sessionId }),
  );
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value) || typeof value.ID !== "string") {
    throw new SanpathError("internal", "consul session.info: unexpected answer");
  }
  const checks = Array.isArray(value.NodeChecks) ? value.NodeChecks : value.Checks;
  return {
    id: value.ID,
    name: typeof value.Name === "string" ? value.Name : "",
    node: typeof value.Node === "string" ? value.Node : "",
    // Consul reports LockDelay in nanoseconds.
    lockDelayMs: typeof value.LockDelay === "number" ? value.LockDelay / 1e6 : 0,
    behavior: typeof value.Behavior === "string" ? value.Behavior : "",
    ttl: typeof value.TTL === "string" ? value.TTL : "",
    checks: Array.isArray(checks) ? checks.filter((check) => typeof check === "string") : [],
    createIndex: typeof value.CreateIndex === "number" ? value.CreateIndex : 0,
  };
}

function checkSessionId(sessionId: string): void {
  if (!/^[0-9a-fA-F-]{36}$/.test(sessionId)) {
    throw invalidField("session_id", `must be a 36-character UUID, got "${sessionId}"`);
  }
}

export interface SessionKeeperOptions {
  client: ConsulClient;
  sessionId: string;
  /** The session's TTL: renewals run every ttl/3. */
  ttlSeconds: number;
  /** Overrides the renew period (ms); default ttl/3. */
  renewEveryMs?: number;
  /** Deadline of one renew call; default min(client timeout, renew period). */
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
    this.renewTimeoutMs = options.renewTimeoutMs ?? Math.min(options.client.timeoutMs, this.renewEveryMs);
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
        alive = await renewSession(this.options.client, this.options.sessionId, {
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
