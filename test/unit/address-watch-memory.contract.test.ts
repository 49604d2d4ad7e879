/** The AddressWatch contract against the in-memory one (`ip monitor` runs it in test/integration). */
import { InMemoryAddressWatch } from "../../src/testing/in-memory-address-watch.js";
import { InMemoryNetworkDriver } from "../../src/testing/in-memory-network-driver.js";
import { addressWatchContract } from "../contract/address-watch.contract.js";

addressWatchContract("InMemoryAddressWatch", () => {
  const network = new InMemoryNetworkDriver({ interfaces: ["eth1"] });
  const address = { ip: "198.51.100.77", prefixLength: 24, interface: "eth1" };
  return {
    watch: new InMemoryAddressWatch(network),
    ip: address.ip,
    addAddress: () => Promise.resolve(network.external.addAddress(address)),
    deleteAddress: () => Promise.resolve(network.external.removeAddress(address.ip)),
  };
});
