import type { NodeEndpoint, NodeRpc, PathRequest } from "../assignment/node-rpc.js";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import type { AcquirePathInput, CleanPathInput } from "../node/path-operations.js";
import { isAborted } from "../util/abort.js";

/** What a node answers NodeService calls with (a NodeAgent). */
export interface NodeServiceTarget {
  acquirePath(input: AcquirePathInput, signal: AbortSignal): Promise<unknown>;
  cleanPath(input: CleanPathInput, signal: AbortSignal): Promise<unknown>;
}

/**
 * NodeRpc that calls node agents in this process, addressed like GrpcNodeRpc (by the node record's
 * address), with the same failures: UNAVAILABLE for a node without an address or nobody serving at
 * it, the node's own SanpathError (kind and reason kept, message prefixed with the call and node),
 * DEADLINE_EXCEEDED after the deadline, CANCELLED when the caller's signal aborts.
 */
export class InProcessNodeRpc implements NodeRpc {
  private readonly served = new Map<string, NodeServiceTarget>();
  private readonly calls: { method: string; node: string; request: PathRequest }[] = [];

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

  acquirePath(node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void> {
    return this.call(node, "AcquirePath", request, signal, (target, callSignal) =>
      target.acquirePath(
        { epoch: request.epoch, diskId: request.diskId, index: request.index, jobId: request.jobId ?? "" },
        callSignal,
      ),
    );
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
    );
  }

  private async call(
    node: NodeEndpoint,
    method: string,
    request: PathRequest,
    signal: AbortSignal,
    run: (target: NodeServiceTarget, signal: AbortSignal) => Promise<unknown>,
  ): Promise<void> {
    this.calls.push({ method, node: node.name, request });
    if (node.address === "") {
      throw new SanpathError("unavailable", `node ${node.name} has no gRPC address in its node record`);
    }
    if (signal.aborted) throw new SanpathError("cancelled", `${method} on ${node.name}: cancelled`);
    const target = this.served.get(node.address);
    const where = `${method} on ${node.name} (${node.address})`;
    if (target === undefined) throw new SanpathError("unavailable", `${where}: no connection`);
    const deadline = AbortSignal.timeout(this.deadlineMs);
    const callSignal = AbortSignal.any([signal, deadline]);
    // Like a gRPC call, the caller stops waiting the moment its signal or the deadline aborts.
    const outcome = await new Promise<{ failed: boolean; error?: unknown }>((resolve) => {
      callSignal.addEventListener("abort", () => resolve({ failed: true }), { once: true });
      run(target, callSignal).then(
        () => resolve({ failed: false }),
        (error: unknown) => resolve({ failed: true, error }),
      );
    });
    if (!outcome.failed) return;
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
