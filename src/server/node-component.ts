import { join } from "node:path";
import { errorMessage } from "../errors/sanpath-error.js";
import { nodeHandlers } from "../api/node-handlers.js";
import { packageVersion } from "../config/package-version.js";
import { consulClientOf } from "./consul-client-of.js";
import { ConsulKvStore } from "../consul/consul-kv-store.js";
import { ConsulSessionStore } from "../consul/consul-session-store.js";
import { SessionHandoverFile } from "../files/session-handover-file.js";
import { SessionStateFile } from "../files/session-state-file.js";
import { ConsulKeys } from "../consul/keys.js";
import { ExecaCommandRunner } from "../exec/execa-runner.js";
import { LioDriver } from "../iscsi/lio-driver.js";
import type { TargetDriver } from "../iscsi/target-driver.js";
import { TgtDriver } from "../iscsi/tgt-driver.js";
import { createNetworkDriver } from "../net/create-network-driver.js";
import { IpMonitorAddressWatch } from "../net/ip-monitor-address-watch.js";
import { DiskSource } from "../node/disk-source.js";
import { startCrashGuard } from "../crash-guard/crash-guard.js";
import { performance } from "node:perf_hooks";
import { leaseAdvertiseAddress, leaseListenOf } from "../config/lease-listen.js";
import { LeaseMembership } from "../node/lease-membership.js";
import { PEER_LEASE_MARGINS, type LeaseStatus } from "../node/peer-lease-keeper.js";
import type { PeerLeaseSnapshot } from "../metrics/prometheus-metrics.js";
import { LeaseWorker } from "../lease-worker/lease-worker.js";
import { monotonicNowMs } from "../util/monotonic-clock.js";
import { NodeAgent } from "../node/node-agent.js";
import { KvPathLocks } from "../node/kv-path-locks.js";
import { KvJobPathMarker } from "../assignment/kv-job-path-marker.js";
import { PathJournal } from "../node/path-journal.js";
import { PathSetup } from "../node/path-setup.js";
import { createImageStore } from "../storage/create-image-store.js";
import type { DaemonComponent, RunningComponent } from "./component.js";

/** Health condition of NodeService: the node may take paths (a session up and, with peer leases, its lease held). */
export const NODE_SESSION_CONDITION = "node-session";
/** NodeService is NOT_SERVING while the node's data path is unhealthy (data-path-probe.ts). */
export const DATA_PATH_CONDITION = "data-path";
const NODE_SERVICE = "sanpath.v1.NodeService";

/** Files of the node agent in the data folder. */
export const NODE_STATE_FILES = {
  /** Write-ahead list of the paths configured here (src/node/path-journal.ts). */
  journal: "node-paths.json",
  /** The node's Consul session id, retired by the next daemon. */
  session: "node-session.json",
  /** The tgt driver's portal pairings. */
  tgtPortals: "tgt-portals.json",
  /** A restarting daemon's session, left to the next one (src/kv/session-handover.ts). */
  handover: "node-handover.json",
  /** The lease worker's newest lease end, for the crash guard (src/crash-guard/lease-file.ts). */
  leaseUntil: "lease-until",
} as const;

/**
 * The node agent (src/node/): the node's Consul session with self-fencing, NodeService
 * (AcquirePath / CleanPath / Status) and reconcile, over the configured target driver (tgt or lio)
 * and the network driver (netlink; ip and arping processes when the net addon cannot be loaded).
 * NodeService is SERVING while the node may take paths: a confirmed session and, with peer leases,
 * its lease held (a starting node's comes one renew after its session).
 */
export function nodeComponent(): DaemonComponent {
  return {
    name: "node-agent",
    async start(context): Promise<RunningComponent> {
      const { config, logger, services, health, advertiseAddress, metrics, events, peerLease } = context;
      const log = logger.child({ component: "node" });
      const lifetime = new AbortController();
      const runner = new ExecaCommandRunner({
        signal: lifetime.signal,
        logger: log,
        observe: (program, ok, seconds) => metrics.commandEnded(program, ok, seconds),
      });
      const target: TargetDriver =
        config.target.driver === "lio"
          ? new LioDriver({ runner, logger: log })
          : new TgtDriver({
              runner,
              logger: log,
              stateFile: join(config.dataDir, NODE_STATE_FILES.tgtPortals),
              ...(config.target.tgtControlPort === 0 ? {} : { controlPort: config.target.tgtControlPort }),
            });
      const journalFile = join(config.dataDir, NODE_STATE_FILES.journal);
      // Removes the journalled path IPs if this process dies without stopping (src/crash-guard/crash-guard.ts).
      const crashGuard = startCrashGuard({
        journalFile,
        handoverFile: join(config.dataDir, NODE_STATE_FILES.handover),
        target: {
          driver: config.target.driver,
          tgtControlPort: config.target.tgtControlPort,
          tgtStateFile: join(config.dataDir, NODE_STATE_FILES.tgtPortals),
        },
        // Peer leases: the lease worker writes each new lease end here, read by the guard before it
        // acts on a lease-until line the main thread could not follow up in time (a busy loop).
        ...(config.liveness.mode === "peer-lease"
          ? { leaseFile: join(config.dataDir, NODE_STATE_FILES.leaseUntil) }
          : {}),
        logLevel: config.logLevel,
        logger: log,
      });
      const client = consulClientOf(context);
      const kv = new ConsulKvStore(client);
      const keys = new ConsulKeys(config.consul.root);
      /**
       * Peer leases: members from the node records; renewals and grants on the lease worker's thread
       * with its own listener (lease-worker.ts); the crash guard told of each new lease end.
       */
      const startPeerLease = async () => {
        const membership = new LeaseMembership({ kv, keys, self: config.nodeName, logger: log });
        membership.start();
        const { heartbeatMs, leaseMs, teardownBudgetMs } = config.lease;
        const startWorker = (listen: string) =>
          LeaseWorker.start({
            self: config.nodeName,
            timing: { heartbeatMs, leaseMs, teardownBudgetMs, ...PEER_LEASE_MARGINS },
            listen,
            config,
            logLevel: config.logLevel,
            members: () => membership.current(),
            leaseFile: join(config.dataDir, NODE_STATE_FILES.leaseUntil),
            logger: log,
            // The node fences when its lease ends; a restart gets it a worker again.
            onFailure: () => process.kill(process.pid, "SIGTERM"),
          });
        const keeper = await startWorker(leaseListenOf(config))
          .catch((error: unknown) => {
            // The default port (listen's + 1) may be taken; the node record says where it is.
            if (config.lease.listen !== undefined) throw error;
            const anyPort = leaseListenOf(config, { anyPort: true });
            log.warn({ err: errorMessage(error), listen: anyPort }, "lease listener: default port not free");
            return startWorker(anyPort);
          })
          .catch(async (error: unknown) => {
            await membership.stop();
            throw error;
          });
        keeper.onChange(() => {
          const fenceAt = keeper.fenceAt();
          // The guard runs on CLOCK_MONOTONIC; performance.now() has this process's origin.
          if (fenceAt !== undefined) crashGuard.leaseUntil(fenceAt + monotonicNowMs() - performance.now());
        });
        peerLease.current = keeper;
        return { membership, keeper, address: leaseAdvertiseAddress(advertiseAddress, keeper.port) };
      };
      const disks = new DiskSource({
        kv,
        keys,
        openImageStore: () => createImageStore(config),
        defaultPool: config.imageStore.pool,
        cephConf: config.imageStore.cephConf,
        cephUser: config.imageStore.cephUser,
        logger: log,
      });
      const lease = config.liveness.mode === "peer-lease" ? await startPeerLease() : undefined;
      const agent = new NodeAgent({
        lease: lease?.keeper,
        nodeName: config.nodeName,
        events,
        advertiseAddress,
        leaseAddress: lease?.address,
        version: packageVersion(),
        kv,
        sessions: new ConsulSessionStore(client),
        locks: new KvPathLocks(kv, keys),
        jobs: new KvJobPathMarker(kv, keys, config.nodeName, log),
        keys,
        disks,
        setup: new PathSetup(target, createNetworkDriver({ runner, logger: log }), log),
        journal: await PathJournal.open(journalFile, log),
        session: config.session,
        interfaces: config.interfaces,
        imageStoreKind: config.imageStore.kind,
        dataPathProbeMs: config.dataPath.probeIntervalMs,
        addressWatch: new IpMonitorAddressWatch({ logger: log }),
        dataPathUnhealthyAfterMs: config.dataPath.degradeAfterMs,
        dataPathRecoverAfterMs: config.dataPath.recoverAfterMs,
        sessionMemory: new SessionStateFile(join(config.dataDir, NODE_STATE_FILES.session), config.nodeName),
        handover: new SessionHandoverFile(join(config.dataDir, NODE_STATE_FILES.handover)),
        logger: log,
        onServingChange: (serving) => health.setCondition(NODE_SESSION_CONDITION, serving, [NODE_SERVICE]),
        onReconcilePass: (fresh, seconds) => metrics.reconcilePassEnded(fresh, seconds),
        onDataPathHealthChange: (healthy) =>
          health.setCondition(DATA_PATH_CONDITION, healthy, [NODE_SERVICE]),
      });
      health.setCondition(NODE_SESSION_CONDITION, false, [NODE_SERVICE]);
      services.implement("node", nodeHandlers(agent));
      agent.start();
      metrics.observeNode(() => {
        const view = agent.metricsView();
        const confirmed = view.session.lastConfirmedAt;
        return {
          node: {
            served: view.served,
            state: view.state,
            sessionAgeSeconds:
              confirmed === undefined ? undefined : (Date.now() - confirmed.getTime()) / 1000,
            fenceDeadlineSeconds: view.fenceDeadlineMs / 1000,
            dataPathHealthy: view.dataPathHealthy,
            highestEpoch: view.highestEpoch,
            lease: leaseSnapshot(lease?.keeper.status()),
          },
          counters: {
            confirmations: view.session.confirmations,
            fences: view.session.fencesByCause,
            degradations: view.counters.degradations,
            acquires: view.counters.acquires,
            acquireFailures: view.counters.acquireFailures,
            cleans: view.counters.cleans,
            cleanFailures: view.counters.cleanFailures,
            repairsAsked: view.repairsAsked,
          },
        };
      });
      return {
        async stop(mode) {
          services.unimplement("node");
          if (mode === "restart" && (await agent.handOver())) {
            await crashGuard.handOver();
          } else {
            await agent.stop();
            await crashGuard.disarm();
          }
          lifetime.abort();
          await lease?.keeper.close();
          await lease?.membership.stop();
          await disks.close();
          client.close();
        },
      };
    },
  };
}

/** The peer lease as the metrics show it (seconds). */
function leaseSnapshot(status: LeaseStatus | undefined): PeerLeaseSnapshot | undefined {
  if (status === undefined) return undefined;
  return {
    validSeconds: status.validForMs / 1000,
    renewals: status.renewals,
    peers: status.peers.map((peer) => ({
      node: peer.node,
      grantedAgoSeconds: peer.grantedAgoMs === undefined ? undefined : peer.grantedAgoMs / 1000,
    })),
  };
}
