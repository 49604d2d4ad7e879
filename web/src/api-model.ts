/**
 * The shapes of the console API's JSON (proto3-JSON of proto/sanpath/v1) and their parsers. A
 * parser fills every field the server omitted with its proto3 default, so the pages can rely on
 * every field being present.
 */
import {
  arrayField,
  asObject,
  booleanField,
  numberArrayField,
  numberField,
  objectField,
  stringArrayField,
  stringField,
  type JsonObject,
} from "./json-fields.js";

export type Role = "admin" | "path-admin" | "disk-admin" | "viewer";
export type Credential = "token" | "certificate" | "none";

export interface Session {
  name: string;
  role: Role;
  credential: Credential;
}

export interface ApiErrorBody {
  code: string;
  message: string;
}

export interface NodeSummary {
  name: string;
  address: string;
  online: boolean;
  cordoned: boolean;
  pathCount: number;
  subnets: number[];
  version: string;
  leader: boolean;
  degraded: boolean;
  degradedReason: string;
}

export interface Leader {
  node: string;
  address: string;
  epoch: number;
}

export interface ClusterInfo {
  /** Undefined when no coordinator is elected. */
  leader: Leader | undefined;
  nodes: NodeSummary[];
  consulRoot: string;
  diskCount: number;
  pathCount: number;
}

export interface PathInfo {
  diskId: string;
  diskName: string;
  index: number;
  ip: string;
  subnet: number;
  /** "" when nobody serves the path. */
  node: string;
  /** A MoveStatus name; "MOVE_STATUS_UNSPECIFIED" when the running job does not move the path. */
  jobStatus: string;
  jobTargetNode: string;
}

export interface PathList {
  paths: PathInfo[];
  onlineNodes: string[];
  busy: boolean;
  stateIndex: number;
}

export interface Move {
  diskId: string;
  diskName: string;
  index: number;
  ip: string;
  sourceNode: string;
  targetNode: string;
}

export interface NodeCount {
  node: string;
  paths: number;
}

export interface Plan {
  moves: Move[];
  before: NodeCount[];
  after: NodeCount[];
  stateIndex: number;
}

export interface JobTotals {
  total: number;
  pending: number;
  moving: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface PathMove {
  move: Move;
  /** A MoveStatus name. */
  status: string;
  error: string;
  updateTime: string;
}

export interface Job {
  id: string;
  /** A JobKind name. */
  kind: string;
  /** A JobState name. */
  state: string;
  moves: PathMove[];
  totals: JobTotals;
  createTime: string;
  finishTime: string;
  startedBy: string;
  drainNode: string;
  lastSequence: number;
}

export interface PathEvent {
  diskId: string;
  index: number;
  ip: string;
  /** A PathPhase name. */
  phase: string;
  sourceNode: string;
  targetNode: string;
  reason: string;
}

/** One message of AssignmentService/WatchReassignment: at most one of path, totals, finished. */
export interface JobWatchMessage {
  sequence: number;
  jobId: string;
  time: string;
  path: PathEvent | undefined;
  totals: JobTotals | undefined;
  /** The final JobState name when the job ended. */
  finished: string | undefined;
  /** The job's state when the message was written ("" when the server left it unset). */
  state: string;
}

export interface ClusterEvent {
  id: string;
  time: string;
  /** An EventKind name. */
  kind: string;
  node: string;
  diskId: string;
  pathIndex: number;
  ip: string;
  fromNode: string;
  toNode: string;
  durationMs: number;
  reason: string;
  actor: string;
  jobId: string;
  result: string;
  epoch: number;
}

export interface EventPage {
  events: ClusterEvent[];
  nextPageToken: string;
}

const ROLES: readonly Role[] = ["admin", "path-admin", "disk-admin", "viewer"];
const CREDENTIALS: readonly Credential[] = ["token", "certificate", "none"];

export function parseSession(json: unknown): Session {
  const o = asObject(json);
  const role = stringField(o, "role");
  const credential = stringField(o, "credential");
  return {
    name: stringField(o, "name"),
    // An unknown role gets the least: the console shows no actions.
    role: ROLES.find((r) => r === role) ?? "viewer",
    credential: CREDENTIALS.find((c) => c === credential) ?? "none",
  };
}

/** `{ "error": { "code", "message" } }`; undefined when the body is not of that shape. */
export function parseApiError(json: unknown): ApiErrorBody | undefined {
  const error = objectField(asObject(json), "error");
  if (error === undefined) return undefined;
  return { code: stringField(error, "code"), message: stringField(error, "message") };
}

/** The data of an SSE `error` event: `{ "code", "message" }`. */
export function parseStreamError(json: unknown): ApiErrorBody {
  const o = asObject(json);
  return { code: stringField(o, "code") || "UNKNOWN", message: stringField(o, "message") };
}

export function parseNodeSummary(json: unknown): NodeSummary {
  const o = asObject(json);
  return {
    name: stringField(o, "name"),
    address: stringField(o, "address"),
    online: booleanField(o, "online"),
    cordoned: booleanField(o, "cordoned"),
    pathCount: numberField(o, "pathCount"),
    subnets: numberArrayField(o, "subnets"),
    version: stringField(o, "version"),
    leader: booleanField(o, "leader"),
    degraded: booleanField(o, "degraded"),
    degradedReason: stringField(o, "degradedReason"),
  };
}

export function parseNodeList(json: unknown): NodeSummary[] {
  return arrayField(asObject(json), "nodes").map(parseNodeSummary);
}

function parseLeader(o: JsonObject | undefined): Leader | undefined {
  if (o === undefined) return undefined;
  const leader = {
    node: stringField(o, "node"),
    address: stringField(o, "address"),
    epoch: numberField(o, "epoch"),
  };
  return leader.node === "" ? undefined : leader;
}

export function parseClusterInfo(json: unknown): ClusterInfo {
  const o = asObject(json);
  return {
    leader: parseLeader(objectField(o, "leader")),
    nodes: arrayField(o, "nodes").map(parseNodeSummary),
    consulRoot: stringField(o, "consulRoot"),
    diskCount: numberField(o, "diskCount"),
    pathCount: numberField(o, "pathCount"),
  };
}

/** GetLeader: the coordinator, or undefined when none is elected. */
export function parseLeaderResponse(json: unknown): Leader | undefined {
  return parseLeader(objectField(asObject(json), "leader"));
}

export function parsePathInfo(json: unknown): PathInfo {
  const o = asObject(json);
  return {
    diskId: stringField(o, "diskId"),
    diskName: stringField(o, "diskName"),
    index: numberField(o, "index"),
    ip: stringField(o, "ip"),
    subnet: numberField(o, "subnet"),
    node: stringField(o, "node"),
    jobStatus: stringField(o, "jobStatus") || "MOVE_STATUS_UNSPECIFIED",
    jobTargetNode: stringField(o, "jobTargetNode"),
  };
}

export function parsePathList(json: unknown): PathList {
  const o = asObject(json);
  return {
    paths: arrayField(o, "paths").map(parsePathInfo),
    onlineNodes: stringArrayField(o, "onlineNodes"),
    busy: booleanField(o, "busy"),
    stateIndex: numberField(o, "stateIndex"),
  };
}

export function parseMove(json: unknown): Move {
  const o = asObject(json);
  return {
    diskId: stringField(o, "diskId"),
    diskName: stringField(o, "diskName"),
    index: numberField(o, "index"),
    ip: stringField(o, "ip"),
    sourceNode: stringField(o, "sourceNode"),
    targetNode: stringField(o, "targetNode"),
  };
}

function parseNodeCount(json: unknown): NodeCount {
  const o = asObject(json);
  return { node: stringField(o, "node"), paths: numberField(o, "paths") };
}

export function parsePlan(json: unknown): Plan {
  const o = asObject(json);
  return {
    moves: arrayField(o, "moves").map(parseMove),
    before: arrayField(o, "before").map(parseNodeCount),
    after: arrayField(o, "after").map(parseNodeCount),
    stateIndex: numberField(o, "stateIndex"),
  };
}

export function parseTotals(json: unknown): JobTotals {
  const o = asObject(json);
  return {
    total: numberField(o, "total"),
    pending: numberField(o, "pending"),
    moving: numberField(o, "moving"),
    succeeded: numberField(o, "succeeded"),
    failed: numberField(o, "failed"),
    cancelled: numberField(o, "cancelled"),
  };
}

function parsePathMove(json: unknown): PathMove {
  const o = asObject(json);
  return {
    move: parseMove(objectField(o, "move")),
    status: stringField(o, "status") || "MOVE_STATUS_UNSPECIFIED",
    error: stringField(o, "error"),
    updateTime: stringField(o, "updateTime"),
  };
}

export function parseJob(json: unknown): Job {
  const o = asObject(json);
  return {
    id: stringField(o, "id"),
    kind: stringField(o, "kind") || "JOB_KIND_UNSPECIFIED",
    state: stringField(o, "state") || "JOB_STATE_UNSPECIFIED",
    moves: arrayField(o, "moves").map(parsePathMove),
    totals: parseTotals(objectField(o, "totals")),
    createTime: stringField(o, "createTime"),
    finishTime: stringField(o, "finishTime"),
    startedBy: stringField(o, "startedBy"),
    drainNode: stringField(o, "drainNode"),
    lastSequence: numberField(o, "lastSequence"),
  };
}

/** The `job` of Get/Start/CancelReassignment and DrainNode responses. */
export function parseJobResponse(json: unknown): Job {
  return parseJob(objectField(asObject(json), "job"));
}

export function parseJobList(json: unknown): Job[] {
  return arrayField(asObject(json), "jobs").map(parseJob);
}

function parsePathEvent(o: JsonObject): PathEvent {
  return {
    diskId: stringField(o, "diskId"),
    index: numberField(o, "index"),
    ip: stringField(o, "ip"),
    phase: stringField(o, "phase") || "PATH_PHASE_UNSPECIFIED",
    sourceNode: stringField(o, "sourceNode"),
    targetNode: stringField(o, "targetNode"),
    reason: stringField(o, "reason"),
  };
}

export function parseJobWatchMessage(json: unknown): JobWatchMessage {
  const o = asObject(json);
  const path = objectField(o, "path");
  const totals = objectField(o, "totals");
  const finished = stringField(o, "finished");
  return {
    sequence: numberField(o, "sequence"),
    jobId: stringField(o, "jobId"),
    time: stringField(o, "time"),
    path: path === undefined ? undefined : parsePathEvent(path),
    totals: totals === undefined ? undefined : parseTotals(totals),
    finished: finished === "" ? undefined : finished,
    state: stringField(o, "state"),
  };
}

export function parseClusterEvent(json: unknown): ClusterEvent {
  const o = asObject(json);
  return {
    id: stringField(o, "id"),
    time: stringField(o, "time"),
    kind: stringField(o, "kind") || "EVENT_KIND_UNSPECIFIED",
    node: stringField(o, "node"),
    diskId: stringField(o, "diskId"),
    pathIndex: numberField(o, "pathIndex"),
    ip: stringField(o, "ip"),
    fromNode: stringField(o, "fromNode"),
    toNode: stringField(o, "toNode"),
    durationMs: numberField(o, "durationMs"),
    reason: stringField(o, "reason"),
    actor: stringField(o, "actor"),
    jobId: stringField(o, "jobId"),
    result: stringField(o, "result"),
    epoch: numberField(o, "epoch"),
  };
}

export function parseEventPage(json: unknown): EventPage {
  const o = asObject(json);
  return {
    events: arrayField(o, "events").map(parseClusterEvent),
    nextPageToken: stringField(o, "nextPageToken"),
  };
}

/** A WatchEvents message: `{ "event": {…} }`; undefined when it carries none. */
export function parseWatchEventsMessage(json: unknown): ClusterEvent | undefined {
  const event = objectField(asObject(json), "event");
  return event === undefined ? undefined : parseClusterEvent(event);
}
