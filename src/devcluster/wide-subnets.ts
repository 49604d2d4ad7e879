/**
 * iSCSI subnets for more paths than a dev cluster's own: its RFC 5737 /24s hold 382 automatic path
 * IPs, a scale run needs thousands. These take the RFC 2544 block (198.18.0.0/15, reserved for
 * benchmarks): subnet 1 198.18.0.0/20 on the nodes' eth1, subnet 2 198.19.0.0/20 on their eth2,
 * 4,031 automatic addresses each. The client namespace gets an address in each so that it reaches
 * the path IPs on its own links, and the nodes answer it through the connected routes their path
 * IPs bring.
 *
 *   InitCluster with WIDE_SUBNET_SETTINGS instead of DEV_CLUSTER_SETTINGS, then
 *   await addWideClientAddresses(cluster);
 *   startAddressSampler({ nodes, isPathAddress: isWidePathAddress });
 */
import { isIPv4 } from "node:net";
import type { ClusterSettings } from "../gen/sanpath/v1/cluster.js";
import type { DevCluster } from "./dev-cluster.js";
import { DEV_CLUSTER_SETTINGS, NODE_INTERFACES } from "./layout.js";

const SUBNET1_PREFIX = "198.18.";
const SUBNET2_PREFIX = "198.19.";

export const WIDE_SUBNET_SETTINGS: ClusterSettings = {
  ...DEV_CLUSTER_SETTINGS,
  subnet1: {
    network: "198.18.0.0/20",
    autoIpFrom: "198.18.0.64",
    autoIpTo: "198.18.15.254",
    interface: NODE_INTERFACES.subnet1,
    vlanId: 0,
  },
  subnet2: {
    network: "198.19.0.0/20",
    autoIpFrom: "198.19.0.64",
    autoIpTo: "198.19.15.254",
    interface: NODE_INTERFACES.subnet2,
    vlanId: 0,
  },
};

/** Automatic path IPs per subnet (198.x.0.64 … 198.x.15.254). */
export const WIDE_SUBNET_PATH_IPS = 16 * 256 - 64 - 1;

/** The client namespace's own address in each wide subnet (below the automatic range). */
export const WIDE_CLIENT_ADDRESSES = { eth1: "198.18.0.5/20", eth2: "198.19.0.5/20" } as const;

/** Gives the client namespace its address in each wide subnet (beside its RFC 5737 ones). */
export async function addWideClientAddresses(cluster: DevCluster): Promise<void> {
  const client = cluster.clientRunner();
  for (const [device, address] of Object.entries(WIDE_CLIENT_ADDRESSES)) {
    await client.run("ip", ["addr", "add", address, "dev", device]);
  }
}

/** A path IP of the wide subnets on a node's iSCSI interface (the address sampler's filter). */
export function isWidePathAddress(ip: string, ifname: string): boolean {
  return (
    ifname !== NODE_INTERFACES.mgmt &&
    ifname !== "lo" &&
    isIPv4(ip) &&
    (ip.startsWith(SUBNET1_PREFIX) || ip.startsWith(SUBNET2_PREFIX))
  );
}
