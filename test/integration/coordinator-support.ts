/**
 * Support for the coordinator and assignment integration tests that run against a real Consul
 * agent: a node agent that serves NodeService over real gRPC and holds real Consul path locks with
 * its own session (no iSCSI target and no IP: those are the node agent's own tests), disks written
 * into Consul the way DiskService registers them, and the coordinator parts of one sanpathd.
 */
import { kvOf, sessionsOf } from "../support/consul-stores.js";
import { ConsulKvStore } from "../../src/consul/consul-kv-store.js";
import { lockHolder, releaseLock } from "../../src/kv/locks.js";
import { SessionKeeper } from "../../src/kv/session-keeper.js";
import type { KvOperation } from "../../src/kv/kv-store.js";
import { setTimeout as sleep } from "node:timers/promises";
import { Server, ServerCredentials, status as Status } from "@grpc/grpc-js";
import { unary } from "../../src/api/call-handlers.js";
import { ClusterStateReader, type ClusterState } from "../../src/assignment/assignment-stats.js";
import { JobStore } from "../../src/assignment/job-store.js";
import { ReassignmentService } from "../../src/assignment/reassignment-service.js";
import { ConsulClient } from "../../src/consul/consul-client.js";
import type { ConsulKeys } from "../../src/consul/keys.js";
import { runTransaction } from "../../src/consul/transaction.js";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { Election } from "../../src/coordinator/election.js";
import { readLeader } from "../../src/coordinator/leader-record.js";
import { GrpcNodeRpc } from "../../src/api/grpc-node-rpc.js";
import { serializeDiskAllocation } from "../../src/disks/disk-allocation.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import {
  NodeServiceService,
  type AcquirePathRequest,
  type AcquirePathResponse,
  type CleanPathRequest,
  type CleanPathResponse,
} from "../../src/gen/sanpath/v1/node.js";
import { createLogger, type Logger } from "../../src/log/logger.js";
import { writeNodeRecord } from "../../src/node/node-record.js";
import { DEV_CLUSTER_SETTINGS } from "../../src/server/disk-component.js";

export const silentLogger: Logger = createLogger({
  level: process.env.TEST_LOG === "1" ? "debug" : "silent",
});

export interface TestNodeOptions {
  consulAddress: string;
  keys: ConsulKeys;
  name: string;
  lockDelaySeconds?: number;
  /** Added before each CleanPath and AcquirePath answers (to keep a job running for a while). */
  delayMs?: number;
  subnets?: readonly (1 | 2)[];
}

/**
 * A node agent reduced to what the coordinator sees of one: a session (TTL, lock-delay), a node
 * record naming it, and NodeService AcquirePath / CleanPath over gRPC that take and release the
 * path's Consul lock, refuse lower epochs (ABORTED / STALE_EPOCH) and a path held elsewhere
 * (FAILED_PRECONDITION / PATH_HELD_ELSEWHERE).
 */
export interface TestNodeCall {
  method: "acquire" | "clean";
  epoch: number;
  diskId: string;
  index: number;
  jobId: string;
  /** When the call came in (ms since epoch). */
  at: number;
  /** Set when it was answered: true = done, false = refused or failed. */
  ok?: boolean;
}

export class TestNodeAgent {
  readonly calls: TestNodeCall[] = [];
  delayMs: number;
  /** Extra delay of CleanPath calls only (a slow source). */
  cleanDelayMs = 0;
  /** Calls being answered now, and the most there ever were at once. */
  inFlight = 0;
  peakInFlight = 0;
  private highestEpoch = 0;

  private constructor(
    readonly name: string,
    readonly address: string,
    private readonly client: ConsulClient,
    private readonly keys: ConsulKeys,
    private readonly server: Server,
    readonly session: string,
    private readonly keeper: SessionKeeper,
    delayMs: number,
  ) {
    this.delayMs = delayMs;
  }

  static async start(options: TestNodeOptions): Promise<TestNodeAgent> {
    const client = new ConsulClient({ address: options.consulAddress });
    const session = await sessionsOf(client).create({
      name: `test node ${options.name}`,
      ttlSeconds: 10,
      lockDelaySeconds: options.lockDelaySeconds ?? 1,
    });
    const keeper = new SessionKeeper({ sessions: sessionsOf(client), sessionId: session, ttlSeconds: 10 });
    keeper.start();
    const server = new Server();
    const started: { agent?: TestNodeAgent } = {};
    const self = (): TestNodeAgent => {
      if (started.agent === undefined) throw new Error("agent not started");
      return started.agent;
    };
    server.addService(NodeServiceService, {
      acquirePath: unary<AcquirePathRequest, AcquirePathResponse>((request) =>
        self().counted({ method: "acquire", ...request, at: Date.now() }, () => self().acquire(request)),
      ),
      cleanPath: unary<CleanPathRequest, CleanPathResponse>((request) =>
        self().counted(
          {
            method: "clean",
            epoch: request.epoch,
            diskId: request.path?.diskId ?? "",
            index: request.path?.index ?? 0,
            jobId: request.jobId,
            at: Date.now(),
          },
          () => self().clean(request),
        ),
      ),
      status: (_call: unknown, callback: (error: { code: number; details: string }) => void) => {
        callback({ code: Status.UNIMPLEMENTED, details: "not in the test agent" });
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => {
        if (error === null) resolve(bound);
        else reject(error);
      });
    });
    const address = `127.0.0.1:${port}`;
    const agent = new TestNodeAgent(
      options.name,
      address,
      client,
      options.keys,
      server,
      session,
      keeper,
      options.delayMs ?? 0,
    );
    started.agent = agent;
    const subnets = options.subnets ?? [1, 2];
    await writeNodeRecord(kvOf(client), options.keys, {
      name: options.name,
      address,
      interfaces: {
        subnet1: subnets.includes(1) ? "eth1" : undefined,
        subnet2: subnets.includes(2) ? "eth2" : undefined,
      },
      version: "test",
      startedAt: new Date(),
      session,
    });
    return agent;
  }

  private async counted<T>(call: TestNodeCall, answer: () => Promise<T>): Promise<T> {
    this.calls.push(call);
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      const result = await answer();
      call.ok = true;
      return result;
    } catch (error) {
      call.ok = false;
      throw error;
    } finally {
      this.inFlight--;
    }
  }

  private gate(epoch: number): void {
    if (epoch !== 0 && epoch < this.highestEpoch) {
      throw new SanpathError("aborted", `epoch ${epoch} is older than ${this.highestEpoch}`, {
        reason: "STALE_EPOCH",
        field: "epoch",
      });
    }
    this.highestEpoch = Math.max(this.highestEpoch, epoch);
  }

  private async acquire(request: AcquirePathRequest): Promise<AcquirePathResponse> {
    this.gate(request.epoch);
    if (this.delayMs > 0) await sleep(this.delayMs);
    const key = this.keys.diskPath(request.diskId, request.index);
    const holder = await lockHolder(kvOf(this.client), key);
    if (holder?.session === this.session) return { path: undefined, alreadyServed: true };
    if (holder !== undefined || !(await kvOf(this.client).acquire(key, this.session, this.name))) {
      throw new SanpathError(
        "failed_precondition",
        `path ${request.diskId}/${request.index} is held elsewhere`,
        {
          reason: "PATH_HELD_ELSEWHERE",
        },
      );
    }
    return { path: undefined, alreadyServed: false };
  }

  private async clean(request: CleanPathRequest): Promise<CleanPathResponse> {
    const diskId = request.path?.diskId ?? "";
    const index = request.path?.index ?? 0;
    this.gate(request.epoch);
    if (this.delayMs + this.cleanDelayMs > 0) await sleep(this.delayMs + this.cleanDelayMs);
    const released = await releaseLock(kvOf(this.client), this.keys.diskPath(diskId, index), this.session);
    return { wasServed: released, diskId, index, targetDropped: false };
  }

  /** What the node's own code calls (epoch 0: acting without a coordinator). */
  async acquireLocally(diskId: string, index: number): Promise<void> {
    await this.counted({ method: "acquire", epoch: 0, diskId, index, jobId: "", at: Date.now() }, () =>
      this.acquire({ epoch: 0, diskId, index, jobId: "" }),
    );
  }

  /** Paths whose lock this node's session holds. */
  async held(): Promise<string[]> {
    const entries = await this.client.list(this.keys.disks());
    return entries.filter((entry) => entry.session === this.session).map((entry) => entry.key);
  }

  /** A node that dies: gRPC gone at once, its session ended (its locks go into lock-delay). */
  async kill(): Promise<void> {
    this.server.forceShutdown();
    await this.keeper.stop();
    await sessionsOf(this.client)
      .destroy(this.session)
      .catch(() => undefined);
  }

  async stop(): Promise<void> {
    await this.kill();
    this.client.close();
  }
}

/** Writes a running disk the way DiskService.register does (disk key, path keys, allocation record). */
export async function addTestDisk(
  client: ConsulClient,
  keys: ConsulKeys,
  id: string,
  name: string,
  ips: readonly string[],
): Promise<void> {
  const allocation = serializeDiskAllocation({
    id,
    name,
    pool: "rbd",
    ips,
    node: "test",
    token: `token-${id}`,
    createTime: new Date(),
    state: "active",
  });
  await runTransaction(client, [
    { verb: "set", key: keys.allocatedDiskId(id), value: allocation },
    { verb: "set", key: keys.disk(id), value: "disk", flags: 0 },
    ...ips.map((_, i): KvOperation => ({ verb: "set", key: keys.diskPath(id, i + 1), value: "" })),
  ]);
}

/** The cluster settings with two iSCSI subnets (documentation ranges). */
export const TEST_SETTINGS = { ...DEV_CLUSTER_SETTINGS, iqnBase: "iqn.2016-05.org.sanpath.test" };

export interface CoordinatorHost {
  readonly name: string;
  readonly election: Election;
  readonly service: ReassignmentService;
  stop(): Promise<void>;
}

/** The coordinator parts of one sanpathd: election + coordinator + the API's service object. */
export function startCoordinatorHost(options: {
  consulAddress: string;
  keys: ConsulKeys;
  name: string;
  lockDelaySeconds?: number;
  logger?: Logger;
  /** NodeService calls in flight per node (the coordinator's default when not given). */
  callsPerNode?: number;
  /** Deadline of one NodeService call (default 5 s). */
  rpcTimeoutMs?: number;
}): CoordinatorHost {
  const logger = (options.logger ?? silentLogger).child({ host: options.name });
  const client = new ConsulClient({ address: options.consulAddress });
  const { keys } = options;
  const kv = new ConsulKvStore(client);
  const sessions = sessionsOf(client);
  const reader = new ClusterStateReader({ kv, sessions, keys, logger });
  const store = new JobStore({ kv, keys });
  const rpcTimeoutMs = options.rpcTimeoutMs ?? 5000;
  const nodes = new GrpcNodeRpc(rpcTimeoutMs);
  const coordinator = new Coordinator({
    kv,
    sessions,
    keys,
    reader,
    store,
    nodes,
    logger,
    rpcTimeoutMs,
    ...(options.callsPerNode === undefined ? {} : { callsPerNode: options.callsPerNode }),
  });
  const election = new Election({
    kv,
    sessions,
    keys,
    record: { node: options.name, address: `${options.name}:7410` },
    ttlSeconds: 10,
    lockDelaySeconds: options.lockDelaySeconds ?? 1,
    fenceDeadlineMs: 800,
    retryMs: 200,
    logger,
    lead: (term) => coordinator.lead(term),
  });
  const service = new ReassignmentService({
    kv,
    keys,
    reader,
    store,
    hasLeader: async (callOptions) => (await readLeader(kvOf(client), keys, callOptions)) !== undefined,
    nodeName: options.name,
    defaultParallelism: 16,
    logger,
  });
  election.start();
  return {
    name: options.name,
    election,
    service,
    async stop() {
      await election.stop();
      nodes.close();
      client.close();
    },
  };
}

/** Every path of running disks is held exactly once, by a live node. */
export function everyPathServed(state: ClusterState): boolean {
  return state.paths.length > 0 && state.paths.every((path) => path.node !== "");
}

/** Paths per node name. */
export function pathCounts(state: ClusterState): Map<string, number> {
  const counts = new Map<string, number>();
  for (const path of state.paths)
    if (path.node !== "") counts.set(path.node, (counts.get(path.node) ?? 0) + 1);
  return counts;
}

/** No node holds two paths of one disk. */
export function noDiskTwiceOnANode(state: ClusterState): boolean {
  const seen = new Set<string>();
  for (const path of state.paths) {
    const key = `${path.diskId}@${path.node}`;
    if (seen.has(key)) return false;
    seen.add(key);
  }
  return true;
}

/** The first path of each disk, in order. */
export function onePathPerDisk<T extends { diskId: string }>(paths: readonly T[]): T[] {
  const seen = new Set<string>();
  return paths.filter((path) => {
    if (seen.has(path.diskId)) return false;
    seen.add(path.diskId);
    return true;
  });
}

export function readerFor(kv: ConsulKvStore, keys: ConsulKeys): ClusterStateReader {
  return new ClusterStateReader({ kv, sessions: sessionsOf(kv.client), keys, logger: silentLogger });
}
