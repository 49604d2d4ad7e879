import { describe, expect, it } from "vitest";
import {
  GuardInput,
  MAX_LINE_CHARS,
  parseLeaseUntilLine,
  type IgnoredLine,
} from "../../src/crash-guard/guard-input.js";
import { LeaseTimer, type LeaseExpiry, type LeaseOffer } from "../../src/crash-guard/lease-timer.js";
import { ManualClock } from "../../src/testing/manual-clock.js";

function setUp() {
  const clock = new ManualClock(5_000);
  const expiries: LeaseExpiry[] = [];
  const offers: LeaseOffer[] = [];
  const ignored: IgnoredLine[] = [];
  const lease = new LeaseTimer({
    now: () => clock.now(),
    schedule: (callback, delayMs) => clock.setTimerAt(clock.now() + delayMs, callback),
    onExpired: (expiry) => expiries.push(expiry),
  });
  const input = new GuardInput({
    lease,
    onLease: (offer) => offers.push(offer),
    onIgnored: (line) => ignored.push(line),
  });
  return { clock, lease, input, expiries, offers, ignored };
}

describe("crash guard input: the lines from sanpathd", () => {
  it("parses lease-until lines: a non-negative decimal of ms; anything else is a problem", () => {
    expect(parseLeaseUntilLine("lease-until 123456")).toEqual({ deadlineMs: 123_456 });
    expect(parseLeaseUntilLine("lease-until 12.5")).toEqual({ deadlineMs: 12.5 });
    expect(parseLeaseUntilLine("clean-exit")).toBeUndefined();
    expect(parseLeaseUntilLine("lease-untilx 5")).toBeUndefined();
    for (const bad of [
      "lease-until",
      "lease-until ",
      "lease-until -5",
      "lease-until 1e9",
      "lease-until NaN",
      "lease-until Infinity",
      "lease-until 0x10",
      "lease-until 5 6",
      "lease-until  5",
      "lease-until 5.",
      "lease-until 99999999999999999",
    ])
      expect(parseLeaseUntilLine(bad), bad).toHaveProperty("problem");
  });

  it("no line at all: the pipe's close is a crash, and no lease timer ever runs", async () => {
    const { clock, lease, input, expiries } = setUp();
    await clock.advanceAndSettle(3_600_000);
    expect(lease.armed).toBe(false);
    expect(input.end()).toBe("crash");
    expect(expiries).toEqual([]);
  });

  it("lease-until lines arm the timer (split across chunks too); older ones are ignored", async () => {
    const { clock, lease, input, offers, expiries } = setUp();
    input.push("lease-until 5");
    expect(offers).toEqual([]);
    input.push("300\nlease-until 5400\n");
    input.push("lease-until 5350\n");
    expect(offers).toEqual([
      { kind: "armed", deadlineMs: 5_300, afterExpiry: false },
      { kind: "armed", deadlineMs: 5_400, afterExpiry: false },
      { kind: "stale", newestMs: 5_400 },
    ]);
    expect(lease.deadlineMs).toBe(5_400);
    await clock.advanceAndSettle(399);
    expect(expiries).toEqual([]);
    await clock.advanceAndSettle(1);
    expect(expiries).toEqual([{ deadlineMs: 5_400, lateMs: 0, extended: false }]);
    expect(input.said).toBe("crash");
  });

  it("a newer line after an expiry re-arms; the next expiry tears down again", async () => {
    const { clock, input, offers, expiries } = setUp();
    input.push("lease-until 5100\n");
    await clock.advanceAndSettle(500);
    expect(expiries).toHaveLength(1);
    input.push("lease-until 5800\n");
    expect(offers.at(-1)).toEqual({ kind: "armed", deadlineMs: 5_800, afterExpiry: true });
    await clock.advanceAndSettle(300);
    expect(expiries.map((expiry) => expiry.deadlineMs)).toEqual([5_100, 5_800]);
  });

  it("malformed and unknown lines are reported and change nothing", async () => {
    const { clock, lease, input, ignored, expiries } = setUp();
    input.push("lease-until 5200\n");
    input.push("lease-until soon\nlease-until -1\r\nhello\n\n\r\n");
    expect(ignored).toEqual([
      { line: "lease-until soon", problem: expect.stringContaining("lease-until <ms>") as string },
      { line: "lease-until -1", problem: expect.stringContaining("lease-until <ms>") as string },
      { line: "hello", problem: "unknown line" },
    ]);
    expect(lease.deadlineMs).toBe(5_200);
    // An endless line is dropped whole (reported once, cut), then lines are read as before.
    input.push("x".repeat(MAX_LINE_CHARS));
    input.push("y".repeat(10_000));
    input.push("zzz\nlease-until 5300\n");
    expect(ignored.slice(3)).toEqual([{ line: "x".repeat(MAX_LINE_CHARS), problem: "line too long" }]);
    expect(lease.deadlineMs).toBe(5_300);
    await clock.advanceAndSettle(300);
    expect(expiries).toEqual([{ deadlineMs: 5_300, lateMs: 0, extended: false }]);
  });

  it("restart-exit cancels the lease timer: its deadline no longer tears down", async () => {
    const { clock, lease, input, expiries, offers } = setUp();
    input.push("lease-until 5300\nrestart-exit\n");
    expect(lease.armed).toBe(false);
    expect(input.said).toBe("restart");
    input.push("lease-until 9000\n");
    expect(offers.at(-1)).toEqual({ kind: "cancelled" });
    await clock.advanceAndSettle(60_000);
    expect(expiries).toEqual([]);
    expect(input.end()).toBe("restart");
  });

  it("clean-exit cancels it too; the close then says clean", async () => {
    const { clock, input, expiries } = setUp();
    input.push("lease-until 5300\nclean-exit\n");
    await clock.advanceAndSettle(60_000);
    expect(expiries).toEqual([]);
    expect(input.end()).toBe("clean");
  });

  it("the pipe's close cancels the timer (the guard acts at once instead) and reads a last line without its newline", async () => {
    const { clock, lease, input, expiries } = setUp();
    input.push("lease-until 5300\nclean-");
    expect(input.said).toBe("crash");
    input.push("exit");
    expect(input.end()).toBe("clean");
    expect(lease.armed).toBe(false);

    const other = setUp();
    other.input.push("lease-until 60000\n");
    expect(other.input.end()).toBe("crash");
    await other.clock.advanceAndSettle(60_000);
    await clock.advanceAndSettle(60_000);
    expect(other.expiries).toEqual([]);
    expect(expiries).toEqual([]);
  });
});
