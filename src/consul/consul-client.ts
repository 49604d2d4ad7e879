import { EventEmitter } from "node:events";
import type { IncomingHttpHeaders } from "node:http";
import Consul from "consul";
import { invalidField, SanpathError, errorMessage } from "../errors/sanpath-error.js";
import { isAborted } from "../util/abort.js";
import type { CallOptions } from "../util/call-options.js";
import {
  checkIndex,
  checkKey,
  checkWriteOptions,
  checkPrefix,
  checkWaitSeconds,
  nextBlockingIndex,
} from "../kv/key-rules.js";
import type { BlockingKeyResult, BlockingListResult, BlockingOptions, KvEntry } from "../kv/kv-store.js";

export interface ConsulClientOptions {
  /** "host:port" of the agent's HTTP API. */
  address: string;
  /** ACL token, sent as X-Consul-Token; never logged. */
  token?: string;
  /** Deadline of every non-blocking call, in ms (default 5000). */
  timeoutMs?: number;
  /** Told of every request that ended: its operation, "ok" / "rejected" / "error" / "cancelled", seconds. */
  observe?: ConsulObserver;
  /** Called by close() (e.g. to stop telling this client of raft leader changes). */
  onClose?: () => void;
}

export type ConsulObserver = (
  operation: string,
  result: "ok" | "rejected" | "error" | "cancelled",
  seconds: number,
) => void;

/** Operations that change nothing in Consul: KV reads and blocking watches, status, agent and session look-ups. */
export const CONSUL_READ_OPERATIONS: ReadonlySet<string> = new Set([
  "kv.get",
  "kv.list",
  "kv.keys",
  "kv.get (blocking)",
  "kv.list (blocking)",
  "status.leader",
  "agent.self",
  "session.info",
  "session.list",
]);

/**
 * Operations that may be sent again without changing anything: reads, and a session renew. Only
 * these are abandoned when the raft leader changes (see abandonIdempotentRequests); a write whose
 * answer never came may have been applied.
 */
const IDEMPOTENT_OPERATIONS: ReadonlySet<string> = new Set([...CONSUL_READ_OPERATIONS, "session.renew"]);

/** Extra slack on top of Consul's own jitter (wait/16) for a blocking call's deadline. */
const BLOCKING_FACTOR = 1.07;

/** The parts of a consul@2 request every call carries (papi options). */
export interface RequestCommon {
  ctx: RequestContext;
  timeout: number;
}

/** papi cancels a request when its ctx emits "cancel"; `includeResponse` returns [res, body]. */
export interface RequestContext extends EventEmitter {
  includeResponse?: boolean;
}

/** The HTTP response papi hands back with `includeResponse`. */
export interface RawResponse {
  statusCode?: number;
  headers: IncomingHttpHeaders;
  body?: unknown;
}

type Query = RequestCommon & Record<string, unknown>;

/**
 * The part of the consul@2 client sanpath uses, typed for what it really accepts (its .d.ts omits
 * ctx and timeout) and returns (unknown: every answer is parsed and checked here).
 */
export interface RawConsul {
  kv: {
    get(options: Query): Promise<unknown>;
    keys(options: Query): Promise<unknown>;
    set(options: Query): Promise<unknown>;
    del(options: Query): Promise<unknown>;
  };
  session: {
    create(options: Query): Promise<unknown>;
    destroy(options: Query): Promise<unknown>;
    info(options: Query): Promise<unknown>;
    renew(options: Query): Promise<unknown>;
  };
  status: { leader(options: Query): Promise<unknown> };
  agent: { self(options: Query): Promise<unknown> };
  /** Two arguments: with one, consul@2 takes the whole object as the operation list. */
  transaction: { create(operations: readonly unknown[], options: Query): Promise<unknown> };
  destroy(): void;
}

/** A non-2xx answer that the caller said it handles itself. */
export interface ConsulRejection {
  status: number;
  message: string;
  body: unknown;
}

export type CallOutcome = { ok: true; value: unknown } | { ok: false; rejection: ConsulRejection };

/**
 * Typed access to Consul's HTTP API over the npm consul@2 client. Every call has a deadline and
 * can be cancelled; failures to reach Consul become SanpathError("unavailable", CONSUL_UNAVAILABLE).
 * Keys never start with "/".
 */
export class ConsulClient {
  readonly address: string;
  readonly timeoutMs: number;
  private readonly raw: RawConsul;
  private readonly observe: ConsulObserver | undefined;
  private readonly onClose: (() => void) | undefined;
  /** Idempotent requests in flight: what abandonIdempotentRequests ends. */
  private readonly idempotentInFlight = new Set<(reason: string) => void>();

  constructor(options: ConsulClientOptions) {
    const match = /^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):(\d{1,5})$/.exec(options.address);
    const host = match?.[1];
    const port = Number(match?.[2]);
    if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw invalidField("consul.address", `must be "host:port", got "${options.address}"`);
    }
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw invalidField("consul.timeoutMs", "must be a positive number of milliseconds");
    }
    this.address = options.address;
    this.timeoutMs = timeoutMs;
    this.observe = options.observe;
    this.onClose = options.onClose;
    const defaults = options.token === undefined || options.token === "" ? {} : { token: options.token };
    this.raw = new Consul({ host, port, defaults }) as unknown as RawConsul;
  }

  /**
   * Ends every idempotent request in flight with CONSUL_UNAVAILABLE (its caller retries as after
   * any Consul failure). For a raft leader change: a Consul server forwards a request to the raft
   * leader it knows, and one sent while the old leader was unreachable (a powered-off node) waits
   * for a TCP connection to it until Consul's dial timeout (10 s), although a new leader answers
   * within a second of its election. Returns how many were ended.
   */
  abandonIdempotentRequests(reason: string): number {
    const abandon = [...this.idempotentInFlight];
    this.idempotentInFlight.clear();
    for (const end of abandon) end(reason);
    return abandon.length;
  }

  /** Closes the keep-alive connections. */
  close(): void {
    this.onClose?.();
    this.raw.destroy();
  }

  async get(key: string, options: CallOptions = {}): Promise<KvEntry | undefined> {
    checkKey(key);
    const value = await this.call("kv.get", options, (raw, common) => raw.kv.get({ ...common, key }));
    return value === undefined ? undefined : parseKvItem(value);
  }

  /** Every entry whose key starts with `prefix` (recursive). */
  async list(prefix: string, options: CallOptions = {}): Promise<KvEntry[]> {
    checkPrefix(prefix);
    const value = await this.call("kv.list", options, (raw, common) =>
      raw.kv.get({ ...common, key: prefix, recurse: true }),
    );
    return parseKvList(value);
  }

  /** Key names under `prefix`; with a separator, only up to the next separator (like a folder list). */
  async keys(prefix: string, options: CallOptions & { separator?: string } = {}): Promise<string[]> {
    checkPrefix(prefix);
    const outcome = await this.callAccepting("kv.keys", options, [404], (raw, common) =>
      raw.kv.keys({
        ...common,
        key: prefix,
        ...(options.separator === undefined ? {} : { separator: options.separator }),
      }),
    );
    if (!outcome.ok) return [];
    if (!Array.isArray(outcome.value) || !outcome.value.every((item) => typeof item === "string")) {
      throw unexpectedAnswer("kv.keys", outcome.value);
    }
    return outcome.value;
  }

  /** Blocking read of one key: returns when its index passes `index` or after `waitSeconds`. */
  async getBlocking(key: string, options: BlockingOptions): Promise<BlockingKeyResult> {
    checkKey(key);
    const { index, body } = await this.blockingGet("kv.get (blocking)", key, false, options);
    const entry = body === undefined ? undefined : parseKvItem(firstOf(body));
    return { ...nextBlockingIndex(options.index, index), entry };
  }

  /** Blocking read of a prefix (recursive); see getBlocking. */
  async listBlocking(prefix: string, options: BlockingOptions): Promise<BlockingListResult> {
    checkPrefix(prefix);
    const { index, body } = await this.blockingGet("kv.list (blocking)", prefix, true, options);
    return { ...nextBlockingIndex(options.index, index), entries: parseKvList(body) };
  }

  /**
   * Writes a key. With `cas`, only when its ModifyIndex still equals cas (0 = only if absent).
   * True only when Consul answered true (consul@2 gives undefined on a failed cas).
   */
  async put(
    key: string,
    value: string,
    options: CallOptions & { cas?: number; flags?: number } = {},
  ): Promise<boolean> {
    checkKey(key);
    checkWriteOptions(options);
    const result = await this.call("kv.put", options, (raw, common) =>
      raw.kv.set({
        ...common,
        key,
        value,
        ...(options.cas === undefined ? {} : { cas: options.cas }),
        ...(options.flags === undefined ? {} : { flags: options.flags }),
      }),
    );
    return result === true;
  }

  /** Deletes a key (or, with recurse, every key under the prefix). With `cas`, only at that ModifyIndex. */
  async delete(
    key: string,
    options: CallOptions & { cas?: number; recurse?: boolean } = {},
  ): Promise<boolean> {
    // Never empty, recursive or not: a recursive delete of "" would wipe the whole KV store.
    checkKey(key);
    checkWriteOptions(options);
    const result = await this.call("kv.delete", options, (raw, common) =>
      raw.kv.del({
        ...common,
        key,
        ...(options.cas === undefined ? {} : { cas: options.cas }),
        ...(options.recurse === true ? { recurse: true } : {}),
      }),
    );
    return result === true;
  }

  /** The raft leader's address, "" when the cluster has none. */
  async leader(options: CallOptions = {}): Promise<string> {
    const value = await this.call("status.leader", options, (raw, common) =>
      raw.status.leader({ ...common }),
    );
    if (typeof value !== "string") throw unexpectedAnswer("status.leader", value);
    return value;
  }

  /** The node name of the agent this client talks to. */
  async agentNodeName(options: CallOptions = {}): Promise<string> {
    const value = await this.call("agent.self", options, (raw, common) => raw.agent.self({ ...common }));
    const name = isRecord(value) && isRecord(value.Config) ? value.Config.NodeName : undefined;
    if (typeof name !== "string" || name === "") throw unexpectedAnswer("agent.self", "no Config.NodeName");
    return name;
  }

  /**
   * Runs one consul@2 call with a deadline and the caller's AbortSignal. Meant for the modules of
   * src/consul (sessions, locks, transactions); the rest of sanpath uses the typed methods.
   */
  async call(
    operation: string,
    options: CallOptions & { includeResponse?: boolean },
    run: (raw: RawConsul, common: RequestCommon) => Promise<unknown>,
  ): Promise<unknown> {
    const outcome = await this.callAccepting(operation, options, [], run);
    if (outcome.ok) return outcome.value;
    throw new Error("unreachable: no status was accepted");
  }

  /** Like call, but answers with one of the `accepted` HTTP statuses come back as a rejection. */
  async callAccepting(
    operation: string,
    options: CallOptions & { includeResponse?: boolean },
    accepted: readonly number[],
    run: (raw: RawConsul, common: RequestCommon) => Promise<unknown>,
  ): Promise<CallOutcome> {
    const { signal } = options;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    if (isAborted(signal)) throw cancelled(operation, signal);
    const ctx: RequestContext = new EventEmitter();
    if (options.includeResponse === true) ctx.includeResponse = true;
    const cancel = (): void => {
      ctx.emit("cancel");
    };
    signal?.addEventListener("abort", cancel, { once: true });
    let abandonedFor: string | undefined;
    const abandon = (reason: string): void => {
      abandonedFor = reason;
      ctx.emit("cancel");
    };
    if (IDEMPOTENT_OPERATIONS.has(operation)) this.idempotentInFlight.add(abandon);
    const started = performance.now();
    let result: "ok" | "rejected" | "error" | "cancelled" = "error";
    try {
      const value = await run(this.raw, { ctx, timeout: timeoutMs });
      result = "ok";
      return { ok: true, value };
    } catch (error) {
      if (isAborted(signal)) {
        result = "cancelled";
        throw cancelled(operation, signal, error);
      }
      if (abandonedFor !== undefined) throw consulUnavailable(operation, `abandoned: ${abandonedFor}`, error);
      const rejection = asRejection(error);
      if (rejection !== undefined && accepted.includes(rejection.status)) {
        result = "rejected";
        return { ok: false, rejection };
      }
      throw consulFailure(operation, error, rejection, timeoutMs);
    } finally {
      signal?.removeEventListener("abort", cancel);
      this.idempotentInFlight.delete(abandon);
      this.observe?.(operation, result, (performance.now() - started) / 1000);
    }
  }

  private async blockingGet(
    operation: string,
    key: string,
    recurse: boolean,
    options: BlockingOptions,
  ): Promise<{ index: number; body: unknown }> {
    checkIndex("index", options.index);
    const wait = options.waitSeconds;
    checkWaitSeconds(wait);
    const timeoutMs = Math.ceil(wait * 1000 * BLOCKING_FACTOR) + this.timeoutMs;
    const value = await this.call(
      operation,
      {
        includeResponse: true,
        timeoutMs,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
      (raw, common) =>
        raw.kv.get({
          ...common,
          key,
          wait: `${wait}s`,
          ...(options.index > 0 ? { index: String(options.index) } : {}),
          ...(recurse ? { recurse: true } : {}),
        }),
    );
    if (!Array.isArray(value)) throw unexpectedAnswer(operation, value);
    const response: unknown = value[0];
    if (!isRecord(response) || !isRecord(response.headers)) throw unexpectedAnswer(operation, "no response");
    const header = response.headers["x-consul-index"];
    const index = Number(typeof header === "string" ? header : NaN);
    if (!Number.isSafeInteger(index) || index < 0) {
      throw unexpectedAnswer(operation, `X-Consul-Index ${String(header)}`);
    }
    return { index, body: value[1] };
  }
}

function firstOf(body: unknown): unknown {
  return Array.isArray(body) ? body[0] : body;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses one entry of Consul's KV JSON (consul@2 has already base64-decoded Value to a string). */
export function parseKvItem(item: unknown): KvEntry {
  if (!isRecord(item) || typeof item.Key !== "string") throw unexpectedAnswer("kv", item);
  const entry: KvEntry = {
    key: item.Key,
    value: typeof item.Value === "string" ? item.Value : "",
    flags: numberField(item, "Flags"),
    createIndex: numberField(item, "CreateIndex"),
    modifyIndex: numberField(item, "ModifyIndex"),
    lockIndex: numberField(item, "LockIndex"),
  };
  if (typeof item.Session === "string" && item.Session !== "") entry.session = item.Session;
  return entry;
}

function parseKvList(value: unknown): KvEntry[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return [parseKvItem(value)];
  return value.map(parseKvItem);
}

function numberField(item: Record<string, unknown>, name: string): number {
  const value = item[name];
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number") throw unexpectedAnswer("kv", `${name} is not a number`);
  return value;
}

function asRejection(error: unknown): ConsulRejection | undefined {
  if (!isRecord(error) && !(error instanceof Error)) return undefined;
  const response = (error as { response?: unknown }).response;
  if (!isRecord(response) || typeof response.statusCode !== "number") return undefined;
  return { status: response.statusCode, message: errorMessage(error), body: response.body };
}

function cancelled(operation: string, signal: AbortSignal | undefined, cause?: unknown): SanpathError {
  return new SanpathError("cancelled", `consul ${operation}: cancelled`, {
    cause: cause ?? (signal?.reason as unknown),
  });
}

/** The error for "Consul did not give a usable answer". */
export function consulUnavailable(operation: string, detail: string, cause?: unknown): SanpathError {
  return new SanpathError("unavailable", `consul ${operation}: ${detail}`, {
    reason: "CONSUL_UNAVAILABLE",
    cause,
  });
}

function consulFailure(
  operation: string,
  error: unknown,
  rejection: ConsulRejection | undefined,
  timeoutMs: number,
): SanpathError {
  if (error instanceof SanpathError) return error;
  if (rejection !== undefined) {
    if (rejection.status === 403) {
      return new SanpathError("permission_denied", `consul ${operation}: permission denied (ACL)`, {
        reason: "PERMISSION_DENIED",
        cause: error,
      });
    }
    if (rejection.status >= 400 && rejection.status < 500) {
      return new SanpathError(
        "internal",
        `consul ${operation}: rejected (${rejection.status}): ${rejection.message}`,
        { cause: error },
      );
    }
    return consulUnavailable(operation, `answered ${rejection.status}: ${rejection.message}`, error);
  }
  if ((error as { isValidation?: unknown }).isValidation === true) {
    return new SanpathError(
      "internal",
      `consul ${operation}: request refused by the client: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
  if ((error as { isTimeout?: unknown }).isTimeout === true) {
    return consulUnavailable(operation, `no answer within ${timeoutMs} ms`, error);
  }
  return consulUnavailable(operation, `unreachable: ${errorMessage(error)}`, error);
}

function unexpectedAnswer(operation: string, what: unknown): SanpathError {
  const text = typeof what === "string" ? what : JSON.stringify(what);
  return new SanpathError("internal", `consul ${operation}: unexpected answer: ${text.slice(0, 200)}`);
}
