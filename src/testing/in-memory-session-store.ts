import { SanpathError } from "../errors/sanpath-error.js";
import {
  checkSessionId,
  checkSessionOptions,
  type SessionInfo,
  type SessionOptions,
  type SessionStore,
} from "../kv/session-store.js";
import { isAborted } from "../util/abort.js";
import type { CallOptions } from "../util/call-options.js";
import type { ConsulOperation } from "./consul-faults.js";
import type { InMemoryConsul } from "./in-memory-consul.js";

/**
 * SessionStore over an InMemoryConsul: the semantics of ConsulSessionStore (same validation, same
 * answers for unknown sessions, injected outages). Sessions expire on the store's clock at the
 * latest ttlMultiplier × TTL after their last renew; ending one releases or deletes its keys.
 */
export class InMemorySessionStore implements SessionStore {
  constructor(
    readonly consul: InMemoryConsul,
    readonly defaultTimeoutMs = 5000,
  ) {}

  async create(options: SessionOptions, callOptions: CallOptions = {}): Promise<string> {
    checkSessionOptions(options);
    await this.enter("session.create", callOptions);
    return this.consul.createSession(options);
  }

  async renew(sessionId: string, callOptions: CallOptions = {}): Promise<boolean> {
    checkSessionId(sessionId);
    await this.enter("session.renew", callOptions);
    return this.consul.renewSession(sessionId);
  }

  async destroy(sessionId: string, callOptions: CallOptions = {}): Promise<void> {
    checkSessionId(sessionId);
    await this.enter("session.destroy", callOptions);
    this.consul.invalidateSession(sessionId);
  }

  async info(sessionId: string, callOptions: CallOptions = {}): Promise<SessionInfo | undefined> {
    checkSessionId(sessionId);
    await this.enter("session.info", callOptions);
    return this.consul.sessionInfo(sessionId);
  }

  async liveSessions(options: CallOptions = {}): Promise<Set<string>> {
    await this.enter("session.list", options);
    return this.consul.sessionIds();
  }

  private async enter(operation: ConsulOperation, options: CallOptions): Promise<void> {
    if (isAborted(options.signal)) throw cancelled(operation);
    this.consul.faults.check(operation);
    await Promise.resolve();
    if (isAborted(options.signal)) throw cancelled(operation);
  }
}

function cancelled(operation: string): SanpathError {
  return new SanpathError("cancelled", `consul ${operation}: cancelled`);
}
