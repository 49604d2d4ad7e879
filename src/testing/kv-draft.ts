import type { KvEntry, KvOperation } from "../kv/kv-store.js";
import type { InMemoryConsul } from "./in-memory-consul.js";

/** What applying one operation gave: the entry for Results, or Consul's reason for refusing it. */
export type OperationOutcome = { ok: true; result: KvEntry | undefined } | { ok: false; what: string };

/**
 * Changes to the in-memory KV at one index, not yet visible: a transaction applies its operations
 * here and commits only when all passed. Each verb follows Consul's state store (state/kvs.go,
 * state/txn.go), including its refusal messages.
 */
export class KvDraft {
  private readonly overlay = new Map<string, KvEntry | undefined>();

  constructor(
    private readonly consul: InMemoryConsul,
    readonly index: number,
  ) {}

  get(key: string): KvEntry | undefined {
    if (this.overlay.has(key)) {
      const entry = this.overlay.get(key);
      return entry === undefined ? undefined : { ...entry };
    }
    return this.consul.entry(key);
  }

  /** Sets (or, with undefined, deletes) a key in the draft. */
  put(key: string, entry: KvEntry | undefined): void {
    this.overlay.set(key, entry);
  }

  changes(): ReadonlyMap<string, KvEntry | undefined> {
    return this.overlay;
  }

  /** A plain write: keeps CreateIndex and the holder, takes flags from the request, LockIndex 0. */
  set(key: string, value: string, flags = 0): KvEntry {
    const existing = this.get(key);
    const entry: KvEntry = {
      key,
      value,
      flags,
      createIndex: existing?.createIndex ?? this.index,
      modifyIndex: this.index,
      lockIndex: 0,
    };
    if (existing?.session !== undefined) entry.session = existing.session;
    this.put(key, entry);
    return entry;
  }

  /** Writes only when the key's ModifyIndex is `cas` (0: only when absent). */
  casSet(key: string, value: string, cas: number, flags = 0): KvEntry | undefined {
    const existing = this.get(key);
    if (cas === 0 ? existing !== undefined : existing?.modifyIndex !== cas) return undefined;
    return this.set(key, value, flags);
  }

  delete(key: string): void {
    if (this.get(key) !== undefined) this.put(key, undefined);
  }

  /** Deletes only at ModifyIndex `cas`; a key that is not there counts as deleted (Consul: true). */
  casDelete(key: string, cas: number): boolean {
    const existing = this.get(key);
    if (existing === undefined) return true;
    if (existing.modifyIndex !== cas) return false;
    this.put(key, undefined);
    return true;
  }

  deleteTree(prefix: string): void {
    const keys = new Set(this.consul.entriesUnder(prefix).map((entry) => entry.key));
    for (const [key, entry] of this.overlay) {
      if (key.startsWith(prefix) && entry !== undefined) keys.add(key);
    }
    for (const key of keys) this.delete(key);
  }

  /**
   * Acquires `key` for `session` (Consul's kvsLockTxn after its lock-delay pre-check): "invalid" when
   * the session does not exist, "held" when another session holds the key.
   */
  lock(key: string, value: string, session: string, flags = 0): KvEntry | "invalid" | "held" {
    if (!this.consul.sessionExists(session)) return "invalid";
    const existing = this.get(key);
    let lockIndex = 1;
    if (existing !== undefined) {
      if (existing.session === session) lockIndex = existing.lockIndex;
      else if (existing.session !== undefined) return "held";
      else lockIndex = existing.lockIndex + 1;
    }
    const entry: KvEntry = {
      key,
      value,
      flags,
      createIndex: existing?.createIndex ?? this.index,
      modifyIndex: this.index,
      lockIndex,
      session,
    };
    this.put(key, entry);
    return entry;
  }

  /** Releases `key` held by `session` and writes it (LockIndex kept); undefined when not held by it. */
  unlock(key: string, value: string, session: string, flags = 0): KvEntry | undefined {
    const existing = this.get(key);
    if (existing?.session !== session) return undefined;
    const entry: KvEntry = {
      key,
      value,
      flags,
      createIndex: existing.createIndex,
      modifyIndex: this.index,
      lockIndex: existing.lockIndex,
    };
    this.put(key, entry);
    return entry;
  }

  /**
   * Applies one transaction operation (already validated) as Consul's state store does. (The
   * lock-delay is checked before, for the whole transaction: see InMemoryKvStore.transaction.)
   */
  apply(operation: KvOperation): OperationOutcome {
    const { key } = operation;
    const quoted = JSON.stringify(key);
    switch (operation.verb) {
      case "set":
        return done(this.set(key, operation.value, operation.flags));
      case "cas": {
        const entry = this.casSet(key, operation.value, operation.index, operation.flags);
        return entry === undefined ? refused(`failed to set key ${quoted}, index is stale`) : done(entry);
      }
      case "delete":
        this.delete(key);
        return { ok: true, result: undefined };
      case "delete-tree":
        this.deleteTree(key);
        return { ok: true, result: undefined };
      case "delete-cas":
        return this.casDelete(key, operation.index)
          ? { ok: true, result: undefined }
          : refused(`failed to delete key ${quoted}, index is stale`);
      case "check-index": {
        const entry = this.get(key);
        if (entry === undefined) return refused(`failed to check index, key ${quoted} doesn't exist`);
        if (entry.modifyIndex !== operation.index) {
          return refused(
            `failed index check for key ${quoted}, current modify index ${entry.modifyIndex} != ${operation.index}`,
          );
        }
        return done(entry);
      }
      case "check-not-exists":
        return this.get(key) === undefined
          ? { ok: true, result: undefined }
          : refused(`key ${quoted} exists`);
      case "check-session": {
        const entry = this.get(key);
        if (entry === undefined) return refused(`failed to check session, key ${quoted} doesn't exist`);
        if (entry.session !== operation.session) {
          const current = JSON.stringify(entry.session ?? "");
          return refused(
            `failed session check for key ${quoted}, current session ${current} != ${JSON.stringify(operation.session)}`,
          );
        }
        return done(entry);
      }
      case "get": {
        const entry = this.get(key);
        return entry === undefined ? refused(`key ${quoted} doesn't exist`) : { ok: true, result: entry };
      }
      case "lock": {
        const outcome = this.lock(key, operation.value, operation.session, operation.flags);
        if (outcome === "invalid") return refused(`invalid session ${JSON.stringify(operation.session)}`);
        if (outcome === "held") return refused(`failed to lock key ${quoted}, lock is already held`);
        return done(outcome);
      }
      case "unlock": {
        const entry = this.unlock(key, operation.value, operation.session, operation.flags);
        return entry === undefined
          ? refused(`failed to unlock key ${quoted}, lock isn't held, or is held by another session`)
          : done(entry);
      }
    }
  }
}

/** Consul returns the entry of a write or check without its value. */
function done(entry: KvEntry): OperationOutcome {
  return { ok: true, result: { ...entry, value: "" } };
}

function refused(what: string): OperationOutcome {
  return { ok: false, what };
}
