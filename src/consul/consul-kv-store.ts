import { checkKey, checkWriteOptions } from "../kv/key-rules.js";
import { InvalidSessionError } from "../kv/invalid-session.js";
import type {
  BlockingKeyResult,
  BlockingListResult,
  BlockingOptions,
  IndexedEntries,
  KvEntry,
  KvOperation,
  KvStore,
  TransactionResult,
} from "../kv/kv-store.js";
import type { CallOptions } from "../util/call-options.js";
import { consulUnavailable, type ConsulClient } from "./consul-client.js";
import { runTransaction } from "./transaction.js";

/** KvStore over a real Consul agent's KV API. */
export class ConsulKvStore implements KvStore {
  constructor(readonly client: ConsulClient) {}

  get(key: string, options?: CallOptions): Promise<KvEntry | undefined> {
    return this.client.get(key, options);
  }

  list(prefix: string, options?: CallOptions): Promise<KvEntry[]> {
    return this.client.list(prefix, options);
  }

  async listIndexed(prefix: string, options: CallOptions = {}): Promise<IndexedEntries> {
    // A blocking read at index 0 answers at once, with the index of the state it read.
    const { index, entries } = await this.client.listBlocking(prefix, {
      index: 0,
      waitSeconds: 1,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    return { index, entries };
  }

  keys(prefix: string, options?: CallOptions & { separator?: string }): Promise<string[]> {
    return this.client.keys(prefix, options);
  }

  put(
    key: string,
    value: string,
    options?: CallOptions & { cas?: number; flags?: number },
  ): Promise<boolean> {
    return this.client.put(key, value, options);
  }

  delete(key: string, options?: CallOptions & { cas?: number; recurse?: boolean }): Promise<boolean> {
    return this.client.delete(key, options);
  }

  transaction(operations: readonly KvOperation[], options?: CallOptions): Promise<TransactionResult> {
    return runTransaction(this.client, operations, options);
  }

  getBlocking(key: string, options: BlockingOptions): Promise<BlockingKeyResult> {
    return this.client.getBlocking(key, options);
  }

  listBlocking(prefix: string, options: BlockingOptions): Promise<BlockingListResult> {
    return this.client.listBlocking(prefix, options);
  }

  async acquire(
    key: string,
    sessionId: string,
    value: string,
    options: CallOptions & { flags?: number } = {},
  ): Promise<boolean> {
    checkKey(key);
    checkWriteOptions(options);
    const outcome = await this.client.callAccepting("lock.acquire", options, [500], (raw, common) =>
      raw.kv.set({
        ...common,
        key,
        value,
        acquire: sessionId,
        ...(options.flags === undefined ? {} : { flags: options.flags }),
      }),
    );
    if (outcome.ok) return outcome.value === true;
    const { rejection } = outcome;
    if (/invalid session|session lookup/i.test(`${rejection.message} ${bodyText(rejection.body)}`)) {
      throw new InvalidSessionError("lock.acquire", sessionId, rejection);
    }
    throw consulUnavailable("lock.acquire", `answered 500: ${rejection.message}`, rejection);
  }

  async release(key: string, sessionId: string, value: string, options: CallOptions = {}): Promise<boolean> {
    checkKey(key);
    const result = await this.client.call("lock.release", options, (raw, common) =>
      raw.kv.set({ ...common, key, value, release: sessionId }),
    );
    return result === true;
  }
}

function bodyText(body: unknown): string {
  if (typeof body === "string") return body;
  if (Buffer.isBuffer(body)) return body.toString("utf8");
  return "";
}
