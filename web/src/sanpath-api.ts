/** The RPCs the console calls, with their request shapes (proto3-JSON) and parsed responses. */
import { call } from "./api-client.js";
import {
  parseClusterInfo,
  parseEventPage,
  parseJobList,
  parseJobResponse,
  parseNodeList,
  parsePathList,
  parsePlan,
  type ClusterInfo,
  type EventPage,
  type Job,
  type NodeSummary,
  type PathList,
  type Plan,
} from "./api-model.js";

export type ReassignmentSpec =
  | { auto: { planner: "PLANNER_AVERAGE" } }
  | { manual: { ips: string[]; targetNode: string } }
  /** PlanReassignment only: what DrainNode would move (DrainNode starts it, cordoning first). */
  | { drain: { node: string } };

/** The target of a manual move that lets the planner place the selection. */
export const AUTO_TARGET = "auto";

export const AUTO_REBALANCE: ReassignmentSpec = { auto: { planner: "PLANNER_AVERAGE" } };

export function manualMove(ips: readonly string[], targetNode: string): ReassignmentSpec {
  return { manual: { ips: [...ips], targetNode } };
}

export const getClusterInfo = (): Promise<ClusterInfo> =>
  call("ClusterService", "GetClusterInfo", {}, parseClusterInfo);

export const listNodes = (): Promise<NodeSummary[]> =>
  call("AssignmentService", "ListNodes", {}, parseNodeList);

export const listPaths = (): Promise<PathList> => call("AssignmentService", "ListPaths", {}, parsePathList);

export const listJobs = (): Promise<Job[]> =>
  call("AssignmentService", "ListReassignments", {}, parseJobList);

export const getJob = (id: string): Promise<Job> =>
  call("AssignmentService", "GetReassignment", { id }, parseJobResponse);

export const planReassignment = (spec: ReassignmentSpec): Promise<Plan> =>
  call("AssignmentService", "PlanReassignment", { spec }, parsePlan);

/** Starts the planned job; the server refuses it (ABORTED) when the cluster changed since the plan. */
export const startReassignment = (spec: ReassignmentSpec, stateIndex: number): Promise<Job> =>
  call("AssignmentService", "StartReassignment", { spec, stateIndex }, parseJobResponse);

export const cancelReassignment = (id: string): Promise<Job> =>
  call("AssignmentService", "CancelReassignment", { id }, parseJobResponse);

export const drainNode = (node: string): Promise<Job> =>
  call("ClusterService", "DrainNode", { node }, parseJobResponse);

export const cordonNode = (node: string): Promise<unknown> =>
  call("ClusterService", "CordonNode", { node }, (json) => json);

export const uncordonNode = (node: string): Promise<unknown> =>
  call("ClusterService", "UncordonNode", { node }, (json) => json);

export interface EventQuery {
  node: string;
  diskId: string;
  kinds: string[];
  /** ISO time; events at or after it. */
  since: string;
  pageSize: number;
  pageToken: string;
}

export const listEvents = (query: EventQuery): Promise<EventPage> =>
  call("EventService", "ListEvents", query, parseEventPage);
