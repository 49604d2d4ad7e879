import type { KvStore } from "../../src/kv/kv-store.js";

/** `kv` with some of its calls replaced (a test's injected failure); every other call goes to `kv`. */
export function overrideKv(kv: KvStore, overrides: Partial<KvStore>): KvStore {
  return {
    get: overrides.get ?? ((key, options) => kv.get(key, options)),
    list: overrides.list ?? ((prefix, options) => kv.list(prefix, options)),
    listIndexed: overrides.listIndexed ?? ((prefix, options) => kv.listIndexed(prefix, options)),
    keys: overrides.keys ?? ((prefix, options) => kv.keys(prefix, options)),
    put: overrides.put ?? ((key, value, options) => kv.put(key, value, options)),
    delete: overrides.delete ?? ((key, options) => kv.delete(key, options)),
    transaction: overrides.transaction ?? ((operations, options) => kv.transaction(operations, options)),
    getBlocking: overrides.getBlocking ?? ((key, options) => kv.getBlocking(key, options)),
    listBlocking: overrides.listBlocking ?? ((prefix, options) => kv.listBlocking(prefix, options)),
    acquire:
      overrides.acquire ?? ((key, session, value, options) => kv.acquire(key, session, value, options)),
    release:
      overrides.release ?? ((key, session, value, options) => kv.release(key, session, value, options)),
  };
}

/** A KvStore whose every call fails with "not used in this test": spread it and replace what a test needs. */
export function unusedKv(): KvStore {
  const unused = (): Promise<never> => Promise.reject(new Error("not used in this test"));
  return {
    get: unused,
    list: unused,
    listIndexed: unused,
    keys: unused,
    put: unused,
    delete: unused,
    transaction: unused,
    getBlocking: unused,
    listBlocking: unused,
    acquire: unused,
    release: unused,
  };
}
