/**
 * A coordinator's term on a ProcessCluster without an Election: a session of its own holding the
 * coordinator lock (so the job store's fenced writes pass their check-session), the lock's
 * LockIndex as the epoch, and an AbortController standing for the term's end. Handing the lock to
 * another session (`takeOver`) gives the next term a higher epoch, as a new election would.
 */
import { ClusterStateReader } from "../../src/assignment/assignment-stats.js";
import { ActiveMoves } from "../../src/assignment/active-moves.js";
import { JobRunner, type JobRunnerOptions, type LeaderTerm } from "../../src/assignment/job-runner.js";
import { JobStore } from "../../src/assignment/job-store.js";
import type { NodeEndpoint } from "../../src/assignment/node-rpc.js";
import { ReassignmentService } from "../../src/assignment/reassignment-service.js";
import { serializeLeaderRecord } from "../../src/coordinator/leader-record.js";
import { PROCESS_SESSION, type ProcessCluster, type ProcessNode } from "./process-cluster.js";

export interface TestTerm extends LeaderTerm {
  readonly session: string;
  readonly controller: AbortController;
  /** Ends the term (the coordinator stepped down); its session stays until `takeOver`. */
  end(): void;
}

/** Creates a coordinator session and takes the coordinator lock with it (which must be free). */
export async function leaderTerm(cluster: ProcessCluster, name = "coordinator"): Promise<TestTerm> {
  const { sessions, kv } = cluster.store;
  const lockKey = cluster.keys.coordinatorLock();
  const session = await sessions.create({
    name: `test ${name}`,
    ttlSeconds: PROCESS_SESSION.ttlSeconds,
    lockDelaySeconds: PROCESS_SESSION.lockDelaySeconds,
    behavior: "release",
  });
  const value = serializeLeaderRecord({ node: name, address: `${name}.test:7410` });
  if (!(await kv.acquire(lockKey, session, value))) throw new Error(`coordinator lock not free for ${name}`);
  const entry = await kv.get(lockKey);
  if (entry?.session !== session) throw new Error("coordinator lock not held after acquiring it");
  const controller = new AbortController();
  return {
    epoch: entry.lockIndex,
    fence: { lockKey, session },
    signal: controller.signal,
    session,
    controller,
    end: () => controller.abort(new Error("test: term ended")),
  };
}

/**
 * The previous coordinator crashed: its term ends, Consul invalidates its session (the lock goes
 * into its lock-delay), the lock-delay passes, and a new coordinator takes the lock.
 */
export async function takeOver(cluster: ProcessCluster, previous: TestTerm, name: string): Promise<TestTerm> {
  previous.end();
  cluster.store.consul.invalidateSession(previous.session);
  cluster.store.clock.advance(PROCESS_SESSION.lockDelaySeconds * 1000 + 1);
  return await leaderTerm(cluster, name);
}

/** The cluster's job store, state reader and a ReassignmentService over them (a leader is assumed). */
export function jobServices(cluster: ProcessCluster): {
  store: JobStore;
  reader: ClusterStateReader;
  service: ReassignmentService;
} {
  const { kv, sessions } = cluster.store;
  const store = new JobStore({ kv, keys: cluster.keys });
  const reader = new ClusterStateReader({ kv, sessions, keys: cluster.keys, logger: cluster.logger });
  const service = new ReassignmentService({
    kv,
    keys: cluster.keys,
    reader,
    store,
    hasLeader: () => Promise.resolve(true),
    nodeName: "admin",
    defaultParallelism: 4,
    logger: cluster.logger,
  });
  return { store, reader, service };
}

/**
 * A JobRunner for `term` over the cluster's Consul and nodes, with the test defaults (5 s RPC
 * deadline, node records read afresh each time); `extra` adds or overrides options.
 */
export function jobRunnerOf(
  cluster: ProcessCluster,
  store: JobStore,
  term: LeaderTerm,
  extra: Partial<JobRunnerOptions> = {},
): JobRunner {
  return new JobRunner({
    kv: cluster.kv,
    sessions: cluster.store.sessions,
    keys: cluster.keys,
    store,
    nodes: cluster.rpc,
    term,
    logger: cluster.logger,
    moves: new ActiveMoves(),
    rpcTimeoutMs: 5000,
    nodeViewMaxAgeMs: 0,
    ...extra,
  });
}

export function endpointOf(node: ProcessNode): NodeEndpoint {
  return { name: node.name, address: node.address };
}

/** The IPs a node has up on its (in-memory) network. */
export function ipsOn(node: ProcessNode): string[] {
  return node.network.kernelAddresses().map((address) => address.ip);
}

/** The IPs a node has an enabled portal for. */
export function portalsOn(node: ProcessNode): string[] {
  return node.target
    .serviceTargets()
    .flatMap((target) => target.portals.filter((portal) => portal.enabled).map((portal) => portal.ip));
}

/** Every IP that is up on more than one node of the cluster. */
export function servedTwice(cluster: ProcessCluster): string[] {
  const seen = new Map<string, number>();
  for (const node of cluster.nodes.values()) {
    for (const ip of new Set(ipsOn(node))) seen.set(ip, (seen.get(ip) ?? 0) + 1);
  }
  return [...seen].filter(([, count]) => count > 1).map(([ip]) => ip);
}
