/**
 * End to end, one 3-node dev cluster (issue #14 item 8): a restart of a serving node's sanpathd
 * (DevCluster.restartSanpathd: SIGUSR2, then a new sanpathd on the node) keeps everything in place:
 * the new daemon runs on the old session, every path of the node stays on it with its lock
 * untouched, no IP of it vanishes even for one sampler round (5 ms), and every path reads after.
 *
 * The new daemon must confirm the handed-over session within the fence deadline of the old one's
 * last renew, or it starts from a clean node (its paths go elsewhere). With the dev cluster's 4 s,
 * a machine busy with other suites was seen to take longer than that just to start Node and reach
 * the adoption, so this cluster runs sanpathd's shipped session timing (fence after 10 s).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addDisk, waitUntilPlaced, withAdmin } from "../../src/devcluster/cluster-ops.js";
import type { DevCluster } from "../../src/devcluster/dev-cluster.js";
import type { SessionTiming } from "../../src/devcluster/sanpathd-node.js";
import {
  busiestFollower,
  currentPaths,
  expectEveryPathReads,
  nodeStatus,
  sampleAddresses,
  startE2eCluster,
} from "./support.js";

const DISKS = 4;
/** sanpathd's defaults (src/config/load-config.ts). */
const SHIPPED_SESSION_TIMING: SessionTiming = {
  ttlSeconds: 10,
  lockDelaySeconds: 15,
  fenceDeadlineMs: 10_000,
};

describe("a restart of sanpathd (SIGUSR2) on a serving node (3-node dev cluster)", () => {
  let cluster: DevCluster | undefined;

  beforeAll(async () => {
    cluster = await startE2eCluster("sanpathd-restart", 3, SHIPPED_SESSION_TIMING);
    await withAdmin(cluster, async (admin) => {
      for (let disk = 1; disk <= DISKS; disk++) await addDisk(admin, { name: `r${disk}`, paths: 2 });
      await waitUntilPlaced(admin, { timeoutMs: 60_000, expectCount: DISKS * 2 });
    });
  }, 180_000);

  afterAll(async () => {
    await cluster?.down();
  }, 60_000);

  const dev = (): DevCluster => {
    if (cluster === undefined) throw new Error("the dev cluster did not start");
    return cluster;
  };

  it("keeps the session, the locks and every IP on the node; every path reads after", async () => {
    const node = await busiestFollower(dev());
    const served = (await currentPaths(dev())).filter((path) => path.node === node);
    const ips = new Set(served.map((path) => path.ip));
    const session = (await nodeStatus(dev(), node)).session?.id ?? "";
    expect(session).not.toBe("");
    const locksBefore = await dev().pathLocks();
    const oldPid = dev().state.nodes.find((each) => each.name === node)?.sanpathd?.pid;

    const sampler = sampleAddresses(dev());
    let report;
    try {
      await sampler.nextRound();
      const restart = await dev().restartSanpathd(node);
      expect(restart.oldPid).toBe(oldPid);
      expect(restart.newPid).not.toBe(oldPid);
      expect(restart.sessionId).toBe(session);
      await sampler.nextRound();
    } finally {
      report = await sampler.stop();
    }
    expect(report.overlaps).toEqual([]);
    expect(
      report.changes.filter((change) => change.node === node && ips.has(change.ip) && !change.present),
    ).toEqual([]);
    for (const ip of ips) expect({ ip, on: report.holders.get(ip) }).toEqual({ ip, on: [node] });

    expect((await nodeStatus(dev(), node)).session?.id).toBe(session);
    const after = (await currentPaths(dev())).filter((path) => ips.has(path.ip));
    expect(after.map((path) => [path.ip, path.node])).toEqual(served.map((path) => [path.ip, node]));
    const locksAfter = await dev().pathLocks();
    for (const path of served) {
      const key = `${path.diskId}/${path.index}`;
      expect({ key, lock: locksAfter.get(key) }).toEqual({ key, lock: locksBefore.get(key) });
    }
    await expectEveryPathReads(dev(), after);
  }, 120_000);
});
