/**
 * The NetworkDriver contract against NetlinkNetworkDriver (rtnetlink and AF_PACKET through the
 * sanpath_net addon), acting from this process on a node namespace of its own: a host with two veth
 * links (eth1 198.51.100.11/24, eth2 203.0.113.11/24) to bridges in the topology's switch
 * namespace. The addon enters the namespace (/run/netns/<name>) on its own threads; the test
 * process stays in the root namespace, whose interfaces nothing here touches. As for IpDriver, the
 * VLAN case runs against the fake only (no 8021q module on these machines); the driver's VLAN steps
 * are checked in test/unit/net-netlink-network-driver.test.ts.
 */
import { afterAll, beforeAll } from "vitest";
import { loadNetBinding } from "../../native/net.js";
import { NetlinkNetworkDriver } from "../../src/net/netlink-network-driver.js";
import type { ConfiguredAddress } from "../../src/net/network-driver.js";
import { createTopology, type Topology } from "../harness/netns.js";
import { networkDriverContract } from "../contract/network-driver.contract.js";

const OWN: ConfiguredAddress = { ip: "198.51.100.11", prefixLength: 24, interface: "eth1" };
const TEST_IPS = ["198.51.100.64", "198.51.100.65", "198.51.100.66", "198.51.100.67"];

let topology: Topology | undefined;

beforeAll(async () => {
  topology = await createTopology({
    bridges: ["iscsi1", "iscsi2"],
    hosts: [
      {
        name: "nl",
        links: [
          { bridge: "iscsi1", ifname: "eth1", address: "198.51.100.11/24" },
          { bridge: "iscsi2", ifname: "eth2", address: "203.0.113.11/24" },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await topology?.destroy();
});

function topo(): Topology {
  if (topology === undefined) throw new Error("the topology was not created");
  return topology;
}

async function ipIn(args: string[]): Promise<string> {
  return (await topo().exec("nl", "ip", args)).stdout;
}

/** Deletes the test IPs from whichever device holds them (with `ip`, not the driver under test). */
async function removeTestAddresses(): Promise<void> {
  const links = JSON.parse(await ipIn(["-j", "addr", "show"])) as {
    ifname: string;
    addr_info?: { family?: string; local?: string; prefixlen?: number }[];
  }[];
  for (const link of links) {
    for (const info of link.addr_info ?? []) {
      if (info.family === "inet" && TEST_IPS.includes(info.local ?? "")) {
        await ipIn(["addr", "del", `${info.local}/${info.prefixlen}`, "dev", link.ifname]);
      }
    }
  }
}

networkDriverContract("NetlinkNetworkDriver acting on a network namespace", async () => {
  await removeTestAddresses();
  return {
    driver: new NetlinkNetworkDriver({
      addon: loadNetBinding(),
      runner: topo().runner("nl"),
      netns: topo().nsName("nl"),
    }),
    iface: "eth1",
    otherIface: "eth2",
    ownAddress: OWN,
    ips: TEST_IPS,
    prefixLength: 24,
    external: {
      async addAddress(address) {
        await ipIn(["addr", "add", `${address.ip}/${address.prefixLength}`, "dev", address.interface]);
      },
      async removeAddress(address) {
        await ipIn(["addr", "del", `${address.ip}/${address.prefixLength}`, "dev", address.interface]);
      },
    },
    close: removeTestAddresses,
  };
});
