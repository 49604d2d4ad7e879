// Failover on a real 3-node dev cluster: a node is killed (power-off: daemons SIGKILLed, links
// cut) and each of its paths is probed from the client namespace (one iSCSI session per path,
// READ CAPACITY every 20 ms) until it answers again from another node. Time = kill → first
// answer. Runs cycle through the victim's role (follower, coordinator, Consul raft leader); the
// node is restarted and the paths rebalanced before the next run.
// Run (root, after `npm run build`):
//   node dist/bench/failover.js [--runs 6] [--session safe|fast]
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { consulNodeHealth } from "../src/devcluster/consul-server.js";
import {
  addDisk,
  countByNode,
  REBALANCE,
  startJob,
  waitForJob,
  waitUntilPlaced,
  withAdmin,
} from "../src/devcluster/cluster-ops.js";
import type { DevCluster } from "../src/devcluster/dev-cluster.js";
import { startIscsiProber } from "../src/devcluster/iscsi-prober.js";
import { clusterPaths, readPaths } from "../src/devcluster/path-reads.js";
import { DEV_SESSION_TIMING, FAST_SESSION_TIMING } from "../src/devcluster/sanpathd-node.js";
import { machineLine, ms, percentile, startBenchCluster, summary } from "./devcluster-support.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "6" },
    session: { type: "string", default: "safe" },
  },
});
const runs = Number(args.runs);
const timing = args.session === "fast" ? FAST_SESSION_TIMING : DEV_SESSION_TIMING;
const NODES = ["node1", "node2", "node3"];
const wall = (): number => performance.timeOrigin + performance.now();
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Wall-clock ms at which a live agent first sees `victim` as not passing (gone or critical). */
async function detection(cluster: DevCluster, victim: string, deadline: number): Promise<number | undefined> {
  const witness = cluster.state.nodes.find((node) => node.name !== victim && node.condition === "running");
  if (witness === undefined) return undefined;
  while (wall() < deadline) {
    const health = await consulNodeHealth(witness.consulSocket).catch(() => undefined);
    if (health !== undefined && health.get(victim) !== "passing") return wall();
    await sleep(25);
  }
  return undefined;
}

say(`failover bench: ${machineLine()}`);
say(
  `session: fence ${timing.fenceDeadlineMs} ms, lock-delay ${timing.lockDelaySeconds} s, TTL ${timing.ttlSeconds} s; gossip probe 250 ms / timeout 150 ms / suspicion ×4`,
);
const cluster = await startBenchCluster("failover", { nodes: 3, session: timing, logLevel: "info" });
try {
  await withAdmin(cluster, async (admin) => {
    for (let d = 1; d <= 12; d++) await addDisk(admin, { name: `fo-${d}`, paths: 2, subnet: "both" });
    await waitUntilPlaced(admin, { timeoutMs: 120_000, expectCount: 24 });
  });
  const all = await clusterPaths(cluster);
  if ((await readPaths(cluster, all, { waitMs: 30_000 })).some((read) => !read.read.ok)) {
    throw new Error("not every path reads before the first run");
  }

  const times: { role: string; ms: number }[] = [];
  for (let run = 1; run <= runs; run++) {
    // Runs cycle through the roles a dying node can have: a plain follower, the coordinator, the
    // Consul raft leader (the restarts move these around, so the victim is picked by role).
    const status = await cluster.status();
    const roleOf = (node: string): string =>
      [
        status.coordinator?.node === node ? "coordinator" : "",
        status.raftLeader === node ? "raft-leader" : "",
      ]
        .filter((part) => part !== "")
        .join("+") || "follower";
    const wanted = ["follower", "coordinator", "raft-leader"][(run - 1) % 3] ?? "follower";
    const victim =
      NODES.find((node) => roleOf(node) === wanted) ??
      NODES.find((node) => roleOf(node).includes(wanted)) ??
      NODES[(run - 1) % NODES.length] ??
      "node1";
    const role = roleOf(victim);
    const paths = (await clusterPaths(cluster)).filter((path) => path.node === victim);
    const prober = await startIscsiProber(cluster, paths, { intervalMs: 20 });
    const killedAt = wall();
    const detected = detection(cluster, victim, killedAt + 60_000);
    await cluster.kill(victim);
    const back = new Map<string, number>();
    while (back.size < paths.length && wall() < killedAt + 60_000) {
      for (const outage of prober.outages())
        if (outage.to > killedAt && !back.has(outage.ip)) back.set(outage.ip, outage.to);
      await sleep(50);
    }
    const report = await prober.stop();
    const detectedAt = await detected;
    const perPath = paths.map((path) => (back.get(path.ip) ?? Number.NaN) - killedAt);
    for (const value of perPath) times.push({ role, ms: value });
    say(
      `run ${run}: killed ${victim} (${role}) with ${paths.length} paths; detected by Consul after ${
        detectedAt === undefined ? "?" : ms(detectedAt - killedAt)
      }; back: ${summary(perPath.filter((value) => !Number.isNaN(value)))}; never back within 60 s: ${
        report.stillDown.length
      }`,
    );
    await cluster.restart(victim);
    // With the fast session timing a node can fence itself while the restarted Consul server is
    // promoted to voter (a raft configuration change); a rebalance planned then leaves it out.
    for (let attempt = 1; ; attempt++) {
      const job = await withAdmin(cluster, (admin) => startJob(admin, REBALANCE));
      await waitForJob(cluster, job.id, 120_000);
      const counts = countByNode(await clusterPaths(cluster));
      if (NODES.every((node) => (counts.get(node) ?? 0) > 0)) break;
      if (attempt === 3) throw new Error(`rebalance left a node empty: ${JSON.stringify([...counts])}`);
      say(`  (rebalance ${job.id} left a node empty: ${JSON.stringify([...counts])}; again in 2 s)`);
      await sleep(2000);
    }
  }

  const values = times.map((time) => time.ms).filter((value) => !Number.isNaN(value));
  say("");
  say(
    `failover over ${runs} runs, ${times.length} paths (kill → first READ CAPACITY answer from the new node):`,
  );
  say(`  all:        ${summary(values)}`);
  for (const role of [...new Set(times.map((time) => time.role))]) {
    say(
      `  ${`${role}:`.padEnd(11)} ${summary(times.filter((time) => time.role === role).map((time) => time.ms))}`,
    );
  }
  say(`  target p99 ≤ 3000 ms: ${percentile(values, 99) <= 3000 ? "met" : "missed"}`);
} finally {
  await cluster.down();
}
