/**
 * Reading paths from the client, the way the demo, the tests and the benchmarks need it: every
 * path the cluster lists (optionally only one node's), once or until it reads; and a node's death
 * followed by re-reading each of its paths until it reads again from another node.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { withAdmin } from "./cluster-ops.js";
import type { DevCluster } from "./dev-cluster.js";
import {
  listPaths,
  mapLimited,
  readCapacity,
  waitUntilReadable,
  type PathView,
  type ReadResult,
} from "./client-reads.js";

export interface PathRead {
  path: PathView;
  read: ReadResult;
  /** Time from the start (or from the kill) until it read; attempts made. */
  afterMs: number;
  attempts: number;
}

export interface FailoverReport {
  node: string;
  killedAt: number;
  /** The paths the node served before it died, each with the node serving it afterwards. */
  paths: (PathRead & { newNode: string })[];
}

/** The cluster's path list through the first node that can answer. */
export function clusterPaths(cluster: DevCluster): Promise<PathView[]> {
  return withAdmin(cluster, (admin) => listPaths(admin));
}

/**
 * The cluster's path list once every path has a node (or `timeoutMs` is over: then as it is), so a
 * listing right after adding disks shows where their paths went.
 */
export async function placedPaths(cluster: DevCluster, timeoutMs: number): Promise<PathView[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const paths = await clusterPaths(cluster);
    if (paths.every((path) => path.node !== "") || performance.now() >= deadline) return paths;
    await sleep(200);
  }
}

/** Reads every path (or the given ones) from the client; `waitMs` > 0 retries each until it reads. */
export async function readPaths(
  cluster: DevCluster,
  paths: readonly PathView[],
  options: { waitMs?: number; concurrency?: number } = {},
): Promise<PathRead[]> {
  const client = cluster.clientRunner();
  const started = performance.now();
  return mapLimited(paths, options.concurrency ?? 8, async (path) => {
    if ((options.waitMs ?? 0) <= 0) {
      const read = await readCapacity(client, path);
      return { path, read, afterMs: Math.round(performance.now() - started), attempts: 1 };
    }
    const result = await waitUntilReadable(client, path, { timeoutMs: options.waitMs ?? 0, since: started });
    return { path, read: result, afterMs: result.afterMs, attempts: result.attempts };
  });
}

/**
 * Kills `node` (a power-off), then re-reads each path it served until it reads again (from
 * whichever node took it), for at most `timeoutMs`; times count from the kill.
 */
export async function killAndReread(
  cluster: DevCluster,
  node: string,
  options: { timeoutMs: number; intervalMs?: number },
): Promise<FailoverReport> {
  const before = (await clusterPaths(cluster)).filter((path) => path.node === node);
  const client = cluster.clientRunner();
  const killedAt = performance.now();
  await cluster.kill(node);
  const reads = await mapLimited(before, 16, async (path) => {
    const result = await waitUntilReadable(client, path, {
      timeoutMs: options.timeoutMs,
      intervalMs: options.intervalMs ?? 50,
      attemptTimeoutMs: 1000,
      since: killedAt,
    });
    return { path, read: result, afterMs: result.afterMs, attempts: result.attempts };
  });
  const after = new Map((await clusterPaths(cluster)).map((path) => [path.ip, path.node]));
  return {
    node,
    killedAt,
    paths: reads.map((read) => ({ ...read, newNode: after.get(read.path.ip) ?? "" })),
  };
}
