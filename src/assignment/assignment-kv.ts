import type { BlockingKeyResult, CallOptions, KvEntry } from "../consul/consul-client.js";
import type { KvOperation, TransactionResult } from "../consul/transaction.js";

export type { BlockingKeyResult, KvEntry, KvOperation, TransactionResult };

/** Entries under a prefix with Consul's index of the state read. */
export interface IndexedEntries {
  readonly index: number;
  readonly entries: KvEntry[];
}

/**
 * The key-value operations path assignment needs (cluster state, jobs, event logs). The Consul
 * adapter (consul-assignment-kv.ts) is the only production implementation.
 *
 * `transaction` is all-or-nothing for up to 64 operations; a refused check or CAS throws
 * TransactionConflictError (src/consul/transaction.ts) with the failing operation's index.
 */
export interface AssignmentKv {
  get(key: string, options?: CallOptions): Promise<KvEntry | undefined>;
  /** Every entry under `prefix`, recursively. */
  list(prefix: string, options?: CallOptions): Promise<KvEntry[]>;
  /** Like list, with the X-Consul-Index of the answer (changes with any write under the prefix). */
  listIndexed(prefix: string, options?: CallOptions): Promise<IndexedEntries>;
  /** Key names under `prefix`. */
  keys(prefix: string, options?: CallOptions): Promise<string[]>;
  /** Blocking read of one key: answers when Consul's index passes `index` or after `waitSeconds`. */
  getBlocking(
    key: string,
    options: { index: number; waitSeconds: number; signal?: AbortSignal },
  ): Promise<BlockingKeyResult>;
  transaction(operations: readonly KvOperation[], options?: CallOptions): Promise<TransactionResult>;
  /** Ids of every session Consul holds now (a node whose session is here is alive). */
  liveSessions(options?: CallOptions): Promise<Set<string>>;
}
