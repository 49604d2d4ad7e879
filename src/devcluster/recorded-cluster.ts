/**
 * A dev cluster as its state file records it (src/devcluster/state.ts), with what every part of
 * the dev cluster needs to act on it: the layout, a root command runner, queued writes of the
 * state file, the admin client's credentials, and starting a node's Consul agent, tgtd and
 * sanpathd (each recorded as soon as it runs). Bring-up, faults, status, the supervisor and
 * DevCluster itself work through it.
 *
 * Two processes write the state file: the one changing the cluster (a command, a test) and the
 * supervisor (supervisor.ts). Changes are made under the state lock (state-lock.ts, `exclusive`);
 * whoever takes it first adopts what the supervisor recorded meanwhile (adoptSupervisorRecords).
 */
import { join } from "node:path";
import type { ClientAuth } from "../security/client-credentials.js";
import { ExecaCommandRunner } from "../exec/execa-runner.js";
import { attachTopology, type Topology } from "../netns/topology.js";
import { adminClientAuth } from "./admin-client.js";
import { nodeCertificate } from "./cluster-pki.js";
import { consulServerFiles, startConsulServer, type ConsulAgentProbe } from "./consul-server.js";
import { isRunning, type ProcessRecord } from "./detached-process.js";
import { devClusterLayout, MAX_NODES, type DevClusterLayout, type NodeLayout } from "./layout.js";
import { sanpathdFiles, startSanpathd, waitForSanpathd, writeSanpathdConfig } from "./sanpathd-node.js";
import { adoptSupervisorRecords } from "./supervisor-records.js";
import { lockState, tryLockState, type StateLock } from "./state-lock.js";
import { readState, writeState, type DevClusterState, type NodeState } from "./state.js";
import { startTgtd, unusedTgtControlPort } from "./tgtd-daemon.js";

/** How long one daemon (Consul cluster, sanpathd) may take to come up. */
export const SERVICE_START_MS = 60_000;

/** How long a change waits for the state lock (a supervisor restart, a long change elsewhere). */
const LOCK_WAIT_MS = 3 * SERVICE_START_MS;

export class RecordedCluster {
  readonly layout: DevClusterLayout;
  readonly root: ExecaCommandRunner;
  private saving: Promise<void> = Promise.resolve();
  private clientAuth: Promise<ClientAuth> | undefined;
  /** The state lock, shared by every flow of this process that needs it (counted in `holders`). */
  private lock: StateLock | undefined;
  private holders = 0;
  private locking: Promise<void> | undefined;

  constructor(readonly state: DevClusterState) {
    this.layout = devClusterLayout(state.prefix, state.nodeCount);
    this.root = new ExecaCommandRunner({ defaultTimeoutMs: 30_000 });
  }

  /**
   * The cluster as recorded now, for `work` under the state lock; undefined when another process
   * holds the lock or the cluster is gone (the supervisor tries again next round).
   */
  static async tryLocked<T>(
    dir: string,
    work: (cluster: RecordedCluster) => Promise<T>,
  ): Promise<T | undefined> {
    const lock = tryLockState(dir);
    if (lock === undefined) return undefined;
    const state = readState(dir);
    if (state === undefined) {
      lock.release();
      return undefined;
    }
    const cluster = new RecordedCluster(state);
    cluster.lock = lock;
    cluster.holders = 1;
    return cluster.holding(() => work(cluster));
  }

  /**
   * Runs `work` under the state lock (waiting for it; the first taker adopts what the supervisor
   * recorded meanwhile); its writes land before the lock is released.
   */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    await this.hold();
    return this.holding(work);
  }

  /** Runs `work` with the lock held (counted once already), then lets go of it. */
  private async holding<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } finally {
      await this.saving;
      this.unhold();
    }
  }

  private async hold(): Promise<void> {
    this.holders += 1;
    if (this.lock !== undefined) return;
    this.locking ??= lockState(this.state.dir, LOCK_WAIT_MS)
      .then((lock) => {
        this.lock = lock;
        adoptSupervisorRecords(this.state, readState(this.state.dir));
      })
      .finally(() => (this.locking = undefined));
    try {
      await this.locking;
    } catch (error) {
      this.holders -= 1;
      throw error;
    }
  }

  private unhold(): void {
    this.holders -= 1;
    if (this.holders > 0) return;
    this.lock?.release();
    this.lock = undefined;
  }

  /**
   * Writes the state file under the state lock; writes are queued and each one takes the state as
   * it is when its turn comes, so a slow earlier write never lands after (and over) a newer one.
   */
  persist(): Promise<void> {
    const write = this.saving.then(async () => {
      await this.hold();
      try {
        await writeState(this.state);
      } finally {
        this.unhold();
      }
    });
    this.saving = write.catch(() => undefined);
    return write;
  }

  /**
   * Adopts what the supervisor recorded since this process read or wrote the state file; nothing
   * to adopt while this process holds the lock (and its own changes may not be written yet).
   */
  refresh(): void {
    if (this.holders === 0) adoptSupervisorRecords(this.state, readState(this.state.dir));
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

  /** Starts the node's Consul server agent with its data folder and configuration (it rejoins); returns at once. */
  async startNodeConsul(node: NodeState): Promise<void> {
    const files = consulServerFiles(node.dir);
    node.consul = startConsulServer(this.nodeLayout(node), this.layout.nodes, node.netns, files);
    await this.persist();
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

  /** Every recorded process, the supervisor first (so that it restarts nothing of a dying cluster). */
  recordedProcesses(): ProcessRecord[] {
    const records: (ProcessRecord | undefined)[] = [
      this.state.supervision?.process,
      this.state.ceph.osd,
      this.state.ceph.mon,
    ];
    for (const node of this.state.nodes) records.push(node.sanpathd, node.consul, node.tgtd);
    return records.filter((record): record is ProcessRecord => record !== undefined);
  }
}
