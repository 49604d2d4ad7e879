/**
 * The start-up sweep on the driver fakes: what a previous daemon left (journalled paths, targets
 * with portals) goes before any session exists, the targets beside each other, the journal emptied.
 */
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log/logger.js";
import { PathJournal } from "../../src/node/path-journal.js";
import { PathSetup } from "../../src/node/path-setup.js";
import { sweepLeftovers } from "../../src/node/startup-sweep.js";
import { InMemoryNetworkDriver } from "../../src/testing/in-memory-network-driver.js";
import { InMemoryTargetDriver } from "../../src/testing/in-memory-target-driver.js";
import { localPath } from "../support/local-path.js";

const logger = createLogger({ level: "silent" });
const noConsul = { allocatedPathIps: () => Promise.reject(new Error("Consul unreachable")) };

describe("sweepLeftovers", () => {
  it("drops every leftover target at the same time, removes the IPs and empties the journal", async () => {
    const target = new InMemoryTargetDriver();
    const network = new InMemoryNetworkDriver({ interfaces: ["eth1"] });
    const setup = new PathSetup(target, network);
    const journal = await PathJournal.open(undefined);
    const left = [1, 2, 3].map((disk) =>
      localPath({
        diskId: `0000${disk}`,
        iqn: `iqn.2016-05.org.sanpath:0000${disk}`,
        ip: `198.51.100.${20 + disk}`,
        state: "served",
      }),
    );
    for (const path of left) {
      await setup.configure(
        path,
        {
          iqn: path.iqn,
          backing: { kind: "file", path: `/var/lib/sanpath/images/${path.diskId}.img` },
          acl: { allInitiators: true, initiatorIqns: [] },
        },
        AbortSignal.timeout(1000),
      );
      await journal.put(path);
    }
    target.faults.hangNext("dropTarget", 3);
    const sweeping = sweepLeftovers({ journal, setup, disks: noConsul, logger }, AbortSignal.timeout(5000));
    // All three drops are under way together (one at a time, the second would wait for the first).
    await target.faults.waitForHanging(3);
    target.faults.release();
    await sweeping;
    expect(journal.values()).toEqual([]);
    expect(target.serviceTargets()).toEqual([]);
    expect(network.kernelAddresses().filter((address) => address.ip.startsWith("198.51.100."))).toEqual([]);
  });
});
