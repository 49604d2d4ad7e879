/** The NetworkDriver contract against the in-memory fake (IpDriver runs it in test/integration). */
import { InMemoryNetworkDriver } from "../../src/testing/in-memory-network-driver.js";
import { networkDriverContract } from "../contract/network-driver.contract.js";

const OWN = { ip: "198.51.100.11", prefixLength: 24, interface: "eth1" };

networkDriverContract(
  "InMemoryNetworkDriver",
  () => {
    const driver = new InMemoryNetworkDriver({
      interfaces: ["eth1", "eth2"],
      addresses: [OWN, { ip: "203.0.113.11", prefixLength: 24, interface: "eth2" }],
    });
    return {
      driver,
      iface: "eth1",
      otherIface: "eth2",
      ownAddress: OWN,
      ips: ["198.51.100.60", "198.51.100.61", "198.51.100.62", "198.51.100.63"],
      prefixLength: 24,
      external: {
        addAddress: (address) => Promise.resolve(driver.external.addAddress(address)),
        removeAddress: (address) => Promise.resolve(driver.external.removeAddress(address.ip)),
      },
    };
  },
  { vlans: true },
);
