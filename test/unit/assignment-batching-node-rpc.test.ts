/**
 * BatchingNodeRpc: AcquirePath / CleanPath calls to one node close together go as one batch call,
 * each caller getting its own path's outcome; what must not share a batch does not.
 */
import { describe, expect, it } from "vitest";
import { BatchingNodeRpc } from "../../src/assignment/batching-node-rpc.js";
import type {
  NodeEndpoint,
  NodeRpc,
  PathBatchOutcome,
  PathBatchRequest,
  PathRequest,
} from "../../src/assignment/node-rpc.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { rejectionAs } from "../support/thrown.js";

const A: NodeEndpoint = { name: "a", address: "192.0.2.11:7000" };
const B: NodeEndpoint = { name: "b", address: "192.0.2.12:7000" };

/** Records the calls; batch outcomes fail the paths named in `refuse`, or the whole call with `failAll`. */
class ScriptedRpc implements NodeRpc {
  readonly calls: { method: string; node: string; paths: string[] }[] = [];
  refuse = new Set<string>();
  failAll: SanpathError | undefined;
  lastSignal: AbortSignal | undefined;
  hold: Promise<void> = Promise.resolve();

  async acquirePath(node: NodeEndpoint, request: PathRequest): Promise<void> {
    this.calls.push({
      method: "AcquirePath",
      node: node.name,
      paths: [`${request.diskId}/${request.index}`],
    });
    await this.hold;
  }

  async cleanPath(node: NodeEndpoint, request: PathRequest): Promise<void> {
    this.calls.push({ method: "CleanPath", node: node.name, paths: [`${request.diskId}/${request.index}`] });
    await this.hold;
  }

  acquirePaths(
    node: NodeEndpoint,
    request: PathBatchRequest,
    signal: AbortSignal,
  ): Promise<PathBatchOutcome[]> {
    return this.batch("AcquirePaths", node, request, signal);
  }

  cleanPaths(
    node: NodeEndpoint,
    request: PathBatchRequest,
    signal: AbortSignal,
  ): Promise<PathBatchOutcome[]> {
    return this.batch("CleanPaths", node, request, signal);
  }

  renewLease(): never {
    throw new Error("not used");
  }

  private async batch(
    method: string,
    node: NodeEndpoint,
    request: PathBatchRequest,
    signal: AbortSignal,
  ): Promise<PathBatchOutcome[]> {
    this.lastSignal = signal;
    const paths = request.paths.map((path) => `${path.diskId}/${path.index}`);
    this.calls.push({ method, node: node.name, paths });
    await this.hold;
    if (this.failAll !== undefined) throw this.failAll;
    return request.paths.map((path) =>
      this.refuse.has(`${path.diskId}/${path.index}`)
        ? {
            ...path,
            error: new SanpathError("failed_precondition", "held elsewhere", {
              reason: "PATH_HELD_ELSEWHERE",
            }),
          }
        : { ...path },
    );
  }
}

const request = (diskId: string, index: number, epoch = 1): PathRequest => ({ epoch, diskId, index });
const signal = (): AbortSignal => AbortSignal.timeout(5000);

describe("BatchingNodeRpc", () => {
  it("sends the calls to one node made together as one batch; each caller gets its own path's outcome", async () => {
    const inner = new ScriptedRpc();
    inner.refuse.add("00002/1");
    const rpc = new BatchingNodeRpc(inner, { windowMs: 5 });
    const results = await Promise.allSettled([
      rpc.cleanPath(A, request("00001", 1), signal()),
      rpc.cleanPath(A, request("00002", 1), signal()),
      rpc.cleanPath(A, request("00003", 2), signal()),
      rpc.cleanPath(B, request("00004", 1), signal()),
    ]);
    expect(results.map((result) => result.status)).toEqual([
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    const refused = results[1];
    expect(refused.status === "rejected" ? refused.reason : undefined).toMatchObject({
      reason: "PATH_HELD_ELSEWHERE",
    });
    expect(inner.calls).toEqual([
      { method: "CleanPaths", node: "a", paths: ["00001/1", "00002/1", "00003/2"] },
      { method: "CleanPath", node: "b", paths: ["00004/1"] },
    ]);
  });

  it("keeps acquires and cleans, epochs and jobs apart, and never names a path twice in one batch", async () => {
    const inner = new ScriptedRpc();
    const rpc = new BatchingNodeRpc(inner, { windowMs: 5 });
    await Promise.all([
      rpc.acquirePath(A, request("00001", 1), signal()),
      rpc.cleanPath(A, request("00001", 2), signal()),
      rpc.acquirePath(A, request("00002", 1, 2), signal()),
      rpc.acquirePath(A, { ...request("00003", 1), jobId: "job-1" }, signal()),
      rpc.acquirePath(A, request("00001", 1), signal()),
    ]);
    expect(inner.calls.map((call) => `${call.method} ${call.paths.join(",")}`).sort()).toEqual([
      "AcquirePath 00001/1",
      "AcquirePath 00001/1",
      "AcquirePath 00002/1",
      "AcquirePath 00003/1",
      "CleanPath 00001/2",
    ]);
  });

  it("a failure of the whole batch call is every member's", async () => {
    const inner = new ScriptedRpc();
    inner.failAll = new SanpathError("aborted", "stale epoch", { reason: "STALE_EPOCH" });
    const rpc = new BatchingNodeRpc(inner, { windowMs: 5 });
    const results = await Promise.allSettled([
      rpc.acquirePath(A, request("00001", 1), signal()),
      rpc.acquirePath(A, request("00002", 1), signal()),
    ]);
    for (const result of results) {
      expect(result.status === "rejected" ? result.reason : undefined).toMatchObject({
        reason: "STALE_EPOCH",
      });
    }
  });

  it("a caller that gives up stops waiting at once; the batch is cancelled only when all have", async () => {
    const inner = new ScriptedRpc();
    let release = (): void => undefined;
    inner.hold = new Promise((resolve) => (release = resolve));
    const rpc = new BatchingNodeRpc(inner, { windowMs: 5 });
    const first = new AbortController();
    const second = new AbortController();
    const one = rpc.cleanPath(A, request("00001", 1), first.signal);
    const two = rpc.cleanPath(A, request("00002", 1), second.signal);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(inner.calls).toHaveLength(1);
    first.abort();
    expect(await rejectionAs(SanpathError, one)).toMatchObject({ kind: "cancelled" });
    expect(inner.lastSignal?.aborted).toBe(false);
    second.abort();
    expect(await rejectionAs(SanpathError, two)).toMatchObject({ kind: "cancelled" });
    expect(inner.lastSignal?.aborted).toBe(true);
    release();
  });

  it("a node that cannot take batches (INTERNAL, as UNIMPLEMENTED arrives) gets each path on its own, and single calls for a while", async () => {
    const inner = new ScriptedRpc();
    inner.failAll = new SanpathError("internal", "AcquirePaths on a: 12 UNIMPLEMENTED");
    let now = 0;
    const rpc = new BatchingNodeRpc(inner, { windowMs: 5, singleCallsForMs: 1000, now: () => now });
    await Promise.all([
      rpc.acquirePath(A, request("00001", 1), signal()),
      rpc.acquirePath(A, request("00002", 1), signal()),
    ]);
    expect(inner.calls.map((call) => call.method)).toEqual(["AcquirePaths", "AcquirePath", "AcquirePath"]);
    inner.calls.length = 0;
    await Promise.all([
      rpc.cleanPath(A, request("00001", 1), signal()),
      rpc.cleanPath(A, request("00002", 1), signal()),
    ]);
    expect(inner.calls.map((call) => call.method)).toEqual(["CleanPath", "CleanPath"]);
    inner.calls.length = 0;
    now = 1000;
    inner.failAll = undefined;
    await Promise.all([
      rpc.cleanPath(A, request("00001", 1), signal()),
      rpc.cleanPath(A, request("00002", 1), signal()),
    ]);
    expect(inner.calls.map((call) => call.method)).toEqual(["CleanPaths"]);
  });

  it("sends a full batch at once, without waiting for the window", async () => {
    const inner = new ScriptedRpc();
    const rpc = new BatchingNodeRpc(inner, { windowMs: 60_000, maxPaths: 2 });
    await Promise.all([
      rpc.acquirePath(A, request("00001", 1), signal()),
      rpc.acquirePath(A, request("00002", 1), signal()),
    ]);
    expect(inner.calls).toEqual([{ method: "AcquirePaths", node: "a", paths: ["00001/1", "00002/1"] }]);
  });
});
