import { setTimeout as sleep } from "node:timers/promises";

/** Waits `ms`; resolves false instead when `signal` is (or becomes) aborted. */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/**
 * Exponential back-off with jitter for the `attempt`th retry (1, 2, …): the ceiling doubles from
 * `minMs` up to `maxMs`, and the wait is between half the ceiling and the ceiling.
 */
export function jitteredBackoffMs(attempt: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
