/**
 * A dev cluster's status as people and tests read it: which daemons run, the supervisor and its
 * restarts, the Consul cluster's view (raft leader, serfHealth per node), and the coordinator's
 * view (its node and epoch, paths per node, cordons) from the first node that answers.
 */
import type { ServiceError } from "@grpc/grpc-js";
import type { GetClusterInfoResponse } from "../gen/sanpath/v1/cluster.js";
import { NodeAdmin } from "./admin-client.js";
import { consulNodeHealth } from "./consul-server.js";
import { hasFault, raftLeaderNode } from "./dev-cluster-cuts.js";
import { isRunning } from "./detached-process.js";
import type { RecordedCluster } from "./recorded-cluster.js";
import { sanpathdFiles, sanpathdHealth } from "./sanpathd-node.js";
import type { DaemonRestarts, NodeFault, NodeState } from "./state.js";
import { consoleUrl } from "./console-forward-process.js";
import { CONSOLE_PORT, METRICS_PORT } from "./layout.js";

/**
 * on: it restarts dead daemons; off: it runs but restarts nothing (`supervise off`); dead: it was
 * started and is gone; none: the cluster was started without one.
 */
export type SupervisorState = "on" | "off" | "dead" | "none";

export interface SupervisorStatus {
  state: SupervisorState;
  pid: number | undefined;
  restartDelayMs: number | undefined;
}

export interface NodeStatus {
  name: string;
  /** Its Prometheus endpoint, on its management address (reachable from the cluster's namespaces). */
  metricsUrl: string;
  condition: NodeState["condition"];
  /** Faults injected on top of the condition (Consul or peer cut, frozen sanpathd). */
  faults: NodeFault[];
  consul: boolean;
  tgtd: boolean;
  sanpathd: boolean;
  /** Overall grpc.health.v1 status on the admin socket ("" = no answer). */
  health: string;
  /** serfHealth as the Consul cluster sees it ("" = unknown). */
  serf: string;
  raftLeader: boolean;
  coordinator: boolean;
  /** Paths it serves per the coordinator's view; undefined when unknown. */
  paths: number | undefined;
  cordoned: boolean;
  /** Why its data path failed and it handed its paths off; undefined when it is not degraded. */
  degraded: string | undefined;
  adminSocket: string;
  /** Restarts of its tgtd and Consul agent by the supervisor. */
  restarts: DaemonRestarts;
}

export interface DevClusterStatus {
  dir: string;
  prefix: string;
  /** The CA of the nodes' mutual TLS (port and admin socket); undefined = plaintext. */
  tls: { ca: string; adminCert: string; adminKey: string } | undefined;
  /** Token authentication on (admin and viewer token files), or auth.mode none. */
  auth: { adminTokenFile: string; viewerTokenFile: string | undefined } | undefined;
  /** The web console from the root namespace (forwarded), and on the nodes' management network. */
  console: { url: string | undefined; nodeUrls: string[] };
  ceph: boolean;
  supervisor: SupervisorStatus;
  raftLeader: string | undefined;
  coordinator: { node: string; epoch: number } | undefined;
  /** Why the coordinator's view is missing, when it is. */
  clusterInfoProblem: string | undefined;
  initialised: boolean | undefined;
  nodes: NodeStatus[];
}

/** The supervisor as the state file records it, and whether its process runs. */
export function supervisorStatus(cluster: RecordedCluster): SupervisorStatus {
  const supervision = cluster.state.supervision;
  const record = supervision?.process;
  const state: SupervisorState =
    supervision === undefined || record === undefined
      ? "none"
      : !isRunning(record)
        ? "dead"
        : supervision.enabled
          ? "on"
          : "off";
  return { state, pid: record?.pid, restartDelayMs: supervision?.restartDelayMs };
}

export async function clusterStatus(cluster: RecordedCluster): Promise<DevClusterStatus> {
  cluster.refresh();
  const { state } = cluster;
  // A node whose Consul server is cut off has a stale view: ask the others.
  const reachable = state.nodes.filter(
    (node) =>
      node.condition === "running" &&
      !hasFault(node, "consul-cut") &&
      node.consul !== undefined &&
      isRunning(node.consul),
  );
  const raftLeader = await raftLeaderNode(cluster);
  let serf = new Map<string, string>();
  for (const node of reachable) {
    try {
      serf = await consulNodeHealth(node.consulSocket);
      break;
    } catch {
      // ask the next one
    }
  }

  let info: GetClusterInfoResponse | undefined;
  let clusterInfoProblem: string | undefined = "no node answers";
  // Nodes without injected faults first: a frozen or cut-off sanpathd answers late or not at all.
  const askable = state.nodes
    .filter((candidate) => candidate.condition === "running")
    .sort((a, b) => (a.faults?.length ?? 0) - (b.faults?.length ?? 0));
  for (const node of askable) {
    if (node.sanpathd === undefined || !isRunning(node.sanpathd)) continue;
    const admin = await NodeAdmin.open(state, node.name, 2000);
    try {
      info = await admin.call<GetClusterInfoResponse>((md, opts, done) =>
        admin.cluster.getClusterInfo({}, md, opts, done),
      );
      clusterInfoProblem = undefined;
      break;
    } catch (error) {
      clusterInfoProblem = `${node.name}: ${(error as ServiceError).details || String(error)}`;
    } finally {
      admin.close();
    }
  }
  const { channel } = await cluster.adminAuth();
  const nodes = await Promise.all(
    state.nodes.map(async (node): Promise<NodeStatus> => {
      const summary = info?.nodes.find((candidate) => candidate.name === node.name);
      const sanpathdRunning = node.sanpathd !== undefined && isRunning(node.sanpathd);
      const frozen = hasFault(node, "sanpathd-frozen");
      const mgmtIp = cluster.layout.nodes.find((candidate) => candidate.name === node.name)?.mgmtIp ?? "?";
      return {
        name: node.name,
        metricsUrl: `${state.tls === undefined ? "http" : "https"}://${mgmtIp}:${METRICS_PORT}/metrics`,
        condition: node.condition,
        faults: node.faults ?? [],
        consul: node.consul !== undefined && isRunning(node.consul),
        tgtd: node.tgtd !== undefined && isRunning(node.tgtd),
        sanpathd: sanpathdRunning,
        health: sanpathdRunning && !frozen ? await sanpathdHealth(sanpathdFiles(node.dir), channel) : "",
        serf: serf.get(node.name) ?? "",
        raftLeader: raftLeader === node.name,
        coordinator: info?.leader?.node === node.name,
        paths: summary?.pathCount,
        cordoned: summary?.cordoned ?? false,
        degraded: summary?.degraded === true ? summary.degradedReason : undefined,
        adminSocket: node.adminSocket,
        restarts: node.restarts ?? { consul: 0, tgtd: 0 },
      };
    }),
  );
  return {
    dir: state.dir,
    prefix: state.prefix,
    tls:
      state.tls === undefined
        ? undefined
        : { ca: state.tls.ca, adminCert: state.tls.adminCert, adminKey: state.tls.adminKey },
    auth:
      state.auth === undefined
        ? undefined
        : { adminTokenFile: state.auth.adminTokenFile, viewerTokenFile: state.auth.viewerTokenFile },
    console: {
      url: consoleUrl(cluster),
      nodeUrls: cluster.layout.nodes.map(
        (node) => `${state.tls === undefined ? "http" : "https"}://${node.mgmtIp}:${CONSOLE_PORT}/`,
      ),
    },
    ceph:
      state.ceph.mon !== undefined &&
      isRunning(state.ceph.mon) &&
      state.ceph.osd !== undefined &&
      isRunning(state.ceph.osd),
    supervisor: supervisorStatus(cluster),
    raftLeader,
    coordinator:
      info?.leader === undefined ? undefined : { node: info.leader.node, epoch: info.leader.epoch },
    clusterInfoProblem,
    initialised: info === undefined ? undefined : info.settings !== undefined,
    nodes,
  };
}
