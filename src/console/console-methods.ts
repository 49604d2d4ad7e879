import {
  CancelReassignmentRequest,
  CancelReassignmentResponse,
  GetReassignmentRequest,
  GetReassignmentResponse,
  ListNodesRequest,
  ListNodesResponse,
  ListPathsRequest,
  ListPathsResponse,
  ListReassignmentsRequest,
  ListReassignmentsResponse,
  PlanReassignmentRequest,
  PlanReassignmentResponse,
  StartReassignmentRequest,
  StartReassignmentResponse,
  WatchReassignmentRequest,
  WatchReassignmentResponse,
} from "../gen/sanpath/v1/assignment.js";
import {
  CordonNodeRequest,
  CordonNodeResponse,
  DrainNodeRequest,
  DrainNodeResponse,
  GetClusterInfoRequest,
  GetClusterInfoResponse,
  GetClusterSettingsRequest,
  GetClusterSettingsResponse,
  GetLeaderRequest,
  GetLeaderResponse,
  UncordonNodeRequest,
  UncordonNodeResponse,
} from "../gen/sanpath/v1/cluster.js";
import {
  GetDiskRequest,
  GetDiskResponse,
  ListDisksRequest,
  ListDisksResponse,
} from "../gen/sanpath/v1/disk.js";
import {
  ListEventsRequest,
  ListEventsResponse,
  WatchEventsRequest,
  WatchEventsResponse,
} from "../gen/sanpath/v1/event.js";

/** proto3 JSON of one message type (ts-proto's fromJSON / toJSON). */
interface JsonCodec<Message> {
  fromJSON(object: unknown): Message;
  toJSON(message: Message): unknown;
}

/** One RPC the console may call: its gRPC path, kind and JSON codecs. */
export interface ConsoleMethod {
  /** "/sanpath.v1.AssignmentService/ListPaths". */
  readonly path: string;
  readonly streaming: boolean;
  /** The request from its proto3 JSON (unknown fields ignored, as protobuf does). */
  requestFromJson(json: unknown): unknown;
  /** A response (or stream message) as proto3 JSON. */
  responseToJson(message: unknown): unknown;
}

function method<Request, Response>(
  service: string,
  name: string,
  streaming: boolean,
  request: JsonCodec<Request>,
  response: JsonCodec<Response>,
): [string, ConsoleMethod] {
  return [
    `${service}/${name}`,
    {
      path: `/sanpath.v1.${service}/${name}`,
      streaming,
      requestFromJson: (json) => request.fromJSON(json),
      responseToJson: (message) => response.toJSON(message as Response),
    },
  ];
}

/**
 * What the console offers, by "Service/Method": reads, reassignment jobs, cordon and drain. Not
 * offered: disk writes, InitCluster, import and NodeService (the CLI does those); a method missing
 * here answers 404 whatever the caller's role. Whether a caller may call one is decided by the
 * same access table as the API (src/security/method-access.ts), in the gate.
 */
export const CONSOLE_METHODS: ReadonlyMap<string, ConsoleMethod> = new Map([
  method("ClusterService", "GetClusterInfo", false, GetClusterInfoRequest, GetClusterInfoResponse),
  method("ClusterService", "GetLeader", false, GetLeaderRequest, GetLeaderResponse),
  method(
    "ClusterService",
    "GetClusterSettings",
    false,
    GetClusterSettingsRequest,
    GetClusterSettingsResponse,
  ),
  method("ClusterService", "CordonNode", false, CordonNodeRequest, CordonNodeResponse),
  method("ClusterService", "UncordonNode", false, UncordonNodeRequest, UncordonNodeResponse),
  method("ClusterService", "DrainNode", false, DrainNodeRequest, DrainNodeResponse),
  method("AssignmentService", "ListPaths", false, ListPathsRequest, ListPathsResponse),
  method("AssignmentService", "ListNodes", false, ListNodesRequest, ListNodesResponse),
  method("AssignmentService", "PlanReassignment", false, PlanReassignmentRequest, PlanReassignmentResponse),
  method(
    "AssignmentService",
    "StartReassignment",
    false,
    StartReassignmentRequest,
    StartReassignmentResponse,
  ),
  method("AssignmentService", "GetReassignment", false, GetReassignmentRequest, GetReassignmentResponse),
  method(
    "AssignmentService",
    "ListReassignments",
    false,
    ListReassignmentsRequest,
    ListReassignmentsResponse,
  ),
  method(
    "AssignmentService",
    "CancelReassignment",
    false,
    CancelReassignmentRequest,
    CancelReassignmentResponse,
  ),
  method("AssignmentService", "WatchReassignment", true, WatchReassignmentRequest, WatchReassignmentResponse),
  method("DiskService", "ListDisks", false, ListDisksRequest, ListDisksResponse),
  method("DiskService", "GetDisk", false, GetDiskRequest, GetDiskResponse),
  method("EventService", "ListEvents", false, ListEventsRequest, ListEventsResponse),
  method("EventService", "WatchEvents", true, WatchEventsRequest, WatchEventsResponse),
]);
