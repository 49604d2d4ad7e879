import { afterEach, describe, expect, it, vi } from "vitest";
import { debounce } from "../../web/src/debounce.js";
import {
  formatDuration,
  formatFromTo,
  formatJobTotals,
  formatPathRef,
  formatTime,
} from "../../web/src/format.js";
import {
  enumLabel,
  eventKindLabel,
  EVENT_KINDS,
  isActiveJobState,
  isFinalJobState,
  toneOf,
} from "../../web/src/labels.js";
import { canManagePaths } from "../../web/src/roles.js";
import { navSection, parseRoute, routeHash, type Route } from "../../web/src/route.js";

describe("console web: routes, roles, labels and formats", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("parses every hash route, and an unknown or empty one as the overview", () => {
    expect(parseRoute("")).toEqual({ page: "overview" });
    expect(parseRoute("#/nowhere")).toEqual({ page: "overview" });
    expect(parseRoute("#/login")).toEqual({ page: "login" });
    expect(parseRoute("#/paths/")).toEqual({ page: "paths" });
    expect(parseRoute("#/jobs")).toEqual({ page: "jobs" });
    expect(parseRoute("#/jobs/20261207-025000-ab12")).toEqual({ page: "job", id: "20261207-025000-ab12" });
    expect(parseRoute("#/events")).toEqual({ page: "events" });
    const routes: Route[] = [
      { page: "overview" },
      { page: "jobs" },
      { page: "job", id: "a b/c" },
      { page: "events" },
    ];
    for (const route of routes) expect(parseRoute(routeHash(route))).toEqual(route);
    expect(navSection({ page: "job", id: "x" })).toBe("jobs");
  });

  it("gives actions to path-admin and admin only", () => {
    expect(canManagePaths("admin")).toBe(true);
    expect(canManagePaths("path-admin")).toBe(true);
    expect(canManagePaths("disk-admin")).toBe(false);
    expect(canManagePaths("viewer")).toBe(false);
  });

  it("labels enum names readably and knows which job states are final", () => {
    expect(eventKindLabel("EVENT_KIND_COORDINATOR_STEPPED_DOWN")).toBe("coordinator stepped down");
    expect(enumLabel("JOB_STATE_UNSPECIFIED", "JOB_STATE_")).toBe("");
    expect(EVENT_KINDS).toHaveLength(13);
    expect(EVENT_KINDS).not.toContain("EVENT_KIND_UNSPECIFIED");
    expect(isFinalJobState("JOB_STATE_PARTIALLY_FAILED")).toBe(true);
    expect(isFinalJobState("JOB_STATE_CANCELLING")).toBe(false);
    expect(isActiveJobState("JOB_STATE_CANCELLING")).toBe(true);
    expect(isActiveJobState("JOB_STATE_CANCELLED")).toBe(false);
    expect(toneOf("JOB_STATE_SUCCEEDED")).toBe("ok");
    expect(toneOf("JOB_STATE_PARTIALLY_FAILED")).toBe("bad");
    expect(toneOf("PATH_PHASE_FAILED")).toBe("bad");
    expect(toneOf("PATH_PHASE_ACQUIRING")).toBe("busy");
    expect(toneOf("JOB_STATE_CANCELLED")).toBe("warn");
  });

  it("formats times in UTC, durations, paths and moves", () => {
    expect(formatTime("2026-12-07T02:50:08.123Z")).toBe("2026-12-07 02:50:08");
    expect(formatTime("")).toBe("");
    expect(formatTime("not a time")).toBe("not a time");
    expect(formatDuration(0)).toBe("");
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(12_345)).toBe("12.3 s");
    expect(formatDuration(245_000)).toBe("4m 05s");
    expect(formatDuration(7_380_000)).toBe("2h 03m");
    expect(formatPathRef("00001", 2)).toBe("00001/2");
    expect(formatPathRef("00001", 0)).toBe("00001");
    expect(formatFromTo("", "node2")).toBe("(free) → node2");
    expect(formatFromTo("", "")).toBe("");
    expect(formatJobTotals({ total: 10, pending: 3, moving: 2, succeeded: 4, failed: 1, cancelled: 0 })).toBe(
      "5 / 10 done, 1 failed, 2 moving",
    );
  });

  it("debounces a burst of triggers into one run after the last", () => {
    vi.useFakeTimers();
    let runs = 0;
    const d = debounce(() => runs++, 300);
    d.trigger();
    vi.advanceTimersByTime(200);
    d.trigger();
    vi.advanceTimersByTime(200);
    expect(runs).toBe(0);
    vi.advanceTimersByTime(100);
    expect(runs).toBe(1);
    d.trigger();
    d.cancel();
    vi.advanceTimersByTime(1000);
    expect(runs).toBe(1);
  });
});
