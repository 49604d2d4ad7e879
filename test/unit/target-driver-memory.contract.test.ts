/** The TargetDriver contract against the in-memory fake (TgtDriver runs it in test/integration). */
import { InMemoryTargetDriver } from "../../src/testing/in-memory-target-driver.js";
import { targetDriverContract } from "../contract/target-driver.contract.js";

targetDriverContract("InMemoryTargetDriver", () => {
  const driver = new InMemoryTargetDriver();
  return {
    driver,
    backingFiles: ["/var/lib/sanpath/disks/image-00001", "/var/lib/sanpath/disks/image-00002"],
    ips: ["198.51.100.50", "198.51.100.51", "198.51.100.52", "198.51.100.53"],
    external: {
      deleteTarget: (iqn) => Promise.resolve(driver.external.deleteTarget(iqn)),
      stopListening: (ip, port) => Promise.resolve(driver.external.stopListening(ip, port)),
      stopService: () => Promise.resolve(driver.external.stopService()),
      startService: () => Promise.resolve(driver.external.startService()),
    },
  };
});
