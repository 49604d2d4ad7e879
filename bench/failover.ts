// Failover on a real 3-node dev cluster: a node dies and each of its paths is probed from the
// client namespace (one iSCSI session per path, READ CAPACITY every 20 ms) until it answers again
// from another node. Per path it prints detection (a live Consul agent sees the node not passing),
// takeover (Consul records another node serving the path) and client read (kill → first answer).
// Each role of the victim (follower, coordinator, Consul raft leader, coordinator + raft leader)
// dies each way (power-off: every daemon SIGKILLed and links cut; kill-9: sanpathd alone SIGKILLed,
// a daemon crash), --runs times; the node is booted again and the paths rebalanced between runs.
// Run (root, after `npm run build`):
//   node dist/bench/failover.js [--runs 6] [--session safe|fast] [--roles follower,coordinator,...]
//     [--modes power-off,kill-9] [--keep-logs DIR]
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
import { startAddressSampler } from "../src/devcluster/address-sampler.js";
import { startIscsiProber } from "../src/devcluster/iscsi-prober.js";
import type { StatusResponse } from "../src/gen/sanpath/v1/node.js";
import { clusterPaths, placedPaths, readPaths } from "../src/devcluster/path-reads.js";
import {
  CONSUL_SESSION_TIMING,
  DEV_SESSION_TIMING,
  FAST_SESSION_TIMING,
} from "../src/devcluster/sanpathd-node.js";
import { machineLine, ms, percentile, saveLogs, startBenchCluster, summary } from "./devcluster-support.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "6" },
    session: { type: "string", default: "lease" },
    roles: { type: "string", default: "follower,coordinator,raft-leader,coordinator+raft-leader" },
    modes: { type: "string", default: "power-off,kill-9" },
    "keep-logs": { type: "string" },
  },
});
const runs = Number(args.runs);
const ROLES = args.roles.split(",").filter((role) => role !== "");
const MODES = args.modes.split(",").filter((mode) => mode !== "");
for (const mode of MODES)
  if (mode !== "power-off" && mode !== "kill-9") throw new Error(`--modes: unknown mode ${mode}`);
const timings = {
  lease: DEV_SESSION_TIMING,
  consul: CONSUL_SESSION_TIMING,
  fast: FAST_SESSION_TIMING,
} as const;
if (!Object.hasOwn(timings, args.session))
  throw new Error(`--session: lease, consul or fast, not ${args.session}`);
const timing = timings[args.session as keyof typeof timings];
const NODES = ["node1", "node2", "node3"];
const wall = (): number => performance.timeOrigin + performance.now();
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Wall-clock ms at which a live agent first sees `victim` as not passing (gone or critical). */
async function detection(
  cluster: DevCluster,
  victim: string,
  deadline: number,
  done: () => boolean,
): Promise<number | undefined> {
  const witness = cluster.state.nodes.find((node) => node.name !== victim && node.condition === "running");
  if (witness === undefined) return undefined;
  while (wall() < deadline && !done()) {
    const health = await consulNodeHealth(witness.consulSocket).catch(() => undefined);
    if (health !== undefined && health.get(victim) !== "passing") return wall();
    await sleep(25);
  }
  return undefined;
}

/** Fences a node's sanpathd has counted since it started (NodeService Status). */
async function fencesOf(cluster: DevCluster, node: string): Promise<number | undefined> {
  const admin = await cluster.admin(node, 5000).catch(() => undefined);
  if (admin === undefined) return undefined;
  try {
    const status = await admin.call<StatusResponse>((md, opts, done) =>
      admin.node.status({ epoch: 0 }, md, opts, done),
    );
    return status.counters?.fences;
  } catch {
    return undefined;
  } finally {
    admin.close();
  }
}

say(`failover bench: ${machineLine()}`);
say(
  `liveness ${timing.mode ?? "consul"}; session: fence ${timing.fenceDeadlineMs} ms, lock-delay ${timing.lockDelaySeconds} s, TTL ${timing.ttlSeconds} s; gossip probe 250 ms / timeout 150 ms / suspicion ×4`,
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

  interface PathTime {
    readonly role: string;
    readonly mode: string;
    readonly detectMs: number;
    readonly takeoverMs: number;
    readonly readMs: number;
  }
  const times: PathTime[] = [];
  /** Every node's role, from one status read. */
  const roles = async (): Promise<Map<string, string>> => {
    const status = await cluster.status();
    const roleOf = (node: string): string =>
      [
        status.coordinator?.node === node ? "coordinator" : "",
        status.raftLeader === node ? "raft-leader" : "",
      ]
        .filter((part) => part !== "")
        .join("+") || "follower";
    return new Map(NODES.map((node) => [node, roleOf(node)]));
  };
  /** A node whose role is exactly `wanted`, moving the coordinator (hand-off restarts) when needed. */
  const victimFor = async (wanted: string): Promise<string | undefined> => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const now = await roles();
      const found = NODES.find((node) => now.get(node) === wanted);
      if (found !== undefined) return found;
      const coordinator = NODES.find((node) => now.get(node)?.includes("coordinator") === true);
      if (coordinator === undefined) {
        await sleep(1000);
        continue;
      }
      // The coordinator moves to another node when its sanpathd restarts with a hand-off.
      await cluster.restartSanpathd(coordinator, "hand-off");
      await sleep(1500);
    }
    return undefined;
  };
  const rebalance = async (): Promise<void> => {
    // With the fast session timing a node can fence itself while the restarted Consul server is
    // promoted to voter (a raft configuration change); a rebalance planned then leaves it out.
    for (let attempt = 1; ; attempt++) {
      // After a restart every path may be free for a while (a node fenced while its Consul server
      // rejoined): let placement finish first.
      await placedPaths(cluster, 60_000);
      const job = await withAdmin(cluster, (admin) => startJob(admin, REBALANCE));
      await waitForJob(cluster, job.id, 120_000);
      const counts = countByNode(await clusterPaths(cluster));
      if (NODES.every((node) => (counts.get(node) ?? 0) > 0)) return;
      if (attempt === 3) throw new Error(`rebalance left a node empty: ${JSON.stringify([...counts])}`);
      say(`  (rebalance ${job.id} left a node empty: ${JSON.stringify([...counts])}; again in 2 s)`);
      await sleep(2000);
    }
  };

  let run = 0;
  let overlaps = 0;
  let fences = 0;
  let unknownFenceRuns = 0;
  for (let round = 1; round <= runs; round++) {
    for (const mode of MODES) {
      for (const wanted of ROLES) {
        run++;
        const victim = await victimFor(wanted);
        if (victim === undefined) {
          say(`run ${run}: no node could be made ${wanted}; skipped`);
          continue;
        }
        await rebalance();
        const role = (await roles()).get(victim) ?? "follower";
        const paths = (await clusterPaths(cluster)).filter((path) => path.node === victim);
        const victimIps = new Set(paths.map((path) => path.ip));
        const survivors = NODES.filter((node) => node !== victim);
        const fencesBefore = await Promise.all(survivors.map((node) => fencesOf(cluster, node)));
        // A powered-off node's namespace keeps its addresses on cut links (no kernel answers for
        // them): only the survivors are sampled then. After a kill -9 the victim's kernel lives on
        // and is sampled too.
        const sampled = mode === "power-off" ? survivors : NODES;
        const sampler = startAddressSampler({
          nodes: cluster.state.nodes
            .filter((node) => sampled.includes(node.name))
            .map((node) => ({ name: node.name, netns: node.netns })),
          intervalMs: 10,
        });
        const prober = await startIscsiProber(cluster, paths, { intervalMs: 20 });
        const killedAt = wall();
        let finished = false;
        // A kill -9 of sanpathd leaves the node's Consul agent passing: its session ends by TTL.
        const detected =
          mode === "power-off"
            ? detection(cluster, victim, killedAt + 60_000, () => finished)
            : Promise.resolve(undefined);
        if (mode === "power-off") await cluster.kill(victim);
        else await cluster.killSanpathd(victim);
        const back = new Map<string, number>();
        const takenOver = new Map<string, number>();
        while ((back.size < paths.length || takenOver.size < paths.length) && wall() < killedAt + 60_000) {
          for (const outage of prober.outages())
            if (outage.to > killedAt && !back.has(outage.ip)) back.set(outage.ip, outage.to);
          if (takenOver.size < paths.length) {
            const now = await clusterPaths(cluster).catch(() => []);
            const seenAt = wall();
            for (const path of now)
              if (
                victimIps.has(path.ip) &&
                path.node !== "" &&
                path.node !== victim &&
                !takenOver.has(path.ip)
              )
                takenOver.set(path.ip, seenAt);
          }
          await sleep(50);
        }
        finished = true;
        const report = await prober.stop();
        const addresses = await sampler.stop();
        overlaps += addresses.overlaps.length;
        const fencesAfter = await Promise.all(survivors.map((node) => fencesOf(cluster, node)));
        const survivorFences = survivors
          .map((node, index) => {
            const before = fencesBefore[index];
            const after = fencesAfter[index];
            return before === undefined || after === undefined ? undefined : after - before;
          })
          .reduce<number | undefined>(
            (sum, value) => (sum === undefined || value === undefined ? undefined : sum + value),
            0,
          );
        if (survivorFences === undefined) unknownFenceRuns += 1;
        else fences += survivorFences;
        const detectedAt = await detected;
        for (const path of paths) {
          times.push({
            role,
            mode,
            detectMs: detectedAt === undefined ? Number.NaN : detectedAt - killedAt,
            takeoverMs: (takenOver.get(path.ip) ?? Number.NaN) - killedAt,
            readMs: (back.get(path.ip) ?? Number.NaN) - killedAt,
          });
        }
        const reads = paths.map((path) => (back.get(path.ip) ?? Number.NaN) - killedAt);
        const takeovers = paths.map((path) => (takenOver.get(path.ip) ?? Number.NaN) - killedAt);
        say(
          `run ${run}: ${mode} of ${victim} (${role}) with ${paths.length} paths; detected by Consul after ${
            detectedAt === undefined ? "?" : ms(detectedAt - killedAt)
          }; takeover ${summary(takeovers.filter((value) => !Number.isNaN(value)))}; read: ${summary(
            reads.filter((value) => !Number.isNaN(value)),
          )}; never back within 60 s: ${report.stillDown.length}; IP overlaps: ${
            addresses.overlaps.length
          } (${addresses.rounds} rounds of ${sampled.join(",")}); survivors' fences: ${survivorFences ?? "?"}`,
        );
        await cluster.restart(victim);
      }
    }
  }

  const finite = (values: readonly number[]): number[] => values.filter((value) => !Number.isNaN(value));
  say("");
  say(`failover over ${run} runs, ${times.length} paths (times from the kill, per path):`);
  say(`  ${"mode / role".padEnd(34)} ${"detection".padEnd(40)} ${"takeover".padEnd(40)} client read`);
  for (const mode of MODES) {
    for (const role of [...new Set(times.map((time) => time.role))]) {
      const group = times.filter((time) => time.role === role && time.mode === mode);
      if (group.length === 0) continue;
      say(
        `  ${`${mode} / ${role}:`.padEnd(34)} ${summary(finite(group.map((time) => time.detectMs))).padEnd(40)} ${summary(
          finite(group.map((time) => time.takeoverMs)),
        ).padEnd(40)} ${summary(finite(group.map((time) => time.readMs)))}`,
      );
    }
  }
  const reads = finite(times.map((time) => time.readMs));
  say(`  all client reads: ${summary(reads)}`);
  say(`  target p99 ≤ 3000 ms: ${percentile(reads, 99) <= 3000 ? "met" : "missed"}`);
  for (const mode of MODES) {
    const follower = finite(
      times.filter((time) => time.mode === mode && time.role === "follower").map((time) => time.readMs),
    );
    if (follower.length > 0)
      say(`  ${mode} follower p50 ≤ 1500 ms: ${percentile(follower, 50) <= 1500 ? "met" : "missed"}`);
  }
  say(`  IP overlaps over every run: ${overlaps}`);
  say(
    `  fences of surviving nodes over every run: ${fences}${unknownFenceRuns > 0 ? ` (unknown in ${unknownFenceRuns} runs)` : ""}`,
  );
} finally {
  // Every node's sanpathd log (appended to across the node's reboots), for a run worth a look.
  if (args["keep-logs"] !== undefined) saveLogs(cluster, args["keep-logs"]);
  await cluster.down();
}
