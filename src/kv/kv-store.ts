import type { CallOptions } from "../util/call-options.js";

/** One KV entry: the value is decoded as UTF-8 ("" when the store holds null). */
export interface KvEntry {
  key: string;
  value: string;
  flags: number;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
  /** The session holding the key's lock, if any. */
  session?: string;
}

export interface BlockingOptions {
  /** The index of the previous answer; 0 = answer at once. */
  index: number;
  /** How long the store may hold the request (1..600 s). */
  waitSeconds: number;
  signal?: AbortSignal;
}

/** Where a blocking answer leaves the index. */
export interface BlockingIndex {
  /**
   * The index to pass to the next call. 0 when the store's index went backwards (agent restarted,
   * state restored): the next call then answers at once with a fresh index.
   */
  index: number;
  /** True when the index went backwards (see `index`). */
  reset: boolean;
}

export interface BlockingKeyResult extends BlockingIndex {
  /** undefined while the key does not exist. */
  entry: KvEntry | undefined;
}

export interface BlockingListResult extends BlockingIndex {
  entries: KvEntry[];
}

/** Entries under a prefix with the store's index of the state read. */
export interface IndexedEntries {
  readonly index: number;
  readonly entries: KvEntry[];
}

/** The store refuses transactions with more operations than this (Consul's limit). */
export const MAX_OPS_PER_TRANSACTION = 64;

/** One KV operation of a transaction. Values are UTF-8 text. */
export type KvOperation =
  /** Write the key. */
  | { verb: "set"; key: string; value: string; flags?: number }
  /** Write the key only if its ModifyIndex is `index` (0 = only if absent). */
  | { verb: "cas"; key: string; value: string; index: number; flags?: number }
  | { verb: "delete"; key: string }
  /** Delete every key under the prefix. */
  | { verb: "delete-tree"; key: string }
  /** Delete the key only if its ModifyIndex is `index`. */
  | { verb: "delete-cas"; key: string; index: number }
  /** Fail unless the key exists with ModifyIndex `index`. */
  | { verb: "check-index"; key: string; index: number }
  /** Fail if the key exists. */
  | { verb: "check-not-exists"; key: string }
  /** Fail unless `session` holds the key's lock. */
  | { verb: "check-session"; key: string; session: string }
  /** Read the key (fails if absent); its entry is in the results. */
  | { verb: "get"; key: string }
  /** Acquire the key for `session` and write it. */
  | { verb: "lock"; key: string; value: string; session: string; flags?: number }
  /** Release the key held by `session` and write it (no lock-delay). */
  | { verb: "unlock"; key: string; value: string; session: string; flags?: number };

export interface TransactionResult {
  /**
   * One slot per operation, in order: the entry the store returned for it (with its value for "get";
   * set/cas/lock/unlock/check-index/check-session return the entry's indexes with an empty value),
   * undefined for operations that return nothing (delete*, check-not-exists).
   */
  results: (KvEntry | undefined)[];
}

/**
 * The key-value store sanpath keeps its cluster state in (Consul's KV in production:
 * src/consul/consul-kv-store.ts; an in-memory store with the same semantics for unit tests). Keys
 * are relative ("PetaSAN/Disks/00001"): never empty, never starting with "/".
 *
 * Every call takes an AbortSignal and a deadline. A store that cannot be reached fails with
 * SanpathError "unavailable" (reason CONSUL_UNAVAILABLE).
 */
export interface KvStore {
  get(key: string, options?: CallOptions): Promise<KvEntry | undefined>;
  /** Every entry whose key starts with `prefix` (recursive). */
  list(prefix: string, options?: CallOptions): Promise<KvEntry[]>;
  /** Like list, with the store's index of the answer (changes with any write under the prefix). */
  listIndexed(prefix: string, options?: CallOptions): Promise<IndexedEntries>;
  /** Key names under `prefix`; with a separator, only up to the next separator (like a folder list). */
  keys(prefix: string, options?: CallOptions & { separator?: string }): Promise<string[]>;
  /**
   * Writes a key. With `cas`, only when its ModifyIndex still equals cas (0 = only if absent).
   * False when the CAS failed.
   */
  put(key: string, value: string, options?: CallOptions & { cas?: number; flags?: number }): Promise<boolean>;
  /** Deletes a key (or, with recurse, every key under the prefix). With `cas`, only at that ModifyIndex. */
  delete(key: string, options?: CallOptions & { cas?: number; recurse?: boolean }): Promise<boolean>;
  /**
   * Up to 64 operations are all-or-nothing; a longer list runs in chunks of 64, one after the other
   * (a failing chunk is rolled back, the ones before it stay). A refused check or CAS throws
   * TransactionConflictError (transaction-conflict.ts) with the failing operation's index.
   */
  transaction(operations: readonly KvOperation[], options?: CallOptions): Promise<TransactionResult>;
  /** Blocking read of one key: answers when the index passes `index` or after `waitSeconds`. */
  getBlocking(key: string, options: BlockingOptions): Promise<BlockingKeyResult>;
  /** Blocking read of a prefix (recursive); see getBlocking. */
  listBlocking(prefix: string, options: BlockingOptions): Promise<BlockingListResult>;
  /**
   * Acquires `key` for `sessionId` and writes `value`. False when another session holds it or the
   * key is in its lock-delay after the previous holder's session ended. Re-acquiring a key the
   * session already holds succeeds (and rewrites the value). Throws InvalidSessionError
   * (invalid-session.ts) when the session does not exist.
   */
  acquire(
    key: string,
    sessionId: string,
    value: string,
    options?: CallOptions & { flags?: number },
  ): Promise<boolean>;
  /**
   * Releases `key` if `sessionId` holds it and replaces its value (an explicit release: no
   * lock-delay). False when the session does not hold the key.
   */
  release(key: string, sessionId: string, value: string, options?: CallOptions): Promise<boolean>;
}
