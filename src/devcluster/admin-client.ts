/**
 * gRPC clients of one dev cluster node, over its admin unix socket, with the dev cluster's admin
 * token (when auth is on) and admin client certificate (mutual TLS, when on). For status, the
 * demo's helpers, tests and benchmarks:
 *
 *   const admin = await NodeAdmin.open(state, "node1");
 *   const info = await admin.call<GetClusterInfoResponse>((md, opts, done) =>
 *     admin.cluster.getClusterInfo({}, md, opts, done));
 *   admin.close();
 */
import { Metadata, type CallOptions, type ChannelOptions, type ServiceError } from "@grpc/grpc-js";
import { AssignmentServiceClient } from "../gen/sanpath/v1/assignment.js";
import { ClusterServiceClient } from "../gen/sanpath/v1/cluster.js";
import { DiskServiceClient } from "../gen/sanpath/v1/disk.js";
import { EventServiceClient } from "../gen/sanpath/v1/event.js";
import { NodeServiceClient } from "../gen/sanpath/v1/node.js";
import { loadClientAuth, type ClientAuth } from "../security/client-credentials.js";
import type { DevClusterState } from "./state.js";

type UnaryStarter<Response> = (
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response?: Response) => void,
) => unknown;

const CHANNEL_OPTIONS: ChannelOptions = { "grpc.keepalive_time_ms": 30_000 };

/**
 * What the operator's side uses against a dev cluster: the admin token and, with TLS on, the
 * cluster CA and the admin client certificate (a unix: target is checked as "localhost", which
 * every node certificate names).
 */
export function adminClientAuth(state: Pick<DevClusterState, "auth" | "tls">): Promise<ClientAuth> {
  return loadClientAuth({
    tokenFile: state.auth?.adminTokenFile,
    ca: state.tls?.ca,
    cert: state.tls?.adminCert,
    key: state.tls?.adminKey,
  });
}

export class NodeAdmin {
  readonly cluster: ClusterServiceClient;
  readonly disk: DiskServiceClient;
  readonly assignment: AssignmentServiceClient;
  readonly node: NodeServiceClient;
  readonly events: EventServiceClient;

  private constructor(
    readonly nodeName: string,
    readonly target: string,
    auth: ClientAuth,
    private readonly timeoutMs: number,
  ) {
    const options = { ...CHANNEL_OPTIONS, ...auth.options };
    this.cluster = new ClusterServiceClient(target, auth.channel, options);
    this.disk = new DiskServiceClient(target, auth.channel, options);
    this.assignment = new AssignmentServiceClient(target, auth.channel, options);
    this.node = new NodeServiceClient(target, auth.channel, options);
    this.events = new EventServiceClient(target, auth.channel, options);
  }

  static async open(state: DevClusterState, nodeName: string, timeoutMs = 10_000): Promise<NodeAdmin> {
    const node = state.nodes.find((candidate) => candidate.name === nodeName);
    if (node === undefined) throw new Error(`the dev cluster has no node named "${nodeName}"`);
    return new NodeAdmin(nodeName, `unix://${node.adminSocket}`, await adminClientAuth(state), timeoutMs);
  }

  /** One unary call with a deadline of `timeoutMs` (default: the one given to open()). */
  call<Response>(start: UnaryStarter<Response>, timeoutMs = this.timeoutMs): Promise<Response> {
    return new Promise((resolve, reject) => {
      start(new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (error, response) => {
        if (error !== null) reject(error);
        else if (response === undefined) reject(new Error("the server sent no response"));
        else resolve(response);
      });
    });
  }

  close(): void {
    this.cluster.close();
    this.disk.close();
    this.assignment.close();
    this.node.close();
    this.events.close();
  }
}
