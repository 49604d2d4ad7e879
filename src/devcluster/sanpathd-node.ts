/**
 * A dev cluster node's sanpathd: the built daemon (dist/src/server/main.js) inside the node's
 * namespace, with the rbd image store on the dev cluster's Ceph, tgt on the node's own tgtd, its
 * LOCAL Consul agent, iSCSI interfaces eth1/eth2, and an admin unix socket in the node's folder so
 * that the root namespace (the CLI, tests) reaches it. With TLS on, its node certificate serves
 * both the management port and the admin socket (mutual TLS), and identifies it to other nodes.
 * The configuration is also what the test harness's cluster (test/harness/cluster-ns.ts) writes.
 */
import type { DataPathConfig } from "../config/config.js";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RECOMMENDED_POOL_SIZE } from "../server/libuv-pool.js";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, type ChannelCredentials } from "@grpc/grpc-js";
import { HealthClient } from "../cli/health-client.js";
import { projectRoot } from "../util/project-root.js";
import { isRunning, spawnDetached, type ProcessRecord } from "./detached-process.js";
import { formatHostPort, parseHostPort } from "../config/host-port.js";
import {
  CONSOLE_PORT,
  CONSUL_HTTP_PORT,
  METRICS_PORT,
  NODE_INTERFACES,
  SANPATHD_LEASE_PORT,
  type NodeLayout,
} from "./layout.js";

export interface SessionTiming {
  /** liveness.mode: peer leases (the shipped default) or the Consul session (the design before #17). */
  mode?: "peer-lease" | "consul";
  ttlSeconds: number;
  lockDelaySeconds: number;
  fenceDeadlineMs: number;
  /** Peer-lease timing (lease.*); default sanpathd's (lease 1 s, heartbeat 250 ms, budget 300 ms). */
  lease?: { heartbeatMs: number; leaseMs: number; teardownBudgetMs: number };
}

/**
 * Shipped with the dev cluster: sanpathd's own defaults, peer leases (lease 1 s, renewed every
 * 250 ms; a dead node's paths are placed about 1.8 s after its last renew) and a Consul session
 * without lock-delay, which only records ownership.
 */
export const DEV_SESSION_TIMING: SessionTiming = {
  mode: "peer-lease",
  ttlSeconds: 10,
  lockDelaySeconds: 0,
  fenceDeadlineMs: 10_000,
};

/**
 * The Consul session alone (liveness.mode consul), as before #17: a node that cannot confirm its
 * session tears its paths down after 4 s; another node may take them 5 s after Consul invalidated
 * the session. 4 s outlasts a Consul raft election (measured 1.5–3 s here).
 */
export const CONSUL_SESSION_TIMING: SessionTiming = {
  mode: "consul",
  ttlSeconds: 10,
  lockDelaySeconds: 5,
  fenceDeadlineMs: 4000,
};

/** The smallest Consul-session timing the config allows: fence after 1.5 s, lock-delay 2 s (a raft election fences every node). */
export const FAST_SESSION_TIMING: SessionTiming = {
  mode: "consul",
  ttlSeconds: 10,
  lockDelaySeconds: 2,
  fenceDeadlineMs: 1500,
};

export interface SanpathdFiles {
  readonly dataDir: string;
  readonly configFile: string;
  readonly adminSocket: string;
  /** The web console's unix socket (the root namespace reaches it through console-forwarder.ts). */
  readonly consoleSocket: string;
  readonly logFile: string;
}

export function sanpathdFiles(nodeDir: string): SanpathdFiles {
  return {
    dataDir: join(nodeDir, "sanpathd-data"),
    configFile: join(nodeDir, "sanpathd.json"),
    adminSocket: join(nodeDir, "sanpathd.sock"),
    consoleSocket: join(nodeDir, "console.sock"),
    logFile: join(nodeDir, "sanpathd.log"),
  };
}

export interface SanpathdSettings {
  node: NodeLayout;
  files: SanpathdFiles;
  cephConf: string;
  pool: string;
  tgtControlPort: number;
  session: SessionTiming;
  /** Token files (auth on) or undefined (auth.mode none); the node token only without TLS. */
  auth: { tokenFile: string; nodeTokenFile: string | undefined } | undefined;
  /** The cluster CA and this node's certificate (mutual TLS), or undefined (tls.plaintext). */
  tls: { ca: string; cert: string; key: string } | undefined;
  /** reassignment.parallelism; sanpathd's default when unset. */
  parallelism?: number | undefined;
  logLevel: string;
  /** Consul key root; sanpathd's default when unset. */
  consulRoot?: string | undefined;
  /** dataPath settings (probe interval, degrade and recover bounds); sanpathd's defaults when unset. */
  dataPath?: Partial<DataPathConfig> | undefined;
}

export function writeSanpathdConfig(settings: SanpathdSettings): void {
  const { node, files } = settings;
  mkdirSync(files.dataDir, { recursive: true });
  const config = {
    nodeName: node.name,
    listen: node.grpcAddress,
    advertiseAddress: node.grpcAddress,
    adminSocket: files.adminSocket,
    consul: {
      address: `127.0.0.1:${CONSUL_HTTP_PORT}`,
      ...(settings.consulRoot === undefined ? {} : { root: settings.consulRoot }),
    },
    logLevel: settings.logLevel,
    dataDir: files.dataDir,
    imageStore: { kind: "rbd", pool: settings.pool, cephConf: settings.cephConf, cephUser: "admin" },
    target: { driver: "tgt", tgtControlPort: settings.tgtControlPort },
    liveness: { mode: settings.session.mode ?? "consul" },
    // The peer cut (dev-cluster-cuts.ts) drops this port: it must not fall back to another one.
    lease: { ...settings.session.lease, listen: leaseListenAt(node.grpcAddress) },
    session: {
      ttlSeconds: settings.session.ttlSeconds,
      lockDelaySeconds: settings.session.lockDelaySeconds,
      fenceDeadlineMs: settings.session.fenceDeadlineMs,
    },
    ...(settings.dataPath === undefined ? {} : { dataPath: settings.dataPath }),
    interfaces: { subnet1: NODE_INTERFACES.subnet1, subnet2: NODE_INTERFACES.subnet2 },
    shutdownGraceMs: 3000,
    metrics: { listen: `${node.mgmtIp}:${METRICS_PORT}` },
    console: { listen: `${node.mgmtIp}:${CONSOLE_PORT}`, socket: files.consoleSocket },
    ...(settings.parallelism === undefined ? {} : { reassignment: { parallelism: settings.parallelism } }),
    auth:
      settings.auth === undefined
        ? { mode: "none" }
        : {
            mode: "required",
            tokenFile: settings.auth.tokenFile,
            ...(settings.auth.nodeTokenFile === undefined
              ? {}
              : { nodeTokenFile: settings.auth.nodeTokenFile }),
          },
    tls:
      settings.tls === undefined
        ? { plaintext: true }
        : { ca: settings.tls.ca, cert: settings.tls.cert, key: settings.tls.key, requireClientCert: true },
  };
  writeFileSync(files.configFile, `${JSON.stringify(config, null, 2)}\n`);
}

export function sanpathdMain(): string {
  const main = join(projectRoot(), "dist", "src", "server", "main.js");
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first`);
  return main;
}

/**
 * Node options for every sanpathd the dev cluster starts, from SANPATH_DEV_SANPATHD_NODE_OPTIONS
 * (space-separated; for diagnosis, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", which Node refuses
 * in NODE_OPTIONS).
 */
function sanpathdNodeOptions(): string[] {
  return (process.env.SANPATH_DEV_SANPATHD_NODE_OPTIONS ?? "").split(" ").filter((word) => word !== "");
}

export function startSanpathd(node: NodeLayout, netns: string, files: SanpathdFiles): ProcessRecord {
  return spawnDetached({
    netns,
    file: process.execPath,
    args: [...sanpathdNodeOptions(), sanpathdMain(), "--config", files.configFile],
    // As the systemd unit does (src/server/libuv-pool.ts).
    env: { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(RECOMMENDED_POOL_SIZE) },
    logFile: files.logFile,
    label: `sanpathd ${node.name}`,
  });
}

/** unix:///… target of a node's admin socket, for gRPC clients and `sanpath --server`. */
export function adminTarget(files: SanpathdFiles): string {
  return `unix://${files.adminSocket}`;
}

/**
 * A grpc.health.v1 status over the admin socket ("" when it does not answer): the whole server by
 * default, or one service (NodeService is SERVING once the node may take paths: session and lease).
 * `channel`: the admin client's credentials (TLS with the admin certificate when TLS is on).
 */
export async function sanpathdHealth(
  files: SanpathdFiles,
  channel: ChannelCredentials,
  timeoutMs = 1000,
  service = "",
): Promise<string> {
  const target = adminTarget(files);
  const client = new HealthClient(target, new Client(target, channel));
  try {
    return await client.check(service, new Date(Date.now() + timeoutMs));
  } catch {
    return "";
  } finally {
    client.close();
  }
}

/** The last lines of a log (the bring-up deletes the cluster's folder when it fails). */
function logTail(file: string, lines = 8): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Waits until the daemon, and its NodeService (session and lease held), answer SERVING on its admin socket. */
export async function waitForSanpathd(
  record: ProcessRecord,
  files: SanpathdFiles,
  channel: ChannelCredentials,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (!isRunning(record)) {
      throw new Error(
        `${record.label} exited during start-up; the end of ${files.logFile}:\n${logTail(files.logFile)}`,
      );
    }
    if (existsSync(files.adminSocket)) {
      last = await sanpathdHealth(files, channel);
      if (last === "SERVING") {
        last = `NodeService ${await sanpathdHealth(files, channel, 1000, "sanpath.v1.NodeService")}`;
        if (last === "NodeService SERVING") return;
      }
    }
    await sleep(100);
  }
  throw new Error(
    `${record.label} was not SERVING after ${timeoutMs} ms (last health: ${last === "" ? "no answer" : last}); see ${files.logFile}`,
  );
}

/** The node's peer-lease listener: its management address and SANPATHD_LEASE_PORT. */
function leaseListenAt(grpcAddress: string): string {
  const host = parseHostPort(grpcAddress)?.host;
  if (host === undefined) throw new Error(`${grpcAddress} is not host:port`);
  return formatHostPort({ host, port: SANPATHD_LEASE_PORT });
}
