/**
 * Where everything of a dev cluster lives: namespaces, bridges, addresses, ports, the cluster
 * settings that match the node interfaces. Pure: the same inputs always give the same layout, so
 * a later command (kill, partition, down) rebuilds it from the state file.
 *
 *   bridges (in <prefix>-sw):  mgmt 192.0.2.0/24, iscsi1 198.51.100.0/24, iscsi2 203.0.113.0/24
 *   <prefix>-node<i>          eth0 192.0.2.<10+i> on mgmt; eth1 on iscsi1, eth2 on iscsi2 (no address
 *                             of their own: path IPs come and go there); ip_nonlocal_bind=1 for tgt,
 *                             promote_secondaries=1 (deleting one path IP must not delete the others)
 *   <prefix>-client           eth1 198.51.100.5, eth2 203.0.113.5 (the iSCSI initiator)
 *   <prefix>-ceph             eth0 192.0.2.5 (mon + memstore OSD)
 *   path IPs (automatic)      198.51.100.64-254 and 203.0.113.64-254 (382 paths)
 */
import type { ClusterSettings } from "../gen/sanpath/v1/cluster.js";
import type { HostSpec, TopologySpec } from "../netns/topology.js";

export const MAX_NODES = 9;
export const SANPATHD_PORT = 7410;
/** Each sanpathd's peer-lease listener (its lease worker), on its management address. */
export const SANPATHD_LEASE_PORT = 7411;
/** Each node's Prometheus metrics listener, on its management address. */
export const METRICS_PORT = 9410;
/** Each node's web console, on its management address (and on a unix socket in its folder). */
export const CONSOLE_PORT = 9480;
/** Where `up` forwards the console to on the root namespace's loopback (console-forwarder.ts). */
export const DEFAULT_CONSOLE_FORWARD_PORT = 9480;
export const CONSUL_HTTP_PORT = 8500;
/**
 * The Consul servers' ports between nodes, on their management addresses (Consul's defaults,
 * written into consul.json so that they are what the fault injection cuts): server RPC (raft and
 * forwarding, TCP), LAN and WAN gossip (serf, TCP and UDP).
 */
export const CONSUL_PEER_PORTS = { server: 8300, serfLan: 8301, serfWan: 8302 } as const;
export const ISCSI_PORT = 3260;

export const BRIDGES = { mgmt: "mgmt", iscsi1: "iscsi1", iscsi2: "iscsi2" } as const;
export const NODE_INTERFACES = { mgmt: "eth0", subnet1: "eth1", subnet2: "eth2" } as const;

export const CEPH_HOST = "ceph";
export const CLIENT_HOST = "client";
export const CEPH_IP = "192.0.2.5";
export const CLIENT_IPS = { subnet1: "198.51.100.5", subnet2: "203.0.113.5" } as const;

/** The settings `sanpath cluster init` stores for a dev cluster (interfaces match the nodes). */
export const DEV_CLUSTER_SETTINGS: ClusterSettings = {
  iqnBase: "iqn.2016-05.org.sanpath.dev",
  defaultPool: "rbd",
  subnet1: {
    network: "198.51.100.0/24",
    autoIpFrom: "198.51.100.64",
    autoIpTo: "198.51.100.254",
    interface: NODE_INTERFACES.subnet1,
    vlanId: 0,
  },
  subnet2: {
    network: "203.0.113.0/24",
    autoIpFrom: "203.0.113.64",
    autoIpTo: "203.0.113.254",
    interface: NODE_INTERFACES.subnet2,
    vlanId: 0,
  },
};

/** The same settings as `sanpath cluster init` flags (for the demo and the printed help). */
export function clusterInitArgs(settings: ClusterSettings = DEV_CLUSTER_SETTINGS): string[] {
  const args = ["cluster", "init", "--iqn-base", settings.iqnBase, "--pool", settings.defaultPool];
  for (const [number, subnet] of [
    [1, settings.subnet1],
    [2, settings.subnet2],
  ] as const) {
    if (subnet === undefined) continue;
    args.push(
      `--subnet${number}`,
      subnet.network,
      `--subnet${number}-range`,
      `${subnet.autoIpFrom}-${subnet.autoIpTo}`,
      `--subnet${number}-interface`,
      subnet.interface,
    );
  }
  return args;
}

export interface NodeLayout {
  /** node1..nodeN: the host name in the topology and sanpathd's node name. */
  readonly name: string;
  /** 1-based. */
  readonly index: number;
  readonly mgmtIp: string;
  /** host:port other nodes use (gRPC). */
  readonly grpcAddress: string;
}

export interface DevClusterLayout {
  readonly prefix: string;
  readonly nodes: readonly NodeLayout[];
  readonly topology: TopologySpec & { prefix: string };
}

export function nodeName(index: number): string {
  return `node${index}`;
}

export function devClusterLayout(prefix: string, nodeCount: number): DevClusterLayout {
  if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > MAX_NODES) {
    throw new RangeError(`a dev cluster has 1..${MAX_NODES} nodes (got ${nodeCount})`);
  }
  const nodes: NodeLayout[] = [];
  for (let index = 1; index <= nodeCount; index += 1) {
    const mgmtIp = `192.0.2.${10 + index}`;
    nodes.push({ name: nodeName(index), index, mgmtIp, grpcAddress: `${mgmtIp}:${SANPATHD_PORT}` });
  }
  const nodeHosts: HostSpec[] = nodes.map((node) => ({
    name: node.name,
    links: [
      { bridge: BRIDGES.mgmt, ifname: NODE_INTERFACES.mgmt, address: `${node.mgmtIp}/24` },
      { bridge: BRIDGES.iscsi1, ifname: NODE_INTERFACES.subnet1 },
      { bridge: BRIDGES.iscsi2, ifname: NODE_INTERFACES.subnet2 },
    ],
    sysctls: {
      // tgtd binds a path's portal before the IP is added (see src/iscsi/tgt-driver.ts).
      "net.ipv4.ip_nonlocal_bind": "1",
      // eth1/eth2 carry path IPs only, so the first one in a subnet is the "primary" address: by
      // default deleting it deletes every other path IP of that subnet on the interface with it.
      "net.ipv4.conf.all.promote_secondaries": "1",
    },
  }));
  return {
    prefix,
    nodes,
    topology: {
      prefix,
      bridges: [BRIDGES.mgmt, BRIDGES.iscsi1, BRIDGES.iscsi2],
      hosts: [
        ...nodeHosts,
        { name: CEPH_HOST, links: [{ bridge: BRIDGES.mgmt, ifname: "eth0", address: `${CEPH_IP}/24` }] },
        {
          name: CLIENT_HOST,
          links: [
            { bridge: BRIDGES.iscsi1, ifname: "eth1", address: `${CLIENT_IPS.subnet1}/24` },
            { bridge: BRIDGES.iscsi2, ifname: "eth2", address: `${CLIENT_IPS.subnet2}/24` },
          ],
        },
      ],
    },
  };
}

/** The links of a node that a partition cuts (every one of them). */
export function nodeBridges(): readonly string[] {
  return [BRIDGES.mgmt, BRIDGES.iscsi1, BRIDGES.iscsi2];
}
