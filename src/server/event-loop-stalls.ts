import type { Logger } from "../log/logger.js";

export interface EventLoopStallsOptions {
  logger: Logger;
  /** A stall at least this long is logged (ms, default 300). */
  thresholdMs?: number;
  /** How often the loop is looked at (ms, default 100). */
  tickMs?: number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
}

/**
 * Logs each time the event loop was blocked for thresholdMs or more (a timer that fires that much
 * late). gRPC calls, path work, placement and Consul session renews wait on this loop (the peer
 * lease does not: src/lease-worker/ runs it on a thread of its own); a stall is what makes calls
 * late and moves slow, and this warning says when and how long. `stalls` counts them for Status
 * and tests.
 */
export class EventLoopStalls {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private count = 0;
  private longestMs = 0;
  private readonly now: () => number;

  constructor(private readonly options: EventLoopStallsOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  get stalls(): number {
    return this.count;
  }

  get longestStallMs(): number {
    return this.longestMs;
  }

  start(): void {
    if (this.timer !== undefined) return;
    const tickMs = this.options.tickMs ?? 100;
    const thresholdMs = this.options.thresholdMs ?? 300;
    this.last = this.now();
    this.timer = setInterval(() => {
      const now = this.now();
      const lateMs = now - this.last - tickMs;
      this.last = now;
      if (lateMs < thresholdMs) return;
      this.count += 1;
      this.longestMs = Math.max(this.longestMs, lateMs);
      this.options.logger.warn(
        { blockedMs: Math.round(lateMs), stalls: this.count },
        "event loop blocked: calls, path work and Consul renews waited",
      );
    }, tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
