/**
 * End to end, one 3-node dev cluster with its supervisor (src/devcluster/supervisor.ts), which
 * restarts a dead tgtd or Consul agent as systemd does in production:
 *   - a node's Consul agent is killed with kill -9: the supervisor starts it again about 1 s
 *     later, within the fence deadline, and the node keeps (or gets back) a healthy session;
 *   - a node's Consul agent stays dead (supervision off): the node keeps its peer lease, lets its
 *     paths go when the coordinator asks (Consul freed their locks) and the others serve them;
 *     supervision on, the agent is back about 1 s later and the node sees its old session gone,
 *     makes a new one and serves again by itself;
 *   - with supervision off, a killed tgtd stays dead; turned on again, the supervisor restarts it
 *     and the node's paths read again;
 *   - a node killed on purpose (a power-off) is never restarted.
 * In each, every path is placed and reads afterwards, and no path IP is ever up on two nodes.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import {
  addDisk,
  REBALANCE,
  startJob,
  waitForJob,
  waitUntilPlaced,
  withAdmin,
} from "../../src/devcluster/cluster-ops.js";
import { until, untilTrue } from "../support/until.js";
import {
  busiestFollower,
  electedCoordinator,
  currentPaths,
  expectEveryPathReads,
  expectSafeAndServed,
  expectSucceeded,
  nodeStatus,
  sampleAddresses,
  useE2eCluster,
} from "./support.js";

/** Consul declaring a node failed + placement, with a wide margin for a busy CI machine. */
const SERVED_AGAIN_MS = 30_000;
const PATHS = 6;
const NODE_SERVICE = "sanpath.v1.NodeService";

describe("supervision of tgtd and Consul on a 3-node dev cluster", () => {
  const dev = useE2eCluster("sup", {
    setUp: (cluster) =>
      withAdmin(cluster, async (admin) => {
        await addDisk(admin, { name: "db", paths: 4, subnet: "both" });
        await addDisk(admin, { name: "web", paths: 2, subnet: "both" });
        await waitUntilPlaced(admin, { timeoutMs: 60_000, expectCount: PATHS });
      }),
  });
  const nodeServiceHealth = (node: string): Promise<string> => dev().health(node, NODE_SERVICE);
  /** Every path has a node, and reads from the client. */
  const expectAllPlacedAndRead = async (): Promise<void> => {
    await withAdmin(dev(), (admin) =>
      waitUntilPlaced(admin, { timeoutMs: SERVED_AGAIN_MS, expectCount: PATHS }),
    );
    await expectEveryPathReads(dev(), await currentPaths(dev()), SERVED_AGAIN_MS);
  };

  it("a Consul agent killed with kill -9 is back after ~1 s: the node keeps (or gets back) a healthy session and every path reads", async () => {
    expect(dev().supervisor()).toMatchObject({ state: "on", restartDelayMs: 1000 });
    const victim = await busiestFollower(dev());
    const killed = dev().daemon(victim, "consul");
    expect(killed).toMatchObject({ running: true, restarts: 0 });
    const sampler = sampleAddresses(dev());
    try {
      const killedAt = performance.now();
      await dev().killConsulAgent(victim);
      expect(dev().daemon(victim, "consul").running).toBe(false);
      let restartedAfterMs = 0;
      await untilTrue(
        `the supervisor restarts the Consul agent of ${victim}`,
        () => {
          const agent = dev().daemon(victim, "consul");
          restartedAfterMs = performance.now() - killedAt;
          return agent.running && agent.pid !== killed.pid;
        },
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      expect(restartedAfterMs).toBeGreaterThanOrEqual(1000);
      expect(restartedAfterMs).toBeLessThan(4000);
      expect(dev().daemon(victim, "consul").restarts).toBe(1);
      // Back within the fence deadline (4 s), a blip the session may outlive; either way the
      // node ends up with a confirmed session.
      await untilTrue(
        `${victim} holds a healthy session`,
        async () => (await nodeStatus(dev(), victim)).session?.healthy === true,
        60_000,
      );
      await expectAllPlacedAndRead();
      const node = (await dev().status()).nodes.find((candidate) => candidate.name === victim);
      expect({ consul: node?.consul, serf: node?.serf, restarts: node?.restarts }).toEqual({
        consul: true,
        serf: "passing",
        restarts: { consul: 1, tgtd: 0 },
      });
    } finally {
      expectSafeAndServed(await sampler.stop(), SERVED_AGAIN_MS * 2);
    }
  }, 150_000);

  it("a Consul agent dead for long: the node keeps its peer lease and lets its paths go to the others; restarted ~1 s after supervision is on, the node fences what is left, makes a new session and serves again by itself", async () => {
    const victim = await busiestFollower(dev());
    const before = await nodeStatus(dev(), victim);
    expect(before.session?.healthy).toBe(true);
    const sampler = sampleAddresses(dev());
    try {
      await dev().setSupervision(false);
      await dev().killConsulAgent(victim);
      // Cut off from Consul, not from its peers (docs/DEPLOY.md, "What happens, by situation"):
      // Consul declares the node failed and frees its locks; the coordinator has it let each path
      // go (CleanPath) before placing it elsewhere. Its lease holds all along: it did not fence.
      await untilTrue(
        `${victim} has let its paths go`,
        async () => (await nodeStatus(dev(), victim)).paths.length === 0,
        30_000,
      );
      const cut = await nodeStatus(dev(), victim);
      expect(cut.lease?.holds).toBe(true);
      expect(cut.session?.fenced).toBe(false);
      await expectAllPlacedAndRead();
      const dead = dev().daemon(victim, "consul");
      expect(dead.running).toBe(false);

      const onAt = performance.now();
      await dev().setSupervision(true);
      await untilTrue(
        `the supervisor restarts the Consul agent of ${victim}`,
        () => dev().daemon(victim, "consul").running,
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      const restartedAfterMs = performance.now() - onAt;
      expect(restartedAfterMs).toBeGreaterThanOrEqual(1000);
      expect(restartedAfterMs).toBeLessThan(4000);
      expect(dev().daemon(victim, "consul").restarts).toBe(dead.restarts + 1);

      const after = await until(
        `${victim} creates a new session by itself`,
        async () => {
          const session = (await nodeStatus(dev(), victim).catch(() => undefined))?.session;
          return session?.healthy === true && !session.fenced && session.id !== before.session?.id
            ? session
            : undefined;
        },
        60_000,
      );
      expect(after.id).not.toBe(before.session?.id);
      await untilTrue(
        `${victim}'s NodeService is SERVING again`,
        async () => (await nodeServiceHealth(victim)) === "SERVING",
        30_000,
      );
      // It takes paths again: a rebalance gives it its share.
      const rebalance = await withAdmin(dev(), (admin) => startJob(admin, REBALANCE));
      expectSucceeded(await waitForJob(dev(), rebalance.id, 60_000));
      expect((await currentPaths(dev())).filter((path) => path.node === victim).length).toBeGreaterThan(0);
      await expectAllPlacedAndRead();
    } finally {
      await dev().setSupervision(true);
      expectSafeAndServed(await sampler.stop(), SERVED_AGAIN_MS * 2);
    }
  }, 180_000);

  it("supervision off: a killed tgtd stays dead; on again: it is restarted and the node's paths read again", async () => {
    const victim = await busiestFollower(dev());
    const its = (await currentPaths(dev())).filter((path) => path.node === victim);
    await dev().setSupervision(false);
    expect(dev().supervisor().state).toBe("off");
    const killed = dev().daemon(victim, "tgtd");

    await dev().killTgtd(victim);
    // The data-path probe notices within its 3 s.
    await untilTrue(
      `${victim}'s NodeService is NOT_SERVING`,
      async () => (await nodeServiceHealth(victim)) === "NOT_SERVING",
      20_000,
    );
    await sleep(2000);
    expect(dev().daemon(victim, "tgtd")).toMatchObject({ pid: killed.pid, running: false, restarts: 0 });

    const onAt = performance.now();
    await dev().setSupervision(true);
    await untilTrue(
      `the supervisor restarts the tgtd of ${victim}`,
      () => dev().daemon(victim, "tgtd").running,
      { timeoutMs: 15_000, intervalMs: 50 },
    );
    expect(performance.now() - onAt).toBeGreaterThanOrEqual(1000);
    expect(dev().daemon(victim, "tgtd").restarts).toBe(1);
    // Down longer than dataPath.degradeAfterMs: the node handed its paths off and stays degraded
    // until its data path has been healthy for dataPath.recoverAfterMs (10 s).
    await untilTrue(
      `${victim}'s NodeService is SERVING again`,
      async () => (await nodeServiceHealth(victim)) === "SERVING",
      30_000,
    );
    await expectEveryPathReads(dev(), its, SERVED_AGAIN_MS);
  }, 120_000);

  it("a node killed on purpose is not restarted", async () => {
    const leader = await electedCoordinator(dev());
    const victim = dev()
      .state.nodes.map((node) => node.name)
      .find((name) => name !== leader);
    if (victim === undefined) throw new Error("no node besides the coordinator");
    const restarts = {
      consul: dev().daemon(victim, "consul").restarts,
      tgtd: dev().daemon(victim, "tgtd").restarts,
    };
    await dev().kill(victim);
    await sleep(3000);
    expect(dev().supervisor().state).toBe("on");
    for (const daemon of ["consul", "tgtd"] as const) {
      expect(dev().daemon(victim, daemon)).toMatchObject({ running: false, restarts: restarts[daemon] });
    }
  }, 60_000);
});
