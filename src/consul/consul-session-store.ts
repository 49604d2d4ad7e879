import { SanpathError } from "../errors/sanpath-error.js";
import {
  checkSessionId,
  checkSessionOptions,
  type SessionInfo,
  type SessionOptions,
  type SessionStore,
} from "../kv/session-store.js";
import type { CallOptions } from "../util/call-options.js";
import { isRecord, type ConsulClient, type RequestCommon } from "./consul-client.js";

/** consul@2's session.list, which the typed RawConsul of consul-client.ts leaves out. */
interface SessionListing {
  session: { list(options: RequestCommon): Promise<unknown> };
}

/** SessionStore over Consul's session API. */
export class ConsulSessionStore implements SessionStore {
  constructor(private readonly client: ConsulClient) {}

  get defaultTimeoutMs(): number {
    return this.client.timeoutMs;
  }

  async create(options: SessionOptions, callOptions: CallOptions = {}): Promise<string> {
    checkSessionOptions(options);
    const value = await this.client.call("session.create", callOptions, (raw, common) =>
      raw.session.create({
        ...common,
        name: options.name,
        ttl: `${options.ttlSeconds}s`,
        // A string: a number (and 0 above all) is dropped by Consul, which then applies 15 s.
        lockdelay: `${options.lockDelaySeconds}s`,
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

  async renew(sessionId: string, callOptions: CallOptions = {}): Promise<boolean> {
    checkSessionId(sessionId);
    const outcome = await this.client.callAccepting("session.renew", callOptions, [404], (raw, common) =>
      raw.session.renew({ ...common, id: sessionId }),
    );
    if (!outcome.ok) return false;
    return Array.isArray(outcome.value) && outcome.value.length > 0;
  }

  async destroy(sessionId: string, callOptions: CallOptions = {}): Promise<void> {
    checkSessionId(sessionId);
    await this.client.call("session.destroy", callOptions, (raw, common) =>
      raw.session.destroy({ ...common, id: sessionId }),
    );
  }

  async info(sessionId: string, callOptions: CallOptions = {}): Promise<SessionInfo | undefined> {
    checkSessionId(sessionId);
    const value = await this.client.call("session.info", callOptions, (raw, common) =>
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

  async liveSessions(options: CallOptions = {}): Promise<Set<string>> {
    const answer = await this.client.call("session.list", options, (raw, common) =>
      (raw as unknown as SessionListing).session.list({ ...common }),
    );
    const ids = new Set<string>();
    if (Array.isArray(answer)) {
      for (const session of answer as unknown[]) {
        if (isRecord(session) && typeof session.ID === "string") ids.add(session.ID);
      }
    }
    return ids;
  }
}
