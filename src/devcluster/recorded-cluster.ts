/**
 * A dev cluster as its state file records it (src/devcluster/state.ts), with what every part of
 * the dev cluster needs to act on it: the layout, a root command runner, queued writes of the
 * state file, the admin client's credentials, and starting a node's tgtd and sanpathd (each
 * recorded as soon as it runs). Bring-up, faults, status and DevCluster itself work through it.
 */
import { join } from "node:path";
import type { ClientAuth } from "../security/client-credentials.js";
import { ExecaCommandRunner } from "../exec/execa-runner.js";
import { attachTopology, type Topology } from "../netns/topology.js";
import { adminClientAuth } from "./admin-client.js";
import { nodeCertificate } from "./cluster-pki.js";
import type { ConsulAgentProbe } from "./consul-server.js";
import { isRunning, type ProcessRecord } from "./detached-process.js";
import { devClusterLayout, MAX_NODES, type DevClusterLayout, type NodeLayout } from "./layout.js";
import { sanpathdFiles, startSanpathd, waitForSanpathd, writeSanpathdConfig } from "./sanpathd-node.js";
import { writeState, type DevClusterState, type NodeState } from "./state.js";
import { startTgtd, unusedTgtControlPort } from "./tgtd-daemon.js";

/** How long one daemon (Consul cluster, sanpathd) may take to come up. */
export const SERVICE_START_MS = 60_000;

export class RecordedCluster {
  readonly layout: DevClusterLayout;
  readonly root: ExecaCommandRunner;
  private saving: Promise<void> = Promise.resolve();
  private clientAuth: Promise<ClientAuth> | undefined;

  constructor(readonly state: DevClusterState) {
    this.layout = devClusterLayout(state.prefix, state.nodeCount);
    this.root = new ExecaCommandRunner({ defaultTimeoutMs: 30_000 });
  }

  /**
   * Writes the state file; writes are queued and each one takes the state as it is when its turn
   * comes, so a slow earlier write never lands after (and over) a newer one.
   */
  persist(): Promise<void> {
    const write = this.saving.then(() => writeState(this.state));
    this.saving = write.catch(() => undefined);
    return write;
  }

  /** Changes the state now and writes it in the background (a failed write is retried by the next). */
  record(apply: () => void): void {
    apply();
    void this.persist().catch(() => undefined);
  }

  /** The admin token and certificate, read once. */
  adminAuth(): Promise<ClientAuth> {
    this.clientAuth ??= adminClientAuth(this.state);
    return this.clientAuth;
  }

  node(name: string): NodeState {
    const node = this.state.nodes.find((candidate) => candidate.name === name);
    if (node === undefined) {
      throw new Error(
        `no node named "${name}" (this dev cluster has ${this.state.nodes.map((other) => other.name).join(", ")})`,
      );
    }
    return node;
  }

  nodeLayout(node: NodeState): NodeLayout {
    return this.layout.nodes[this.state.nodes.indexOf(node)] as NodeLayout;
  }

  topology(everyPossibleNode = false): Topology {
    // down() after a crash may not know how many nodes there were: try every possible name.
    const layout = everyPossibleNode ? devClusterLayout(this.state.prefix, MAX_NODES) : this.layout;
    return attachTopology(layout.topology, { runner: this.root });
  }

  /** Starts the node's tgtd; `samePort` keeps its control port (the one sanpathd's config names). */
  async startNodeTgtd(node: NodeState, signal: AbortSignal, { samePort = false } = {}): Promise<void> {
    if (!samePort) node.tgtControlPort = unusedTgtControlPort();
    await this.persist();
    await startTgtd({
      netns: node.netns,
      runner: this.root.inNetns(node.netns),
      controlPort: node.tgtControlPort,
      logFile: join(node.dir, "tgtd.log"),
      label: `tgtd ${node.name}`,
      signal,
      onStarted: (daemon) => this.record(() => (node.tgtd = daemon)),
    });
  }

  async startNodeSanpathd(node: NodeState, signal: AbortSignal): Promise<void> {
    const layout = this.nodeLayout(node);
    const files = sanpathdFiles(node.dir);
    writeSanpathdConfig({
      node: layout,
      files,
      cephConf: this.state.ceph.confPath,
      pool: this.state.pool,
      tgtControlPort: node.tgtControlPort,
      session: this.state.session,
      auth:
        this.state.auth === undefined
          ? undefined
          : { tokenFile: this.state.auth.tokenFile, nodeTokenFile: this.state.auth.nodeTokenFile },
      tls:
        this.state.tls === undefined
          ? undefined
          : { ca: this.state.tls.ca, ...nodeCertificate(this.state.tls, node.name) },
      parallelism: this.state.sanpathd.parallelism,
      logLevel: this.state.sanpathd.logLevel,
    });
    const record = startSanpathd(layout, node.netns, files);
    node.sanpathd = record;
    await this.persist();
    signal.throwIfAborted();
    await waitForSanpathd(record, files, (await this.adminAuth()).channel, SERVICE_START_MS);
  }

  /** The Consul agents of `nodes` (default: every node) that were started. */
  consulAgents(nodes: readonly NodeState[] = this.state.nodes): ConsulAgentProbe[] {
    return nodes.flatMap((node) => {
      const record = node.consul;
      return record === undefined
        ? []
        : [{ name: node.name, httpSocket: node.consulSocket, running: () => isRunning(record) }];
    });
  }

  nodeProcesses(node: NodeState): ProcessRecord[] {
    return [node.sanpathd, node.consul, node.tgtd].filter(
      (record): record is ProcessRecord => record !== undefined,
    );
  }

  recordedProcesses(): ProcessRecord[] {
    const records: (ProcessRecord | undefined)[] = [this.state.ceph.osd, this.state.ceph.mon];
    for (const node of this.state.nodes) records.push(node.sanpathd, node.consul, node.tgtd);
    return records.filter((record): record is ProcessRecord => record !== undefined);
  }
}
