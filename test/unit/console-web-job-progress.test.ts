import { describe, expect, it } from "vitest";
import type { Job, JobTotals, JobWatchMessage } from "../../web/src/api-model.js";
import {
  applyJobMessage,
  jobProgress,
  jobViewOf,
  mergeFinalState,
  phaseLabel,
} from "../../web/src/job-progress.js";

const zero: JobTotals = { total: 3, pending: 3, moving: 0, succeeded: 0, failed: 0, cancelled: 0 };

function move(diskId: string, index: number, ip: string, status: string, error = "") {
  return {
    move: { diskId, diskName: `disk-${diskId}`, index, ip, sourceNode: "node1", targetNode: "node2" },
    status,
    error,
    updateTime: "",
  };
}

const job: Job = {
  id: "j1",
  kind: "JOB_KIND_MANUAL",
  state: "JOB_STATE_RUNNING",
  moves: [
    move("00001", 1, "198.51.100.10", "MOVE_STATUS_PENDING"),
    move("00001", 2, "198.51.100.11", "MOVE_STATUS_MOVING"),
    move("00002", 1, "198.51.100.12", "MOVE_STATUS_FAILED", "AcquirePath on node2: fenced"),
  ],
  totals: zero,
  createTime: "2026-12-07T02:50:00.000Z",
  finishTime: "",
  startedBy: "alice",
  drainNode: "",
  lastSequence: 10,
};

function message(partial: Partial<JobWatchMessage>): JobWatchMessage {
  return {
    sequence: 0,
    jobId: "j1",
    time: "",
    path: undefined,
    totals: undefined,
    finished: undefined,
    state: "",
    ...partial,
  };
}

describe("console web: the live job view's model", () => {
  it("starts from GetReassignment: each move's status as the phase the table shows", () => {
    const view = jobViewOf(job);
    expect(view.rows.map((r) => [r.key, r.phase, r.reason])).toEqual([
      ["00001/1", "PATH_PHASE_QUEUED", ""],
      ["00001/2", "MOVE_STATUS_MOVING", ""],
      ["00002/1", "PATH_PHASE_FAILED", "AcquirePath on node2: fenced"],
    ]);
    expect(view.rows.map((r) => phaseLabel(r.phase))).toEqual(["queued", "moving", "failed"]);
    expect(view.lastSequence).toBe(10);
    expect(view.finished).toBe(false);
    expect(jobViewOf({ ...job, state: "JOB_STATE_CANCELLED" }).finished).toBe(true);
  });

  it("moves a path's phase on, keeps its disk name, and takes a new target with its reason", () => {
    const start = jobViewOf(job);
    const acquiring = applyJobMessage(
      start,
      message({
        sequence: 11,
        path: {
          diskId: "00001",
          index: 1,
          ip: "198.51.100.10",
          phase: "PATH_PHASE_QUEUED",
          sourceNode: "node1",
          targetNode: "node3",
          reason: "node2 is cordoned",
        },
      }),
    );
    const row = acquiring.rows[0];
    expect(row).toMatchObject({
      phase: "PATH_PHASE_QUEUED",
      targetNode: "node3",
      reason: "node2 is cordoned",
      diskName: "disk-00001",
    });
    expect(acquiring.lastSequence).toBe(11);
    // Rows the message did not touch are the same objects, so the page rebuilds only one row.
    expect(acquiring.rows[1]).toBe(start.rows[1]);
    expect(acquiring.rows[2]).toBe(start.rows[2]);
    // The model it came from is unchanged.
    expect(start.rows[0]?.phase).toBe("PATH_PHASE_QUEUED");
    expect(start.rows[0]?.targetNode).toBe("node2");
  });

  it("ignores messages already applied (a resumed watch) and messages of another job", () => {
    const start = jobViewOf(job);
    const stale = message({
      sequence: 10,
      path: {
        diskId: "00001",
        index: 1,
        ip: "",
        phase: "PATH_PHASE_SERVING",
        sourceNode: "",
        targetNode: "",
        reason: "",
      },
    });
    expect(applyJobMessage(start, stale)).toBe(start);
    expect(applyJobMessage(start, { ...stale, sequence: 12, jobId: "other" })).toBe(start);
  });

  it("adds a row for a path the snapshot did not list", () => {
    const view = applyJobMessage(
      jobViewOf(job),
      message({
        sequence: 11,
        path: {
          diskId: "00009",
          index: 1,
          ip: "198.51.100.90",
          phase: "PATH_PHASE_CLEANING",
          sourceNode: "node1",
          targetNode: "node2",
          reason: "",
        },
      }),
    );
    expect(view.rows).toHaveLength(4);
    expect(view.rows[3]).toMatchObject({ key: "00009/1", ip: "198.51.100.90", phase: "PATH_PHASE_CLEANING" });
  });

  it("takes totals and state, and ends with the finished state", () => {
    let view = jobViewOf(job);
    const totals = { total: 3, pending: 0, moving: 0, succeeded: 2, failed: 1, cancelled: 0 };
    view = applyJobMessage(view, message({ sequence: 11, totals, state: "JOB_STATE_RUNNING" }));
    expect(view.totals).toEqual(totals);
    expect(jobProgress(view.totals)).toEqual({ done: 3, total: 3 });
    view = applyJobMessage(
      view,
      message({ sequence: 12, finished: "JOB_STATE_PARTIALLY_FAILED", time: "2026-12-07T02:51:00.000Z" }),
    );
    expect(view.state).toBe("JOB_STATE_PARTIALLY_FAILED");
    expect(view.finished).toBe(true);
    expect(view.finishTime).toBe("2026-12-07T02:51:00.000Z");
    // A later message's state does not overwrite the final one.
    view = applyJobMessage(view, message({ sequence: 13, state: "JOB_STATE_RUNNING" }));
    expect(view.state).toBe("JOB_STATE_PARTIALLY_FAILED");
  });

  it("takes the stored job's final state and times when the watch ends, keeping the rows the events wrote", () => {
    const retargeted = applyJobMessage(
      jobViewOf(job),
      message({
        sequence: 11,
        path: {
          diskId: "00001",
          index: 1,
          ip: "198.51.100.10",
          phase: "PATH_PHASE_SERVING",
          sourceNode: "node1",
          targetNode: "node3",
          reason: "node2 is cordoned",
        },
      }),
    );
    const totals = { total: 3, pending: 0, moving: 0, succeeded: 2, failed: 1, cancelled: 0 };
    const stored = jobViewOf({
      ...job,
      state: "JOB_STATE_PARTIALLY_FAILED",
      finishTime: "2026-12-07T02:52:00.000Z",
      totals,
      lastSequence: 14,
    });
    const final = mergeFinalState(retargeted, stored);
    expect(final).toMatchObject({
      state: "JOB_STATE_PARTIALLY_FAILED",
      finished: true,
      finishTime: "2026-12-07T02:52:00.000Z",
      totals,
      lastSequence: 14,
    });
    expect(final.rows).toBe(retargeted.rows);
    expect(final.rows[0]?.reason).toBe("node2 is cordoned");
  });

  it("counts succeeded, failed and cancelled moves as done", () => {
    expect(jobProgress({ total: 10, pending: 4, moving: 2, succeeded: 2, failed: 1, cancelled: 1 })).toEqual({
      done: 4,
      total: 10,
    });
    // Totals before the first totals message: the bar never goes beyond full.
    expect(jobProgress({ total: 0, pending: 0, moving: 0, succeeded: 1, failed: 0, cancelled: 0 })).toEqual({
      done: 1,
      total: 1,
    });
  });
});
