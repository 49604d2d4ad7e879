/**
 * A real multi-node sanpath cluster on one machine, for the demo, end-to-end tests and benchmarks.
 * Layout in src/devcluster/layout.ts; every node runs a Consul server agent, tgtd and sanpathd in
 * its own network namespace; one more namespace runs Ceph, another is the iSCSI client.
 *
 *   const cluster = await DevCluster.up({ dir, nodes: 3 });   // or DevCluster.open(dir) later
 *   await cluster.initCluster();
 *   await cluster.kill("node2");      // power-off: daemons SIGKILLed, addresses gone, links cut
 *   await cluster.restart("node2");
 *   await cluster.partition("node3"); await cluster.heal("node3");
 *   await cluster.down();             // every process, namespace and the folder: gone
 *
 * Everything `up` starts is recorded in <dir>/state.json as soon as it runs, so `down` (from any
 * process) and a failure halfway through `up` both leave no process, namespace or folder behind.
 *
 * Security is on by default: tokens (an admin token in <dir>/admin.token) and mutual TLS from a
 * CA of its own (<dir>/pki, src/devcluster/cluster-pki.ts): node-to-node calls present node
 * certificates, and the admin sockets take the admin client certificate plus the token.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execaSync } from "execa";
import type { ServiceError } from "@grpc/grpc-js";
import type { ClientAuth } from "../security/client-credentials.js";
import type { GetClusterInfoResponse } from "../gen/sanpath/v1/cluster.js";
import { ExecaCommandRunner } from "../exec/execa-runner.js";
import { attachTopology, createTopology, listNamespaces, type Topology } from "../netns/topology.js";
import { formatTokenFile, generateToken, tokenEntry } from "../security/token-file.js";
import { adminClientAuth, NodeAdmin } from "./admin-client.js";
import { clusterPki, issueClusterPki, nodeCertificate } from "./cluster-pki.js";
import { cephFiles, startCeph, stopCeph } from "./ceph-cluster.js";
import {
  consulLeader,
  consulNodeHealth,
  consulServerFiles,
  startConsulServer,
  waitForConsulCluster,
  waitForVoter,
  writeConsulConfig,
} from "./consul-server.js";
import { isRunning, killTrees, type ProcessRecord } from "./detached-process.js";
import {
  CEPH_HOST,
  CEPH_IP,
  CLIENT_HOST,
  DEV_CLUSTER_SETTINGS,
  devClusterLayout,
  MAX_NODES,
  NODE_INTERFACES,
  nodeBridges,
  type DevClusterLayout,
  type NodeLayout,
} from "./layout.js";
import {
  DEV_SESSION_TIMING,
  sanpathdFiles,
  sanpathdHealth,
  startSanpathd,
  waitForSanpathd,
  writeSanpathdConfig,
  type SessionTiming,
} from "./sanpathd-node.js";
import { readState, writeState, type DevClusterState, type NodeState } from "./state.js";
import { startTgtd, stopTgtd, unusedTgtControlPort } from "./tgtd-daemon.js";

export const DEFAULT_PREFIX = "spdev";

export interface DevClusterUpOptions {
  /** State folder: created; removed again by down(). */
  dir: string;
  /** 1..9, default 3. */
  nodes?: number;
  /** Namespace prefix (default "spdev"; tests use a unique one). */
  prefix?: string;
  session?: SessionTiming;
  /** Token authentication on (default) or auth.mode none. */
  auth?: boolean;
  /** Mutual TLS from the dev cluster's own CA (default) or tls.plaintext. */
  tls?: boolean;
  /** reassignment.parallelism of every sanpathd (default 16). */
  parallelism?: number;
  logLevel?: string;
  /**
   * The cluster outlives this process (deploy/dev-cluster up). false (tests): the process's exit
   * kills whatever is still recorded and deletes the namespaces, even when afterAll never ran.
   */
  keepAfterExit?: boolean;
  /** Progress lines for people ("ceph: up in 2.1 s"). */
  progress?: (line: string) => void;
  /** Budget for the whole start-up; default 120 s. */
  timeoutMs?: number;
}

export interface NodeStatus {
  name: string;
  condition: NodeState["condition"];
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
  adminSocket: string;
}

export interface DevClusterStatus {
  dir: string;
  prefix: string;
  /** The CA of the nodes' mutual TLS (port and admin socket); undefined = plaintext. */
  tls: { ca: string } | undefined;
  /** Token authentication on (admin token file), or auth.mode none. */
  auth: { adminTokenFile: string } | undefined;
  ceph: boolean;
  raftLeader: string | undefined;
  coordinator: { node: string; epoch: number } | undefined;
  /** Why the coordinator's view is missing, when it is. */
  clusterInfoProblem: string | undefined;
  initialised: boolean | undefined;
  nodes: NodeStatus[];
}

const SERVICE_START_MS = 60_000;

export class DevCluster {
  readonly layout: DevClusterLayout;
  private readonly root: ExecaCommandRunner;
  private exitHook: (() => void) | undefined;
  private saving: Promise<void> = Promise.resolve();
  private clientAuth: Promise<ClientAuth> | undefined;

  private constructor(readonly state: DevClusterState) {
    this.layout = devClusterLayout(state.prefix, state.nodeCount);
    this.root = new ExecaCommandRunner({ defaultTimeoutMs: 30_000 });
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
    const nodeCount = options.nodes ?? 3;
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    const progress = options.progress ?? (() => undefined);
    const existing = readState(options.dir);
    if (existing !== undefined) {
      throw new Error(
        `a dev cluster is recorded in ${options.dir} already: stop it first (deploy/dev-cluster down)`,
      );
    }
    const leftovers = (await listNamespaces(new ExecaCommandRunner())).filter((ns) =>
      ns.startsWith(`${prefix}-`),
    );
    if (leftovers.length > 0) {
      throw new Error(
        `network namespaces of an earlier dev cluster are still there (${leftovers.join(", ")}): run deploy/dev-cluster down`,
      );
    }
    const layout = devClusterLayout(prefix, nodeCount);
    // Tokens, keys and admin sockets live here: the owner's alone.
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const tls = options.tls === false ? undefined : clusterPki(options.dir);
    const auth =
      options.auth === false
        ? undefined
        : {
            tokenFile: join(options.dir, "tokens.json"),
            adminTokenFile: join(options.dir, "admin.token"),
            // With TLS, nodes are known by their certificates (and role-node tokens are refused).
            ...(tls === undefined ? { nodeTokenFile: join(options.dir, "node.token") } : {}),
          };
    const state: DevClusterState = {
      version: 1,
      dir: options.dir,
      prefix,
      nodeCount,
      createdAt: new Date().toISOString(),
      ownerPid: process.pid,
      session: options.session ?? DEV_SESSION_TIMING,
      auth,
      tls,
      pool: DEV_CLUSTER_SETTINGS.defaultPool,
      sanpathd: { parallelism: options.parallelism ?? 16, logLevel: options.logLevel ?? "info" },
      ceph: { dir: join(options.dir, "ceph"), confPath: cephFiles(join(options.dir, "ceph")).confPath },
      topology: false,
      nodes: layout.nodes.map((node) => {
        const dir = join(options.dir, node.name);
        return {
          name: node.name,
          netns: `${prefix}-${node.name}`,
          dir,
          adminSocket: sanpathdFiles(dir).adminSocket,
          consulSocket: consulServerFiles(dir).httpSocket,
          tgtControlPort: 0,
          condition: "running",
        };
      }),
    };
    await writeState(state);
    const cluster = new DevCluster(state);
    if (options.keepAfterExit !== true) cluster.killAtExit();
    const started = performance.now();
    const lifetime = AbortSignal.timeout(options.timeoutMs ?? 120_000);
    try {
      await createTopology(layout.topology, { keepAfterExit: true, runner: cluster.root });
      state.topology = true;
      await cluster.persist();
      progress(`network: ${nodeCount} node namespaces, ceph, client, 3 bridges (${elapsed(started)})`);
      if (auth !== undefined) writeTokens(auth);
      const pki = (async () => {
        if (tls === undefined) return;
        await issueClusterPki(cluster.root, tls, layout.nodes, lifetime);
        progress(
          `pki: cluster CA, ${nodeCount} node certificates, admin client certificate (${elapsed(started)})`,
        );
      })();

      const record = (apply: () => void): void => {
        apply();
        void cluster.persist().catch(() => undefined);
      };
      const ceph = (async () => {
        const files = cephFiles(state.ceph.dir);
        mkdirSync(files.dir, { recursive: true });
        await startCeph({
          files,
          runner: cluster.root.inNetns(`${prefix}-${CEPH_HOST}`),
          netns: `${prefix}-${CEPH_HOST}`,
          ip: CEPH_IP,
          pool: state.pool,
          signal: lifetime,
          onStarted: (daemon) =>
            record(() => {
              if (daemon.label === "ceph-mon") state.ceph.mon = daemon;
              else state.ceph.osd = daemon;
            }),
        });
        progress(`ceph: mon + memstore OSD, pool "${state.pool}" ready (${elapsed(started)})`);
      })();
      const consul = (async () => {
        for (const [index, node] of state.nodes.entries()) {
          const nodeLayout = layout.nodes[index] as NodeLayout;
          mkdirSync(node.dir, { recursive: true });
          const files = consulServerFiles(node.dir);
          writeConsulConfig(files);
          record(() => (node.consul = startConsulServer(nodeLayout, layout.nodes, node.netns, files)));
        }
        await waitForConsulCluster(
          consulAgents(state),
          layout.nodes.map((node) => node.name),
          SERVICE_START_MS,
        );
        progress(
          `consul: ${nodeCount} servers, raft leader elected, every node passing (${elapsed(started)})`,
        );
      })();
      const tgtd = Promise.all(state.nodes.map((node) => cluster.startNodeTgtd(node, lifetime)));
      await settleAll([pki, ceph, consul, tgtd]);
      progress(`tgtd: one per node (${elapsed(started)})`);

      await Promise.all(
        state.nodes.map((node, index) =>
          cluster.startNodeSanpathd(node, layout.nodes[index] as NodeLayout, lifetime),
        ),
      );
      progress(
        `sanpathd: ${nodeCount} nodes SERVING on their admin sockets, ${tls === undefined ? "plaintext" : "mutual TLS"} (${elapsed(started)})`,
      );
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
    await Promise.all(
      this.state.nodes.map((node) =>
        attempt(node.name, async () => {
          await killTrees(this.nodeProcesses(node));
          if (node.tgtControlPort !== 0) await stopTgtd(undefined, node.tgtControlPort);
        }),
      ),
    );
    await attempt("ceph", () => stopCeph(this.state.ceph));
    // Whatever else runs in the namespaces is killed by PID as they are deleted.
    await attempt("namespaces", () => this.topology(true).destroy());
    this.exitHook?.();
    if (problems.length > 0) {
      throw new Error(`the dev cluster was not cleaned up completely: ${problems.join("; ")}`);
    }
    rmSync(this.state.dir, { recursive: true, force: true });
  }

  /**
   * A node's death, as a power-off: its daemons and everything they started SIGKILLed at once
   * (sanpathd with its crash guard, Consul, tgtd), its path IPs gone with it, its cables cut.
   * (Killing only sanpathd and Consul would leave tgtd serving, and sanpathd's crash guard tearing
   * the IPs down: a daemon crash, not a node death.) Other processes in the namespace, such as an
   * `ip -n` sampler, are not the node's and are left alone.
   */
  async kill(name: string): Promise<void> {
    const node = this.node(name);
    await killTrees(this.nodeProcesses(node));
    await stopTgtd(undefined, node.tgtControlPort);
    await this.flushPathAddresses(node);
    await this.setLinks(name, "down");
    node.condition = "killed";
    await this.persist();
  }

  /** Boots a node again: clean interfaces, links up, Consul, tgtd, sanpathd; waits until SERVING. */
  async restart(name: string): Promise<void> {
    const node = this.node(name);
    if (node.condition === "running") await this.kill(name);
    else {
      await killTrees(this.nodeProcesses(node));
      await stopTgtd(undefined, node.tgtControlPort);
      await this.flushPathAddresses(node);
    }
    await this.setLinks(name, "up");
    node.condition = "running";
    const index = this.state.nodes.indexOf(node);
    const layout = this.layout.nodes[index] as NodeLayout;
    const signal = AbortSignal.timeout(SERVICE_START_MS * 2);
    const files = consulServerFiles(node.dir);
    node.consul = startConsulServer(layout, this.layout.nodes, node.netns, files);
    await this.persist();
    const live = this.state.nodes.filter((other) => other.condition === "running");
    await waitForConsulCluster(
      consulAgents({ ...this.state, nodes: live }),
      live.map((other) => other.name),
      SERVICE_START_MS,
    );
    await this.startNodeTgtd(node, signal);
    await this.startNodeSanpathd(node, layout, signal);
    await waitForVoter(node.consulSocket, name, SERVICE_START_MS);
  }

  /** Cuts every link of the node (management and both iSCSI nets); its daemons keep running. */
  async partition(name: string): Promise<void> {
    const node = this.node(name);
    if (node.condition === "killed") throw new Error(`${name} is killed: restart it instead`);
    await this.setLinks(name, "down");
    node.condition = "partitioned";
    await this.persist();
  }

  /**
   * Repairs the node's links and waits until its Consul server votes again: a server cut off for
   * more than a few seconds is removed from the raft peers (autopilot's dead-server clean-up) and
   * comes back as a non-voter; until it is promoted, losing one more server loses the quorum.
   */
  async heal(name: string): Promise<void> {
    const node = this.node(name);
    if (node.condition === "killed") throw new Error(`${name} is killed: restart it instead`);
    await this.setLinks(name, "up");
    node.condition = "running";
    await this.persist();
    await waitForVoter(node.consulSocket, name, SERVICE_START_MS);
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

  /** `unix:///…` of a node's admin socket, for `sanpath --server`. */
  serverAddress(name: string): string {
    return `unix://${this.node(name).adminSocket}`;
  }

  /** Names of the nodes neither killed nor partitioned. */
  liveNodes(): string[] {
    return this.state.nodes.filter((node) => node.condition === "running").map((node) => node.name);
  }

  nodeNs(name: string): string {
    return this.node(name).netns;
  }

  clientNs(): string {
    return `${this.state.prefix}-${CLIENT_HOST}`;
  }

  /** Runs commands in the client namespace (iscsi-readcapacity16 …). */
  clientRunner(): ExecaCommandRunner {
    return this.root.inNetns(this.clientNs());
  }

  nodeRunner(name: string): ExecaCommandRunner {
    return this.root.inNetns(this.nodeNs(name));
  }

  async status(): Promise<DevClusterStatus> {
    const reachable = this.state.nodes.filter(
      (node) => node.condition === "running" && node.consul !== undefined && isRunning(node.consul),
    );
    let raftLeaderAddress = "";
    let serf = new Map<string, string>();
    for (const node of reachable) {
      try {
        raftLeaderAddress = await consulLeader(node.consulSocket);
        serf = await consulNodeHealth(node.consulSocket);
        break;
      } catch {
        // ask the next one
      }
    }
    const raftLeader = this.layout.nodes.find((node) =>
      raftLeaderAddress.startsWith(`${node.mgmtIp}:`),
    )?.name;

    let info: GetClusterInfoResponse | undefined;
    let clusterInfoProblem: string | undefined = "no node answers";
    for (const node of this.state.nodes.filter((candidate) => candidate.condition === "running")) {
      if (node.sanpathd === undefined || !isRunning(node.sanpathd)) continue;
      const admin = await this.admin(node.name, 2000);
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
    const { channel } = await this.adminAuth();
    const nodes = await Promise.all(
      this.state.nodes.map(async (node): Promise<NodeStatus> => {
        const summary = info?.nodes.find((candidate) => candidate.name === node.name);
        const sanpathdRunning = node.sanpathd !== undefined && isRunning(node.sanpathd);
        return {
          name: node.name,
          condition: node.condition,
          consul: node.consul !== undefined && isRunning(node.consul),
          tgtd: node.tgtd !== undefined && isRunning(node.tgtd),
          sanpathd: sanpathdRunning,
          health: sanpathdRunning ? await sanpathdHealth(sanpathdFiles(node.dir), channel) : "",
          serf: serf.get(node.name) ?? "",
          raftLeader: raftLeader === node.name,
          coordinator: info?.leader?.node === node.name,
          paths: summary?.pathCount,
          cordoned: summary?.cordoned ?? false,
          adminSocket: node.adminSocket,
        };
      }),
    );
    return {
      dir: this.state.dir,
      prefix: this.state.prefix,
      tls: this.state.tls === undefined ? undefined : { ca: this.state.tls.ca },
      auth: this.state.auth === undefined ? undefined : { adminTokenFile: this.state.auth.adminTokenFile },
      ceph:
        this.state.ceph.mon !== undefined &&
        isRunning(this.state.ceph.mon) &&
        this.state.ceph.osd !== undefined &&
        isRunning(this.state.ceph.osd),
      raftLeader,
      coordinator:
        info?.leader === undefined ? undefined : { node: info.leader.node, epoch: info.leader.epoch },
      clusterInfoProblem,
      initialised: info === undefined ? undefined : info.settings !== undefined,
      nodes,
    };
  }

  /**
   * Writes the state file; writes are queued and each one takes the state as it is when its turn
   * comes, so a slow earlier write never lands after (and over) a newer one.
   */
  private persist(): Promise<void> {
    const write = this.saving.then(() => writeState(this.state));
    this.saving = write.catch(() => undefined);
    return write;
  }

  /** The admin token and certificate, read once. */
  private adminAuth(): Promise<ClientAuth> {
    this.clientAuth ??= adminClientAuth(this.state);
    return this.clientAuth;
  }

  private node(name: string): NodeState {
    const node = this.state.nodes.find((candidate) => candidate.name === name);
    if (node === undefined) {
      throw new Error(
        `no node named "${name}" (this dev cluster has ${this.state.nodes.map((other) => other.name).join(", ")})`,
      );
    }
    return node;
  }

  private topology(everyPossibleNode = false): Topology {
    // down() after a crash may not know how many nodes there were: try every possible name.
    const layout = everyPossibleNode ? devClusterLayout(this.state.prefix, MAX_NODES) : this.layout;
    return attachTopology(layout.topology, { runner: this.root });
  }

  private async setLinks(name: string, state: "up" | "down"): Promise<void> {
    const topology = this.topology();
    for (const bridge of nodeBridges()) await topology.setLinkState(name, bridge, state);
  }

  /** Removes every address from the node's iSCSI interfaces (they carry path IPs only). */
  private async flushPathAddresses(node: NodeState): Promise<void> {
    await this.root.run("ip", ["-n", node.netns, "-batch", "-"], {
      input: `addr flush dev ${NODE_INTERFACES.subnet1}\naddr flush dev ${NODE_INTERFACES.subnet2}\n`,
    });
  }

  private async startNodeTgtd(node: NodeState, signal: AbortSignal): Promise<void> {
    node.tgtControlPort = unusedTgtControlPort();
    await this.persist();
    await startTgtd({
      netns: node.netns,
      runner: this.root.inNetns(node.netns),
      controlPort: node.tgtControlPort,
      logFile: join(node.dir, "tgtd.log"),
      label: `tgtd ${node.name}`,
      signal,
      onStarted: (daemon) => {
        node.tgtd = daemon;
        void this.persist().catch(() => undefined);
      },
    });
  }

  private async startNodeSanpathd(node: NodeState, layout: NodeLayout, signal: AbortSignal): Promise<void> {
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

  /** Tests: whatever is still recorded when the process exits is killed, the namespaces deleted. */
  private killAtExit(): void {
    const hook = (): void => {
      for (const record of this.recordedProcesses()) {
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

  private nodeProcesses(node: NodeState): ProcessRecord[] {
    return [node.sanpathd, node.consul, node.tgtd].filter(
      (record): record is ProcessRecord => record !== undefined,
    );
  }

  private recordedProcesses(): ProcessRecord[] {
    const records: (ProcessRecord | undefined)[] = [this.state.ceph.osd, this.state.ceph.mon];
    for (const node of this.state.nodes) records.push(node.sanpathd, node.consul, node.tgtd);
    return records.filter((record): record is ProcessRecord => record !== undefined);
  }
}

function consulAgents(state: Pick<DevClusterState, "nodes">): {
  name: string;
  httpSocket: string;
  record: ProcessRecord;
}[] {
  return state.nodes.flatMap((node) =>
    node.consul === undefined
      ? []
      : [{ name: node.name, httpSocket: node.consulSocket, record: node.consul }],
  );
}

function writeTokens(auth: NonNullable<DevClusterState["auth"]>): void {
  const admin = generateToken();
  const entries = [tokenEntry("dev-admin", "admin", admin)];
  if (auth.nodeTokenFile !== undefined) {
    const node = generateToken();
    entries.push(tokenEntry("dev-cluster-node", "node", node));
    writeFileSync(auth.nodeTokenFile, `${node}\n`, { mode: 0o600 });
  }
  writeFileSync(auth.tokenFile, formatTokenFile(entries), { mode: 0o600 });
  writeFileSync(auth.adminTokenFile, `${admin}\n`, { mode: 0o600 });
}

/** Waits for every promise; rejects with the first failure once all have settled. */
async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((result): result is PromiseRejectedResult => result.status === "rejected");
  if (failed !== undefined) throw failed.reason;
}

function elapsed(startedMs: number): string {
  return `${((performance.now() - startedMs) / 1000).toFixed(1)} s`;
}
