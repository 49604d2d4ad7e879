// A restart of one node's sanpathd on a real 3-node dev cluster, while the client reads every path
// of that node (issue #14: zero-outage restart). Each run picks the node serving the most paths;
// an iSCSI prober in the client namespace keeps one session per path and sends READ CAPACITY every
// 20 ms, an address sampler reads every node's addresses every 5 ms; then the node's sanpathd is
// restarted with DevCluster.restartSanpathd:
//   restart mode:  SIGUSR2 (paths left up, the session handed over to the new daemon);
//   hand-off mode: SIGTERM, a plain stop (paths go to other nodes), then start, for comparison.
// Per run: failed reads (commands that failed on the open session; slow commands the prober gave
// up on and re-sent over a new session, and failed logins, apart), the longest gap between two
// answers per path, whether the node's session id and every path lock's session and ModifyIndex stayed the
// same, and IPs that vanished from the node or were up on two nodes. Targets (issue #14, restart
// mode): 0 reads lost, longest gap ≤ 200 ms, 0 IP overlaps. Figures only; nothing is asserted.
// Run (root, after `npm run build`):
//   node dist/bench/sanpathd-restart.js [--runs 10] [--hand-off-runs 10]
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { startAddressSampler, type SamplerReport } from "../src/devcluster/address-sampler.js";
import {
  addDisk,
  countByNode,
  REBALANCE,
  startJob,
  waitForJob,
  waitUntilPlaced,
  withAdmin,
} from "../src/devcluster/cluster-ops.js";
import type { PathView } from "../src/devcluster/client-reads.js";
import type { DevCluster, SanpathdStopMode } from "../src/devcluster/dev-cluster.js";
import { startIscsiProber, type ProberReport } from "../src/devcluster/iscsi-prober.js";
import { clusterPaths, readPaths } from "../src/devcluster/path-reads.js";
import type { StatusResponse } from "../src/gen/sanpath/v1/node.js";
import { machineLine, ms, percentile, startBenchCluster, summary } from "./devcluster-support.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    "hand-off-runs": { type: "string" },
  },
});
const runs = Number(args.runs);
const handOffRuns = Number(args["hand-off-runs"] ?? args.runs);
const NODES = ["node1", "node2", "node3"];
const DISKS = 9;
const PATHS_PER_DISK = 2;
const PROBE_INTERVAL_MS = 20;
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

interface RunResult {
  mode: SanpathdStopMode;
  node: string;
  paths: number;
  reads: number;
  failedReads: number;
  /** Commands on a stuck session the prober replaced (slow answers), and failed logins. */
  abandoned: number;
  failedLogins: number;
  /** Longest gap between two answers, per path. */
  gaps: number[];
  sessionKept: boolean;
  locksKept: number;
  vanished: number;
  overlaps: number;
  restartMs: number;
}

async function sessionOf(cluster: DevCluster, node: string): Promise<string> {
  const admin = await cluster.admin(node, 3000);
  try {
    const status = await admin.call<StatusResponse>((md, opts, done) =>
      admin.node.status({ epoch: 0 }, md, opts, done),
    );
    return status.session?.id ?? "";
  } finally {
    admin.close();
  }
}

async function busiestNode(cluster: DevCluster): Promise<{ node: string; paths: PathView[] }> {
  const all = await clusterPaths(cluster);
  const counts = countByNode(all);
  const node = [...NODES].sort((a, b) => (counts.get(b) ?? 0) - (counts.get(a) ?? 0))[0] ?? "node1";
  return { node, paths: all.filter((path) => path.node === node) };
}

async function oneRun(cluster: DevCluster, mode: SanpathdStopMode): Promise<RunResult> {
  const { node, paths } = await busiestNode(cluster);
  const lockKey = (path: PathView): string => `${path.diskId}/${path.index}`;
  const locksBefore = await cluster.pathLocks();
  const sessionBefore = await sessionOf(cluster, node);
  const sampler = startAddressSampler({
    nodes: cluster.state.nodes.map((each) => ({ name: each.name, netns: each.netns })),
    intervalMs: 5,
  });
  await sampler.nextRound();
  const prober = await startIscsiProber(cluster, paths, { intervalMs: PROBE_INTERVAL_MS }).catch(
    async (error: unknown) => {
      await sampler.stop();
      throw error;
    },
  );
  let restartMs = Number.NaN;
  const stopped = async (): Promise<[ProberReport, SamplerReport]> =>
    Promise.all([prober.stop(), sampler.stop()]);
  try {
    await sleep(500);
    restartMs = (await cluster.restartSanpathd(node, mode)).servingAfterMs;
    // Reads go on for a while after the new daemon serves (a hand-off's paths land elsewhere).
    await sleep(mode === "restart" ? 1000 : 3000);
  } catch (error) {
    await stopped();
    throw error;
  }
  const [probed, sampled] = await stopped();
  const locksAfter = await cluster.pathLocks();
  const sessionAfter = await sessionOf(cluster, node);
  const ips = new Set(paths.map((path) => path.ip));
  return {
    mode,
    node,
    paths: paths.length,
    reads: probed.paths.reduce((sum, path) => sum + path.reads, 0),
    failedReads: probed.paths.reduce((sum, path) => sum + path.failedReads, 0),
    abandoned: probed.paths.reduce((sum, path) => sum + path.abandoned, 0),
    failedLogins: probed.paths.reduce((sum, path) => sum + path.failedLogins, 0),
    gaps: probed.paths.map((path) => path.maxGapMs),
    sessionKept: sessionBefore !== "" && sessionAfter === sessionBefore,
    locksKept: paths.filter((path) => {
      const before = locksBefore.get(lockKey(path));
      const after = locksAfter.get(lockKey(path));
      return (
        before !== undefined &&
        after !== undefined &&
        after.session === before.session &&
        after.modifyIndex === before.modifyIndex
      );
    }).length,
    vanished: sampled.changes.filter(
      (change) => change.node === node && !change.present && ips.has(change.ip),
    ).length,
    overlaps: sampled.overlaps.length,
    restartMs,
  };
}

async function rebalance(cluster: DevCluster): Promise<void> {
  const job = await withAdmin(cluster, (admin) => startJob(admin, REBALANCE));
  await waitForJob(cluster, job.id, 120_000);
}

function describeRun(run: number, result: RunResult): string {
  return (
    `${result.mode} run ${run}: ${result.node} (${result.paths} paths): serving again after ${ms(result.restartMs)}; ` +
    `reads ${result.reads}, failed ${result.failedReads} (slow, re-sent on a new session: ${result.abandoned}; failed logins ${result.failedLogins}); longest gap ${ms(Math.max(...result.gaps))}; ` +
    `session ${result.sessionKept ? "same" : "NEW"}; locks kept ${result.locksKept}/${result.paths}; ` +
    `IPs vanished from the node ${result.vanished}; overlaps ${result.overlaps}`
  );
}

/** p50, p99 and max of a count. */
function counts(values: readonly number[]): string {
  return `n=${values.length} p50 ${percentile(values, 50)}, p99 ${percentile(values, 99)}, max ${Math.max(...values)}`;
}

function describeMode(mode: SanpathdStopMode, results: readonly RunResult[]): string[] {
  const gaps = results.flatMap((result) => result.gaps);
  const count = (what: (result: RunResult) => boolean): string =>
    `${results.filter(what).length}/${results.length}`;
  return [
    `${mode} (${results.length} runs, ${gaps.length} paths):`,
    `  failed reads per run:          ${counts(results.map((result) => result.failedReads))}`,
    `  slow reads re-sent per run:    ${counts(results.map((result) => result.abandoned))}`,
    `  failed logins per run:         ${counts(results.map((result) => result.failedLogins))}`,
    `  reads per run:                 ${counts(results.map((result) => result.reads))}`,
    `  longest gap per path:          ${summary(gaps)}`,
    `  signal → healthy session:      ${summary(results.map((result) => result.restartMs))}`,
    `  session id kept:               ${count((result) => result.sessionKept)} runs`,
    `  every lock kept (session, ModifyIndex): ${count((result) => result.locksKept === result.paths)} runs`,
    `  IPs vanished from the node:    ${results.reduce((sum, result) => sum + result.vanished, 0)} in all`,
    `  IP overlaps:                   ${results.reduce((sum, result) => sum + result.overlaps, 0)} rounds in all`,
  ];
}

say(`sanpathd restart bench: ${machineLine()}`);
const cluster = await startBenchCluster("sanpathd-restart", { nodes: 3, logLevel: "info" });
try {
  await withAdmin(cluster, async (admin) => {
    for (let d = 1; d <= DISKS; d++)
      await addDisk(admin, { name: `rs-${d}`, paths: PATHS_PER_DISK, subnet: "both" });
    await waitUntilPlaced(admin, { timeoutMs: 120_000, expectCount: DISKS * PATHS_PER_DISK });
  });
  if (
    (await readPaths(cluster, await clusterPaths(cluster), { waitMs: 30_000 })).some((read) => !read.read.ok)
  )
    throw new Error("not every path reads before the first run");

  const results: RunResult[] = [];
  for (const [mode, count] of [
    ["restart", runs],
    ["hand-off", handOffRuns],
  ] as const) {
    for (let run = 1; run <= count; run++) {
      const result = await oneRun(cluster, mode);
      results.push(result);
      say(describeRun(run, result));
      if (mode === "hand-off") {
        await withAdmin(cluster, (admin) =>
          waitUntilPlaced(admin, { timeoutMs: 60_000, expectCount: DISKS * PATHS_PER_DISK }),
        );
        await rebalance(cluster);
      }
      await sleep(1000);
    }
  }

  say("");
  for (const mode of ["restart", "hand-off"] as const) {
    const ofMode = results.filter((result) => result.mode === mode);
    if (ofMode.length > 0) for (const line of describeMode(mode, ofMode)) say(line);
  }
  const restarts = results.filter((result) => result.mode === "restart");
  const restartGaps = restarts.flatMap((result) => result.gaps);
  say(
    `targets (restart mode): 0 reads lost: ${restarts.every((result) => result.failedReads === 0) ? "met" : "missed"}; ` +
      `longest gap ≤ 200 ms: ${Math.max(...restartGaps) <= 200 ? "met" : `missed (p99 ${ms(percentile(restartGaps, 99))})`}; ` +
      `0 IP overlaps: ${restarts.every((result) => result.overlaps === 0) ? "met" : "missed"}`,
  );
} finally {
  await cluster.down();
}
