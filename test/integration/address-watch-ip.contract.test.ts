/** The AddressWatch contract against `ip monitor address` in a network namespace of its own. */
import { afterAll, beforeAll } from "vitest";
import { IpMonitorAddressWatch } from "../../src/net/ip-monitor-address-watch.js";
import { createTopology, type Topology } from "../harness/netns.js";
import { addressWatchContract } from "../contract/address-watch.contract.js";

let topology: Topology | undefined;

beforeAll(async () => {
  topology = await createTopology({
    bridges: ["iscsi1"],
    hosts: [{ name: "node", links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.11/24" }] }],
  });
});

afterAll(async () => {
  await topology?.destroy();
});

function topo(): Topology {
  if (topology === undefined) throw new Error("the topology was not created");
  return topology;
}

addressWatchContract("IpMonitorAddressWatch", () => ({
  watch: new IpMonitorAddressWatch({ netns: topo().nsName("node") }),
  ip: "198.51.100.78",
  addAddress: async () => {
    await topo().exec("node", "ip", ["addr", "add", "198.51.100.78/24", "dev", "eth1"]);
  },
  deleteAddress: async () => {
    await topo().exec("node", "ip", ["addr", "del", "198.51.100.78/24", "dev", "eth1"]);
  },
  close: async () => {
    await topo()
      .exec("node", "ip", ["addr", "del", "198.51.100.78/24", "dev", "eth1"])
      .catch(() => undefined);
  },
}));
