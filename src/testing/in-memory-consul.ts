import { randomUUID } from "node:crypto";
import type { KvEntry } from "../kv/kv-store.js";
import type { SessionInfo, SessionOptions } from "../kv/session-store.js";
import { ConsulFaults } from "./consul-faults.js";
import { KvDraft } from "./kv-draft.js";
import { ManualClock, type FakeClock } from "./manual-clock.js";

export interface InMemoryConsulOptions {
  /** Default: a new ManualClock (time stands still until the test advances it). */
  clock?: FakeClock;
  /** The node sessions belong to unless they name one (Consul: the agent's node). */
  nodeName?: string;
  /** Consul invalidates a session TTL × 2 after its last renew (its TTL multiplier). */
  ttlMultiplier?: number;
}

interface SessionRecord {
  info: SessionInfo;
  ttlMs: number;
  lockDelayMs: number;
  behavior: "release" | "delete";
  cancelTtl: () => void;
}

/** Something waiting for changes to some keys (a blocking query). */
export interface KeyWaiter {
  /** Whether a change to `key` concerns this waiter. */
  concerns(key: string): boolean;
  /** Called after a commit that changed a key it is concerned with. */
  changed(): void;
  /** Called when the store goes away (outage, restart). */
  lost(): void;
}

/**
 * The state of one in-memory Consul datacenter: the KV store, sessions, lock-delays and the index,
 * shared by InMemoryKvStore and InMemorySessionStore. It follows Consul's documented (and, where the
 * docs are silent, observed on Consul 1.8) semantics; the contract suites in test/contract hold the
 * fake and the real adapters to the same behaviour.
 *
 * - One index for everything (Consul's raft index), bumped by every write; a transaction writes all
 *   its entries at one index. CreateIndex, ModifyIndex and LockIndex as in Consul (a plain write
 *   keeps the holder but resets LockIndex to 0, as Consul 1.8 does).
 * - A session ends by destroy, by TTL (ttlMultiplier × TTL after the last renew, on the clock) or by
 *   `invalidateNode`; its keys are released (or deleted, behavior "delete") at one index, and each
 *   of them is un-lockable for the session's lock-delay. An explicit release has no lock-delay.
 */
export class InMemoryConsul {
  readonly clock: FakeClock;
  readonly faults = new ConsulFaults();
  readonly nodeName: string;
  private readonly ttlMultiplier: number;
  private entries = new Map<string, KvEntry>();
  /** Deleted keys and the index they were deleted at (Consul's tombstones, never reaped here). */
  private tombstones = new Map<string, number>();
  private index = 1;
  /** The last index at which the KV store changed (Consul's kvs/tombstones table index). */
  private kvIndex = 0;
  private sessions = new Map<string, SessionRecord>();
  private lockDelays = new Map<string, number>();
  private readonly waiters = new Set<KeyWaiter>();

  constructor(options: InMemoryConsulOptions = {}) {
    this.clock = options.clock ?? new ManualClock();
    this.nodeName = options.nodeName ?? "in-memory-node";
    this.ttlMultiplier = options.ttlMultiplier ?? 2;
    this.faults.onOutage(() => this.loseWaiters());
  }

  /** The clock as a ManualClock; throws when the store runs on another clock. */
  get manualClock(): ManualClock {
    if (!(this.clock instanceof ManualClock)) throw new Error("this InMemoryConsul runs on another clock");
    return this.clock;
  }

  // ---- KV state -------------------------------------------------------------------------------

  entry(key: string): KvEntry | undefined {
    const entry = this.entries.get(key);
    return entry === undefined ? undefined : { ...entry };
  }

  /** Entries whose key starts with `prefix`, sorted by key. */
  entriesUnder(prefix: string): KvEntry[] {
    return [...this.entries.values()]
      .filter((entry) => entry.key.startsWith(prefix))
      .sort((a, b) => compareKeys(a.key, b.key))
      .map((entry) => ({ ...entry }));
  }

  /** The index a read of one key answers with: its ModifyIndex, else the KV table's index. */
  keyIndex(key: string): number {
    return this.entries.get(key)?.modifyIndex ?? this.kvIndex;
  }

  /** The index a read of a prefix answers with: the newest entry or tombstone under it, else the table's. */
  prefixIndex(prefix: string): number {
    let newest = 0;
    for (const entry of this.entries.values()) {
      if (entry.key.startsWith(prefix)) newest = Math.max(newest, entry.modifyIndex);
    }
    for (const [key, deletedAt] of this.tombstones) {
      if (key.startsWith(prefix)) newest = Math.max(newest, deletedAt);
    }
    return newest === 0 ? this.kvIndex : newest;
  }

  /** Whether `key` is in the lock-delay of a session that ended while holding it. */
  inLockDelay(key: string): boolean {
    const until = this.lockDelays.get(key);
    return until !== undefined && until > this.clock.now();
  }

  sessionExists(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /** A draft of the KV state at a new index: apply operations to it, then `commit` (or drop it). */
  draft(): KvDraft {
    this.index += 1;
    return new KvDraft(this, this.index);
  }

  /** Makes a draft's changes the store's state and wakes the blocking queries they concern. */
  commit(draft: KvDraft): void {
    const changes = draft.changes();
    if (changes.size === 0) return;
    for (const [key, entry] of changes) {
      if (entry === undefined) {
        if (this.entries.delete(key)) this.tombstones.set(key, draft.index);
      } else {
        this.entries.set(key, { ...entry });
        this.tombstones.delete(key);
      }
    }
    this.kvIndex = draft.index;
    for (const waiter of [...this.waiters]) {
      if ([...changes.keys()].some((key) => waiter.concerns(key))) waiter.changed();
    }
  }

  watch(waiter: KeyWaiter): () => void {
    this.waiters.add(waiter);
    return () => this.waiters.delete(waiter);
  }

  // ---- sessions -------------------------------------------------------------------------------

  createSession(options: SessionOptions): string {
    const id = randomUUID();
    this.index += 1;
    const record: SessionRecord = {
      info: {
        id,
        name: options.name,
        node: options.node ?? this.nodeName,
        lockDelayMs: options.lockDelaySeconds * 1000,
        behavior: options.behavior ?? "release",
        ttl: `${options.ttlSeconds}s`,
        checks: [...(options.checks ?? ["serfHealth"])],
        createIndex: this.index,
      },
      ttlMs: options.ttlSeconds * 1000,
      lockDelayMs: options.lockDelaySeconds * 1000,
      behavior: options.behavior ?? "release",
      cancelTtl: () => undefined,
    };
    this.sessions.set(id, record);
    this.startTtl(record);
    return id;
  }

  /** False when the session does not exist. */
  renewSession(sessionId: string): boolean {
    const record = this.sessions.get(sessionId);
    if (record === undefined) return false;
    record.cancelTtl();
    this.startTtl(record);
    return true;
  }

  sessionInfo(sessionId: string): SessionInfo | undefined {
    const info = this.sessions.get(sessionId)?.info;
    return info === undefined ? undefined : { ...info, checks: [...info.checks] };
  }

  sessionIds(): Set<string> {
    return new Set(this.sessions.keys());
  }

  /**
   * Ends a session as Consul does on destroy, TTL expiry or a failed check: its keys are released
   * (or deleted) at one index and stay un-lockable for its lock-delay. Unknown ids are ignored.
   */
  invalidateSession(sessionId: string): void {
    const record = this.sessions.get(sessionId);
    if (record === undefined) return;
    record.cancelTtl();
    this.sessions.delete(sessionId);
    const draft = this.draft();
    for (const entry of this.entries.values()) {
      if (entry.session !== sessionId) continue;
      if (record.behavior === "delete") {
        draft.put(entry.key, undefined);
      } else {
        const { session: _held, ...released } = entry;
        draft.put(entry.key, { ...released, modifyIndex: draft.index });
      }
      if (record.lockDelayMs > 0) this.lockDelays.set(entry.key, this.clock.now() + record.lockDelayMs);
    }
    this.commit(draft);
  }

  /** Ends every session of `node` (its serfHealth check went critical). */
  invalidateNode(node: string): void {
    for (const [id, record] of [...this.sessions]) {
      if (record.info.node === node && record.info.checks.includes("serfHealth")) this.invalidateSession(id);
    }
  }

  /**
   * A dev agent restarted: every key, session and lock-delay is gone and the index starts over
   * (blocking queries in flight fail; the next ones see the index go backwards).
   */
  restart(): void {
    for (const record of this.sessions.values()) record.cancelTtl();
    this.sessions = new Map();
    this.entries = new Map();
    this.tombstones = new Map();
    this.lockDelays = new Map();
    this.index = 1;
    this.kvIndex = 0;
    this.loseWaiters();
  }

  /** Cancels the session timers (a fake on the SystemClock would otherwise fire them later). */
  close(): void {
    for (const record of this.sessions.values()) record.cancelTtl();
    this.loseWaiters();
  }

  private startTtl(record: SessionRecord): void {
    const at = this.clock.now() + record.ttlMs * this.ttlMultiplier;
    record.cancelTtl = this.clock.setTimerAt(at, () => this.invalidateSession(record.info.id), {
      background: true,
    });
  }

  private loseWaiters(): void {
    for (const waiter of [...this.waiters]) waiter.lost();
  }
}

/** Consul orders keys by their bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
