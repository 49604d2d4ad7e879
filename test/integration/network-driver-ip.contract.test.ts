/**
 * The NetworkDriver contract against IpDriver inside a network namespace of its own: a host with
 * two veth links (eth1 198.51.100.11/24, eth2 203.0.113.11/24) to bridges in the topology's switch
 * namespace. The 8021q module is missing on these machines, so the VLAN case runs against the fake
 * only (IpDriver's VLAN commands are checked in test/unit/net-ip-driver.test.ts).
 */
import { afterAll, beforeAll } from "vitest";
import { IpDriver } from "../../src/net/ip-driver.js";
import type { ConfiguredAddress } from "../../src/net/network-driver.js";
import { createTopology, type Topology } from "../harness/netns.js";
import { networkDriverContract } from "../contract/network-driver.contract.js";

const OWN: ConfiguredAddress = { ip: "198.51.100.11", prefixLength: 24, interface: "eth1" };
const TEST_IPS = ["198.51.100.60", "198.51.100.61", "198.51.100.62", "198.51.100.63"];

let topology: Topology | undefined;

beforeAll(async () => {
  topology = await createTopology({
    bridges: ["iscsi1", "iscsi2"],
    hosts: [
      {
        name: "node",
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
  return (await topo().exec("node", "ip", args)).stdout;
}

/** Deletes the test IPs from whichever device holds them. */
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

networkDriverContract("IpDriver in a network namespace", async () => {
  await removeTestAddresses();
  return {
    driver: new IpDriver({ runner: topo().runner("node") }),
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
