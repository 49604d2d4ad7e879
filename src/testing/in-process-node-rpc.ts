import type {
  LeaseGrant,
  LeaseRenewal,
  NodeEndpoint,
  NodeRpc,
  PathBatchOutcome,
  PathBatchRequest,
  PathRequest,
} from "../assignment/node-rpc.js";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import type { PathBatchInput, PathBatchResult } from "../node/node-agent.js";
import type { AcquirePathInput, CleanPathInput } from "../node/path-operations.js";
import { isAborted } from "../util/abort.js";

/** What a node answers NodeService calls with (a NodeAgent). */
export interface NodeServiceTarget {
  acquirePath(input: AcquirePathInput, signal: AbortSignal): Promise<unknown>;
  cleanPath(input: CleanPathInput, signal: AbortSignal): Promise<unknown>;
  acquirePaths(input: PathBatchInput, signal: AbortSignal): Promise<PathBatchResult[]>;
  cleanPaths(input: PathBatchInput, signal: AbortSignal): Promise<PathBatchResult[]>;
  renewLease(renewal: LeaseRenewal, signal: AbortSignal): Promise<LeaseGrant>;
}

/**
 * NodeRpc that calls node agents in this process, addressed like GrpcNodeRpc (by the node record's
 * address), with the same failures: UNAVAILABLE for a node without an address or nobody serving at
 * it, the node's own SanpathError (kind and reason kept, message prefixed with the call and node),
 * DEADLINE_EXCEEDED after the deadline, CANCELLED when the caller's signal aborts.
 */
/** RenewLease calls kept in the log at most (a long test renews thousands of times). */
const MAX_RENEWS_LOGGED = 10_000;

export class InProcessNodeRpc implements NodeRpc {
  private readonly served = new Map<string, NodeServiceTarget>();
  private readonly calls: { method: string; node: string; request: PathRequest }[] = [];
  private renews: { node: string; renewal: LeaseRenewal }[] = [];

  constructor(private readonly deadlineMs = 20_000) {}

  /** Answers calls to `address` with `target` from now on. */
  serve(address: string, target: NodeServiceTarget): void {
    this.served.set(address, target);
  }

  /** Nothing answers at `address` any more (a dead or partitioned node). */
  unserve(address: string): void {
    this.served.delete(address);
  }

  /** Every call made so far, in order. */
  get callLog(): readonly { method: string; node: string; request: PathRequest }[] {
    return this.calls;
  }

  /** The newest RenewLease calls, in order (kept apart and capped: they run every few hundred ms). */
  get renewLog(): readonly { node: string; renewal: LeaseRenewal }[] {
    return this.renews;
  }

  acquirePath(node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void> {
    return this.call(node, "AcquirePath", request, signal, (target, callSignal) =>
      target.acquirePath(
        { epoch: request.epoch, diskId: request.diskId, index: request.index, jobId: request.jobId ?? "" },
        callSignal,
      ),
    ).then(() => undefined);
  }

  cleanPath(node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void> {
    return this.call(node, "CleanPath", request, signal, (target, callSignal) =>
      target.cleanPath(
        {
          epoch: request.epoch,
          target: { kind: "path", diskId: request.diskId, index: request.index },
          jobId: request.jobId ?? "",
        },
        callSignal,
      ),
    ).then(() => undefined);
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

  private async batch(
    node: NodeEndpoint,
    single: "AcquirePath" | "CleanPath",
    request: PathBatchRequest,
    signal: AbortSignal,
  ): Promise<PathBatchOutcome[]> {
    const input = { epoch: request.epoch, paths: request.paths, jobId: request.jobId ?? "" };
    const results = await this.call(node, `${single}s`, firstOf(request), signal, (target, callSignal) =>
      single === "AcquirePath"
        ? target.acquirePaths(input, callSignal)
        : target.cleanPaths(input, callSignal),
    );
    this.logBatch(single, node, request);
    return results.map((result) => outcomeOf(node, single, result));
  }

  /** The batch's other paths in the call log (its first is logged by call()), as single calls. */
  private logBatch(method: string, node: NodeEndpoint, request: PathBatchRequest): void {
    for (const path of request.paths.slice(1)) {
      this.calls.push({
        method: `${method}s`,
        node: node.name,
        request: { ...path, epoch: request.epoch, jobId: request.jobId },
      });
    }
  }

  renewLease(
    node: NodeEndpoint,
    renewal: LeaseRenewal,
    signal: AbortSignal,
    deadlineMs = this.deadlineMs,
  ): Promise<LeaseGrant> {
    if (this.renews.length >= MAX_RENEWS_LOGGED) this.renews = this.renews.slice(MAX_RENEWS_LOGGED / 2);
    this.renews.push({ node: node.name, renewal });
    return this.call(
      node,
      "RenewLease",
      undefined,
      signal,
      (target, callSignal) => target.renewLease(renewal, callSignal),
      deadlineMs,
    );
  }

  private async call<Result>(
    node: NodeEndpoint,
    method: string,
    request: PathRequest | undefined,
    signal: AbortSignal,
    run: (target: NodeServiceTarget, signal: AbortSignal) => Promise<Result>,
    deadlineMs = this.deadlineMs,
  ): Promise<Result> {
    if (request !== undefined) this.calls.push({ method, node: node.name, request });
    if (node.address === "") {
      throw new SanpathError("unavailable", `node ${node.name} has no gRPC address in its node record`);
    }
    if (signal.aborted) throw new SanpathError("cancelled", `${method} on ${node.name}: cancelled`);
    const target = this.served.get(node.address);
    const where = `${method} on ${node.name} (${node.address})`;
    if (target === undefined) throw new SanpathError("unavailable", `${where}: no connection`);
    const deadline = AbortSignal.timeout(deadlineMs);
    const callSignal = AbortSignal.any([signal, deadline]);
    // Like a gRPC call, the caller stops waiting the moment its signal or the deadline aborts.
    const outcome = await new Promise<{ failed: true; error?: unknown } | { failed: false; result: Result }>(
      (resolve) => {
        callSignal.addEventListener("abort", () => resolve({ failed: true }), { once: true });
        run(target, callSignal).then(
          (result) => resolve({ failed: false, result }),
          (error: unknown) => resolve({ failed: true, error }),
        );
      },
    );
    if (!outcome.failed) return outcome.result;
    const error = outcome.error;
    if (isAborted(deadline)) throw new SanpathError("deadline_exceeded", `${where}: deadline exceeded`);
    if (isAborted(signal)) throw new SanpathError("cancelled", `${where}: cancelled`);
    if (error instanceof SanpathError) {
      throw new SanpathError(error.kind, `${where}: ${error.message}`, {
        cause: error,
        ...(error.reason === undefined ? {} : { reason: error.reason }),
      });
    }
    throw new SanpathError("internal", `${where}: ${errorMessage(error)}`, { cause: error });
  }
}

function firstOf(request: PathBatchRequest): PathRequest {
  const first = request.paths[0];
  return {
    epoch: request.epoch,
    diskId: first?.diskId ?? "",
    index: first?.index ?? 0,
    jobId: request.jobId,
  };
}

/** A batch member's failure as GrpcNodeRpc gives it: the node's SanpathError, the call named. */
function outcomeOf(node: NodeEndpoint, method: string, result: PathBatchResult): PathBatchOutcome {
  if (result.error === undefined) return { diskId: result.diskId, index: result.index };
  const where = `${method} of ${result.diskId}/${result.index} on ${node.name} (${node.address})`;
  const error =
    result.error instanceof SanpathError
      ? new SanpathError(result.error.kind, `${where}: ${result.error.message}`, {
          ...(result.error.reason === undefined ? {} : { reason: result.error.reason }),
        })
      : new SanpathError("internal", `${where}: ${errorMessage(result.error)}`);
  return { diskId: result.diskId, index: result.index, error };
}
