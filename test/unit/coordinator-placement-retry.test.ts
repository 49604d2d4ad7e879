import { describe, expect, it } from "vitest";
import {
  backOffMs,
  nextRetry,
  type PathRetry,
  type PlacementRetryPolicy,
} from "../../src/coordinator/placement-retry.js";

const policy: PlacementRetryPolicy = { lockDelayMs: 5000, marginMs: 50, fastRetryMs: 100, fastRetries: 3 };

describe("placement retry: a path in its lock-delay is tried again when it ends", () => {
  it("a refusal during the lock-delay schedules the retry at noticed-free + lock-delay + margin, whenever it came", () => {
    const freeSince = 1_000_000;
    for (const refusedAt of [freeSince + 5, freeSince + 1200, freeSince + 4900]) {
      expect(nextRetry(undefined, "held-elsewhere", refusedAt, freeSince, policy)).toEqual({
        kind: "lock-delay-end",
        retryAt: freeSince + 5050,
        failures: 0,
        fastRetries: 0,
      });
    }
  });

  it("still refused after the lock-delay: a few short retries, then back-off", () => {
    const freeSince = 0;
    let retry: PathRetry | undefined = nextRetry(undefined, "held-elsewhere", 10, freeSince, policy);
    let now = retry.retryAt;
    const kinds: string[] = [];
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      retry = nextRetry(retry, "held-elsewhere", now, freeSince, policy);
      kinds.push(retry.kind);
      waits.push(retry.retryAt - now);
      now = retry.retryAt;
    }
    expect(kinds).toEqual(["fast", "fast", "fast", "back-off", "back-off", "back-off"]);
    expect(waits).toEqual([100, 100, 100, 200, 400, 800]);
  });

  it("other failures back off (200 ms doubling, at most 2 s), lock-delay or not", () => {
    let retry: PathRetry | undefined;
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      retry = nextRetry(retry, "failed", 100, 0, policy);
      waits.push(retry.retryAt - 100);
      expect(retry.kind).toBe("back-off");
    }
    expect(waits).toEqual([200, 400, 800, 1600, 2000, 2000, 2000]);
    expect(backOffMs(0)).toBe(200);
  });

  it("a path noticed free long ago (a new coordinator) is retried shortly, not a lock-delay later", () => {
    const retry = nextRetry(undefined, "held-elsewhere", 60_000, 0, policy);
    expect(retry).toMatchObject({ kind: "fast", retryAt: 60_100 });
  });
});
