import { describe, expect, it } from "vitest";
import { eventLine, exitCodeOf, totalsText } from "../../src/cli/commands/job-progress.js";
import { renderPlan } from "../../src/cli/commands/paths.js";
import { JobState, PathPhase } from "../../src/gen/sanpath/v1/assignment.js";

const totals = { total: 4, pending: 1, moving: 1, succeeded: 1, failed: 1, cancelled: 0 };

describe("sanpath job watch and paths output", () => {
  it("prints one line per event: phase, path, nodes and the reason of a failure", () => {
    const base = { jobId: "20250101-120000-ab12", time: new Date(), state: JobState.JOB_STATE_RUNNING };
    expect(
      eventLine({
        ...base,
        sequence: 3,
        path: {
          diskId: "00001",
          index: 2,
          ip: "198.51.100.12",
          phase: PathPhase.PATH_PHASE_FAILED,
          sourceNode: "a",
          targetNode: "b",
          reason: "AcquirePath on b: node b is fenced",
        },
      }),
    ).toBe("#3 failed 00001/2 198.51.100.12 a → b: AcquirePath on b: node b is fenced");
    expect(
      eventLine({
        ...base,
        sequence: 4,
        path: {
          diskId: "00002",
          index: 1,
          ip: "198.51.100.13",
          phase: PathPhase.PATH_PHASE_ACQUIRING,
          sourceNode: "",
          targetNode: "c",
          reason: "",
        },
      }),
    ).toBe("#4 acquiring 00002/1 198.51.100.13 (free) → c");
    expect(eventLine({ ...base, sequence: 5, totals })).toBe(
      "#5 running 2/4 done: 1 succeeded, 1 failed, 1 moving, 1 pending",
    );
    expect(eventLine({ ...base, sequence: 6, finished: JobState.JOB_STATE_PARTIALLY_FAILED })).toBe(
      "#6 finished: partially failed",
    );
    expect(totalsText({ ...totals, cancelled: 2 })).toContain(", 2 cancelled");
  });

  it("exits 0 only when every move succeeded", () => {
    expect(exitCodeOf(JobState.JOB_STATE_SUCCEEDED)).toBe(0);
    for (const state of [
      JobState.JOB_STATE_PARTIALLY_FAILED,
      JobState.JOB_STATE_FAILED,
      JobState.JOB_STATE_CANCELLED,
    ]) {
      expect(exitCodeOf(state)).toBe(1);
    }
  });

  it("prints a plan with its moves and the per-node counts, or says there is nothing to do", () => {
    expect(renderPlan({ moves: [], before: [], after: [], stateIndex: 9 })).toBe(
      "Nothing to move: the paths are where the plan wants them.",
    );
    const text = renderPlan({
      moves: [
        { diskId: "00001", diskName: "web", index: 1, ip: "198.51.100.11", sourceNode: "a", targetNode: "c" },
      ],
      before: [
        { node: "a", paths: 3 },
        { node: "c", paths: 1 },
      ],
      after: [
        { node: "a", paths: 2 },
        { node: "c", paths: 2 },
      ],
      stateIndex: 9,
    });
    expect(text).toMatch(
      /^1 move:\nDISK\s+NAME\s+PATH\s+IP\s+FROM\s+TO\n00001\s+web\s+1\s+198\.51\.100\.11\s+a\s+c\n/,
    );
    expect(text).toMatch(/^a\s+3\s+2$/m);
    expect(text).toMatch(/^c\s+1\s+2$/m);
  });
});
