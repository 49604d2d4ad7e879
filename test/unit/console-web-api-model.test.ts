import { describe, expect, it } from "vitest";
import {
  parseApiError,
  parseClusterInfo,
  parseEventPage,
  parseJobResponse,
  parseJobWatchMessage,
  parsePathList,
  parsePlan,
  parseSession,
  parseStreamError,
  parseWatchEventsMessage,
} from "../../web/src/api-model.js";

describe("console web: parsing the API's proto3-JSON", () => {
  it("fills the fields proto3-JSON leaves out with their defaults", () => {
    // A path served by nobody, not moved by a job: node, jobStatus and jobTargetNode are omitted.
    const list = parsePathList({
      paths: [{ diskId: "00001", diskName: "db", index: 1, ip: "198.51.100.10", subnet: 1 }],
    });
    expect(list).toEqual({
      paths: [
        {
          diskId: "00001",
          diskName: "db",
          index: 1,
          ip: "198.51.100.10",
          subnet: 1,
          node: "",
          jobStatus: "MOVE_STATUS_UNSPECIFIED",
          jobTargetNode: "",
        },
      ],
      onlineNodes: [],
      busy: false,
      stateIndex: 0,
    });
    expect(parsePathList({})).toEqual({ paths: [], onlineNodes: [], busy: false, stateIndex: 0 });
  });

  it("reads a cluster without a coordinator as leader undefined, and one with it", () => {
    expect(parseClusterInfo({ nodes: [{ name: "node1" }], diskCount: 2 }).leader).toBeUndefined();
    const info = parseClusterInfo({
      leader: { node: "node2", address: "10.0.0.2:7300", epoch: 41 },
      nodes: [
        {
          name: "node1",
          online: true,
          pathCount: 3,
          subnets: [1, 2],
          degraded: true,
          degradedReason: "tgtd down",
        },
      ],
    });
    expect(info.leader).toEqual({ node: "node2", address: "10.0.0.2:7300", epoch: 41 });
    expect(info.nodes[0]).toMatchObject({
      name: "node1",
      online: true,
      cordoned: false,
      leader: false,
      pathCount: 3,
      subnets: [1, 2],
      degraded: true,
      degradedReason: "tgtd down",
    });
  });

  it("gives an unknown or missing role no more than viewer", () => {
    expect(parseSession({ name: "alice", role: "path-admin", credential: "token" })).toEqual({
      name: "alice",
      role: "path-admin",
      credential: "token",
    });
    expect(parseSession({ name: "x", role: "node" }).role).toBe("viewer");
    expect(parseSession({}).role).toBe("viewer");
  });

  it("reads the error body of a failed call and of a stream's error event", () => {
    const message =
      "viewer-1 (role viewer) may not call AssignmentService/StartReassignment: path-admin or admin";
    expect(parseApiError({ error: { code: "PERMISSION_DENIED", message } })).toEqual({
      code: "PERMISSION_DENIED",
      message,
    });
    expect(parseApiError({ message: "not the shape" })).toBeUndefined();
    expect(parseApiError(null)).toBeUndefined();
    expect(parseStreamError({ code: "NOT_FOUND", message: "job x not found" })).toEqual({
      code: "NOT_FOUND",
      message: "job x not found",
    });
    expect(parseStreamError(undefined).code).toBe("UNKNOWN");
  });

  it("reads a plan, a job and its moves, with uint64 as numbers or decimal strings", () => {
    const plan = parsePlan({
      moves: [{ diskId: "00003", index: 2, ip: "198.51.100.7", sourceNode: "node1", targetNode: "node2" }],
      before: [{ node: "node1", paths: 4 }, { node: "node2" }],
      stateIndex: "1234",
    });
    expect(plan.stateIndex).toBe(1234);
    expect(plan.before).toEqual([
      { node: "node1", paths: 4 },
      { node: "node2", paths: 0 },
    ]);
    expect(plan.after).toEqual([]);
    expect(plan.moves[0]?.diskName).toBe("");

    const job = parseJobResponse({
      job: {
        id: "20261207-025000-ab12",
        kind: "JOB_KIND_DRAIN",
        state: "JOB_STATE_RUNNING",
        drainNode: "node3",
        lastSequence: 17,
        totals: { total: 2, succeeded: 1 },
        moves: [
          {
            move: { diskId: "00001", index: 1, ip: "198.51.100.10" },
            status: "MOVE_STATUS_FAILED",
            error: "fenced",
          },
        ],
      },
    });
    expect(job).toMatchObject({
      kind: "JOB_KIND_DRAIN",
      drainNode: "node3",
      lastSequence: 17,
      finishTime: "",
    });
    expect(job.totals).toEqual({ total: 2, pending: 0, moving: 0, succeeded: 1, failed: 0, cancelled: 0 });
    expect(job.moves[0]).toMatchObject({ status: "MOVE_STATUS_FAILED", error: "fenced" });
    expect(parseJobResponse({}).state).toBe("JOB_STATE_UNSPECIFIED");
  });

  it("reads the one event a WatchReassignment message carries", () => {
    const path = parseJobWatchMessage({
      sequence: 5,
      jobId: "j1",
      time: "2026-12-07T02:50:00.000Z",
      path: {
        diskId: "00001",
        index: 1,
        ip: "198.51.100.10",
        phase: "PATH_PHASE_ACQUIRING",
        targetNode: "node2",
      },
      state: "JOB_STATE_RUNNING",
    });
    expect(path.path).toMatchObject({ phase: "PATH_PHASE_ACQUIRING", sourceNode: "", targetNode: "node2" });
    expect(path.totals).toBeUndefined();
    expect(path.finished).toBeUndefined();
    const finished = parseJobWatchMessage({ sequence: 9, jobId: "j1", finished: "JOB_STATE_SUCCEEDED" });
    expect(finished.finished).toBe("JOB_STATE_SUCCEEDED");
    expect(finished.path).toBeUndefined();
    expect(finished.state).toBe("");
  });

  it("reads events of a page and of a watch message", () => {
    const page = parseEventPage({
      events: [
        { id: "e1", kind: "EVENT_KIND_FAILOVER", fromNode: "node1", toNode: "node2", durationMs: "2500" },
      ],
      nextPageToken: "t2",
    });
    expect(page.nextPageToken).toBe("t2");
    expect(page.events[0]).toMatchObject({ id: "e1", durationMs: 2500, pathIndex: 0, actor: "" });
    expect(parseWatchEventsMessage({ event: { id: "e2", kind: "EVENT_KIND_CORDON" } })?.kind).toBe(
      "EVENT_KIND_CORDON",
    );
    expect(parseWatchEventsMessage({})).toBeUndefined();
  });
});
