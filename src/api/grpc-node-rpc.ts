import {
  credentials,
  Metadata,
  status as Status,
  type ChannelCredentials,
  type ClientOptions,
  type ServiceError,
} from "@grpc/grpc-js";
import type {
  LeaseGrant,
  LeaseRenewal,
  NodeEndpoint,
  NodeRpc,
  PathBatchOutcome,
  PathBatchRequest,
  PathRequest,
} from "../assignment/node-rpc.js";
import { REASON_METADATA_KEY } from "./grpc-status.js";
import { SanpathError, type ErrorKind, type ErrorReason } from "../errors/sanpath-error.js";
import {
  NodeServiceClient,
  type AcquirePathsResponse,
  type CleanPathsResponse,
  type PathOutcome,
  type RenewLeaseResponse,
} from "../gen/sanpath/v1/node.js";

const KIND_OF_CODE: ReadonlyMap<number, ErrorKind> = new Map([
  [Status.INVALID_ARGUMENT, "invalid_argument"],
  [Status.NOT_FOUND, "not_found"],
  [Status.ALREADY_EXISTS, "already_exists"],
  [Status.FAILED_PRECONDITION, "failed_precondition"],
  [Status.ABORTED, "aborted"],
  [Status.RESOURCE_EXHAUSTED, "resource_exhausted"],
  [Status.UNAVAILABLE, "unavailable"],
  [Status.DEADLINE_EXCEEDED, "deadline_exceeded"],
  [Status.DATA_LOSS, "data_loss"],
  [Status.UNAUTHENTICATED, "unauthenticated"],
  [Status.PERMISSION_DENIED, "permission_denied"],
  [Status.CANCELLED, "cancelled"],
]);

/**
 * Node channels reconnect quickly: grpc-js backs off up to 120 s by default, and a peer that was
 * down or cut off (or not listening yet while the cluster starts) would then stay unreachable long
 * after it is back, and its peer lease with it.
 */
const NODE_CHANNEL_OPTIONS: ClientOptions = {
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
};

/** Deadline of a call whose signal carries none (ms). */
const DEFAULT_DEADLINE_MS = 20_000;

/** How this node authenticates to other nodes (src/security/daemon-security.ts nodeClientAuth). */
export interface NodeClientAuth {
  readonly channel: ChannelCredentials;
  readonly options: Pick<ClientOptions, "interceptors">;
}

/**
 * NodeService over gRPC, one channel per node address (kept for the term). Every call has a
 * deadline and is cancelled when its signal aborts. Failures come back as SanpathErrors with the
 * node's reason (`sanpath-reason` trailer) and message, e.g. PATH_HELD_ELSEWHERE or STALE_EPOCH.
 */
export class GrpcNodeRpc implements NodeRpc {
  private readonly clients = new Map<string, NodeServiceClient>();

  constructor(
    private readonly deadlineMs = DEFAULT_DEADLINE_MS,
    private readonly auth: NodeClientAuth = { channel: credentials.createInsecure(), options: {} },
  ) {}

  async acquirePath(node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void> {
    const client = this.clientFor(node);
    await this.call(node, "AcquirePath", signal, (metadata, deadline, done) =>
      client.acquirePath(
        { epoch: request.epoch, diskId: request.diskId, index: request.index, jobId: request.jobId ?? "" },
        metadata,
        { deadline },
        done,
      ),
    );
  }

  async cleanPath(node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void> {
    const client = this.clientFor(node);
    await this.call(node, "CleanPath", signal, (metadata, deadline, done) =>
      client.cleanPath(
        {
          epoch: request.epoch,
          path: { diskId: request.diskId, index: request.index },
          jobId: request.jobId ?? "",
        },
        metadata,
        { deadline },
        done,
      ),
    );
  }

  acquirePaths(
    node: NodeEndpoint,
    request: PathBatchRequest,
    signal: AbortSignal,
  ): Promise<PathBatchOutcome[]> {
    return this.batch(node, "AcquirePath", request, signal);
  }

  cleanPaths(
    node: NodeEndpoint,
    request: PathBatchRequest,
    signal: AbortSignal,
  ): Promise<PathBatchOutcome[]> {
    return this.batch(node, "CleanPath", request, signal);
  }

  /** AcquirePaths / CleanPaths: one call, the outcomes checked against the paths asked. */
  private async batch(
    node: NodeEndpoint,
    single: "AcquirePath" | "CleanPath",
    request: PathBatchRequest,
    signal: AbortSignal,
  ): Promise<PathBatchOutcome[]> {
    const client = this.clientFor(node);
    const message = { epoch: request.epoch, paths: [...request.paths], jobId: request.jobId ?? "" };
    const response = await this.call<AcquirePathsResponse | CleanPathsResponse>(
      node,
      `${single}s`,
      signal,
      (metadata, deadline, done) =>
        single === "AcquirePath"
          ? client.acquirePaths(message, metadata, { deadline }, done)
          : client.cleanPaths(message, metadata, { deadline }, done),
    );
    return outcomesOf(node, single, request, response.outcomes);
  }

  async renewLease(
    node: NodeEndpoint,
    renewal: LeaseRenewal,
    signal: AbortSignal,
    deadlineMs = this.deadlineMs,
  ): Promise<LeaseGrant> {
    const client = this.clientFor(node);
    const response = await this.call<RenewLeaseResponse>(
      node,
      "RenewLease",
      signal,
      (metadata, _deadline, done) =>
        client.renewLease(
          { node: renewal.node, holdMs: renewal.holdMs ?? 0 },
          metadata,
          { deadline: new Date(Date.now() + deadlineMs) },
          done,
        ),
    );
    return {
      node: response.node,
      granted: response.granted,
      silences: new Map(response.silences.map((silence) => [silence.node, silence.silentForMs])),
    };
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private clientFor(node: NodeEndpoint): NodeServiceClient {
    if (node.address === "") {
      throw new SanpathError("unavailable", `node ${node.name} has no gRPC address in its node record`);
    }
    let client = this.clients.get(node.address);
    if (client === undefined) {
      client = new NodeServiceClient(node.address, this.auth.channel, {
        ...NODE_CHANNEL_OPTIONS,
        ...this.auth.options,
      });
      this.clients.set(node.address, client);
    }
    return client;
  }

  private call<Response = unknown>(
    node: NodeEndpoint,
    method: string,
    signal: AbortSignal,
    start: (
      metadata: Metadata,
      deadline: Date,
      done: (error: ServiceError | null, response?: Response) => void,
    ) => { cancel(): void },
  ): Promise<Response> {
    if (signal.aborted) {
      return Promise.reject(new SanpathError("cancelled", `${method} on ${node.name}: cancelled`));
    }
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + this.deadlineMs);
      const call = start(new Metadata(), deadline, (error, response) => {
        signal.removeEventListener("abort", cancel);
        if (error !== null) reject(fromServiceError(node, method, error));
        else if (response === undefined)
          reject(new SanpathError("internal", `${method} on ${node.name}: no answer`));
        else resolve(response);
      });
      const cancel = (): void => call.cancel();
      signal.addEventListener("abort", cancel, { once: true });
    });
  }
}

/**
 * A batch's outcomes, one per requested path in order; each failure as the SanpathError the
 * single-path call (`method`) would have given. A node answering for other paths than asked is
 * refused.
 */
function outcomesOf(
  node: NodeEndpoint,
  method: string,
  request: PathBatchRequest,
  outcomes: readonly PathOutcome[],
): PathBatchOutcome[] {
  const matches =
    outcomes.length === request.paths.length &&
    outcomes.every((outcome, position) => {
      const asked = request.paths[position];
      return asked !== undefined && asked.diskId === outcome.diskId && asked.index === outcome.index;
    });
  if (!matches) {
    throw new SanpathError(
      "internal",
      `${method}s on ${node.name} (${node.address}): the node answered for other paths than asked`,
    );
  }
  return outcomes.map((outcome) => {
    if (outcome.code === 0) return { diskId: outcome.diskId, index: outcome.index };
    const kind = KIND_OF_CODE.get(outcome.code) ?? "internal";
    const error = new SanpathError(
      kind,
      `${method} of ${outcome.diskId}/${outcome.index} on ${node.name} (${node.address}): ${outcome.message}`,
      outcome.reason === "" ? {} : { reason: outcome.reason as ErrorReason },
    );
    return { diskId: outcome.diskId, index: outcome.index, error };
  });
}

/** The SanpathError a node's gRPC failure stands for. */
export function fromServiceError(node: NodeEndpoint, method: string, error: ServiceError): SanpathError {
  const reason = error.metadata.get(REASON_METADATA_KEY)[0];
  const kind = KIND_OF_CODE.get(error.code) ?? "internal";
  return new SanpathError(
    kind,
    `${method} on ${node.name} (${node.address}): ${error.details || error.message}`,
    {
      cause: error,
      ...(typeof reason === "string" && reason !== "" ? { reason: reason as ErrorReason } : {}),
    },
  );
}
