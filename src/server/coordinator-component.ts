import { join } from "node:path";
import { assignmentHandlers } from "../api/assignment-handlers.js";
import { clusterHandlers } from "../api/cluster-handlers.js";
import { ClusterStateReader } from "../assignment/assignment-stats.js";
import { JobStore } from "../assignment/job-store.js";
import { ReassignmentService } from "../assignment/reassignment-service.js";
import { consulClientOf } from "./consul-client-of.js";
import { ConsulKeys } from "../consul/keys.js";
import { ConsulKvStore } from "../consul/consul-kv-store.js";
import { SessionStateFile } from "../files/session-state-file.js";
import { ConsulSessionStore } from "../consul/consul-session-store.js";
import { Coordinator } from "../coordinator/coordinator.js";
import { Election } from "../coordinator/election.js";
import { LeaderlessFallback } from "../coordinator/leaderless-fallback.js";
import { readLeader } from "../coordinator/leader-record.js";
import { leaderlessMayTake, placementLeasesOf } from "../coordinator/placement-leases.js";
import { GrpcNodeRpc } from "../api/grpc-node-rpc.js";
import { BatchingNodeRpc } from "../assignment/batching-node-rpc.js";
import type { NodeRpc } from "../assignment/node-rpc.js";
import { AllocationKeys } from "../disks/allocation-keys.js";
import { ClusterSettingsStore } from "../disks/cluster-settings-store.js";
import { nodeClientAuth } from "../security/daemon-security.js";
import type { DaemonComponent, RunningComponent } from "./component.js";

export interface CoordinatorComponentOptions {
  /** Deadline of one NodeService call the coordinator makes (default 10 s). */
  rpcTimeoutMs?: number;
}

/**
 * Every sanpathd takes part in the coordinator election; the elected one places free paths and runs
 * reassignment jobs. Every sanpathd serves AssignmentService and the coordinator and node
 * maintenance methods of ClusterService (all through Consul, so any node answers).
 */
export function coordinatorComponent(options: CoordinatorComponentOptions = {}): DaemonComponent {
  return {
    name: "coordinator",
    async start(context): Promise<RunningComponent> {
      const { config, logger, services, advertiseAddress, metrics, events, peerLease } = context;
      const log = logger.child({ component: "coordinator" });
      const auth = await nodeClientAuth(config);
      const client = consulClientOf(context);
      const keys = new ConsulKeys(config.consul.root);
      const kv = new ConsulKvStore(client);
      const sessions = new ConsulSessionStore(client);
      const reader = new ClusterStateReader({ kv, sessions, keys, logger: log });
      const store = new JobStore({ kv, keys });
      const rpcTimeoutMs = options.rpcTimeoutMs ?? 10_000;
      const keeper = peerLease.current;
      const grpcNodes = new GrpcNodeRpc(rpcTimeoutMs, auth);
      const batchWindowMs = config.reassignment.batchWindowMs;
      const nodes: NodeRpc =
        batchWindowMs === 0 ? grpcNodes : new BatchingNodeRpc(grpcNodes, { windowMs: batchWindowMs });
      const leader = (signal: AbortSignal) => readLeader(kv, keys, { signal });
      const service = new ReassignmentService({
        kv,
        keys,
        reader,
        store,
        hasLeader: async (callOptions) => (await readLeader(kv, keys, callOptions)) !== undefined,
        nodeName: config.nodeName,
        defaultParallelism: config.reassignment.parallelism,
        logger: log,
      });
      const coordinator = new Coordinator({
        kv,
        sessions,
        keys,
        reader,
        store,
        nodes,
        logger: log,
        rpcTimeoutMs,
        callsPerNode: config.reassignment.callsPerNode,
        metrics,
        events,
        nodeName: config.nodeName,
        failback: config.failback,
        lease: keeper === undefined ? undefined : placementLeasesOf(keeper, kv, keys),
      });
      metrics.observeCoordinator(() => {
        const leading = coordinator.leading;
        return {
          leader: leading !== undefined,
          epoch: leading?.epoch,
          unservedPaths: leading?.unservedPaths,
          nodes: leading?.nodes,
        };
      });
      const election = new Election({
        kv,
        sessions,
        keys,
        record: { node: config.nodeName, address: advertiseAddress },
        ...(keeper === undefined
          ? {}
          : {
              mayLead: () => keeper.holds(),
              holderLease: {
                clock: () => keeper.clock(),
                expiryProven: (node: string, notBefore: number) => keeper.expiryProven(node, notBefore),
                recheckMs: Math.min(100, keeper.timing.heartbeatMs),
              },
            }),
        ttlSeconds: config.session.ttlSeconds,
        lockDelaySeconds: config.session.lockDelaySeconds,
        fenceDeadlineMs: config.session.fenceDeadlineMs,
        logger: log,
        lead: (term) => coordinator.lead(term),
        events,
        sessionMemory: new SessionStateFile(
          join(config.dataDir, "coordinator-session.json"),
          config.nodeName,
        ),
      });
      services.implement(
        "assignment",
        assignmentHandlers(service, async (signal) => (await leader(signal))?.node ?? ""),
      );
      services.implement(
        "cluster",
        clusterHandlers({
          service,
          settings: new ClusterSettingsStore(kv, new AllocationKeys(keys)),
          leader,
          consulRoot: config.consul.root,
          events,
        }),
      );
      // With no coordinator elected for a while, this node takes free paths itself (its own
      // NodeService, epoch 0), so that no path stays down for lack of a leader.
      const fallback = new LeaderlessFallback({
        kv,
        keys,
        reader,
        nodeName: config.nodeName,
        graceMs: config.reassignment.leaderlessGraceMs,
        ...(keeper === undefined
          ? {}
          : { mayTake: leaderlessMayTake(keeper, config.nodeName), clock: () => keeper.clock() }),
        acquire: (diskId, index, signal) =>
          nodes.acquirePath(
            { name: config.nodeName, address: advertiseAddress },
            { epoch: 0, diskId, index },
            AbortSignal.any([signal, AbortSignal.timeout(rpcTimeoutMs)]),
          ),
        logger: log,
      });
      election.start();
      fallback.start();
      return {
        async stop() {
          services.unimplement("assignment");
          services.unimplement("cluster", [
            "getClusterInfo",
            "getLeader",
            "cordonNode",
            "uncordonNode",
            "drainNode",
          ]);
          await Promise.all([election.stop(), fallback.stop()]);
          grpcNodes.close();
          client.close();
        },
      };
    },
  };
}
