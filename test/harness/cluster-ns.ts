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
 * The building blocks are the dev cluster's (src/devcluster): the Consul agents' configuration and
 * readiness check, sanpathd's configuration, the path-IP sampler and the client's reads. What is
 * the harness's own: this topology (a Consul server of its own, nodes with addresses of their own
 * on the iSCSI nets), daemons that are children of the test process, and disks made without the
 * coordinator (ns-cluster-disks.ts). A node: ns-cluster-node.ts.
 *
 * Every node has its own tgtd (own control port) and sanpathd (`ip netns exec`, the built
 * dist/src/server/main.js, so `npm run build` first) with the rbd image store against the Ceph over
 * mgmt, listening on <mgmt ip>:7410 and on a unix socket: the test process (root namespace) calls
 * NodeService through that socket. Consul's HTTP API reaches the test process through a port
 * forward (src/netns/port-forward.ts); Ceph is driven with the rbd CLI inside its namespace.
 */
import type { DataPathConfig } from "../../src/config/config.js";
import { until } from "../support/until.js";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { consulBinary } from "../../src/consul/consul-binary.js";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import {
  startAddressSampler,
  type AddressOverlap,
  type PresenceChange,
} from "../../src/devcluster/address-sampler.js";
import { readCapacityAs } from "../../src/devcluster/client-reads.js";
import {
  consulAgentArgs,
  consulServerFiles,
  waitForConsulCluster,
  writeConsulConfig,
} from "../../src/devcluster/consul-server.js";
import { BRIDGES, NODE_INTERFACES } from "../../src/devcluster/layout.js";
import type { DaemonHandle } from "../../src/netns/daemon.js";
import { parseNodeRecord, serializeNodeRecord } from "../../src/node/node-record.js";
import { startPortForward, type PortForward } from "../../src/netns/port-forward.js";
import { createTopology, type HostSpec, type Topology } from "../../src/netns/topology.js";
import { startCephHarness, type CephHarness } from "./ceph.js";
import { createDisk, type TestDisk, type TestDiskSpec } from "./ns-cluster-disks.js";
import { makeNode, nodeAddress, type ClusterNode, type ClusterSubnets } from "./ns-cluster-node.js";
import { startTgtd } from "./tgtd.js";

export { grpcFailure, type GrpcFailure } from "./grpc-failure.js";
export type { TestDisk, TestDiskSpec } from "./ns-cluster-disks.js";
export type { CallOptions, ClusterNode } from "./ns-cluster-node.js";
export type { PresenceChange } from "../../src/devcluster/address-sampler.js";

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
  /** dataPath settings of every node (default sanpathd's). */
  dataPath?: Partial<DataPathConfig>;
}

export interface ReadCapacityResult {
  ok: boolean;
  bytes: number | undefined;
  output: string;
}

export type IpOverlap = AddressOverlap;

export interface IpSamplerReport {
  samples: number;
  overlaps: IpOverlap[];
  changes: PresenceChange[];
}

export interface IpSampler {
  readonly samples: number;
  /** The presence changes seen so far. */
  changes(): PresenceChange[];
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
const SUBNETS: ClusterSubnets = { mgmt: "192.0.2.", iscsi1: "198.51.100.", iscsi2: "203.0.113." };
const INFRA_IP = `${SUBNETS.mgmt}2`;
const CEPH_IP = `${SUBNETS.mgmt}3`;
const CLIENT_HOST_IP = 9;

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
    const { mgmt, subnet1, subnet2 } = NODE_INTERFACES;
    const hosts: HostSpec[] = [
      { name: "infra", links: [{ bridge: BRIDGES.mgmt, ifname: mgmt, address: `${INFRA_IP}/24` }] },
      { name: "ceph", links: [{ bridge: BRIDGES.mgmt, ifname: mgmt, address: `${CEPH_IP}/24` }] },
      ...nodeNames.map((name, position) => ({
        name,
        links: [
          { bridge: BRIDGES.mgmt, ifname: mgmt, address: `${nodeAddress(SUBNETS.mgmt, position)}/24` },
          { bridge: BRIDGES.iscsi1, ifname: subnet1, address: `${nodeAddress(SUBNETS.iscsi1, position)}/24` },
          { bridge: BRIDGES.iscsi2, ifname: subnet2, address: `${nodeAddress(SUBNETS.iscsi2, position)}/24` },
        ],
      })),
      {
        name: "client",
        links: [
          { bridge: BRIDGES.iscsi1, ifname: subnet1, address: `${SUBNETS.iscsi1}${CLIENT_HOST_IP}/24` },
          { bridge: BRIDGES.iscsi2, ifname: subnet2, address: `${SUBNETS.iscsi2}${CLIENT_HOST_IP}/24` },
        ],
      },
    ];
    const topo = await createTopology({ bridges: [BRIDGES.mgmt, BRIDGES.iscsi1, BRIDGES.iscsi2], hosts });
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
    // Configured like the dev cluster's agents (fast gossip, HTTP also on a unix socket).
    const consulAgent = (host: string, bindIp: string, server: boolean): DaemonHandle => {
      const files = consulServerFiles(join(dir, `consul-${host}`));
      mkdirSync(files.dataDir, { recursive: true });
      writeConsulConfig(files);
      const args = consulAgentArgs(files, {
        node: host,
        bindIp,
        bootstrapExpect: server ? 1 : undefined,
        retryJoin: server ? [] : [INFRA_IP],
      });
      const daemon = topo.spawnIn(host, consulBinary(), args, { logFile: files.logFile });
      consulDaemons.push(daemon);
      return daemon;
    };
    const consulServer = consulAgent("infra", INFRA_IP, true);
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
    nodeNames.forEach((name, position) => consulAgent(name, nodeAddress(SUBNETS.mgmt, position), false));
    // The server's catalog: a raft leader, and every node's agent joined (serfHealth passing).
    const serverProbe = {
      name: "infra",
      httpSocket: consulServerFiles(join(dir, "consul-infra")).httpSocket,
      running: () => consulServer.isRunning(),
    };
    await waitForConsulCluster([serverProbe], nodeNames, 30_000);

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
        subnets: SUBNETS,
        consulServerIp: INFRA_IP,
        tgtd,
        ceph,
        consulRoot: root,
        session,
        logLevel: options.logLevel ?? "debug",
        dataPath: options.dataPath,
      });
      cleanups.push(() => node.stop());
      nodes.push(node);
    }
    if (options.startDaemons ?? true) await Promise.all(nodes.map((node) => node.start()));

    const baseAddresses = new Set(
      hosts.flatMap((host) => host.links.map((link) => link.address?.split("/")[0] ?? "")),
    );
    const isPathIp = (ip: string): boolean =>
      !baseAddresses.has(ip) && (ip.startsWith(SUBNETS.iscsi1) || ip.startsWith(SUBNETS.iscsi2));

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
      createDisk: (spec) =>
        createDisk(spec, { ceph, consul, keys, iqnBase, subnets: [SUBNETS.iscsi1, SUBNETS.iscsi2] }),
      async setDiskStopped(diskId, stopped) {
        await consul.put(keys.disk(diskId), "disk", { flags: stopped ? 1 : 0 });
      },
      async cordon(nodeName, cordoned = true) {
        const key = keys.node(nodeName);
        for (let attempt = 0; attempt < 10; attempt++) {
          // The node writes its record right after its session starts.
          const entry = await until(`the record of node ${nodeName}`, () => consul.get(key), {
            timeoutMs: 15_000,
            intervalMs: 100,
          });
          const record = { ...parseNodeRecord(entry.value, key), cordoned };
          if (await consul.put(key, serializeNodeRecord(record), { cas: entry.modifyIndex })) return;
        }
        throw new Error(`the record of node ${nodeName} kept changing`);
      },
      async readCapacity(ip, iqn, login = {}) {
        const read = await readCapacityAs(
          topo.runner("client"),
          { ip, iqn },
          { initiator: login.initiator ?? CLIENT_IQN, user: login.user, secret: login.secret },
          login.timeoutMs ?? 8000,
        );
        return { ok: read.ok, bytes: read.bytes, output: read.output };
      },
      startIpSampler(intervalMs = 5) {
        const sampler = startAddressSampler({
          nodes: nodes.map((node) => ({ name: node.name, netns: node.ns })),
          intervalMs,
          isPathAddress: (ip) => isPathIp(ip),
        });
        let report: Promise<IpSamplerReport> | undefined;
        const stop = (): Promise<IpSamplerReport> => {
          report ??= sampler.stop().then(({ rounds, overlaps, changes }) => ({
            samples: rounds,
            overlaps,
            changes,
          }));
          return report;
        };
        cleanups.push(async () => {
          await stop();
        });
        return {
          get samples() {
            return sampler.rounds;
          },
          changes: () => sampler.changesSoFar(),
          stop,
        };
      },
      destroy,
    };
    return cluster;
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  }
}
