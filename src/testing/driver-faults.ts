/**
 * Call recording and injected faults for the in-memory driver fakes (InMemoryTargetDriver,
 * InMemoryNetworkDriver), for unit tests of the node agent:
 *
 *   driver.faults.failNext("enablePortal", new SanpathError("internal", "boom"), 2);
 *   driver.faults.hangNext("disablePortal");   // waits until the call's AbortSignal aborts
 *   await driver.faults.waitForHanging(1);     // the call has reached the fake and is stuck
 *   driver.faults.release();                   // or let the stuck calls go on
 *   expect(driver.faults.callsOf("addAddress")).toHaveLength(1);
 *
 * A failed or given-up call changes nothing (it never reached the service). Rules apply in the
 * order they were added; each counts down the calls it took.
 */
import { SanpathError } from "../errors/sanpath-error.js";

export interface DriverCall<M extends string> {
  readonly method: M;
  /** The request as given (a structured clone: later changes by the caller do not show). */
  readonly args: readonly unknown[];
}

export type InjectedError<M extends string> = Error | ((method: M) => Error);

type Action<M extends string> = { kind: "fail"; error: InjectedError<M> } | { kind: "hang" };

interface Rule<M extends string> {
  readonly method: M;
  remaining: number;
  readonly action: Action<M>;
}

interface Hung {
  readonly release: () => void;
}

/** What a call that stopped waiting is rejected with (each fake mirrors its real adapter). */
export type AbortErrorFactory<M extends string> = (signal: AbortSignal, method: M) => Error;

export class DriverFaults<M extends string> {
  private readonly recorded: DriverCall<M>[] = [];
  private rules: Rule<M>[] = [];
  private readonly hung = new Set<Hung>();
  private hangWatchers: (() => void)[] = [];

  constructor(private readonly abortError: AbortErrorFactory<M>) {}

  /** Every call that passed validation, in order. */
  get calls(): readonly DriverCall<M>[] {
    return this.recorded;
  }

  callsOf(method: M): DriverCall<M>[] {
    return this.recorded.filter((call) => call.method === method);
  }

  /**
   * The next `times` calls of `method` fail with `error` (default: an "internal" DRIVER_FAILED
   * SanpathError, like a target or network command that failed).
   */
  failNext(method: M, error?: InjectedError<M>, times = 1): void {
    this.rules.push({
      method,
      remaining: times,
      action: { kind: "fail", error: error ?? injectedFailure },
    });
  }

  /**
   * The next `times` calls of `method` hang: until their AbortSignal aborts (they then reject as
   * the real adapter does for a caller that gave up), or until release() (they then go on).
   */
  hangNext(method: M, times = 1): void {
    this.rules.push({ method, remaining: times, action: { kind: "hang" } });
  }

  /** How many calls are hanging now. */
  get hanging(): number {
    return this.hung.size;
  }

  /** Resolves once at least `count` calls are hanging. */
  async waitForHanging(count = 1): Promise<void> {
    while (this.hung.size < count) {
      await new Promise<void>((resolve) => this.hangWatchers.push(resolve));
    }
  }

  /** Lets every hanging call go on (as if the service answered at last). */
  release(): void {
    for (const hung of [...this.hung]) hung.release();
  }

  /** Forgets the rules not used up yet (hanging calls stay hanging). */
  clearFaults(): void {
    this.rules = [];
  }

  clearCalls(): void {
    this.recorded.length = 0;
  }

  /**
   * Called by a fake at the start of each call, after validation: records the call, rejects when
   * the caller already gave up, then applies the first rule for `method` (throws or hangs).
   */
  async enter(method: M, args: readonly unknown[], signal: AbortSignal | undefined): Promise<void> {
    this.recorded.push({ method, args: structuredClone(args) });
    if (signal?.aborted === true) throw this.abortError(signal, method);
    const rule = this.rules.find((candidate) => candidate.method === method && candidate.remaining > 0);
    if (rule === undefined) return;
    rule.remaining -= 1;
    this.rules = this.rules.filter((candidate) => candidate.remaining > 0);
    if (rule.action.kind === "fail") {
      const error = rule.action.error;
      throw typeof error === "function" ? error(method) : error;
    }
    await this.hang(method, signal);
  }

  private hang(method: M, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        if (signal === undefined) return;
        settle();
        reject(this.abortError(signal, method));
      };
      const hung: Hung = {
        release: () => {
          settle();
          resolve();
        },
      };
      const settle = (): void => {
        this.hung.delete(hung);
        signal?.removeEventListener("abort", onAbort);
      };
      this.hung.add(hung);
      signal?.addEventListener("abort", onAbort, { once: true });
      const watchers = this.hangWatchers;
      this.hangWatchers = [];
      for (const wake of watchers) wake();
    });
  }
}

function injectedFailure(method: string): Error {
  return new SanpathError("internal", `${method}: injected failure`, { reason: "DRIVER_FAILED" });
}
