/**
 * A real multi-node sanpath cluster on one machine, for the demo, end-to-end tests and benchmarks.
 * Layout in src/devcluster/layout.ts; every node runs a Consul server agent, tgtd and sanpathd in
 * its own network namespace; one more namespace runs Ceph, another is the iSCSI client.
 *
 *   const cluster = await DevCluster.up({ dir, nodes: 3 });   // or DevCluster.open(dir) later
 *   await cluster.initCluster();
 *   await cluster.kill("node2");      // power-off: daemons SIGKILLed, addresses gone, links cut
 *   await cluster.restart("node2");
 *   await cluster.restartSanpathd("node1");   // SIGUSR2: paths stay up, the session is handed over
 *   await cluster.partition("node3"); await cluster.heal("node3");
 *   await cluster.cutConsul("node2"); await cluster.healConsul("node2");   // Consul servers only
 *   await cluster.cutPeers("node2"); await cluster.healPeers("node2");     // sanpathd gRPC only
 *   await cluster.freezeSanpathd("node3"); await cluster.thawSanpathd("node3");   // SIGSTOP / SIGCONT
 *   await cluster.raftLeader();       // "node1": whose Consul server leads raft now
 *   await cluster.killConsulAgent("node2");   // kill -9; the supervisor starts it again after ~1 s
 *   await cluster.setSupervision(false);       // from now on a killed daemon stays dead
 *   await cluster.down();             // every process, namespace and the folder: gone
 *
 * Everything `up` starts is recorded in <dir>/state.json as soon as it runs, so `down` (from any
 * process) and a failure halfway through `up` both leave no process, namespace or folder behind.
 * The steps: dev-cluster-bring-up.ts; kill/restart/partition/heal: dev-cluster-faults.ts; Consul
 * and peer cuts, frozen sanpathd, the raft leader: dev-cluster-cuts.ts; a restart of sanpathd alone: sanpathd-restart.ts; status:
 * dev-cluster-status.ts; the recorded state and the node daemons' start: recorded-cluster.ts; the
 * supervisor that restarts dead tgtd and Consul agents (as systemd does in production):
 * supervisor.ts.
 *
 * Security is on by default: tokens (an admin token in <dir>/admin.token) and mutual TLS from a
 * CA of its own (<dir>/pki, src/devcluster/cluster-pki.ts): node-to-node calls present node
 * certificates, and the admin sockets take the admin client certificate plus the token.
 */
import { rmSync } from "node:fs";
import { execaSync } from "execa";
import type { ExecaCommandRunner } from "../exec/execa-runner.js";
import { NodeAdmin } from "./admin-client.js";
import { stopCeph } from "./ceph-cluster.js";
import { consulMembers } from "./consul-server.js";
import { isRunning, killTrees } from "./detached-process.js";
import { bringUp, newClusterState, type DevClusterUpOptions } from "./dev-cluster-bring-up.js";
import {
  cutNodeConsul,
  cutNodePeers,
  freezeNodeSanpathd,
  hasFault,
  healNodeConsul,
  healNodePeers,
  raftLeaderNode,
  thawNodeSanpathd,
} from "./dev-cluster-cuts.js";
import {
  healNode,
  killNode,
  killNodeConsul,
  killNodeSanpathd,
  killNodeTgtd,
  partitionNode,
  restartNode,
  restartNodeTgtd,
  setSupervision,
} from "./dev-cluster-faults.js";
import {
  clusterStatus,
  supervisorStatus,
  type DevClusterStatus,
  type SupervisorStatus,
} from "./dev-cluster-status.js";
import { CEPH_HOST, CLIENT_HOST, DEV_CLUSTER_SETTINGS, type DevClusterLayout } from "./layout.js";
import { readPathLocks, type PathLockRecord } from "./path-lock-records.js";
import { RecordedCluster } from "./recorded-cluster.js";
import { sanpathdFiles, sanpathdHealth } from "./sanpathd-node.js";
import type { SupervisedDaemon } from "./restart-planner.js";
import { restartNodeSanpathd, type SanpathdRestart, type SanpathdStopMode } from "./sanpathd-restart.js";
import { readState, type DevClusterState, type NodeFault } from "./state.js";
import { stopSupervisor } from "./supervisor-process.js";
import { consoleUrl, stopConsoleForward } from "./console-forward-process.js";
import { stopTgtd } from "./tgtd-daemon.js";

export { DEFAULT_PREFIX, type DevClusterUpOptions } from "./dev-cluster-bring-up.js";
export type { DevClusterStatus, NodeStatus, SupervisorStatus } from "./dev-cluster-status.js";
export type { PathLockRecord } from "./path-lock-records.js";
export type { NodeFault } from "./state.js";
export type { SanpathdRestart, SanpathdStopMode } from "./sanpathd-restart.js";

export class DevCluster {
  readonly layout: DevClusterLayout;
  private readonly recorded: RecordedCluster;
  private exitHook: (() => void) | undefined;

  private constructor(readonly state: DevClusterState) {
    this.recorded = new RecordedCluster(state);
    this.layout = this.recorded.layout;
  }

  get dir(): string {
    return this.state.dir;
  }

  /** The dev cluster recorded in `dir`; throws when there is none. */
  static open(dir: string): DevCluster {
    const state = readState(dir);
    if (state === undefined)
      throw new Error(`no dev cluster in ${dir} (start one with: deploy/dev-cluster up)`);
    return new DevCluster(state);
  }

  static async up(options: DevClusterUpOptions): Promise<DevCluster> {
    const cluster = new DevCluster(await newClusterState(options));
    if (options.keepAfterExit !== true) cluster.killAtExit();
    try {
      await bringUp(cluster.recorded, options);
      return cluster;
    } catch (error) {
      await cluster.down().catch(() => undefined);
      throw error;
    }
  }

  /** Stops everything, deletes every namespace and the state folder. Safe to call repeatedly. */
  async down(): Promise<void> {
    const problems: string[] = [];
    const attempt = async (what: string, step: () => Promise<void>): Promise<void> => {
      try {
        await step();
      } catch (error) {
        problems.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
    // First, so that it restarts nothing of a cluster going down.
    await attempt("supervisor", async () => {
      await stopSupervisor(this.recorded);
      this.recorded.refresh();
    });
    await attempt("console forwarder", () => stopConsoleForward(this.recorded));
    await Promise.all(
      this.state.nodes.map((node) =>
        attempt(node.name, async () => {
          await killTrees(this.recorded.nodeProcesses(node));
          if (node.tgtControlPort !== 0) await stopTgtd(undefined, node.tgtControlPort);
        }),
      ),
    );
    await attempt("ceph", () => stopCeph(this.state.ceph));
    // Whatever else runs in the namespaces is killed by PID as they are deleted.
    await attempt("namespaces", () => this.recorded.topology(true).destroy());
    this.exitHook?.();
    if (problems.length > 0) {
      throw new Error(`the dev cluster was not cleaned up completely: ${problems.join("; ")}`);
    }
    rmSync(this.state.dir, { recursive: true, force: true });
  }

  /** A node's death, as a power-off (see killNode). */
  kill(name: string): Promise<void> {
    return killNode(this.recorded, name);
  }

  /** kill -9 of the node's sanpathd alone: a daemon crash (see killNodeSanpathd). */
  killSanpathd(name: string): Promise<void> {
    return killNodeSanpathd(this.recorded, name);
  }

  /** Boots a node again: clean interfaces, links up, Consul, tgtd, sanpathd; waits until SERVING. */
  restart(name: string): Promise<void> {
    return restartNode(this.recorded, name);
  }

  /**
   * Restarts the node's sanpathd alone: SIGUSR2 to its recorded PID ("restart": its paths stay up
   * and the new daemon adopts its session) or SIGTERM ("hand-off": its paths go to other nodes),
   * waits for the old daemon's exit, starts it again and waits for a healthy session.
   */
  restartSanpathd(name: string, mode: SanpathdStopMode = "restart"): Promise<SanpathdRestart> {
    return restartNodeSanpathd(this.recorded, name, mode);
  }

  /** The path locks in Consul (holder session, ModifyIndex), read through a running node's agent. */
  pathLocks(): Promise<Map<string, PathLockRecord>> {
    this.recorded.refresh();
    const node = this.state.nodes.find(
      (candidate) =>
        candidate.condition === "running" &&
        !hasFault(candidate, "consul-cut") &&
        candidate.consul !== undefined &&
        isRunning(candidate.consul),
    );
    if (node === undefined) throw new Error("no running node with a Consul agent");
    return readPathLocks(node.consulSocket);
  }

  /** kill -9 of the node's tgtd, restarted on the same control port after `downMs` (see restartNodeTgtd). */
  restartTgtd(name: string, downMs = 1000): Promise<void> {
    return restartNodeTgtd(this.recorded, name, downMs);
  }

  /** kill -9 of the node's tgtd alone (restarted by the supervisor while supervision is on). */
  killTgtd(name: string): Promise<void> {
    return killNodeTgtd(this.recorded, name);
  }

  /**
   * kill -9 of the node's Consul agent alone (restarted by the supervisor while supervision is on).
   * Every node's agent is a Consul server: killing the raftLeader()'s is a raft leader's death.
   */
  killConsulAgent(name: string): Promise<void> {
    return killNodeConsul(this.recorded, name);
  }

  /**
   * Cuts the node's Consul server off from the other servers (server RPC and gossip, TCP and UDP,
   * both directions) while its sanpathd's gRPC and the iSCSI networks keep working (nftables in its
   * namespace; see dev-cluster-cuts.ts). Recorded in the state file until healConsul or heal.
   */
  cutConsul(name: string): Promise<void> {
    return cutNodeConsul(this.recorded, name);
  }

  /** Repairs a Consul cut and waits until the node's server is a raft voter again. */
  healConsul(name: string): Promise<void> {
    return healNodeConsul(this.recorded, name);
  }

  /** Cuts the node's sanpathd gRPC port from and to the other nodes; its Consul traffic still flows. */
  cutPeers(name: string): Promise<void> {
    return cutNodePeers(this.recorded, name);
  }

  /** Repairs a peer cut. */
  healPeers(name: string): Promise<void> {
    return healNodePeers(this.recorded, name);
  }

  /** SIGSTOP of the node's sanpathd (not its crash guard, not tgtd); resolves once it is stopped. */
  freezeSanpathd(name: string): Promise<void> {
    return freezeNodeSanpathd(this.recorded, name);
  }

  /** SIGCONT of the node's frozen sanpathd; resolves once it runs again. */
  thawSanpathd(name: string): Promise<void> {
    return thawNodeSanpathd(this.recorded, name);
  }

  /** Which node's Consul server is the raft leader now (undefined: none known). */
  raftLeader(): Promise<string | undefined> {
    return raftLeaderNode(this.recorded);
  }

  /**
   * The Consul gossip pool as the node's own agent sees it (`consul members`): node → "alive",
   * "failed", "left"…; asked over the agent's unix socket, which no cut touches.
   */
  consulMembers(name: string): Promise<Map<string, string>> {
    return consulMembers(this.recorded.node(name).consulSocket);
  }

  /** The faults injected into the node (Consul or peer cut, frozen sanpathd), as recorded. */
  faults(name: string): readonly NodeFault[] {
    return this.recorded.node(name).faults ?? [];
  }

  /** Turns the supervisor's restarts on or off. */
  setSupervision(enabled: boolean): Promise<void> {
    return setSupervision(this.recorded, enabled);
  }

  /** Cuts every link of the node (management and both iSCSI nets); its daemons keep running. */
  partition(name: string): Promise<void> {
    return partitionNode(this.recorded, name);
  }

  /**
   * Repairs the node's links, undoes its other faults (cuts, a frozen sanpathd) and waits until its
   * Consul server votes again (see healNode).
   */
  heal(name: string): Promise<void> {
    return healNode(this.recorded, name);
  }

  /** Stores the dev cluster's settings (what `sanpath cluster init` with clusterInitArgs() does). */
  async initCluster(): Promise<void> {
    const admin = await this.admin(this.liveNodes()[0] ?? "node1");
    try {
      await admin.call((md, opts, done) =>
        admin.cluster.initCluster({ settings: DEV_CLUSTER_SETTINGS }, md, opts, done),
      );
    } finally {
      admin.close();
    }
  }

  /** gRPC clients of a node's admin socket (close() them). */
  admin(name: string, timeoutMs?: number): Promise<NodeAdmin> {
    return NodeAdmin.open(this.state, name, timeoutMs);
  }

  /** grpc.health.v1 of a node's sanpathd (`service`: "" overall, or a service name); "" = no answer. */
  async health(name: string, service = ""): Promise<string> {
    const node = this.recorded.node(name);
    const { channel } = await this.recorded.adminAuth();
    return sanpathdHealth(sanpathdFiles(node.dir), channel, 1000, service);
  }

  /** `unix:///…` of a node's admin socket, for `sanpath --server`. */
  serverAddress(name: string): string {
    return `unix://${this.recorded.node(name).adminSocket}`;
  }

  /**
   * The web console on the root namespace's loopback (the forwarder picks the first node whose
   * console answers); undefined when the cluster runs none.
   */
  consoleUrl(): string | undefined {
    return consoleUrl(this.recorded);
  }

  /** Names of the nodes neither killed nor partitioned. */
  liveNodes(): string[] {
    return this.state.nodes.filter((node) => node.condition === "running").map((node) => node.name);
  }

  /**
   * Running nodes without an injected fault whose Consul agent and sanpathd run (a node whose agent
   * was killed or cut off is running but answers cluster calls with UNAVAILABLE; a frozen one not
   * at all; a peer-cut one cannot forward to the coordinator).
   */
  answeringNodes(): string[] {
    this.recorded.refresh();
    return this.state.nodes
      .filter(
        (node) =>
          node.condition === "running" &&
          node.faults === undefined &&
          [node.consul, node.sanpathd].every((record) => record !== undefined && isRunning(record)),
      )
      .map((node) => node.name);
  }

  nodeNs(name: string): string {
    return this.recorded.node(name).netns;
  }

  clientNs(): string {
    return `${this.state.prefix}-${CLIENT_HOST}`;
  }

  /** The namespace of the Ceph host (on the management network, beside the nodes). */
  cephNs(): string {
    return `${this.state.prefix}-${CEPH_HOST}`;
  }

  /** Runs commands in the client namespace (iscsi-readcapacity16 …). */
  clientRunner(): ExecaCommandRunner {
    return this.recorded.root.inNetns(this.clientNs());
  }

  nodeRunner(name: string): ExecaCommandRunner {
    return this.recorded.root.inNetns(this.nodeNs(name));
  }

  status(): Promise<DevClusterStatus> {
    return clusterStatus(this.recorded);
  }

  /**
   * The node's recorded tgtd or Consul agent (as the supervisor last recorded it) and whether it
   * runs; cheap (the state file and /proc), for polling.
   */
  daemon(
    name: string,
    daemon: SupervisedDaemon,
  ): { pid: number | undefined; running: boolean; restarts: number } {
    this.recorded.refresh();
    const node = this.recorded.node(name);
    const record = node[daemon];
    return {
      pid: record?.pid,
      running: record !== undefined && isRunning(record),
      restarts: node.restarts?.[daemon] ?? 0,
    };
  }

  /** The supervisor: on, off, dead or none (see SupervisorStatus). */
  supervisor(): SupervisorStatus {
    this.recorded.refresh();
    return supervisorStatus(this.recorded);
  }

  /** Tests: whatever is still recorded when the process exits is killed, the namespaces deleted. */
  private killAtExit(): void {
    const hook = (): void => {
      try {
        this.recorded.refresh();
      } catch {
        // the recorded processes as this process knows them, then
      }
      for (const record of this.recorded.recordedProcesses()) {
        if (isRunning(record)) {
          try {
            process.kill(record.pid, "SIGKILL");
          } catch {
            // gone already
          }
        }
      }
      for (const host of this.layout.topology.hosts) {
        execaSync("ip", ["netns", "delete", `${this.state.prefix}-${host.name}`], {
          reject: false,
          timeout: 5000,
        });
      }
      execaSync("ip", ["netns", "delete", `${this.state.prefix}-sw`], { reject: false, timeout: 5000 });
      rmSync(this.state.dir, { recursive: true, force: true });
    };
    process.once("exit", hook);
    this.exitHook = () => process.removeListener("exit", hook);
  }
}
