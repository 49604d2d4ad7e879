/**
 * The time an in-memory fake runs on: session TTLs, lock-delays and blocking-query timeouts. Tests
 * use ManualClock (time moves only when the test says so: a 600 s blocking query times out in
 * microseconds); benchmarks and demos use SystemClock.
 */
export interface FakeClock {
  /** Milliseconds on this clock's own scale (only differences matter). */
  now(): number;
  /**
   * Runs `callback` once the clock reaches `atMs` (at once, in a later tick, when it already has).
   * Returns a function that cancels it. `background` timers must not keep a process alive.
   */
  setTimerAt(atMs: number, callback: () => void, options?: { background?: boolean }): () => void;
}

interface PendingTimer {
  at: number;
  seq: number;
  callback: () => void;
}

/**
 * A clock that stands still until `advance`. Timers fire in due order during `advance`, each seeing
 * `now()` equal to its due time; timers a callback sets within the advanced span fire too.
 */
export class ManualClock implements FakeClock {
  private current: number;
  private seq = 0;
  private timers: PendingTimer[] = [];

  constructor(startMs = 1_000_000) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimerAt(atMs: number, callback: () => void): () => void {
    const timer: PendingTimer = { at: atMs, seq: this.seq++, callback };
    if (atMs <= this.current) {
      // Due already: fire asynchronously, like a zero timeout, unless cancelled first.
      let cancelled = false;
      queueMicrotask(() => {
        if (!cancelled) callback();
      });
      return () => {
        cancelled = true;
      };
    }
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((pending) => pending !== timer);
    };
  }

  /** Moves the clock forward by `ms` (>= 0), firing every timer that falls due on the way. */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advance needs a finite ms >= 0, got ${ms}`);
    const target = this.current + ms;
    for (;;) {
      const next = this.nextDue(target);
      if (next === undefined) break;
      this.timers = this.timers.filter((pending) => pending !== next);
      this.current = Math.max(this.current, next.at);
      next.callback();
    }
    this.current = target;
  }

  /** Moves the clock forward by `ms` and lets the promises the fired timers settled run on. */
  async advanceAndSettle(ms: number): Promise<void> {
    this.advance(ms);
    await settle();
  }

  /** How many timers wait to fire (a blocking query that has not answered has one). */
  pendingTimers(): number {
    return this.timers.length;
  }

  private nextDue(target: number): PendingTimer | undefined {
    let next: PendingTimer | undefined;
    for (const timer of this.timers) {
      if (timer.at > target) continue;
      if (next === undefined || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq)) {
        next = timer;
      }
    }
    return next;
  }
}

/** Real time (performance.now), with real timers. */
export class SystemClock implements FakeClock {
  now(): number {
    return performance.now();
  }

  setTimerAt(atMs: number, callback: () => void, options: { background?: boolean } = {}): () => void {
    const timer = setTimeout(callback, Math.max(0, atMs - this.now()));
    if (options.background === true) timer.unref();
    return () => {
      clearTimeout(timer);
    };
  }
}

/** Lets queued promise callbacks and immediate timers run (a few turns of the event loop). */
export async function settle(turns = 3): Promise<void> {
  for (let turn = 0; turn < turns; turn += 1) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
