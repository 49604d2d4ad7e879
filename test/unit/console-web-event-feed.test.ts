import { describe, expect, it } from "vitest";
import type { ClusterEvent } from "../../web/src/api-model.js";
import {
  compareNewestFirst,
  eventWhy,
  matchesEventFilter,
  mergeEvents,
  NO_EVENT_FILTER,
  resumeSince,
  SeenIds,
} from "../../web/src/event-feed.js";

function event(id: string, time: string, partial: Partial<ClusterEvent> = {}): ClusterEvent {
  return {
    id,
    time,
    kind: "EVENT_KIND_FAILOVER",
    node: "",
    diskId: "",
    pathIndex: 0,
    ip: "",
    fromNode: "",
    toNode: "",
    durationMs: 0,
    reason: "",
    actor: "",
    jobId: "",
    result: "",
    epoch: 0,
    ...partial,
  };
}

describe("console web: the event list", () => {
  it("puts new events on top, newest first, without the ones already listed, keeping the newest", () => {
    const listed = [event("b", "2026-12-07T02:00:02.000Z"), event("a", "2026-12-07T02:00:01.000Z")];
    const merged = mergeEvents(
      listed,
      [
        event("b", "2026-12-07T02:00:02.000Z"),
        event("d", "2026-12-07T02:00:04.000Z"),
        event("c", "2026-12-07T02:00:03.000Z"),
      ],
      3,
    );
    expect(merged.map((e) => e.id)).toEqual(["d", "c", "b"]);
    // Nothing new: the same list, still cut to the limit.
    expect(mergeEvents(listed, [listed[0] as ClusterEvent], 1).map((e) => e.id)).toEqual(["b"]);
  });

  it("orders events of the same millisecond by id, and those of different precision by time", () => {
    const sorted = [
      event("x1", "2026-12-07T02:00:00.000Z"),
      event("x2", "2026-12-07T02:00:00Z"),
      event("x0", "2026-12-07T02:00:00.5Z"),
    ].sort(compareNewestFirst);
    expect(sorted.map((e) => e.id)).toEqual(["x0", "x2", "x1"]);
  });

  it("filters as ListEvents does: a node matches where it happened, or as from or to node", () => {
    const failover = event("f", "2026-12-07T02:00:00Z", {
      node: "node3",
      fromNode: "node1",
      toNode: "node3",
      diskId: "00004",
    });
    expect(matchesEventFilter(failover, NO_EVENT_FILTER)).toBe(true);
    expect(matchesEventFilter(failover, { ...NO_EVENT_FILTER, node: "node1" })).toBe(true);
    expect(matchesEventFilter(failover, { ...NO_EVENT_FILTER, node: "node3" })).toBe(true);
    expect(matchesEventFilter(failover, { ...NO_EVENT_FILTER, node: "node2" })).toBe(false);
    expect(matchesEventFilter(failover, { ...NO_EVENT_FILTER, diskId: "00004" })).toBe(true);
    expect(matchesEventFilter(failover, { ...NO_EVENT_FILTER, diskId: "00005" })).toBe(false);
    expect(matchesEventFilter(failover, { ...NO_EVENT_FILTER, kind: "EVENT_KIND_FAILOVER" })).toBe(true);
    expect(matchesEventFilter(failover, { ...NO_EVENT_FILTER, kind: "EVENT_KIND_MOVE" })).toBe(false);
  });

  it("resumes a dropped watch from the newest event seen, or from the fallback with none", () => {
    const events = [
      event("a", "2026-12-07T02:00:01.000Z"),
      event("c", "2026-12-07T02:00:09.000Z"),
      event("b", "2026-12-07T02:00:05.000Z"),
    ];
    expect(resumeSince(events, "fallback")).toBe("2026-12-07T02:00:09.000Z");
    expect(resumeSince([], "2026-12-07T01:00:00.000Z")).toBe("2026-12-07T01:00:00.000Z");
  });

  it("passes each event id on once, remembering a bounded number of ids", () => {
    const seen = new SeenIds(2);
    expect(seen.firstTime("e1")).toBe(true);
    expect(seen.firstTime("e1")).toBe(false);
    expect(seen.firstTime("e2")).toBe(true);
    expect(seen.firstTime("e3")).toBe(true);
    // e1 was the oldest and was forgotten; e3 is still remembered.
    expect(seen.firstTime("e1")).toBe(true);
    expect(seen.firstTime("e3")).toBe(false);
    expect(seen.firstTime("")).toBe(true);
    expect(seen.firstTime("")).toBe(true);
  });

  it("shows the result and the reason together", () => {
    expect(eventWhy(event("m", "", { result: "failed", reason: "AcquirePath on node2: fenced" }))).toBe(
      "failed: AcquirePath on node2: fenced",
    );
    expect(eventWhy(event("m", "", { reason: "session gone" }))).toBe("session gone");
    expect(eventWhy(event("m", ""))).toBe("");
    expect(
      eventWhy(event("j", "", { kind: "EVENT_KIND_JOB_FINISHED", result: "JOB_STATE_PARTIALLY_FAILED" })),
    ).toBe("partially failed");
  });
});
