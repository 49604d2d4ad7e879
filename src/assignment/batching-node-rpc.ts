import { isSanpathError, SanpathError } from "../errors/sanpath-error.js";
import { pathKeyOf } from "../node/path-journal.js";
import {
  MAX_PATHS_PER_BATCH,
  type LeaseGrant,
  type LeaseRenewal,
  type NodeEndpoint,
  type NodeRpc,
  type PathBatchOutcome,
  type PathBatchRequest,
  type PathRequest,
} from "./node-rpc.js";

export interface BatchingNodeRpcOptions {
  /** How long the first call of a batch waits for others to join it (ms, default 3). */
  windowMs?: number;
  /** The most paths in one batch (default MAX_PATHS_PER_BATCH). */
  maxPaths?: number;
  /** After a batch call failed as INTERNAL, the node gets single calls for this long (ms, default 300 000). */
  singleCallsForMs?: number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
}

type PathCall = "acquire" | "clean";

interface Member {
  readonly request: PathRequest;
  readonly signal: AbortSignal;
  resolve(): void;
  reject(error: unknown): void;
  settled: boolean;
}

interface OpenBatch {
  readonly call: PathCall;
  readonly node: NodeEndpoint;
  readonly epoch: number;
  readonly jobId: string | undefined;
  readonly members: Member[];
  timer: NodeJS.Timeout | undefined;
}

/**
 * NodeRpc that sends the AcquirePath (or CleanPath) calls made to one node within a few
 * milliseconds of each other as one AcquirePaths (CleanPaths) call: the moves of a job that start
 * together, and the free paths the placement loop gives one node after a failover, cost one round
 * trip and one call on the node instead of one each. Calls join a batch only with the same node,
 * epoch and job; a batch of one is sent as the single-path call. Each caller gets its own path's
 * outcome as the single-path call would have given it; a failure of the whole call (node
 * unreachable, stale epoch, deadline) is every member's, except an INTERNAL one (a node that does
 * not know the batch calls answers UNIMPLEMENTED, which arrives as INTERNAL): then each path goes
 * as a single call, and so do that node's calls for a while. A caller whose signal aborts stops
 * waiting at once; the batch call is cancelled only when every member has given up.
 */
export class BatchingNodeRpc implements NodeRpc {
  private readonly open = new Map<string, OpenBatch>();
  private readonly windowMs: number;
  private readonly maxPaths: number;
  /** Node address → until when it gets single calls (its batch call failed: an older node, say). */
  private readonly singleCallsUntil = new Map<string, number>();
  private readonly now: () => number;
  private readonly singleCallsForMs: number;

  constructor(
    private readonly inner: NodeRpc,
    options: BatchingNodeRpcOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 3;
    this.maxPaths = Math.min(options.maxPaths ?? MAX_PATHS_PER_BATCH, MAX_PATHS_PER_BATCH);
    this.singleCallsForMs = options.singleCallsForMs ?? 300_000;
    this.now = options.now ?? (() => performance.now());
  }

  acquirePath(node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void> {
    return this.join("acquire", node, request, signal);
  }

  cleanPath(node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void> {
    return this.join("clean", node, request, signal);
  }

  acquirePaths(
    node: NodeEndpoint,
    request: PathBatchRequest,
    signal: AbortSignal,
  ): Promise<PathBatchOutcome[]> {
    return this.inner.acquirePaths(node, request, signal);
  }

  cleanPaths(
    node: NodeEndpoint,
    request: PathBatchRequest,
    signal: AbortSignal,
  ): Promise<PathBatchOutcome[]> {
    return this.inner.cleanPaths(node, request, signal);
  }

  renewLease(
    node: NodeEndpoint,
    renewal: LeaseRenewal,
    signal: AbortSignal,
    deadlineMs?: number,
  ): Promise<LeaseGrant> {
    return this.inner.renewLease(node, renewal, signal, deadlineMs);
  }

  private join(call: PathCall, node: NodeEndpoint, request: PathRequest, signal: AbortSignal): Promise<void> {
    if (signal.aborted) {
      return Promise.reject(new SanpathError("cancelled", `${callName(call)} on ${node.name}: cancelled`));
    }
    const key = `${call} ${node.name} ${node.address} ${request.epoch} ${request.jobId ?? ""}`;
    let batch = this.open.get(key);
    const pathKey = pathKeyOf(request.diskId, request.index);
    if (
      batch?.members.some((member) => pathKeyOf(member.request.diskId, member.request.index) === pathKey) ===
      true
    ) {
      // The same path twice in one batch is refused by the node: the earlier batch goes now.
      this.send(key, batch);
      batch = undefined;
    }
    if (batch === undefined) {
      const opened: OpenBatch = {
        call,
        node,
        epoch: request.epoch,
        jobId: request.jobId,
        members: [],
        timer: undefined,
      };
      opened.timer = setTimeout(() => this.send(key, opened), this.windowMs);
      this.open.set(key, opened);
      batch = opened;
    }
    const current = batch;
    return new Promise<void>((resolve, reject) => {
      const member: Member = { request, signal, resolve, reject, settled: false };
      current.members.push(member);
      signal.addEventListener(
        "abort",
        () => settle(member, new SanpathError("cancelled", `${callName(call)} on ${node.name}: cancelled`)),
        { once: true },
      );
      if (current.members.length >= this.maxPaths) this.send(key, current);
    });
  }

  private send(key: string, batch: OpenBatch): void {
    if (this.open.get(key) === batch) this.open.delete(key);
    clearTimeout(batch.timer);
    const members = batch.members.filter((member) => !member.settled);
    if (members.length === 0) return;
    if (members.length === 1 || this.now() < (this.singleCallsUntil.get(batch.node.address) ?? 0)) {
      for (const member of members) this.sendSingle(batch, member);
      return;
    }
    const cancel = new AbortController();
    let waiting = members.length;
    for (const member of members) {
      member.signal.addEventListener(
        "abort",
        () => {
          waiting -= 1;
          if (waiting === 0) cancel.abort(member.signal.reason);
        },
        { once: true },
      );
    }
    const request: PathBatchRequest = {
      epoch: batch.epoch,
      jobId: batch.jobId,
      paths: members.map((member) => ({ diskId: member.request.diskId, index: member.request.index })),
    };
    const sent =
      batch.call === "acquire"
        ? this.inner.acquirePaths(batch.node, request, cancel.signal)
        : this.inner.cleanPaths(batch.node, request, cancel.signal);
    sent.then(
      (outcomes) => {
        members.forEach((member, position) => {
          const outcome = outcomes[position];
          if (outcome === undefined) {
            settle(
              member,
              new SanpathError("internal", `${callName(batch.call)}s on ${batch.node.name}: no outcome`),
            );
          } else settle(member, outcome.error);
        });
      },
      (error: unknown) => {
        if (isSanpathError(error) && error.kind === "internal") {
          // A node that cannot take batches (an older version answers UNIMPLEMENTED) or failed
          // one in an unknown way: each path once more on its own (both calls are idempotent).
          this.singleCallsUntil.set(batch.node.address, this.now() + this.singleCallsForMs);
          for (const member of members) this.sendSingle(batch, member);
          return;
        }
        for (const member of members) settle(member, error);
      },
    );
  }

  private sendSingle(batch: OpenBatch, member: Member): void {
    if (member.settled) return;
    const single =
      batch.call === "acquire"
        ? this.inner.acquirePath(batch.node, member.request, member.signal)
        : this.inner.cleanPath(batch.node, member.request, member.signal);
    single.then(
      () => settle(member),
      (error: unknown) => settle(member, error),
    );
  }
}

function settle(member: Member, error?: unknown): void {
  if (member.settled) return;
  member.settled = true;
  if (error === undefined) member.resolve();
  else member.reject(error);
}

function callName(call: PathCall): string {
  return call === "acquire" ? "AcquirePath" : "CleanPath";
}
