/**
 * Bringing a dev cluster up, step by step: the state it starts from (checked against what an
 * earlier cluster may have left), then the network, tokens and PKI, Ceph, the Consul servers and
 * tgtd in parallel, then sanpathd on every node, and finally the supervisor that restarts dead
 * tgtd and Consul agents (supervisor.ts). Every daemon is recorded in the state
 * file as soon as it runs, so that a failure halfway through leaves nothing `down` cannot find.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ExecaCommandRunner } from "../exec/execa-runner.js";
import { createTopology, listNamespaces } from "../netns/topology.js";
import { formatTokenFile, generateToken, tokenEntry } from "../security/token-file.js";
import { cephFiles, startCeph } from "./ceph-cluster.js";
import { clusterPki, issueClusterPki } from "./cluster-pki.js";
import {
  consulServerFiles,
  startConsulServer,
  waitForConsulCluster,
  writeConsulConfig,
} from "./consul-server.js";
import { consoleUrl, startConsoleForward } from "./console-forward-process.js";
import { CEPH_HOST, CEPH_IP, CONSOLE_PORT, DEV_CLUSTER_SETTINGS, devClusterLayout } from "./layout.js";
import { SERVICE_START_MS, type RecordedCluster } from "./recorded-cluster.js";
import { DEV_SESSION_TIMING, sanpathdFiles, type SessionTiming } from "./sanpathd-node.js";
import { readState, writeState, type DevClusterState } from "./state.js";
import { startSupervisor } from "./supervisor-process.js";

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
  /**
   * The supervisor restarts dead tgtd and Consul agents of running nodes (default true); false
   * starts it idle (`deploy/dev-cluster supervise on`, DevCluster.setSupervision).
   */
  supervise?: boolean;
  /** How long a daemon stays dead before the supervisor starts it again; default 1 s. */
  restartDelayMs?: number;
  /**
   * Root-namespace loopback port the web console is forwarded to; default 0, any free one (tests
   * run clusters side by side); `deploy/dev-cluster up` asks for 9480.
   */
  consolePort?: number;
}

/**
 * The state of a new dev cluster (written to <dir>/state.json), after checking that no cluster is
 * recorded in `dir` and no namespace of an earlier one is left. Nothing runs yet.
 */
export async function newClusterState(options: DevClusterUpOptions): Promise<DevClusterState> {
  const nodeCount = options.nodes ?? 3;
  const prefix = options.prefix ?? DEFAULT_PREFIX;
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
          viewerTokenFile: join(options.dir, "viewer.token"),
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
  return state;
}

/** Starts everything of the cluster recorded in `cluster`; the caller cleans up after a failure. */
export async function bringUp(cluster: RecordedCluster, options: DevClusterUpOptions): Promise<void> {
  const { state, layout } = cluster;
  const { prefix, nodeCount, auth, tls } = state;
  const progress = options.progress ?? (() => undefined);
  const started = performance.now();
  const lifetime = AbortSignal.timeout(options.timeoutMs ?? 120_000);

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
        cluster.record(() => {
          if (daemon.label === "ceph-mon") state.ceph.mon = daemon;
          else state.ceph.osd = daemon;
        }),
    });
    progress(`ceph: mon + memstore OSD, pool "${state.pool}" ready (${elapsed(started)})`);
  })();
  const consul = (async () => {
    for (const node of state.nodes) {
      mkdirSync(node.dir, { recursive: true });
      const files = consulServerFiles(node.dir);
      writeConsulConfig(files);
      cluster.record(
        () => (node.consul = startConsulServer(cluster.nodeLayout(node), layout.nodes, node.netns, files)),
      );
    }
    await waitForConsulCluster(
      cluster.consulAgents(),
      layout.nodes.map((node) => node.name),
      SERVICE_START_MS,
    );
    progress(`consul: ${nodeCount} servers, raft leader elected, every node passing (${elapsed(started)})`);
  })();
  const tgtd = Promise.all(state.nodes.map((node) => cluster.startNodeTgtd(node, lifetime)));
  await settleAll([pki, ceph, consul, tgtd]);
  progress(`tgtd: one per node (${elapsed(started)})`);

  await Promise.all(state.nodes.map((node) => cluster.startNodeSanpathd(node, lifetime)));
  progress(
    `sanpathd: ${nodeCount} nodes SERVING on their admin sockets, ${tls === undefined ? "plaintext" : "mutual TLS"} (${elapsed(started)})`,
  );

  await startConsoleForward(cluster, options.consolePort ?? 0);
  progress(
    `console: ${consoleUrl(cluster) ?? "?"} (forwarded from each node's console socket; on the nodes' network: ${tls === undefined ? "http" : "https"}://${layout.nodes[0]?.mgmtIp ?? "?"}:${CONSOLE_PORT}/) (${elapsed(started)})`,
  );

  const supervise = options.supervise ?? true;
  await startSupervisor(cluster, { enabled: supervise, restartDelayMs: options.restartDelayMs });
  progress(
    `supervisor: ${supervise ? "restarts" : "idle (supervise on: restarts)"} a dead tgtd or Consul agent after ${
      state.supervision?.restartDelayMs ?? 0
    } ms (pid ${state.supervision?.process?.pid ?? "?"})`,
  );
}

function writeTokens(auth: NonNullable<DevClusterState["auth"]>): void {
  const admin = generateToken();
  const viewer = generateToken();
  const entries = [tokenEntry("dev-admin", "admin", admin), tokenEntry("dev-viewer", "viewer", viewer)];
  if (auth.viewerTokenFile !== undefined) writeFileSync(auth.viewerTokenFile, `${viewer}\n`, { mode: 0o600 });
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
