import { describe, expect, it } from "vitest";
import { LeaseTimer, type LeaseExpiry } from "../../src/crash-guard/lease-timer.js";
import { ManualClock, settle } from "../../src/testing/manual-clock.js";

function setUp(clock = new ManualClock(5_000)) {
  const expiries: LeaseExpiry[] = [];
  const timer = new LeaseTimer({
    now: () => clock.now(),
    schedule: (callback, delayMs) => clock.setTimerAt(clock.now() + delayMs, callback),
    onExpired: (expiry) => expiries.push(expiry),
  });
  return { clock, timer, expiries };
}

describe("crash guard lease timer", () => {
  it("waits for nothing until a first deadline comes", async () => {
    const { clock, timer, expiries } = setUp();
    expect(timer.armed).toBe(false);
    expect(timer.deadlineMs).toBeUndefined();
    await clock.advanceAndSettle(10 * 3_600_000);
    expect(expiries).toEqual([]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("tears down once when the newest deadline is reached, with how late", async () => {
    const { clock, timer, expiries } = setUp();
    expect(timer.offer(5_300)).toEqual({ kind: "armed", deadlineMs: 5_300, afterExpiry: false });
    expect(timer.armed).toBe(true);
    await clock.advanceAndSettle(299);
    expect(expiries).toEqual([]);
    await clock.advanceAndSettle(1);
    expect(expiries).toEqual([{ deadlineMs: 5_300, lateMs: 0, extended: false }]);
    expect(timer.armed).toBe(false);
    await clock.advanceAndSettle(60_000);
    expect(expiries).toHaveLength(1);
  });

  it("a newer deadline replaces the pending one (only the newest has a timer)", async () => {
    const { clock, timer, expiries } = setUp();
    timer.offer(5_250);
    await clock.advanceAndSettle(200);
    expect(timer.offer(5_450).kind).toBe("armed");
    expect(clock.pendingTimers()).toBe(1);
    await clock.advanceAndSettle(100); // past the first deadline
    expect(expiries).toEqual([]);
    await clock.advanceAndSettle(150);
    expect(expiries).toEqual([{ deadlineMs: 5_450, lateMs: 0, extended: false }]);
  });

  it("ignores a deadline not newer than the newest, before and after an expiry", async () => {
    const { clock, timer, expiries } = setUp();
    timer.offer(5_300);
    expect(timer.offer(5_300)).toEqual({ kind: "stale", newestMs: 5_300 });
    expect(timer.offer(5_100)).toEqual({ kind: "stale", newestMs: 5_300 });
    expect(timer.deadlineMs).toBe(5_300);
    await clock.advanceAndSettle(300);
    expect(expiries).toHaveLength(1);
    // A late renewal for an older deadline does not re-arm, nor tear down again.
    expect(timer.offer(5_200)).toEqual({ kind: "stale", newestMs: 5_300 });
    await clock.advanceAndSettle(1_000);
    expect(expiries).toHaveLength(1);
  });

  it("re-arms after an expiry on a newer deadline, and expires again once per deadline", async () => {
    const { clock, timer, expiries } = setUp();
    timer.offer(5_100);
    await clock.advanceAndSettle(400); // frozen for a while: 300 ms late when it resumes
    expect(expiries).toEqual([{ deadlineMs: 5_100, lateMs: 0, extended: false }]);
    expect(timer.offer(5_700)).toEqual({ kind: "armed", deadlineMs: 5_700, afterExpiry: true });
    expect(timer.offer(5_800)).toEqual({ kind: "armed", deadlineMs: 5_800, afterExpiry: false });
    await clock.advanceAndSettle(399);
    expect(expiries).toHaveLength(1);
    await clock.advanceAndSettle(1);
    expect(expiries).toEqual([
      { deadlineMs: 5_100, lateMs: 0, extended: false },
      { deadlineMs: 5_800, lateMs: 0, extended: false },
    ]);
  });

  it("a deadline already in the past tears down at once (in a later tick, not in the call)", async () => {
    const { timer, expiries } = setUp();
    timer.offer(4_000);
    expect(expiries).toEqual([]);
    await settle();
    expect(expiries).toEqual([{ deadlineMs: 4_000, lateMs: 1_000, extended: false }]);
  });

  it("cancel() ends it for good: no expiry, later deadlines ignored (restart-exit)", async () => {
    const { clock, timer, expiries } = setUp();
    timer.offer(5_300);
    timer.cancel();
    expect(timer.armed).toBe(false);
    expect(clock.pendingTimers()).toBe(0);
    expect(timer.offer(9_000)).toEqual({ kind: "cancelled" });
    await clock.advanceAndSettle(60_000);
    expect(expiries).toEqual([]);
  });

  it("a timer that runs early (coarser clock) or a capped wait is scheduled again, not an expiry", () => {
    let now = 0;
    const scheduled: { callback: () => void; delayMs: number }[] = [];
    const expiries: LeaseExpiry[] = [];
    const timer = new LeaseTimer({
      now: () => now,
      schedule: (callback, delayMs) => {
        scheduled.push({ callback, delayMs });
        return () => undefined;
      },
      onExpired: (expiry) => expiries.push(expiry),
    });
    timer.offer(100.4);
    expect(scheduled.map((entry) => entry.delayMs)).toEqual([101]);
    now = 99.9; // fires 0.5 ms early
    scheduled[0]?.callback();
    expect(expiries).toEqual([]);
    expect(scheduled[1]?.delayMs).toBe(1);
    now = 100.9;
    scheduled[1]?.callback();
    expect(expiries).toHaveLength(1);
    expect(expiries[0]?.deadlineMs).toBe(100.4);
    expect(expiries[0]?.lateMs).toBeCloseTo(0.5);

    // Beyond setTimeout's longest delay (24.8 days): capped, checked again when it runs.
    const far = 100 + 40 * 86_400_000;
    timer.offer(far);
    expect(scheduled[2]?.delayMs).toBe(2_147_483_647);
    now += 2_147_483_647;
    scheduled[2]?.callback();
    expect(expiries).toHaveLength(1);
    expect(scheduled[3]?.delayMs).toBe(Math.ceil(far - now));
  });

  it("a superseded timer that still runs does nothing", () => {
    let now = 0;
    const scheduled: (() => void)[] = [];
    const expiries: LeaseExpiry[] = [];
    const timer = new LeaseTimer({
      now: () => now,
      // A cancel that comes too late: the callback runs anyway.
      schedule: (callback) => {
        scheduled.push(callback);
        return () => undefined;
      },
      onExpired: (expiry) => expiries.push(expiry),
    });
    timer.offer(100);
    timer.offer(200);
    now = 150;
    scheduled[0]?.();
    expect(expiries).toEqual([]);
    now = 200;
    scheduled[1]?.();
    scheduled[1]?.();
    expect(expiries).toEqual([{ deadlineMs: 200, lateMs: 0, extended: false }]);
  });

  it("extend() right after an expiry waits for the later deadline instead, and can do so again", async () => {
    const { clock, timer, expiries } = setUp();
    timer.offer(5_300);
    await clock.advanceAndSettle(300);
    expect(expiries).toEqual([{ deadlineMs: 5_300, lateMs: 0, extended: false }]);
    expect(timer.extend(5_800)).toBe(true);
    expect(timer.armed).toBe(true);
    // The newest line's deadline is still what a line is compared with.
    expect(timer.deadlineMs).toBe(5_300);
    await clock.advanceAndSettle(499);
    expect(expiries).toHaveLength(1);
    await clock.advanceAndSettle(1);
    expect(expiries).toEqual([
      { deadlineMs: 5_300, lateMs: 0, extended: false },
      { deadlineMs: 5_800, lateMs: 0, extended: true },
    ]);
    expect(timer.extend(6_000)).toBe(true);
    await clock.advanceAndSettle(200);
    expect(expiries).toHaveLength(3);
    expect(expiries[2]).toEqual({ deadlineMs: 6_000, lateMs: 0, extended: true });
    // Not extended again: it stays expired.
    await clock.advanceAndSettle(60_000);
    expect(expiries).toHaveLength(3);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("extend() does nothing unless the timer just expired, or to a deadline not later than the expired one", async () => {
    const { clock, timer, expiries } = setUp();
    expect(timer.extend(9_000)).toBe(false); // nothing offered: the file never arms the timer
    expect(clock.pendingTimers()).toBe(0);
    timer.offer(5_300);
    expect(timer.extend(9_000)).toBe(false); // armed, not expired
    await clock.advanceAndSettle(300);
    expect(timer.extend(5_300)).toBe(false);
    expect(timer.extend(5_200)).toBe(false);
    expect(timer.armed).toBe(false);
    // A newer line came before the file was read: the line rules.
    timer.offer(5_500);
    expect(timer.extend(9_000)).toBe(false);
    await clock.advanceAndSettle(200);
    expect(expiries.map((expiry) => expiry.deadlineMs)).toEqual([5_300, 5_500]);
    timer.cancel();
    expect(timer.extend(9_000)).toBe(false);
    await clock.advanceAndSettle(60_000);
    expect(expiries).toHaveLength(2);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("after an extension a newer line replaces what the timer waits for (even an earlier instant); an older one is stale", async () => {
    const { clock, timer, expiries } = setUp();
    timer.offer(5_300);
    await clock.advanceAndSettle(300);
    timer.extend(6_000);
    expect(timer.offer(5_300)).toEqual({ kind: "stale", newestMs: 5_300 });
    // Not "after expiry": nothing was torn down.
    expect(timer.offer(5_400)).toEqual({ kind: "armed", deadlineMs: 5_400, afterExpiry: false });
    await clock.advanceAndSettle(100);
    expect(expiries).toEqual([
      { deadlineMs: 5_300, lateMs: 0, extended: false },
      { deadlineMs: 5_400, lateMs: 0, extended: false },
    ]);
    await clock.advanceAndSettle(60_000);
    expect(expiries).toHaveLength(2);
  });
});
