/**
 * The crash guard's lease timer: the decisions only (no process, no clock of its own), so that a
 * test can drive it with a manual clock.
 *
 * sanpathd tells its guard, on every lease renewal a majority granted, the CLOCK_MONOTONIC instant
 * by which its paths must be torn down unless it renews again (`lease-until <ms>`, crash-guard.ts).
 * The timer keeps the newest such deadline (a value not newer than the newest seen is ignored).
 * When the clock reaches it and no newer one came, it calls `onExpired` once for that deadline: a
 * frozen sanpathd (SIGSTOP) cannot act, so the guard tears its paths down in its place. A newer
 * deadline arms it again (sanpathd resumed: it fences and reconciles on its own). cancel() ends it
 * for good (sanpathd stopped to restart: the hand-over has a deadline of its own).
 *
 * extend() postpones an expiry: the guard, told of one, found a later deadline in the lease file
 * (lease-file.ts: sanpathd's lease was renewed, only its lines are late), so the timer waits for
 * that one instead and expires again when it is reached. Only an expiry is postponed: the file
 * never arms the timer, and a newer lease-until line still replaces whatever the timer waits for.
 */

/** Stops a scheduled callback (if it has not run yet). */
export type CancelTimer = () => void;

export interface LeaseExpiry {
  /** The deadline that was reached (CLOCK_MONOTONIC ms). */
  readonly deadlineMs: number;
  /** How far past it the clock was when the timer noticed (≥ 0). */
  readonly lateMs: number;
  /** The deadline came from extend() (the lease file), not from a lease-until line. */
  readonly extended: boolean;
}

export interface LeaseTimerOptions {
  /** CLOCK_MONOTONIC in ms (monotonicNowMs in the guard; a manual clock in tests). */
  now: () => number;
  /** Runs `callback` once after about `delayMs` (setTimeout in the guard). */
  schedule: (callback: () => void, delayMs: number) => CancelTimer;
  /** The newest deadline was reached without a newer one: tear down. */
  onExpired: (expiry: LeaseExpiry) => void;
}

/** What offer() did with a deadline. */
export type LeaseOffer =
  /** The newest deadline; the timer now waits for it (it may already be due: then at once). */
  | { readonly kind: "armed"; readonly deadlineMs: number; readonly afterExpiry: boolean }
  /** Not newer than `newestMs`: ignored. */
  | { readonly kind: "stale"; readonly newestMs: number }
  /** The timer was cancelled: ignored. */
  | { readonly kind: "cancelled" };

/** setTimeout's longest delay; a longer wait is made of several (each re-checks the clock). */
const MAX_TIMER_DELAY_MS = 2_147_483_647;

export class LeaseTimer {
  /** The newest deadline offered (lease-until lines). */
  private newest: number | undefined;
  /** What the timer waits for: `newest`, or the later deadline extend() gave after its expiry. */
  private waitingFor: number | undefined;
  private extended = false;
  private cancelScheduled: CancelTimer | undefined;
  private expired = false;
  private cancelled = false;

  constructor(private readonly options: LeaseTimerOptions) {}

  /** The newest deadline offered (CLOCK_MONOTONIC ms); undefined before the first. */
  get deadlineMs(): number | undefined {
    return this.newest;
  }

  /** True while a deadline is pending (armed, not reached, not cancelled). */
  get armed(): boolean {
    return this.cancelScheduled !== undefined;
  }

  /** A deadline from sanpathd (CLOCK_MONOTONIC ms). */
  offer(deadlineMs: number): LeaseOffer {
    if (this.cancelled) return { kind: "cancelled" };
    if (this.newest !== undefined && !(deadlineMs > this.newest))
      return { kind: "stale", newestMs: this.newest };
    const afterExpiry = this.expired;
    this.newest = deadlineMs;
    this.waitingFor = deadlineMs;
    this.extended = false;
    this.expired = false;
    this.schedule();
    return { kind: "armed", deadlineMs, afterExpiry };
  }

  /**
   * Right after an expiry (no newer deadline offered since, not cancelled): waits for `deadlineMs`
   * (CLOCK_MONOTONIC ms, later than the deadline that expired) instead, as if that expiry had not
   * happened; onExpired again when it is reached. Returns false, and does nothing, otherwise.
   */
  extend(deadlineMs: number): boolean {
    const expiredAt = this.waitingFor;
    if (this.cancelled || !this.expired || expiredAt === undefined || !(deadlineMs > expiredAt)) return false;
    this.waitingFor = deadlineMs;
    this.extended = true;
    this.expired = false;
    this.schedule();
    return true;
  }

  /** No more expiries, whatever comes later (restart-exit, clean-exit, the pipe closed). */
  cancel(): void {
    this.cancelled = true;
    this.cancelScheduled?.();
    this.cancelScheduled = undefined;
  }

  private schedule(): void {
    this.cancelScheduled?.();
    const deadline = this.waitingFor;
    if (deadline === undefined) return;
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, Math.ceil(deadline - this.options.now())));
    this.cancelScheduled = this.options.schedule(() => {
      this.cancelScheduled = undefined;
      this.due(deadline);
    }, delay);
  }

  private due(deadline: number): void {
    if (this.cancelled || this.expired || deadline !== this.waitingFor) return;
    const now = this.options.now();
    // A timer may run a little early (its clock has a coarser tick), or the wait was capped.
    if (now < deadline) {
      this.schedule();
      return;
    }
    this.expired = true;
    this.options.onExpired({ deadlineMs: deadline, lateMs: now - deadline, extended: this.extended });
  }
}
