/**
 * One node of the test harness's cluster (test/harness/cluster-ns.ts): its sanpathd (configured
 * like a dev cluster node, src/devcluster/sanpathd-node.ts, but started as a child of the test
 * process so that kill/stop act on it by PID), NodeService calls over its admin socket, its
 * management cable, and the addresses on its interfaces.
 */
import type { DataPathConfig } from "../../src/config/config.js";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { execa } from "execa";
import { consulBinary } from "../../src/consul/consul-binary.js";
import { pathAddresses } from "../../src/devcluster/address-sampler.js";
import { BRIDGES, CONSUL_HTTP_PORT, SANPATHD_PORT } from "../../src/devcluster/layout.js";
import { writeSanpathdConfig, type SessionTiming } from "../../src/devcluster/sanpathd-node.js";
import {
  NodeServiceClient,
  type AcquirePathResponse,
  type CleanPathResponse,
  type StatusResponse,
} from "../../src/gen/sanpath/v1/node.js";
import type { DaemonHandle } from "../../src/netns/daemon.js";
import type { Topology } from "../../src/netns/topology.js";
import type { CephHarness } from "./ceph.js";
import { sanpathdEntry } from "./sanpathd.js";
import type { TgtdHarness } from "./tgtd.js";

export interface CallOptions {
  epoch?: number;
  jobId?: string;
  /** gRPC deadline; default 30 s. */
  timeoutMs?: number;
}

export interface ClusterNode {
  readonly name: string;
  readonly ns: string;
  readonly mgmtIp: string;
  /** Address of the node on iSCSI subnet 1 and 2 (its own, not a path IP). */
  readonly iscsiIps: readonly [string, string];
  readonly dataDir: string;
  readonly socketPath: string;
  readonly tgtd: TgtdHarness;
  /** PID of the running sanpathd, undefined when stopped. */
  readonly pid: number | undefined;
  /** (Re)starts sanpathd with the same data folder; resolves once NodeService answers. */
  start(): Promise<void>;
  /** SIGKILL by PID (nothing is cleaned up: a crash). */
  kill(): Promise<void>;
  /** SIGTERM by PID: the daemon tears its paths down, releases its locks and exits. */
  stop(): Promise<void>;
  /**
   * SIGUSR2 by PID (a restart: paths left up, session handed over), then sanpathd started again
   * (unless `startAgain` is false: a successor that never comes); resolves once the new one answers.
   */
  restart(startAgain?: boolean): Promise<void>;
  /** Until Status shows a healthy, unfenced session (different from `notSession` when given). */
  waitForSession(options?: { timeoutMs?: number; notSession?: string }): Promise<StatusResponse>;
  acquire(diskId: string, index: number, options?: CallOptions): Promise<AcquirePathResponse>;
  clean(
    target: { ip: string } | { diskId: string; index: number },
    options?: CallOptions,
  ): Promise<CleanPathResponse>;
  status(epoch?: number): Promise<StatusResponse>;
  /** Cuts the node's management cable (the switch port goes down). */
  cutMgmt(): Promise<void>;
  /** Repairs it and asks the node's Consul agent to join again (as it would after its reconnect timer). */
  healMgmt(): Promise<void>;
  /** IPv4 addresses on the node's interfaces. */
  addresses(): Promise<string[]>;
  /** sanpathd's log so far (JSON lines, every start). */
  log(): string;
}

/** Address prefixes ("192.0.2.") of the cluster's three networks. */
export interface ClusterSubnets {
  mgmt: string;
  iscsi1: string;
  iscsi2: string;
}

export interface NodeSetup {
  topology: Topology;
  name: string;
  position: number;
  dir: string;
  subnets: ClusterSubnets;
  /** The Consul server the node's agent joins again after healMgmt. */
  consulServerIp: string;
  tgtd: TgtdHarness;
  ceph: CephHarness;
  consulRoot: string;
  session: SessionTiming;
  logLevel: string;
  dataPath?: Partial<DataPathConfig> | undefined;
}

/** The node's own address in a subnet: .11 for the first node, .12 for the second … */
export function nodeAddress(subnet: string, position: number): string {
  return `${subnet}${11 + position}`;
}

export function makeNode(setup: NodeSetup): ClusterNode {
  const { topology, name, position, dir } = setup;
  const ns = topology.nsName(name);
  const mgmtIp = nodeAddress(setup.subnets.mgmt, position);
  const dataDir = join(dir, "data");
  const socketPath = join(dir, "admin.sock");
  const logFile = join(dir, "sanpathd.log");
  const configFile = join(dir, "sanpathd.json");
  writeSanpathdConfig({
    node: { name, index: position + 1, mgmtIp, grpcAddress: `${mgmtIp}:${SANPATHD_PORT}` },
    files: {
      dataDir,
      configFile,
      adminSocket: socketPath,
      consoleSocket: join(dir, "console.sock"),
      logFile,
    },
    consulRoot: setup.consulRoot,
    logLevel: setup.logLevel,
    cephConf: setup.ceph.confPath,
    pool: setup.ceph.pool,
    tgtControlPort: setup.tgtd.controlPort,
    session: setup.session,
    dataPath: setup.dataPath,
    auth: undefined,
    // NodeService is reached over the admin socket from the test process, without certificates.
    tls: undefined,
  });
  let daemon: DaemonHandle | undefined;
  let client: NodeServiceClient | undefined;

  const nodeClient = (): NodeServiceClient => {
    client ??= new NodeServiceClient(`unix://${socketPath}`, credentials.createInsecure());
    return client;
  };
  const closeClient = (): void => {
    client?.close();
    client = undefined;
  };
  const unary = <Response>(
    start: (
      client: NodeServiceClient,
      deadline: Date,
      done: (error: ServiceError | null, response?: Response) => void,
    ) => void,
    timeoutMs = 30_000,
  ): Promise<Response> =>
    new Promise((resolve, reject) => {
      start(nodeClient(), new Date(Date.now() + timeoutMs), (error, response) => {
        if (error !== null) reject(error);
        else if (response === undefined) reject(new Error("no response"));
        else resolve(response);
      });
    });

  const node: ClusterNode = {
    name,
    ns,
    mgmtIp,
    iscsiIps: [nodeAddress(setup.subnets.iscsi1, position), nodeAddress(setup.subnets.iscsi2, position)],
    dataDir,
    socketPath,
    tgtd: setup.tgtd,
    get pid() {
      return daemon?.isRunning() === true ? daemon.pid : undefined;
    },
    async start() {
      if (daemon?.isRunning() === true) throw new Error(`sanpathd on ${name} is running already`);
      closeClient();
      const unset = Object.keys(process.env)
        .filter((key) => key.startsWith("SANPATH_"))
        .flatMap((key) => ["-u", key]);
      daemon = topology.spawnIn(
        name,
        "env",
        [...unset, process.execPath, sanpathdEntry(), "--config", configFile],
        {
          logFile,
        },
      );
      const started = daemon;
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (!started.isRunning())
          throw new Error(`sanpathd on ${name} exited during start:\n${tail(logFile)}`);
        if (existsSync(socketPath)) {
          try {
            await node.status();
            return;
          } catch {
            // not answering yet
          }
        }
        if (Date.now() > deadline)
          throw new Error(`sanpathd on ${name} did not answer in 30 s:\n${tail(logFile)}`);
        await sleep(100);
      }
    },
    async kill() {
      closeClient();
      await daemon?.stop({ signal: "SIGKILL", graceMs: 5000 });
    },
    async stop() {
      closeClient();
      await daemon?.stop({ signal: "SIGTERM", graceMs: 20_000 });
    },
    async restart(startAgain = true) {
      closeClient();
      await daemon?.stop({ signal: "SIGUSR2", graceMs: 20_000 });
      if (startAgain) await node.start();
    },
    async waitForSession(waitOptions = {}) {
      const deadline = Date.now() + (waitOptions.timeoutMs ?? 30_000);
      let last = "no answer";
      for (;;) {
        try {
          const status = await node.status();
          const session = status.session;
          if (session?.healthy === true && !session.fenced && session.id !== waitOptions.notSession)
            return status;
          last = JSON.stringify(session);
        } catch (error) {
          last = error instanceof Error ? error.message : String(error);
        }
        if (Date.now() > deadline)
          throw new Error(`node ${name} has no session (${last}):\n${tail(logFile)}`);
        await sleep(100);
      }
    },
    acquire(diskId, index, callOptions = {}) {
      return unary<AcquirePathResponse>(
        (grpc, deadline, done) =>
          grpc.acquirePath(
            { epoch: callOptions.epoch ?? 0, diskId, index, jobId: callOptions.jobId ?? "" },
            new Metadata(),
            { deadline },
            done,
          ),
        callOptions.timeoutMs,
      );
    },
    clean(target, callOptions = {}) {
      const request =
        "ip" in target
          ? { epoch: callOptions.epoch ?? 0, ip: target.ip, jobId: callOptions.jobId ?? "" }
          : { epoch: callOptions.epoch ?? 0, path: target, jobId: callOptions.jobId ?? "" };
      return unary<CleanPathResponse>(
        (grpc, deadline, done) => grpc.cleanPath(request, new Metadata(), { deadline }, done),
        callOptions.timeoutMs,
      );
    },
    status(epoch = 0) {
      return unary<StatusResponse>(
        (grpc, deadline, done) => grpc.status({ epoch }, new Metadata(), { deadline }, done),
        5000,
      );
    },
    async cutMgmt() {
      await topology.setLinkState(name, BRIDGES.mgmt, "down");
    },
    async healMgmt() {
      await topology.setLinkState(name, BRIDGES.mgmt, "up");
      // The link needs a moment before the server answers: retry the join for a while.
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          await topology.exec(
            name,
            consulBinary(),
            ["join", "-http-addr", `127.0.0.1:${CONSUL_HTTP_PORT}`, setup.consulServerIp],
            {
              timeoutMs: 10_000,
            },
          );
          return;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await sleep(250);
        }
      }
    },
    async addresses() {
      return parseAddresses(
        (
          await execa("ip", ["-n", ns, "-j", "-4", "addr", "show"], {
            timeout: 5000,
            cancelSignal: AbortSignal.timeout(6000),
          })
        ).stdout,
      );
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
  };
  return node;
}

function tail(file: string): string {
  if (!existsSync(file)) return "(no log)";
  return readFileSync(file, "utf8").split("\n").slice(-30).join("\n");
}

/** IPv4 addresses on every interface but lo, in one `ip -j -4 addr show` answer. */
function parseAddresses(json: string): string[] {
  return pathAddresses(json, (_ip, ifname) => ifname !== "lo");
}
