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

/** A node renewing its peer lease with another (NodeService.RenewLease). */
export interface LeaseRenewal {
  /** The renewing node's name. */
  readonly node: string;
  /** A restart's hand-over: keep the lease this much longer (ms). */
  readonly holdMs?: number | undefined;
}

/** What the other node answered: whether it granted, and its silences (node → ms it granted nothing). */
export interface LeaseGrant {
  readonly node: string;
  readonly granted: boolean;
  readonly silences: ReadonlyMap<string, number>;
}

/**
 * The NodeService calls the coordinator makes (src/coordinator/node-client.ts over gRPC, each with
 * a deadline). Failures are SanpathErrors carrying the node's reason (PATH_HELD_ELSEWHERE,
 * STALE_EPOCH, NODE_FENCED, …) or UNAVAILABLE when the node does not answer.
 */
export interface NodeRpc {
  acquirePath(node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void>;
  cleanPath(node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void>;
  /** Peer lease renewal, every node to every other; `deadlineMs` replaces the usual deadline. */
  renewLease(
    node: NodeEndpoint,
    renewal: LeaseRenewal,
    signal: AbortSignal,
    deadlineMs?: number,
  ): Promise<LeaseGrant>;
}
