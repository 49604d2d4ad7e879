/**
 * Operator actions on a dev cluster through a node's admin socket, for the end-to-end tests and
 * the benchmarks: add disks, start and wait for reassignment jobs, read their events, drain and
 * cordon nodes, wait until every path is placed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import {
  JobState,
  Planner,
  type GetReassignmentResponse,
  type Reassignment,
  type ReassignmentSpec,
  type StartReassignmentResponse,
  type WatchReassignmentResponse,
} from "../gen/sanpath/v1/assignment.js";
import type {
  CordonNodeResponse,
  DrainNodeResponse,
  GetLeaderResponse,
  UncordonNodeResponse,
} from "../gen/sanpath/v1/cluster.js";
import { SubnetChoice } from "../gen/sanpath/v1/common.js";
import type { AddDiskResponse, Disk } from "../gen/sanpath/v1/disk.js";
import type { NodeAdmin } from "./admin-client.js";
import { listPaths, type PathView } from "./client-reads.js";
import type { DevCluster } from "./dev-cluster.js";

const FINISHED: ReadonlySet<JobState> = new Set([
  JobState.JOB_STATE_SUCCEEDED,
  JobState.JOB_STATE_PARTIALLY_FAILED,
  JobState.JOB_STATE_FAILED,
  JobState.JOB_STATE_CANCELLED,
]);

export function isFinished(job: Reassignment): boolean {
  return FINISHED.has(job.state);
}

/** Runs `work` with a node admin client of the first node that can answer (closed afterwards). */
export async function withAdmin<T>(cluster: DevCluster, work: (admin: NodeAdmin) => Promise<T>): Promise<T> {
  const live = cluster.answeringNodes()[0];
  if (live === undefined) throw new Error("no live node to ask");
  const admin = await cluster.admin(live);
  try {
    return await work(admin);
  } finally {
    admin.close();
  }
}

export interface DiskToAdd {
  name: string;
  paths: number;
  subnet?: "1" | "2" | "both";
  sizeGib?: number;
}

const SUBNETS = {
  "1": SubnetChoice.SUBNET_CHOICE_SUBNET1,
  "2": SubnetChoice.SUBNET_CHOICE_SUBNET2,
  both: SubnetChoice.SUBNET_CHOICE_BOTH,
} as const;

export async function addDisk(admin: NodeAdmin, disk: DiskToAdd): Promise<Disk> {
  const response = await admin.call<AddDiskResponse>((md, opts, done) =>
    admin.disk.addDisk(
      {
        name: disk.name,
        sizeGib: disk.sizeGib ?? 1,
        pathCount: disk.paths,
        subnet: SUBNETS[disk.subnet ?? "both"],
        manualIps: [],
        acl: undefined,
        chap: undefined,
        pool: "",
      },
      md,
      opts,
      done,
    ),
  );
  if (response.disk === undefined) throw new Error(`AddDisk ${disk.name}: no disk in the answer`);
  return response.disk;
}

/**
 * Polls ListPaths until every path has a node (and `expectCount` paths exist, when given). An
 * UNAVAILABLE answer (the node's Consul agent restarting) is asked again until the deadline.
 */
export async function waitUntilPlaced(
  admin: NodeAdmin,
  options: { timeoutMs: number; expectCount?: number },
): Promise<PathView[]> {
  const deadline = Date.now() + options.timeoutMs;
  let paths: PathView[] = [];
  while (Date.now() < deadline) {
    try {
      paths = await listPaths(admin);
    } catch (error) {
      if ((error as Partial<ServiceError>).code !== status.UNAVAILABLE || Date.now() >= deadline) throw error;
      await sleep(200);
      continue;
    }
    const countOk = options.expectCount === undefined || paths.length === options.expectCount;
    if (countOk && paths.every((path) => path.node !== "")) return paths;
    await sleep(200);
  }
  const unplaced = paths.filter((path) => path.node === "").map((path) => path.ip);
  throw new Error(
    `paths not placed within ${options.timeoutMs} ms: ${paths.length} listed, unplaced ${unplaced.join(", ") || "none"}`,
  );
}

export async function startJob(
  admin: NodeAdmin,
  spec: ReassignmentSpec,
  parallelism = 0,
): Promise<Reassignment> {
  const response = await admin.call<StartReassignmentResponse>((md, opts, done) =>
    admin.assignment.startReassignment({ spec, stateIndex: 0, parallelism }, md, opts, done),
  );
  if (response.job === undefined) throw new Error("StartReassignment: no job in the answer");
  return response.job;
}

export const REBALANCE: ReassignmentSpec = { auto: { planner: Planner.PLANNER_AVERAGE } };

export function manualMove(ips: readonly string[], targetNode: string): ReassignmentSpec {
  return { manual: { ips: [...ips], targetNode } };
}

export async function getJob(admin: NodeAdmin, id: string): Promise<Reassignment> {
  const response = await admin.call<GetReassignmentResponse>((md, opts, done) =>
    admin.assignment.getReassignment({ id }, md, opts, done),
  );
  if (response.job === undefined) throw new Error(`GetReassignment ${id}: no job`);
  return response.job;
}

/**
 * Polls the job (through whichever live node answers) until it has finished. Transient failures
 * (a node or the coordinator dying under it) are retried until `timeoutMs`.
 */
export async function waitForJob(cluster: DevCluster, id: string, timeoutMs: number): Promise<Reassignment> {
  const deadline = Date.now() + timeoutMs;
  let last: Reassignment | undefined;
  let problem = "";
  while (Date.now() < deadline) {
    try {
      last = await withAdmin(cluster, (admin) => getJob(admin, id));
      if (isFinished(last)) return last;
    } catch (error) {
      problem = (error as Partial<ServiceError>).details ?? String(error);
    }
    await sleep(200);
  }
  throw new Error(
    `job ${id} did not finish within ${timeoutMs} ms (state ${last === undefined ? "unknown" : JobState[last.state]}${
      problem === "" ? "" : `; last error ${problem}`
    })`,
  );
}

export async function drainNode(admin: NodeAdmin, node: string, parallelism = 0): Promise<Reassignment> {
  const response = await admin.call<DrainNodeResponse>((md, opts, done) =>
    admin.cluster.drainNode({ node, parallelism }, md, opts, done),
  );
  if (response.job === undefined) throw new Error(`DrainNode ${node}: no job in the answer`);
  return response.job;
}

export async function cordonNode(admin: NodeAdmin, node: string): Promise<void> {
  await admin.call<CordonNodeResponse>((md, opts, done) =>
    admin.cluster.cordonNode({ node }, md, opts, done),
  );
}

export async function uncordonNode(admin: NodeAdmin, node: string): Promise<void> {
  await admin.call<UncordonNodeResponse>((md, opts, done) =>
    admin.cluster.uncordonNode({ node }, md, opts, done),
  );
}

/** Every event of a finished job, in order (WatchReassignment from sequence 0 to its finished event). */
export async function jobEvents(
  admin: NodeAdmin,
  id: string,
  timeoutMs = 30_000,
): Promise<WatchReassignmentResponse[]> {
  const call = admin.assignment.watchReassignment(
    { id, afterSequence: 0, stopWhenDone: true },
    new Metadata(),
    { deadline: new Date(Date.now() + timeoutMs) },
  );
  const events: WatchReassignmentResponse[] = [];
  try {
    for await (const event of call as AsyncIterable<WatchReassignmentResponse>) {
      events.push(event);
      if (event.finished !== undefined) return events;
    }
  } finally {
    call.cancel();
  }
  throw new Error(`the events of job ${id} ended before its finished event`);
}

/** The coordinator's node name ("" when none is elected). */
export async function coordinatorNode(admin: NodeAdmin): Promise<string> {
  const response = await admin.call<GetLeaderResponse>((md, opts, done) =>
    admin.cluster.getLeader({}, md, opts, done),
  );
  return response.leader?.node ?? "";
}

/** Paths per node from a path list (nodes without paths are absent). */
export function countByNode(paths: readonly PathView[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const path of paths) if (path.node !== "") counts.set(path.node, (counts.get(path.node) ?? 0) + 1);
  return counts;
}
