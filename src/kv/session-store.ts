import { invalidField } from "../errors/sanpath-error.js";
import type { CallOptions } from "../util/call-options.js";

export const MIN_SESSION_TTL_SECONDS = 10;
export const MAX_SESSION_TTL_SECONDS = 86_400;
/** Consul caps lock-delay at 60 s. */
export const MAX_LOCK_DELAY_SECONDS = 60;

export interface SessionOptions {
  name: string;
  /** The node the session belongs to; defaults to the agent's own node. */
  node?: string;
  /** Renewal deadline: the store invalidates the session at the latest 2 × TTL after the last renew. */
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

/** The ids of every session the store holds now (a node whose session is here is alive). */
export interface LiveSessions {
  liveSessions(options?: CallOptions): Promise<Set<string>>;
}

/**
 * Sessions of the KV store (Consul's sessions in production: src/consul/consul-session-store.ts).
 * A key locked by a session is released when the session ends (destroyed, TTL expired, a check
 * failed) and stays un-lockable for the session's lock-delay after an invalidation.
 */
export interface SessionStore extends LiveSessions {
  /** Deadline of a call that names none, in ms. */
  readonly defaultTimeoutMs: number;
  /** Creates a session and returns its id. */
  create(options: SessionOptions, callOptions?: CallOptions): Promise<string>;
  /**
   * Renews a session's TTL. False when the store says the session no longer exists: the caller has
   * lost every lock it held.
   */
  renew(sessionId: string, callOptions?: CallOptions): Promise<boolean>;
  /** Destroys a session; its locks are released (with lock-delay) or its keys deleted (behavior). */
  destroy(sessionId: string, callOptions?: CallOptions): Promise<void>;
  /** The session, or undefined when it does not exist (any more). */
  info(sessionId: string, callOptions?: CallOptions): Promise<SessionInfo | undefined>;
}

/** The rules every store applies to a new session; throws INVALID_FIELD naming the field. */
export function checkSessionOptions(options: SessionOptions): void {
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
}

export function checkSessionId(sessionId: string): void {
  if (!/^[0-9a-fA-F-]{36}$/.test(sessionId)) {
    throw invalidField("session_id", `must be a 36-character UUID, got "${sessionId}"`);
  }
}
