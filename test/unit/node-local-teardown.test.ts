/**
 * LocalTeardown's fence on the driver fakes: with peer leases every IP goes at once, alongside its
 * portal step (a stuck target daemon delays no IP), and an IP removal slower than the budget is
 * let finish rather than killed; the Consul fence keeps the portal-then-IP order. The second sweep
 * removes what the first could not, and only marks an IP already seen gone.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { createLogger } from "../../src/log/logger.js";
import { LocalTeardown } from "../../src/node/local-teardown.js";
import { PathJournal, type LocalPath } from "../../src/node/path-journal.js";
import { PathQueue } from "../../src/node/path-queue.js";
import { PathSetup } from "../../src/node/path-setup.js";
import { InMemoryNetworkDriver } from "../../src/testing/in-memory-network-driver.js";
import { InMemoryTargetDriver } from "../../src/testing/in-memory-target-driver.js";
import { localPath } from "../support/local-path.js";
import { untilTrue } from "../support/until.js";

const logger = createLogger({ level: "silent" });
const PATHS: readonly LocalPath[] = [
  localPath({ index: 1, ip: "198.51.100.21", state: "served" }),
  localPath({ index: 2, ip: "198.51.100.22", state: "served" }),
];
const SPEC = {
  iqn: localPath().iqn,
  backing: { kind: "file" as const, path: "/var/lib/sanpath/images/00001.img" },
  acl: { allInitiators: true, initiatorIqns: [] },
  chap: undefined,
};
/** Consul fencing: lockDelay 2 s − fenceDeadline 1 s = a 1 s budget (portal 500 ms, IP 1 s). */
const CONSUL_SESSION = { ttlSeconds: 10, lockDelaySeconds: 2, fenceDeadlineMs: 1000 };

/** PATHS configured and journalled as served on the driver fakes; `budgetMs` set = a lease fence. */
async function servedNode(budgetMs?: number) {
  const target = new InMemoryTargetDriver();
  const network = new InMemoryNetworkDriver({ interfaces: ["eth1"] });
  const setup = new PathSetup(target, network);
  const journal = await PathJournal.open(undefined);
  for (const path of PATHS) {
    await setup.configure(path, SPEC, AbortSignal.timeout(1000));
    await journal.put(path);
  }
  const teardown = new LocalTeardown({
    journal,
    setup,
    queue: new PathQueue(),
    session: CONSUL_SESSION,
    ...(budgetMs === undefined ? {} : { budgetMs }),
    logger,
  });
  const pathIpsUp = (): string[] =>
    network
      .kernelAddresses()
      .map((address) => address.ip)
      .filter((ip) => PATHS.some((path) => path.ip === ip));
  const stateOf = (ip: string): string | undefined =>
    journal.values().find((entry) => entry.ip === ip)?.state;
  return { target, network, journal, teardown, pathIpsUp, stateOf };
}

describe("LocalTeardown: the fence", () => {
  it("with peer leases, every IP is gone while the portal steps still hang; the targets stay", async () => {
    const node = await servedNode(400);
    node.target.faults.hangNext("disablePortal", PATHS.length);
    const fenced = node.teardown.tearDownAll("test", "fence");
    await node.target.faults.waitForHanging(PATHS.length);
    await untilTrue("both path IPs are gone", () => node.pathIpsUp().length === 0, {
      timeoutMs: 300,
      intervalMs: 10,
    });
    expect(node.target.faults.hanging).toBe(PATHS.length);

    const done = await fenced;
    expect(done.map((entry) => entry.ip).sort()).toEqual(PATHS.map((path) => path.ip));
    expect(PATHS.map((path) => node.stateOf(path.ip))).toEqual(["cleaning", "cleaning"]);
    expect(node.target.faults.callsOf("dropTarget")).toHaveLength(0);
  });

  it("with Consul fencing, the IP goes only after the portal step (here: when it gives up)", async () => {
    const node = await servedNode();
    node.target.faults.hangNext("disablePortal", PATHS.length);
    const fenced = node.teardown.tearDownAll("test", "fence");
    await node.target.faults.waitForHanging(PATHS.length);
    await sleep(200);
    expect(node.pathIpsUp()).toHaveLength(PATHS.length);
    expect(node.network.faults.callsOf("removeAddress")).toHaveLength(0);

    expect(await fenced).toHaveLength(PATHS.length);
    expect(node.pathIpsUp()).toEqual([]);
  });

  it("with peer leases, an IP removal slower than the budget is let finish, not killed", async () => {
    const node = await servedNode(100);
    node.network.faults.hangNext("removeAddress");
    const fenced = node.teardown.tearDownAll("test", "fence");
    await node.network.faults.waitForHanging(1);
    await sleep(400);
    expect(node.network.faults.hanging).toBe(1);

    node.network.faults.release();
    const done = await fenced;
    expect(done).toHaveLength(PATHS.length);
    expect(node.pathIpsUp()).toEqual([]);
    expect(PATHS.map((path) => node.stateOf(path.ip))).toEqual(["cleaning", "cleaning"]);
  });

  it("the second sweep removes an IP the first could not, and only marks one already gone", async () => {
    const node = await servedNode(400);
    const [stuck, vanished] = PATHS;
    if (stuck === undefined || vanished === undefined) throw new Error("two paths");
    // First sweep, in journal order: the first removal fails with its IP still up; the second
    // fails too, but its IP went (as a killed `ip` may have removed the address).
    node.network.faults.failNext("removeAddress");
    node.network.faults.failNext("removeAddress", () => {
      node.network.external.removeAddress(vanished.ip);
      return new SanpathError("internal", "ip: killed", { reason: "DRIVER_FAILED" });
    });

    await node.teardown.fence("test");

    expect(node.pathIpsUp()).toEqual([]);
    const removals = node.network.faults
      .callsOf("removeAddress")
      .map((call) => (call.args[0] as { ip: string }).ip);
    expect(removals).toEqual([stuck.ip, vanished.ip, stuck.ip]);
    expect([node.stateOf(stuck.ip), node.stateOf(vanished.ip)]).toEqual(["cleaning", "cleaning"]);
  });
});
