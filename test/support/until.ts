/**
 * Polling for something a test waits on: a value to appear (`until`) or a condition to hold
 * (`untilTrue`).
 *
 * The first probe runs at once; later ones every `intervalMs` while the deadline has not passed,
 * so no probe starts after `timeoutMs`. On timeout the test fails with "timed out after N ms
 * waiting for <what>" (and the last error, when probe errors are retried).
 *
 *   const session = await until("a session", () => recorder.sessions[0]);
 *   await untilTrue("the guard exits", () => !isRunning(pid), { timeoutMs: 5000, intervalMs: 20 });
 */
import { setTimeout as sleep } from "node:timers/promises";

export interface UntilOptions {
  /** How long to keep probing; default 20 s. */
  readonly timeoutMs?: number;
  /** Pause between probes; default 50 ms. */
  readonly intervalMs?: number;
  /**
   * A probe that throws counts as "not yet" and is probed again (the last error is reported on
   * timeout). By default a throwing probe fails the wait at once.
   */
  readonly retryErrors?: boolean;
}

/** A bare number is the timeout in ms. */
export type UntilLimits = UntilOptions | number;

const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_INTERVAL_MS = 50;

/** Probes until `probe` gives something other than undefined, and returns that. */
export async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  limits: UntilLimits = {},
): Promise<T> {
  const options = typeof limits === "number" ? { timeoutMs: limits } : limits;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      if (options.retryErrors !== true) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await sleep(intervalMs);
    if (Date.now() >= deadline) break;
  }
  const why = lastError instanceof Error ? `: ${lastError.message}` : "";
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`, { cause: lastError });
}

/** Probes until `check` holds. */
export async function untilTrue(
  what: string,
  check: () => boolean | Promise<boolean>,
  limits: UntilLimits = {},
): Promise<void> {
  await until(what, async () => ((await check()) ? true : undefined), limits);
}
