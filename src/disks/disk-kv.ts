import type { CallOptions, KvEntry } from "../consul/consul-client.js";
import type { KvOperation, TransactionResult } from "../consul/transaction.js";

export type { KvEntry, KvOperation, TransactionResult };

/**
 * The key-value operations disk management needs. The Consul adapter (consul-disk-kv.ts) is the
 * only implementation in production; tests wrap it to inject failures at a chosen step.
 *
 * `transaction` is all-or-nothing for up to 64 operations; a refused check or CAS throws
 * TransactionConflictError (from src/consul/transaction.ts) with the failing operation's index.
 */
export interface DiskKv {
  get(key: string, options?: CallOptions): Promise<KvEntry | undefined>;
  /** Every entry under `prefix`, recursively. */
  list(prefix: string, options?: CallOptions): Promise<KvEntry[]>;
  transaction(operations: readonly KvOperation[], options?: CallOptions): Promise<TransactionResult>;
}
