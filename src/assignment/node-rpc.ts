import type { SanpathError } from "../errors/sanpath-error.js";

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

/** Several paths on one node in one call (NodeService.AcquirePaths / CleanPaths). */
export interface PathBatchRequest {
  readonly epoch: number;
  /** 1..MAX_PATHS_PER_BATCH distinct paths. */
  readonly paths: readonly { readonly diskId: string; readonly index: number }[];
  readonly jobId?: string | undefined;
}

/** What became of one path of a batch: `error` is what the single-path call would have failed with. */
export interface PathBatchOutcome {
  readonly diskId: string;
  readonly index: number;
  readonly error?: SanpathError | undefined;
}

/** The most paths one AcquirePaths / CleanPaths call may carry. */
export const MAX_PATHS_PER_BATCH = 64;

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
  /**
   * AcquirePath of every path of the batch in one call, one outcome per path in order. Rejects
   * only when the call as a whole fails (node unreachable, stale epoch, deadline).
   */
  acquirePaths(
    node: NodeEndpoint,
    request: PathBatchRequest,
    signal: AbortSignal,
  ): Promise<PathBatchOutcome[]>;
  /** CleanPath of every path of the batch in one call, as acquirePaths. */
  cleanPaths(node: NodeEndpoint, request: PathBatchRequest, signal: AbortSignal): Promise<PathBatchOutcome[]>;
  /** Peer lease renewal, every node to every other; `deadlineMs` replaces the usual deadline. */
  renewLease(
    node: NodeEndpoint,
    renewal: LeaseRenewal,
    signal: AbortSignal,
    deadlineMs?: number,
  ): Promise<LeaseGrant>;
}
