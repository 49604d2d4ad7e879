import { randomBytes } from "node:crypto";
import type { Caller } from "../security/caller.js";

/** A signed-in console user: the token it signed in with stays here, never in the browser. */
export interface ConsoleSession {
  readonly id: string;
  /** Sent as `authorization: Bearer …` on every call, so the gate checks it afresh each time. */
  readonly token: string;
  readonly caller: Caller;
  readonly createdMs: number;
  lastUsedMs: number;
}

export interface ConsoleSessionLimits {
  /** A session unused this long is gone. */
  readonly idleMs: number;
  /** A session this old is gone, however busy. */
  readonly maxAgeMs: number;
  /** The most sessions kept; the least recently used goes first. */
  readonly maxSessions: number;
}

export const DEFAULT_SESSION_LIMITS: ConsoleSessionLimits = {
  idleMs: 60 * 60 * 1000,
  maxAgeMs: 12 * 60 * 60 * 1000,
  maxSessions: 1000,
};

/**
 * The console's sessions, in this sanpathd's memory (a restart signs everyone out). The cookie
 * holds only a random session id; revoking the token in the token file ends the session's power at
 * its next call.
 */
export class ConsoleSessions {
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(
    private readonly limits: ConsoleSessionLimits = DEFAULT_SESSION_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  create(token: string, caller: Caller): ConsoleSession {
    this.expire();
    while (this.sessions.size >= this.limits.maxSessions) {
      const oldest = this.sessions.keys().next();
      if (oldest.done === true) break;
      this.sessions.delete(oldest.value);
    }
    const now = this.now();
    const session: ConsoleSession = {
      id: randomBytes(32).toString("base64url"),
      token,
      caller,
      createdMs: now,
      lastUsedMs: now,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id (its use counts), or undefined. */
  use(id: string): ConsoleSession | undefined {
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    const now = this.now();
    if (this.expired(session, now)) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastUsedMs = now;
    // Map order is least recently used first.
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  private expire(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) if (this.expired(session, now)) this.sessions.delete(id);
  }

  private expired(session: ConsoleSession, now: number): boolean {
    return now - session.lastUsedMs > this.limits.idleMs || now - session.createdMs > this.limits.maxAgeMs;
  }

  /** Seconds a new session's cookie lives (the browser forgets it when the server would). */
  get cookieMaxAgeSeconds(): number {
    return Math.floor(this.limits.maxAgeMs / 1000);
  }
}
