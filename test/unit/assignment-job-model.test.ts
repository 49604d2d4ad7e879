import { describe, expect, it } from "vitest";
import {
  finalStateOf,
  isJobId,
  newJobId,
  parseHistory,
  parseJobEvent,
  parseJobHeader,
  serializeHistory,
  serializeJobEvent,
  serializeJobHeader,
  totalsOf,
  type Job,
  type JobEvent,
  type JobHeader,
} from "../../src/assignment/job-model.js";
import type { JobPathRecord } from "../../src/assignment/job-record.js";
import { parseLeaderRecord, serializeLeaderRecord } from "../../src/coordinator/leader-record.js";

const header: JobHeader = {
  id: "20250101-120000-ab12",
  kind: "drain",
  state: "running",
  moveCount: 2,
  parallelism: 16,
  createTime: new Date("2025-01-01T12:00:00.000Z"),
  startedBy: "alice",
  drainNode: "node-2",
  requestedOn: "node-1",
};

const move = (ip: string, status: JobPathRecord["status"], error?: string): JobPathRecord => ({
  jobId: header.id,
  diskId: "00001",
  diskName: "web",
  index: ip.endsWith("1") ? 1 : 2,
  ip,
  sourceNode: "node-2",
  targetNode: "node-3",
  status,
  updatedAt: new Date("2025-01-01T12:00:05.000Z"),
  ...(error === undefined ? {} : { error }),
});

describe("reassignment job records", () => {
  it("round-trips the root record, and names the field of a broken one", () => {
    expect(parseJobHeader(serializeJobHeader(header))).toEqual({ ...header, finishTime: undefined });
    const manual = { ...header, kind: "manual" as const, drainNode: "", manualTarget: "auto" };
    expect(parseJobHeader(serializeJobHeader(manual))).toEqual({ ...manual, finishTime: undefined });
    const failback = { ...header, kind: "auto" as const, drainNode: "", reason: "auto failback of node-3" };
    expect(parseJobHeader(serializeJobHeader(failback))).toEqual({ ...failback, finishTime: undefined });
    expect(JSON.parse(serializeJobHeader(header))).not.toHaveProperty("reason");
    const finished = {
      ...header,
      state: "failed" as const,
      finishTime: new Date(),
      error: "creator stopped",
    };
    expect(parseJobHeader(serializeJobHeader(finished))).toEqual(finished);
    expect(() =>
      parseJobHeader(JSON.stringify({ ...JSON.parse(serializeJobHeader(header)), state: "done" })),
    ).toThrow(/state must be one of creating, pending, running/);
    expect(() => parseJobHeader("{")).toThrow(/not JSON/);
    expect(() =>
      parseJobHeader(JSON.stringify({ ...JSON.parse(serializeJobHeader(header)), moveCount: -1 })),
    ).toThrow(/moveCount must be a whole number/);
  });

  it("round-trips a finished job with its moves in the compact history form", () => {
    const job: Job = {
      header: { ...header, state: "partially_failed", finishTime: new Date("2025-01-01T12:01:00.000Z") },
      moves: [
        move("198.51.100.11", "succeeded"),
        move("198.51.100.12", "failed", "AcquirePath on node-3: down"),
      ],
      totals: totalsOf([{ status: "succeeded" }, { status: "failed" }]),
      lastSequence: 12,
    };
    expect(parseHistory(serializeHistory(job))).toEqual(job);
  });

  it("round-trips the three kinds of event", () => {
    const base = {
      sequence: 7,
      jobId: header.id,
      time: new Date("2025-01-01T12:00:01.000Z"),
      state: "running" as const,
    };
    const events: JobEvent[] = [
      {
        ...base,
        body: {
          kind: "path",
          path: {
            diskId: "00001",
            index: 2,
            ip: "203.0.113.12",
            phase: "failed",
            sourceNode: "node-2",
            targetNode: "node-3",
            reason: "target node node-3 is offline",
          },
        },
      },
      { ...base, body: { kind: "totals", totals: totalsOf([{ status: "moving" }, { status: "pending" }]) } },
      { ...base, state: "succeeded", body: { kind: "finished", finalState: "succeeded" } },
    ];
    for (const event of events) expect(parseJobEvent(serializeJobEvent(event))).toEqual(event);
  });

  it("ends a job cancelled when a cancel dropped moves, failed when all failed, partially failed when some did", () => {
    const totals = (statuses: JobPathRecord["status"][]) => totalsOf(statuses.map((status) => ({ status })));
    expect(finalStateOf(totals([]))).toBe("succeeded");
    expect(finalStateOf(totals(["succeeded", "succeeded"]))).toBe("succeeded");
    expect(finalStateOf(totals(["succeeded", "failed"]))).toBe("partially_failed");
    expect(finalStateOf(totals(["failed", "failed"]))).toBe("failed");
    expect(finalStateOf(totals(["succeeded", "failed", "cancelled"]))).toBe("cancelled");
    expect(totals(["pending", "moving", "succeeded", "failed", "cancelled", "succeeded"])).toEqual({
      total: 6,
      pending: 1,
      moving: 1,
      succeeded: 2,
      failed: 1,
      cancelled: 1,
    });
  });

  it("gives job ids that sort by creation time", () => {
    const early = newJobId(new Date("2025-01-01T09:59:59.000Z"));
    const late = newJobId(new Date("2025-01-01T10:00:00.000Z"));
    expect(early).toMatch(/^20250101-095959-[0-9a-f]{4}$/);
    expect(isJobId(early)).toBe(true);
    expect(isJobId("job-1")).toBe(false);
    expect(early < late).toBe(true);
  });

  it("reads the coordinator lock value, and a value that is not one as empty fields", () => {
    const record = { node: "node-1", address: "192.0.2.11:7410" };
    expect(parseLeaderRecord(serializeLeaderRecord(record))).toEqual(record);
    expect(parseLeaderRecord("node-1")).toEqual({ node: "", address: "" });
    expect(parseLeaderRecord('{"node":7}')).toEqual({ node: "", address: "" });
  });
});
