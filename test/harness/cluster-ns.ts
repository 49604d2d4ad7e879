/**
 * A throw-away multi-node sanpath cluster in network namespaces, for integration tests (node agent,
 * coordinator, end-to-end) that need real Consul, real Ceph, real tgtd and real IPs.
 *
 *   const cluster = await startNsCluster({ name: "node-paths" });
 *   try {
 *     const disk = await cluster.createDisk({ id: "00001", paths: [{ ip: "198.51.100.50" }] });
 *     await cluster.node("a").acquire(disk.id, 1);
 *     expect((await cluster.readCapacity("198.51.100.50", disk.iqn)).bytes).toBe(disk.sizeBytes);
 *   } finally {
 *     await cluster.destroy();             // by PID, every namespace deleted, also after a failure
 *   }
 *
 * Topology (src/netns/topology.ts; bridges live in a switch namespace, nothing in the root namespace):
 *
 *   mgmt   192.0.2.0/24     infra .2 (Consul server), ceph .3 (mon + OSD), node i .(11+i) on eth0
 *   iscsi1 198.51.100.0/24  node i .(11+i) on eth1, client .9
 *   iscsi2 203.0.113.0/24   node i .(11+i) on eth2, client .9
 *
 * Consul: one server in `infra` and one client agent per node, in the node's namespace, as in
 * production: a node's session is tied to its own agent's serfHealth, so cutting a node's mgmt link
 * makes the servers declare its agent failed and invalidate the session (gossip tuned to notice in
 * ~1.5 s). Each sanpathd talks to its agent at 127.0.0.1:8500 inside its namespace.
 *
 * Every node has its own tgtd (own control port) and sanpathd (`ip netns exec`, the built
 * dist/src/server/main.js, so `npm run build` first) with the rbd image store against the Ceph over
 * mgmt, listening on <mgmt ip>:7410 and on a unix socket: the test process (root namespace) calls
 * NodeService through that socket. Consul's HTTP API reaches the test process through a port
 * forward (src/netns/port-forward.ts); Ceph is driven with the rbd CLI inside its namespace.
 */
import { isAborted } from "../../src/util/abort.js";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { execa } from "execa";
import { consulBinary } from "../../src/consul/consul-binary.js";
import { CommandFailedError } from "../../src/exec/command-runner.js";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { ALL_INITIATORS, type Disk, type DiskPath } from "../../src/disks/disk.js";
import { serializeDiskAllocation } from "../../src/disks/disk-allocation.js";
import { diskImageName } from "../../src/disks/disk-id.js";
import { DISK_METADATA_KEY, serializeDiskMetadata } from "../../src/disks/disk-metadata.js";
import {
  NodeServiceClient,
  type AcquirePathResponse,
  type CleanPathResponse,
  type StatusResponse,
} from "../../src/gen/sanpath/v1/node.js";
import type { DaemonHandle } from "../../src/netns/daemon.js";
import { parseNodeRecord, serializeNodeRecord } from "../../src/node/node-record.js";
import { startPortForward, type PortForward } from "../../src/netns/port-forward.js";
import { createTopology, type HostSpec, type Topology } from "../../src/netns/topology.js";
import { startCephHarness, type CephHarness } from "./ceph.js";
import { sanpathdEntry } from "./sanpathd.js";
import { startTgtd, type TgtdHarness } from "./tgtd.js";

export interface NsClusterOptions {
  /** Goes into temp dir names. */
  name: string;
  /** Node names (lower-case, short); default ["a", "b"]. At most 8. */
  nodes?: readonly string[];
  /** Defaults: TTL 10 s (Consul's minimum), lock-delay 6 s, fence deadline 4 s. */
  session?: { ttlSeconds: number; lockDelaySeconds: number; fenceDeadlineMs: number };
  consulRoot?: string;
  /** sanpathd log level; default "debug". */
  logLevel?: string;
  /** Start sanpathd on every node at once (default true). */
  startDaemons?: boolean;
}

export interface TestDiskSpec {
  /** 5 digits. */
  id: string;
  name?: string;
  /** Image size; default 64 MiB. */
  sizeMiB?: number;
  /** Path addresses in 198.51.100.0/24 (subnet 1, eth1) or 203.0.113.0/24 (subnet 2, eth2). */
  paths: readonly { ip: string }[];
  /** Initiator IQNs allowed; undefined = every initiator. */
  acl?: readonly string[];
  chap?: { user: string; secret: string };
}

export interface TestDisk {
  id: string;
  iqn: string;
  image: string;
  sizeBytes: number;
  disk: Disk;
}

export interface ReadCapacityResult {
  ok: boolean;
  bytes: number | undefined;
  output: string;
}

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

export interface IpOverlap {
  ip: string;
  nodes: string[];
  /** Date.now() of the sample. */
  at: number;
}

export interface PresenceChange {
  at: number;
  ip: string;
  node: string;
  present: boolean;
}

export interface IpSamplerReport {
  samples: number;
  overlaps: IpOverlap[];
  changes: PresenceChange[];
}

export interface IpSampler {
  readonly samples: number;
  stop(): Promise<IpSamplerReport>;
}

export interface NsCluster {
  readonly topology: Topology;
  readonly dir: string;
  readonly keys: ConsulKeys;
  /** Consul's HTTP API as seen from the test process (port forward to the server). */
  readonly consulAddress: string;
  readonly consul: ConsulClient;
  readonly ceph: CephHarness;
  readonly iqnBase: string;
  readonly nodes: readonly ClusterNode[];
  node(name: string): ClusterNode;
  /** An RBD image with disk metadata, its Consul keys and allocation record (what AddDisk makes). */
  createDisk(spec: TestDiskSpec): Promise<TestDisk>;
  setDiskStopped(diskId: string, stopped: boolean): Promise<void>;
  /**
   * Sets the `cordoned` flag of a node's record (the node writes its record when its session
   * starts; call this after waitForSession). The coordinator places no path on a cordoned node: a
   * test that drives NodeService by hand cordons every node so that the coordinator stays out.
   */
  cordon(nodeName: string, cordoned?: boolean): Promise<void>;
  /**
   * iscsi-readcapacity16 from the client namespace (initiator CLIENT_IQN unless given); the CHAP
   * secret goes through the environment. No answer within `timeoutMs` (default 8 s) is `ok: false`.
   */
  readCapacity(
    ip: string,
    iqn: string,
    login?: { initiator?: string; user?: string; secret?: string; timeoutMs?: number },
  ): Promise<ReadCapacityResult>;
  /** Reads `ip -j addr` in every node namespace every `intervalMs` and records path IPs up on two nodes. */
  startIpSampler(intervalMs?: number): IpSampler;
  /** Stops everything by PID and deletes every namespace. Idempotent. */
  destroy(): Promise<void>;
}

export const CLIENT_IQN = "iqn.1994-05.org.example:sanpath-client";
const ANY_EXIT = Array.from({ length: 255 }, (_, index) => index + 1);
const MGMT = "192.0.2.";
const ISCSI1 = "198.51.100.";
const ISCSI2 = "203.0.113.";
const INFRA_IP = `${MGMT}2`;
const CEPH_IP = `${MGMT}3`;
const GOSSIP = 'gossip_lan { probe_interval = "250ms" probe_timeout = "150ms" suspicion_mult = 4 }';

/** A gRPC failure as tests assert it. */
export interface GrpcFailure {
  code: number;
  reason: string | undefined;
  details: string;
}

export function grpcFailure(error: unknown): GrpcFailure {
  const serviceError = error as Partial<ServiceError>;
  if (typeof serviceError.code !== "number") throw error;
  const reason = serviceError.metadata?.get("sanpath-reason")[0];
  return {
    code: serviceError.code,
    reason: typeof reason === "string" ? reason : undefined,
    details: serviceError.details ?? "",
  };
}

export async function startNsCluster(options: NsClusterOptions): Promise<NsCluster> {
  const nodeNames = options.nodes ?? ["a", "b"];
  if (nodeNames.length === 0 || nodeNames.length > 8) throw new Error("1..8 nodes");
  const session = options.session ?? { ttlSeconds: 10, lockDelaySeconds: 6, fenceDeadlineMs: 4000 };
  const root = options.consulRoot ?? "PetaSAN";
  const keys = new ConsulKeys(root);
  const dir = mkdtempSync(join(tmpdir(), `sanpath-cluster-${options.name}-${process.pid}-`));
  const iqnBase = `iqn.2016-05.org.sanpath.test${process.pid}`;
  const cleanups: (() => Promise<void>)[] = [];
  let topology: Topology | undefined;
  let destroying: Promise<void> | undefined;

  const destroy = (): Promise<void> => {
    destroying ??= (async () => {
      const problems: string[] = [];
      for (const cleanup of [...cleanups].reverse()) {
        try {
          await cleanup();
        } catch (error) {
          problems.push(error instanceof Error ? error.message : String(error));
        }
      }
      try {
        await topology?.destroy();
      } catch (error) {
        problems.push(error instanceof Error ? error.message : String(error));
      }
      rmSync(dir, { recursive: true, force: true });
      if (problems.length > 0) throw new Error(`cluster teardown: ${problems.join("; ")}`);
    })();
    return destroying;
  };

  try {
    const hosts: HostSpec[] = [
      { name: "infra", links: [{ bridge: "mgmt", ifname: "eth0", address: `${INFRA_IP}/24` }] },
      { name: "ceph", links: [{ bridge: "mgmt", ifname: "eth0", address: `${CEPH_IP}/24` }] },
      ...nodeNames.map((name, position) => ({
        name,
        links: [
          { bridge: "mgmt", ifname: "eth0", address: `${MGMT}${11 + position}/24` },
          { bridge: "iscsi1", ifname: "eth1", address: `${ISCSI1}${11 + position}/24` },
          { bridge: "iscsi2", ifname: "eth2", address: `${ISCSI2}${11 + position}/24` },
        ],
      })),
      {
        name: "client",
        links: [
          { bridge: "iscsi1", ifname: "eth1", address: `${ISCSI1}9/24` },
          { bridge: "iscsi2", ifname: "eth2", address: `${ISCSI2}9/24` },
        ],
      },
    ];
    const topo = await createTopology({ bridges: ["mgmt", "iscsi1", "iscsi2"], hosts });
    topology = topo;

    const cephStarting = startCephHarness({
      name: `${options.name}-ceph`,
      netns: { name: topo.nsName("ceph"), ip: CEPH_IP },
    });
    cephStarting.catch(() => undefined);

    const consulDaemons: DaemonHandle[] = [];
    cleanups.push(async () => {
      await Promise.all(consulDaemons.map((daemon) => daemon.stop({ graceMs: 3000 })));
    });
    const consulAgent = (host: string, bindIp: string, server: boolean): DaemonHandle => {
      const dataDir = join(dir, `consul-${host}`);
      mkdirSync(dataDir, { recursive: true });
      const args = [
        "agent",
        ...(server
          ? ["-server", "-bootstrap-expect", "1", "-hcl", "performance { raft_multiplier = 1 }"]
          : ["-retry-join", INFRA_IP, "-retry-interval", "1s"]),
        "-node",
        host,
        "-bind",
        bindIp,
        "-client",
        "127.0.0.1",
        "-data-dir",
        dataDir,
        "-disable-host-node-id",
        "-dns-port",
        "-1",
        "-grpc-port",
        "-1",
        "-log-level",
        "warn",
        "-hcl",
        GOSSIP,
      ];
      const daemon = topo.spawnIn(host, consulBinary(), args, { logFile: join(dir, `consul-${host}.log`) });
      consulDaemons.push(daemon);
      return daemon;
    };
    consulAgent("infra", INFRA_IP, true);
    const forward: PortForward = await startPortForward({
      netns: topo.nsName("infra"),
      host: "127.0.0.1",
      port: 8500,
      dir,
      logFile: join(dir, "port-forward.log"),
    });
    cleanups.push(() => forward.stop());
    const consul = new ConsulClient({ address: forward.address, timeoutMs: 3000 });
    cleanups.push(() => Promise.resolve(consul.close()));
    nodeNames.forEach((name, position) => consulAgent(name, `${MGMT}${11 + position}`, false));
    await waitForConsul(forward.address, nodeNames);

    const ceph = await cephStarting;
    cleanups.push(() => ceph.stop());

    const nodes: ClusterNode[] = [];
    for (const [position, name] of nodeNames.entries()) {
      const tgtd = await startTgtd(topo, name);
      cleanups.push(() => tgtd.stop());
      const node = makeNode({
        topology: topo,
        name,
        position,
        dir: join(dir, `node-${name}`),
        tgtd,
        ceph,
        root,
        session,
        logLevel: options.logLevel ?? "debug",
      });
      cleanups.push(() => node.stop());
      nodes.push(node);
    }
    if (options.startDaemons ?? true) await Promise.all(nodes.map((node) => node.start()));

    const baseAddresses = new Set(
      hosts.flatMap((host) => host.links.map((link) => link.address?.split("/")[0] ?? "")),
    );
    const isPathIp = (ip: string): boolean =>
      !baseAddresses.has(ip) && (ip.startsWith(ISCSI1) || ip.startsWith(ISCSI2));

    const cluster: NsCluster = {
      topology: topo,
      dir,
      keys,
      consulAddress: forward.address,
      consul,
      ceph,
      iqnBase,
      nodes,
      node(name) {
        const found = nodes.find((candidate) => candidate.name === name);
        if (found === undefined) throw new Error(`no node ${name}`);
        return found;
      },
      createDisk: (spec) => createDisk(spec, { ceph, consul, keys, iqnBase }),
      async setDiskStopped(diskId, stopped) {
        await consul.put(keys.disk(diskId), "disk", { flags: stopped ? 1 : 0 });
      },
      async cordon(nodeName, cordoned = true) {
        const key = keys.node(nodeName);
        for (let attempt = 0; attempt < 10; attempt++) {
          // The node writes its record right after its session starts.
          const entry = await until(`the record of node ${nodeName}`, () => consul.get(key), 15_000);
          const record = { ...parseNodeRecord(entry.value, key), cordoned };
          if (await consul.put(key, serializeNodeRecord(record), { cas: entry.modifyIndex })) return;
        }
        throw new Error(`the record of node ${nodeName} kept changing`);
      },
      async readCapacity(ip, iqn, login = {}) {
        const user = login.user === undefined ? "" : `${login.user}@`;
        let result;
        try {
          result = await topo.exec(
            "client",
            "iscsi-readcapacity16",
            [
              ...(login.initiator === undefined ? ["-i", CLIENT_IQN] : ["-i", login.initiator]),
              "-s",
              `iscsi://${user}${ip}/${iqn}/1`,
            ],
            {
              timeoutMs: login.timeoutMs ?? 8000,
              acceptExitCodes: ANY_EXIT,
              ...(login.secret === undefined ? {} : { env: { LIBISCSI_CHAP_PASSWORD: login.secret } }),
            },
          );
        } catch (error) {
          // Nobody answers at the IP (the client still has the old node's MAC): no login.
          if (error instanceof CommandFailedError && error.failure === "timeout") {
            return { ok: false, bytes: undefined, output: error.message };
          }
          throw error;
        }
        const bytes = /^(\d+)$/m.exec(result.stdout)?.[1];
        return {
          ok: result.exitCode === 0,
          bytes: bytes === undefined ? undefined : Number(bytes),
          output: result.stdout + result.stderr,
        };
      },
      startIpSampler(intervalMs = 5) {
        const sampler = startSampler(
          nodes.map((node) => ({ name: node.name, ns: node.ns })),
          isPathIp,
          intervalMs,
        );
        cleanups.push(async () => {
          await sampler.stop();
        });
        return sampler;
      },
      destroy,
    };
    return cluster;
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  }
}

interface NodeSetup {
  topology: Topology;
  name: string;
  position: number;
  dir: string;
  tgtd: TgtdHarness;
  ceph: CephHarness;
  root: string;
  session: { ttlSeconds: number; lockDelaySeconds: number; fenceDeadlineMs: number };
  logLevel: string;
}

function makeNode(setup: NodeSetup): ClusterNode {
  const { topology, name, position, dir } = setup;
  const ns = topology.nsName(name);
  const mgmtIp = `${MGMT}${11 + position}`;
  const dataDir = join(dir, "data");
  const socketPath = join(dir, "admin.sock");
  const logFile = join(dir, "sanpathd.log");
  const configFile = join(dir, "sanpathd.json");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(
    configFile,
    JSON.stringify(
      {
        nodeName: name,
        listen: `${mgmtIp}:7410`,
        advertiseAddress: `${mgmtIp}:7410`,
        adminSocket: socketPath,
        consul: { address: "127.0.0.1:8500", root: setup.root },
        logLevel: setup.logLevel,
        dataDir,
        imageStore: { kind: "rbd", pool: setup.ceph.pool, cephConf: setup.ceph.confPath, cephUser: "admin" },
        target: { driver: "tgt", tgtControlPort: setup.tgtd.controlPort },
        session: setup.session,
        interfaces: { subnet1: "eth1", subnet2: "eth2" },
        shutdownGraceMs: 3000,
        auth: { mode: "none" },
        // NodeService is reached over the admin socket from the test process, without certificates.
        tls: { plaintext: true },
      },
      null,
      2,
    ),
  );
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
    iscsiIps: [`${ISCSI1}${11 + position}`, `${ISCSI2}${11 + position}`],
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
      await topology.setLinkState(name, "mgmt", "down");
    },
    async healMgmt() {
      await topology.setLinkState(name, "mgmt", "up");
      // The link needs a moment before the server answers: retry the join for a while.
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          await topology.exec(name, consulBinary(), ["join", "-http-addr", "127.0.0.1:8500", INFRA_IP], {
            timeoutMs: 10_000,
          });
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

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function tail(file: string): string {
  if (!existsSync(file)) return "(no log)";
  return readFileSync(file, "utf8").split("\n").slice(-30).join("\n");
}

function parseAddresses(json: string): string[] {
  const links = JSON.parse(json) as { ifname?: string; addr_info?: { family?: string; local?: string }[] }[];
  return links.flatMap((link) =>
    link.ifname === "lo"
      ? []
      : (link.addr_info ?? [])
          .filter((info) => info.family === "inet" && info.local !== undefined)
          .map((info) => info.local ?? ""),
  );
}

async function waitForConsul(address: string, nodes: readonly string[]): Promise<void> {
  const base = `http://${address}`;
  const deadline = Date.now() + 30_000;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const leader = (
        await (await fetch(`${base}/v1/status/leader`, { signal: AbortSignal.timeout(1000) })).text()
      ).trim();
      if (leader === '""' || leader === "") {
        last = "no leader";
      } else {
        const pending: string[] = [];
        for (const node of nodes) {
          const checks = (await (
            await fetch(`${base}/v1/health/node/${node}`, { signal: AbortSignal.timeout(1000) })
          ).json()) as { CheckID?: string; Status?: string }[];
          if (!checks.some((check) => check.CheckID === "serfHealth" && check.Status === "passing"))
            pending.push(node);
        }
        if (pending.length === 0) return;
        last = `agents not joined yet: ${pending.join(", ")}`;
      }
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  throw new Error(`Consul cluster not ready in 30 s: ${last}`);
}

async function createDisk(
  spec: TestDiskSpec,
  context: { ceph: CephHarness; consul: ConsulClient; keys: ConsulKeys; iqnBase: string },
): Promise<TestDisk> {
  const { ceph, consul, keys, iqnBase } = context;
  const sizeMiB = spec.sizeMiB ?? 64;
  const image = diskImageName(spec.id);
  const paths: DiskPath[] = spec.paths.map((path, position) => {
    const subnet = path.ip.startsWith(ISCSI1) ? 1 : path.ip.startsWith(ISCSI2) ? 2 : undefined;
    if (subnet === undefined) throw new Error(`${path.ip} is in neither iSCSI subnet`);
    return {
      index: position + 1,
      ip: path.ip,
      prefixLength: 24,
      interface: `eth${subnet}`,
      vlanId: 0,
      subnet,
    };
  });
  const disk: Disk = {
    id: spec.id,
    name: spec.name ?? `disk-${spec.id}`,
    sizeGib: 1,
    createTime: new Date(),
    iqn: `${iqnBase}:${spec.id}`,
    pool: ceph.pool,
    acl: spec.acl === undefined ? ALL_INITIATORS : { kind: "initiators", initiatorIqns: [...spec.acl] },
    chap: spec.chap,
    paths,
  };
  await ceph.cli("rbd", ["create", "--size", `${sizeMiB}M`, "--image-feature", "layering", image]);
  await ceph.cli("rbd", ["image-meta", "set", image, DISK_METADATA_KEY, serializeDiskMetadata(disk)]);
  await consul.put(
    keys.allocatedDiskId(spec.id),
    serializeDiskAllocation({
      id: spec.id,
      name: disk.name,
      pool: ceph.pool,
      ips: paths.map((path) => path.ip),
      node: "test",
      token: randomBytes(8).toString("hex"),
      createTime: disk.createTime,
      state: "active",
    }),
  );
  for (const path of paths) await consul.put(keys.diskPath(spec.id, path.index), "");
  await consul.put(keys.disk(spec.id), "disk", { flags: 0 });
  return { id: spec.id, iqn: disk.iqn, image, sizeBytes: sizeMiB * 1024 * 1024, disk };
}

function startSampler(
  nodes: readonly { name: string; ns: string }[],
  isPathIp: (ip: string) => boolean,
  intervalMs: number,
): IpSampler & { readonly samples: number } {
  const stopping = new AbortController();
  const overlaps: IpOverlap[] = [];
  const changes: PresenceChange[] = [];
  const present = new Map<string, Set<string>>(nodes.map((node) => [node.name, new Set()]));
  let samples = 0;
  let failure: unknown;
  const loop = (async () => {
    while (!stopping.signal.aborted) {
      const at = Date.now();
      let readings: { name: string; ips: string[] }[];
      try {
        // All namespaces at once, so that one round is as close to one instant as it gets.
        readings = await Promise.all(
          nodes.map(async (node) => {
            const { stdout } = await execa("ip", ["-n", node.ns, "-j", "-4", "addr", "show"], {
              timeout: 5000,
              cancelSignal: stopping.signal,
            });
            return { name: node.name, ips: parseAddresses(stdout).filter(isPathIp) };
          }),
        );
      } catch (error) {
        if (!isAborted(stopping.signal)) failure = error;
        return;
      }
      samples += 1;
      const holders = new Map<string, string[]>();
      for (const reading of readings) {
        const before = present.get(reading.name) ?? new Set<string>();
        const now = new Set(reading.ips);
        for (const ip of now)
          if (!before.has(ip)) changes.push({ at, ip, node: reading.name, present: true });
        for (const ip of before)
          if (!now.has(ip)) changes.push({ at, ip, node: reading.name, present: false });
        present.set(reading.name, now);
        for (const ip of now) holders.set(ip, [...(holders.get(ip) ?? []), reading.name]);
      }
      for (const [ip, names] of holders) if (names.length > 1) overlaps.push({ ip, nodes: names, at });
      try {
        await sleep(intervalMs, undefined, { signal: stopping.signal });
      } catch {
        return;
      }
    }
  })();
  let stopped: Promise<IpSamplerReport> | undefined;
  return {
    get samples() {
      return samples;
    },
    stop() {
      stopped ??= (async () => {
        stopping.abort();
        await loop;
        if (failure !== undefined) throw new Error("the IP sampler failed", { cause: failure });
        return { samples, overlaps, changes };
      })();
      return stopped;
    },
  };
}
