import { KeyedQueue } from "../util/keyed-queue.js";

/**
 * One queue per path: acquire, clean and reconcile of one path never interleave. Counts what is
 * in flight, so that a stop or a fence can wait for the operations it aborted to undo themselves.
 */
export class PathQueue {
  private readonly queue = new KeyedQueue();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    try {
      return await this.queue.run(key, task);
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const wake of waiters) wake();
      }
    }
  }

  /** Waits until no path operation runs, at most `timeoutMs`. */
  async settle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return;
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }
}
