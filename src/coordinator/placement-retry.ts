/**
 * When the placement loop tries a free path again after a node refused or failed to acquire it.
 *
 * A path whose holder's session ended (the node died) is refused by Consul for the session's
 * lock-delay, counted from the invalidation. The coordinator noticed the path free no earlier than
 * that (the watch answers after the change), so `freeSince + lockDelay` is never before the real
 * end: the retry of a path refused as held elsewhere is scheduled there, plus a small margin. If
 * it is still refused then (the freeing change came a little after the moment taken as freeSince,
 * or the holder's session had a longer lock-delay), a few short retries follow. Any other failure,
 * and a path still refused after those, backs off exponentially.
 */

export interface PlacementRetryPolicy {
  /** The node sessions' lock-delay (ms). */
  readonly lockDelayMs: number;
  /** Added to the estimated end of the lock-delay (ms). */
  readonly marginMs: number;
  /** Pause between the short retries after the lock-delay's end (ms). */
  readonly fastRetryMs: number;
  /** How many short retries before falling back to back-off. */
  readonly fastRetries: number;
}

export const DEFAULT_RETRY_TUNING: Omit<PlacementRetryPolicy, "lockDelayMs"> = {
  marginMs: 50,
  fastRetryMs: 100,
  fastRetries: 5,
};

/** Why the last try did not place the path. */
export type Refusal =
  /** The node answered PATH_HELD_ELSEWHERE: another session holds the lock, or it is in its lock-delay. */
  | "held-elsewhere"
  /** Anything else: the node failed, timed out, or no node could be chosen. */
  | "failed";

export type RetryKind = "lock-delay-end" | "fast" | "back-off";

export interface PathRetry {
  readonly kind: RetryKind;
  /** Not before this time (ms since epoch). */
  readonly retryAt: number;
  /** Failures counted for the back-off. */
  readonly failures: number;
  /** Short retries used since the lock-delay's end. */
  readonly fastRetries: number;
}

/** Back-off after `failures` failures: 200 ms doubling up to 2 s. */
export function backOffMs(failures: number): number {
  return Math.min(2000, 100 * 2 ** Math.min(Math.max(failures, 1), 5));
}

/**
 * The next try of a path after `refusal` at `now`. `freeSince` is when the coordinator first
 * noticed the path free (ms since epoch); `previous` is the path's retry state before this try.
 */
export function nextRetry(
  previous: PathRetry | undefined,
  refusal: Refusal,
  now: number,
  freeSince: number,
  policy: PlacementRetryPolicy,
): PathRetry {
  const failures = previous?.failures ?? 0;
  const fastRetries = previous?.fastRetries ?? 0;
  if (refusal === "held-elsewhere") {
    const lockDelayEnd = freeSince + policy.lockDelayMs + policy.marginMs;
    if (now < lockDelayEnd)
      return { kind: "lock-delay-end", retryAt: lockDelayEnd, failures, fastRetries: 0 };
    if (fastRetries < policy.fastRetries) {
      return { kind: "fast", retryAt: now + policy.fastRetryMs, failures, fastRetries: fastRetries + 1 };
    }
  }
  return { kind: "back-off", retryAt: now + backOffMs(failures + 1), failures: failures + 1, fastRetries };
}
