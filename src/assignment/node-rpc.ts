/** Where a node's sanpathd answers. */
export interface NodeEndpoint {
  readonly name: string;
  /** host:port */
  readonly address: string;
}

export interface PathRequest {
  /** The coordinator's epoch (LockIndex of the coordinator lock); 0 = acting without a coordinator. */
  readonly epoch: number;
  readonly diskId: string;
  readonly index: number;
  /** Set for moves of a reassignment job. */
  readonly jobId?: string | undefined;
}

/**
 * The NodeService calls the coordinator makes (src/coordinator/node-client.ts over gRPC, each with
 * a deadline). Failures are SanpathErrors carrying the node's reason (PATH_HELD_ELSEWHERE,
 * STALE_EPOCH, NODE_FENCED, …) or UNAVAILABLE when the node does not answer.
 */
export interface NodeRpc {
  acquirePath(node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void>;
  cleanPath(node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void>;
}
