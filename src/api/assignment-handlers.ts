import type { NodeState } from "../assignment/assignment-stats.js";
import type {
  Job,
  JobEvent,
  JobKind as DomainJobKind,
  JobState as DomainJobState,
  JobTotals as DomainTotals,
  PathPhase as DomainPhase,
} from "../assignment/job-model.js";
import type { JobPathStatus } from "../assignment/job-record.js";
import type {
  ReassignmentService,
  ReassignmentSpec as DomainSpec,
} from "../assignment/reassignment-service.js";
import { SanpathError } from "../errors/sanpath-error.js";
import {
  JobKind,
  JobState,
  MoveStatus,
  PathPhase,
  Planner,
  type JobTotals,
  type Reassignment,
  type ReassignmentSpec,
  type WatchReassignmentResponse,
} from "../gen/sanpath/v1/assignment.js";
import type { NodeSummary } from "../gen/sanpath/v1/common.js";
import type { CallContext } from "./call-handlers.js";
import type { ServiceHandlers } from "./service-registry.js";

const KINDS: Readonly<Record<DomainJobKind, JobKind>> = {
  auto: JobKind.JOB_KIND_AUTO,
  manual: JobKind.JOB_KIND_MANUAL,
  drain: JobKind.JOB_KIND_DRAIN,
};

const STATES: Readonly<Record<DomainJobState, JobState>> = {
  creating: JobState.JOB_STATE_PENDING,
  pending: JobState.JOB_STATE_PENDING,
  running: JobState.JOB_STATE_RUNNING,
  cancelling: JobState.JOB_STATE_CANCELLING,
  succeeded: JobState.JOB_STATE_SUCCEEDED,
  partially_failed: JobState.JOB_STATE_PARTIALLY_FAILED,
  failed: JobState.JOB_STATE_FAILED,
  cancelled: JobState.JOB_STATE_CANCELLED,
};

const MOVE_STATUSES: Readonly<Record<JobPathStatus, MoveStatus>> = {
  pending: MoveStatus.MOVE_STATUS_PENDING,
  moving: MoveStatus.MOVE_STATUS_MOVING,
  succeeded: MoveStatus.MOVE_STATUS_SUCCEEDED,
  failed: MoveStatus.MOVE_STATUS_FAILED,
  cancelled: MoveStatus.MOVE_STATUS_CANCELLED,
};

const PHASES: Readonly<Record<DomainPhase, PathPhase>> = {
  queued: PathPhase.PATH_PHASE_QUEUED,
  cleaning: PathPhase.PATH_PHASE_CLEANING,
  released: PathPhase.PATH_PHASE_RELEASED,
  acquiring: PathPhase.PATH_PHASE_ACQUIRING,
  serving: PathPhase.PATH_PHASE_SERVING,
  failed: PathPhase.PATH_PHASE_FAILED,
  cancelled: PathPhase.PATH_PHASE_CANCELLED,
};

/** Who a call comes from, for the job's started_by: the authenticated caller, else "cli". */
export function callerName(context: CallContext): string {
  const caller = (context as { caller?: { name?: unknown } }).caller;
  return typeof caller?.name === "string" && caller.name !== "" && caller.name !== "anonymous"
    ? caller.name
    : "cli";
}

/** The domain spec of a request's spec; INVALID_ARGUMENT naming the field when it is missing. */
export function toDomainSpec(spec: ReassignmentSpec | undefined): DomainSpec {
  if (spec?.drain !== undefined) {
    const node = spec.drain.node.trim();
    if (node === "") {
      throw new SanpathError("invalid_argument", "spec.drain.node: name the node to drain", {
        field: "spec.drain.node",
        reason: "DATA_MISSING",
      });
    }
    return { mode: "drain", node };
  }
  if (spec?.manual !== undefined) {
    return { mode: "manual", ips: spec.manual.ips, targetNode: spec.manual.targetNode };
  }
  if (spec?.auto !== undefined) {
    const planner = spec.auto.planner;
    if (planner !== Planner.PLANNER_AVERAGE && planner !== Planner.PLANNER_UNSPECIFIED) {
      throw new SanpathError(
        "invalid_argument",
        `spec.auto.planner: unknown planner ${planner}; use PLANNER_AVERAGE`,
        {
          reason: "INVALID_FIELD",
          field: "spec.auto.planner",
        },
      );
    }
    return { mode: "auto", planner: "average" };
  }
  throw new SanpathError(
    "invalid_argument",
    "spec: choose auto (a planner), manual (ips and target_node) or, to plan only, drain (a node)",
    {
      reason: "DATA_MISSING",
      field: "spec",
    },
  );
}

export function toProtoTotals(totals: DomainTotals): JobTotals {
  return { ...totals };
}

export function toProtoJob(job: Job): Reassignment {
  const { header } = job;
  return {
    id: header.id,
    kind: KINDS[header.kind],
    state: STATES[header.state],
    moves: job.moves.map((move) => ({
      move: {
        diskId: move.diskId,
        diskName: move.diskName,
        index: move.index,
        ip: move.ip,
        sourceNode: move.sourceNode,
        targetNode: move.targetNode,
      },
      status: MOVE_STATUSES[move.status],
      error: move.error ?? "",
      updateTime: move.updatedAt,
    })),
    totals: toProtoTotals(job.totals),
    createTime: header.createTime,
    finishTime: header.finishTime,
    startedBy: header.startedBy,
    drainNode: header.drainNode,
    lastSequence: job.lastSequence,
  };
}

export function toProtoEvent(event: JobEvent): WatchReassignmentResponse {
  const base = { sequence: event.sequence, jobId: event.jobId, time: event.time, state: STATES[event.state] };
  const { body } = event;
  if (body.kind === "path") {
    return {
      ...base,
      path: {
        diskId: body.path.diskId,
        index: body.path.index,
        ip: body.path.ip,
        phase: PHASES[body.path.phase],
        sourceNode: body.path.sourceNode,
        targetNode: body.path.targetNode,
        reason: body.path.reason ?? "",
      },
    };
  }
  if (body.kind === "totals") return { ...base, totals: toProtoTotals(body.totals) };
  return { ...base, finished: STATES[body.finalState] };
}

export function toNodeSummary(node: NodeState, leader: string): NodeSummary {
  return {
    name: node.name,
    address: node.address,
    online: node.online,
    cordoned: node.cordoned,
    pathCount: node.pathCount,
    subnets: [...node.subnets],
    version: node.version,
    leader: node.name === leader,
    degraded: node.degraded,
    degradedReason: node.degradedReason,
  };
}

/** AssignmentService: proto <-> ReassignmentService. */
export function assignmentHandlers(
  service: ReassignmentService,
  leaderName: (signal: AbortSignal) => Promise<string>,
): ServiceHandlers<"assignment"> {
  return {
    listPaths: async (request, { signal }) => {
      const listing = await service.listPaths(
        { diskName: request.diskName, ip: request.ip, node: request.node },
        { signal },
      );
      return {
        paths: listing.paths.map((path) => ({
          diskId: path.diskId,
          diskName: path.diskName,
          index: path.index,
          ip: path.ip,
          subnet: path.subnet,
          node: path.node,
          jobStatus:
            path.jobStatus === undefined ? MoveStatus.MOVE_STATUS_UNSPECIFIED : MOVE_STATUSES[path.jobStatus],
          jobTargetNode: path.jobTargetNode,
        })),
        onlineNodes: [...listing.onlineNodes],
        busy: listing.busy,
        stateIndex: listing.stateIndex,
      };
    },
    listNodes: async (_request, { signal }) => {
      const [nodes, leader] = await Promise.all([service.listNodes({ signal }), leaderName(signal)]);
      return { nodes: nodes.map((node) => toNodeSummary(node, leader)) };
    },
    planReassignment: async (request, { signal }) => {
      const plan = await service.plan(toDomainSpec(request.spec), { signal });
      return {
        moves: plan.moves.map((move) => ({ ...move })),
        before: plan.before.map((count) => ({ ...count })),
        after: plan.after.map((count) => ({ ...count })),
        stateIndex: plan.stateIndex,
      };
    },
    startReassignment: async (request, context) => {
      const job = await service.start(
        {
          spec: toDomainSpec(request.spec),
          stateIndex: request.stateIndex,
          parallelism: request.parallelism,
          startedBy: callerName(context),
        },
        { signal: context.signal },
      );
      return { job: toProtoJob(job) };
    },
    getReassignment: async (request, { signal }) => ({
      job: toProtoJob(await service.get(request.id, { signal })),
    }),
    listReassignments: async (_request, { signal }) => ({
      jobs: (await service.list({ signal })).map(toProtoJob),
    }),
    cancelReassignment: async (request, { signal }) => ({
      job: toProtoJob(await service.cancel(request.id, { signal })),
    }),
    watchReassignment: (request, { signal }) =>
      mapEvents(service.watch(request.id, request.afterSequence, request.stopWhenDone, signal)),
  };
}

async function* mapEvents(events: AsyncIterable<JobEvent>): AsyncGenerator<WatchReassignmentResponse> {
  for await (const event of events) yield toProtoEvent(event);
}
