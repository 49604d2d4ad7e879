import { SanpathError } from "../errors/sanpath-error.js";
import { InvalidSessionError } from "../kv/invalid-session.js";
import {
  checkIndex,
  checkWriteOptions,
  checkKey,
  checkKvOperation,
  checkPrefix,
  checkWaitSeconds,
  nextBlockingIndex,
} from "../kv/key-rules.js";
import {
  MAX_OPS_PER_TRANSACTION,
  type BlockingIndex,
  type BlockingKeyResult,
  type BlockingListResult,
  type BlockingOptions,
  type IndexedEntries,
  type KvEntry,
  type KvOperation,
  type KvStore,
  type TransactionResult,
} from "../kv/kv-store.js";
import {
  laterChunkFailure,
  TransactionConflictError,
  type TransactionOpError,
} from "../kv/transaction-conflict.js";
import { isAborted } from "../util/abort.js";
import type { CallOptions } from "../util/call-options.js";
import { consulUnavailable } from "../consul/consul-client.js";
import type { ConsulOperation } from "./consul-faults.js";
import type { InMemoryConsul } from "./in-memory-consul.js";

/**
 * KvStore over an InMemoryConsul: the semantics of ConsulKvStore (same validation errors, same
 * errors for conflicts, invalid sessions, cancellation and injected outages), answering at once.
 * Blocking reads wait for a write to what they read, or for `waitSeconds` on the store's clock.
 */
export class InMemoryKvStore implements KvStore {
  constructor(readonly consul: InMemoryConsul) {}

  async get(key: string, options: CallOptions = {}): Promise<KvEntry | undefined> {
    checkKey(key);
    await this.enter("kv.get", options);
    return this.consul.entry(key);
  }

  async list(prefix: string, options: CallOptions = {}): Promise<KvEntry[]> {
    checkPrefix(prefix);
    await this.enter("kv.list", options);
    return this.consul.entriesUnder(prefix);
  }

  async listIndexed(prefix: string, options: CallOptions = {}): Promise<IndexedEntries> {
    checkPrefix(prefix);
    await this.enter("kv.list (blocking)", options);
    const { index } = nextBlockingIndex(0, this.consul.prefixIndex(prefix));
    return { index, entries: this.consul.entriesUnder(prefix) };
  }

  async keys(prefix: string, options: CallOptions & { separator?: string } = {}): Promise<string[]> {
    checkPrefix(prefix);
    await this.enter("kv.keys", options);
    const separator = options.separator ?? "";
    const keys = new Set<string>();
    for (const { key } of this.consul.entriesUnder(prefix)) {
      const cut = separator === "" ? -1 : key.indexOf(separator, prefix.length);
      keys.add(cut < 0 ? key : key.slice(0, cut + separator.length));
    }
    return [...keys];
  }

  async put(
    key: string,
    value: string,
    options: CallOptions & { cas?: number; flags?: number } = {},
  ): Promise<boolean> {
    checkKey(key);
    checkWriteOptions(options);
    await this.enter("kv.put", options);
    const draft = this.consul.draft();
    const written =
      options.cas === undefined
        ? draft.set(key, value, options.flags)
        : draft.casSet(key, value, options.cas, options.flags);
    this.consul.commit(draft);
    return written !== undefined;
  }

  async delete(
    key: string,
    options: CallOptions & { cas?: number; recurse?: boolean } = {},
  ): Promise<boolean> {
    checkKey(key);
    checkWriteOptions(options);
    await this.enter("kv.delete", options);
    const draft = this.consul.draft();
    let deleted = true;
    if (options.recurse === true) draft.deleteTree(key);
    else if (options.cas !== undefined) deleted = draft.casDelete(key, options.cas);
    else draft.delete(key);
    this.consul.commit(draft);
    return deleted;
  }

  async transaction(
    operations: readonly KvOperation[],
    options: CallOptions = {},
  ): Promise<TransactionResult> {
    operations.forEach((operation, index) => checkKvOperation(operation, index));
    const results: (KvEntry | undefined)[] = [];
    const chunkCount = Math.ceil(operations.length / MAX_OPS_PER_TRANSACTION);
    for (let chunk = 0; chunk < chunkCount; chunk += 1) {
      const offset = chunk * MAX_OPS_PER_TRANSACTION;
      const chunkOps = operations.slice(offset, offset + MAX_OPS_PER_TRANSACTION);
      try {
        await this.enter("txn", options);
      } catch (error) {
        throw laterChunkFailure(error, chunk, chunkCount);
      }
      // Consul's pre-check: locks in their lock-delay fail the transaction before it runs.
      const delayed = chunkOps.flatMap((operation, position) =>
        operation.verb === "lock" && this.consul.inLockDelay(operation.key)
          ? [
              {
                opIndex: offset + position,
                what: `failed to lock key ${JSON.stringify(operation.key)} due to lock delay`,
              },
            ]
          : [],
      );
      if (delayed.length > 0) throw new TransactionConflictError(delayed, chunk, undefined);
      const draft = this.consul.draft();
      const errors: TransactionOpError[] = [];
      for (const [position, operation] of chunkOps.entries()) {
        const outcome = draft.apply(operation);
        if (outcome.ok) {
          results.push(outcome.result);
          continue;
        }
        // Consul runs on after a failing operation (later ones see the earlier ones' effects) and
        // reports every failure; then it applies nothing.
        errors.push({ opIndex: offset + position, what: outcome.what });
      }
      if (errors.length > 0) throw new TransactionConflictError(errors, chunk, undefined);
      this.consul.commit(draft);
    }
    return { results };
  }

  getBlocking(key: string, options: BlockingOptions): Promise<BlockingKeyResult> {
    return this.block(
      "kv.get (blocking)",
      () => checkKey(key),
      options,
      (changed) => changed === key,
      (index) => {
        const current = this.consul.keyIndex(key);
        return { ...nextBlockingIndex(index, Math.max(current, 1)), entry: this.consul.entry(key) };
      },
    );
  }

  listBlocking(prefix: string, options: BlockingOptions): Promise<BlockingListResult> {
    return this.block(
      "kv.list (blocking)",
      () => checkPrefix(prefix),
      options,
      (changed) => changed.startsWith(prefix),
      (index) => {
        const current = this.consul.prefixIndex(prefix);
        return {
          ...nextBlockingIndex(index, Math.max(current, 1)),
          entries: this.consul.entriesUnder(prefix),
        };
      },
    );
  }

  async acquire(
    key: string,
    sessionId: string,
    value: string,
    options: CallOptions & { flags?: number } = {},
  ): Promise<boolean> {
    checkKey(key);
    checkWriteOptions(options);
    await this.enter("lock.acquire", options);
    // Consul checks the lock-delay before it looks at the session.
    if (this.consul.inLockDelay(key)) return false;
    const draft = this.consul.draft();
    const outcome = draft.lock(key, value, sessionId, options.flags);
    if (outcome === "invalid") {
      throw new InvalidSessionError("lock.acquire", sessionId, new Error(`invalid session "${sessionId}"`));
    }
    if (outcome === "held") return false;
    this.consul.commit(draft);
    return true;
  }

  async release(key: string, sessionId: string, value: string, options: CallOptions = {}): Promise<boolean> {
    checkKey(key);
    await this.enter("lock.release", options);
    const draft = this.consul.draft();
    const released = draft.unlock(key, value, sessionId) !== undefined;
    this.consul.commit(draft);
    return released;
  }

  /** What every call does first: refuse when cancelled or when a fault is injected; then yield once. */
  private async enter(operation: ConsulOperation, options: CallOptions): Promise<void> {
    if (isAborted(options.signal)) throw cancelled(operation);
    this.consul.faults.check(operation);
    await Promise.resolve();
    if (isAborted(options.signal)) throw cancelled(operation);
  }

  /**
   * A blocking read. Everything up to registering the wait happens synchronously, so the timeout
   * counts from the call on the store's clock (a test may call, then advance a ManualClock).
   */
  private block<R extends BlockingIndex>(
    operation: ConsulOperation,
    checkTarget: () => void,
    options: BlockingOptions,
    concerns: (key: string) => boolean,
    read: (index: number) => R,
  ): Promise<R> {
    try {
      checkTarget();
      checkIndex("index", options.index);
      checkWaitSeconds(options.waitSeconds);
      if (isAborted(options.signal)) throw cancelled(operation);
      this.consul.faults.check(operation);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const { signal } = options;
    const first = read(options.index);
    if (options.index === 0 || first.index > options.index) return Promise.resolve(first);
    const deadline = this.consul.clock.now() + options.waitSeconds * 1000;
    return new Promise<R>((resolve, reject) => {
      const finish = (outcome: { answer: R } | { error: Error }): void => {
        cancelTimer();
        unwatch();
        signal?.removeEventListener("abort", onAbort);
        if ("answer" in outcome) resolve(outcome.answer);
        else reject(outcome.error);
      };
      const onAbort = (): void => finish({ error: cancelled(operation) });
      const unwatch = this.consul.watch({
        concerns,
        changed: () => {
          const answer = read(options.index);
          if (answer.index > options.index) finish({ answer });
        },
        lost: () => finish({ error: this.lostError(operation) }),
      });
      const cancelTimer = this.consul.clock.setTimerAt(deadline, () =>
        finish({ answer: read(options.index) }),
      );
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private lostError(operation: ConsulOperation): Error {
    if (this.consul.faults.unreachable) return consulUnavailable(operation, "unreachable: injected outage");
    return consulUnavailable(operation, "connection lost (agent restarted)");
  }
}

function cancelled(operation: string): SanpathError {
  return new SanpathError("cancelled", `consul ${operation}: cancelled`);
}
