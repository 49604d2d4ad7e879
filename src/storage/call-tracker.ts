import { storeClosed } from "./store-rules.js";

/** Counts a store's calls in flight so that close() can wait for them and refuse new ones. */
export class CallTracker {
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly kind: string) {}

  /** Runs `call` unless the store is closed (then rejects with `unavailable`). */
  async run<T>(what: string, call: () => Promise<T>): Promise<T> {
    if (this.closed) throw storeClosed(this.kind, what);
    const promise = call();
    this.running.add(promise);
    try {
      return await promise;
    } finally {
      this.running.delete(promise);
    }
  }

  /** Refuses new calls and waits until the running ones have settled. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.running]);
  }
}
