// Scale on a real 3-node dev cluster (issue #18): thousands of paths (--disks × 8), and what the
// cluster does with them. Phases, each printing its figures as it finishes (a later phase that
// fails leaves the earlier figures printed; --skip leaves phases out):
//   add         every disk added (AddDisk, a few in parallel) → every path placed → every path
//               readable from the client namespace; AddDisk p50/p99 and paths/s
//   idle        --idle-seconds of nothing: per node the RSS and CPU of sanpathd, its crash guard,
//               tgtd and the Consul agent; Consul requests per second by operation (each node's
//               Prometheus counter), reads and writes apart; reconcile passes and their duration
//               (debug log)
//   restart     SIGUSR2 restart of one node's sanpathd (paths stay up): until every path of the
//               node answers again, the iSCSI prober's longest gap per path
//   cold-start  kill -9 of that sanpathd and a new one at once: until every path reads again
//   drain       DrainNode of one node (~1/3 of the paths): wall time, paths/s, per-path outage from
//               the client, address sampler overlaps
//   failover    power-off of one node (~1/3 of the paths): per path, kill → first read again
// Path IPs come from the dev cluster's own subnets (198.51.100.64-254, 203.0.113.64-254: 382 paths).
// These machines allow only the RFC 5737 ranges inside our namespaces, so this is the largest run
// they can carry; 4,000 paths need a machine (or subnets) with room for them. Nothing is asserted;
// figures only.
// Run (root, after `npm run build`):
//   node dist/bench/scale.js [--disks 500] [--add-concurrency 4] [--idle-seconds 30]
//     [--skip idle,restart,cold-start,drain,failover] [--probe-interval MS] [--log-level debug|info]
//     [--keep-logs DIR]
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { startAddressSampler, type SamplerReport } from "../src/devcluster/address-sampler.js";
import { mapLimited, type PathView } from "../src/devcluster/client-reads.js";
import {
  addDisk,
  countByNode,
  drainNode,
  uncordonNode,
  waitForJob,
  waitUntilPlaced,
  withAdmin,
} from "../src/devcluster/cluster-ops.js";
import type { DevCluster } from "../src/devcluster/dev-cluster.js";
import { startIscsiProber, type IscsiProber, type ProberReport } from "../src/devcluster/iscsi-prober.js";
import { scrapeNodeMetrics } from "../src/devcluster/node-metrics.js";
import { clusterPaths, readPaths } from "../src/devcluster/path-reads.js";
import { coldStartSanpathd } from "../src/devcluster/sanpathd-cold-start.js";
import { DEV_CLUSTER_SETTINGS } from "../src/devcluster/layout.js";
import { JobState } from "../src/gen/sanpath/v1/assignment.js";
import { consulRequestCounts, consulRequestRates, describeRates } from "./consul-request-rates.js";
import {
  benchMemoryLine,
  commandTimes,
  machineLine,
  ms,
  percentile,
  rebalanceCluster,
  saveLogs,
  sanpathdLogEntries,
  startBenchCluster,
  summary,
} from "./devcluster-support.js";
import {
  childPids,
  clockTicksPerSecond,
  cpuPercent,
  mib,
  processCommandLine,
  readProcessUsage,
  type ProcessUsage,
} from "./process-usage.js";
import { readsAgain } from "./reads-again.js";

const PHASES = ["idle", "restart", "cold-start", "drain", "failover"] as const;
type Phase = (typeof PHASES)[number];

const { values: args } = parseArgs({
  options: {
    disks: { type: "string", default: "500" },
    "add-concurrency": { type: "string", default: "4" },
    "idle-seconds": { type: "string", default: "30" },
    skip: { type: "string", default: "" },
    "probe-interval": { type: "string" },
    "log-level": { type: "string", default: "debug" },
    "keep-logs": { type: "string" },
  },
});

function positiveInteger(text: string, option: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${option}: a positive integer, not ${text}`);
  return value;
}

const PATHS_PER_DISK = 8;
const NODE_COUNT = 3;
const disks = positiveInteger(args.disks, "--disks");
const totalPaths = disks * PATHS_PER_DISK;
const addConcurrency = positiveInteger(args["add-concurrency"], "--add-concurrency");
const idleSeconds = positiveInteger(args["idle-seconds"], "--idle-seconds");
const probeIntervalOption =
  args["probe-interval"] === undefined
    ? undefined
    : positiveInteger(args["probe-interval"], "--probe-interval");
const skipped = new Set<string>(args.skip.split(",").filter((name) => name !== ""));
for (const name of skipped)
  if (!(PHASES as readonly string[]).includes(name))
    throw new Error(`--skip: ${name} is not a phase (${PHASES.join(", ")}; add always runs)`);
// "both": a disk's paths alternate between the two subnets.
/** Automatic path IPs of the dev cluster's two subnets (x.64 … x.254 each). */
const DEV_CLUSTER_PATH_IPS = 2 * (254 - 64 + 1);
if (totalPaths > DEV_CLUSTER_PATH_IPS)
  throw new Error(
    `--disks ${disks}: ${totalPaths} paths, but the dev cluster's subnets hold ${DEV_CLUSTER_PATH_IPS} path IPs ` +
      `(only the RFC 5737 ranges may be used in namespaces on these machines): at most --disks ${Math.floor(DEV_CLUSTER_PATH_IPS / PATHS_PER_DISK)}`,
  );

/** Client reads (one iscsi-readcapacity16 process each) at once: two cores, shared with the cluster. */
const READ_CONCURRENCY = 16;
/** READ CAPACITY commands per second the prober may send in all (what the reassignment bench ran at). */
const PROBE_BUDGET_PER_SECOND = 3000;
/** Before the idle window: background work of the last placements (ARP, journal) ends. */
const IDLE_SETTLE_MS = 5000;
const wall = (): number => performance.timeOrigin + performance.now();
const seconds = (milliseconds: number): string => `${(milliseconds / 1000).toFixed(1)} s`;
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** The prober's pause between two reads of a path, so that `watched` paths stay within the budget. */
function probeIntervalFor(watched: number): number {
  if (probeIntervalOption !== undefined) return probeIntervalOption;
  return Math.max(20, Math.ceil((watched * 1000) / PROBE_BUDGET_PER_SECOND / 10) * 10);
}

/** The address sampler's pause: every round parses every node's whole address list. */
function samplerIntervalFor(paths: number): number {
  return Math.max(5, Math.round(paths / 50));
}

/** Long enough for `paths` moves or placements at a few per second on this machine, at least `floorMs`. */
function budgetFor(paths: number, perPathMs: number, floorMs: number): number {
  return Math.max(floorMs, paths * perPathMs);
}

function startSampler(cluster: DevCluster, nodes: readonly string[], paths: number) {
  return startAddressSampler({
    nodes: cluster.state.nodes
      .filter((node) => nodes.includes(node.name))
      .map((node) => ({ name: node.name, netns: node.netns })),
    intervalMs: samplerIntervalFor(paths),
  });
}

function startProber(cluster: DevCluster, paths: readonly PathView[]): Promise<IscsiProber> {
  return startIscsiProber(cluster, paths, {
    intervalMs: probeIntervalFor(paths.length),
    readyTimeoutMs: budgetFor(paths.length, 50, 30_000),
  });
}

/** A node that is neither the coordinator nor the Consul raft leader, the one with the most paths. */
async function plainFollower(cluster: DevCluster): Promise<{ node: string; paths: PathView[] }> {
  const status = await cluster.status();
  const all = await clusterPaths(cluster);
  const counts = countByNode(all);
  const byPaths = (a: string, b: string): number => (counts.get(b) ?? 0) - (counts.get(a) ?? 0);
  const running = status.nodes.filter((node) => node.condition === "running").map((node) => node.name);
  const followers = running.filter((node) => node !== status.coordinator?.node && node !== status.raftLeader);
  const node =
    [...followers].sort(byPaths)[0] ??
    running.filter((name) => name !== status.coordinator?.node).sort(byPaths)[0] ??
    running[0];
  if (node === undefined) throw new Error("no running node");
  return { node, paths: all.filter((path) => path.node === node) };
}

function proberLines(report: ProberReport, intervalMs: number): string[] {
  const sum = (what: (path: ProberReport["paths"][number]) => number): number =>
    report.paths.reduce((total, path) => total + what(path), 0);
  const threshold = Math.max(100, 2 * intervalMs);
  return [
    `longest read gap per path (one READ CAPACITY every ${intervalMs} ms): ${summary(report.paths.map((path) => path.maxGapMs))}`,
    `paths with a gap over ${threshold} ms: ${new Set(report.outages.map((outage) => outage.ip)).size}/${report.paths.length}; ` +
      `reads ${sum((path) => path.reads)}, failed ${sum((path) => path.failedReads)}, slow re-sent ${sum((path) => path.abandoned)}, ` +
      `failed logins ${sum((path) => path.failedLogins)}; not answering at the end: ${report.stillDown.length}`,
  ];
}

function samplerLine(report: SamplerReport, nodes: readonly string[]): string {
  return (
    `address sampler (${nodes.join(",")}): ${report.rounds} rounds, max gap ${ms(report.maxRoundGapMs)}, ` +
    `IPs up on two nodes: ${report.overlaps.length}${
      report.overlaps.length === 0
        ? ""
        : ` (first: ${report.overlaps
            .slice(0, 3)
            .map((overlap) => `${overlap.ip} on ${overlap.nodes.join("+")}`)
            .join("; ")})`
    }`
  );
}

async function addPhase(cluster: DevCluster): Promise<void> {
  const node = cluster.answeringNodes()[0];
  if (node === undefined) throw new Error("no node answers");
  // AddDisk checks every existing disk (ids, IPs): with hundreds of them a call may take longer
  // than an admin client's default 10 s deadline.
  const admin = await cluster.admin(node, 120_000);
  try {
    const started = performance.now();
    const latencies = await mapLimited(
      Array.from({ length: disks }, (_, index) => index + 1),
      addConcurrency,
      async (number) => {
        const callStarted = performance.now();
        await addDisk(admin, { name: `scale-${number}`, paths: PATHS_PER_DISK, subnet: "both" });
        return performance.now() - callStarted;
      },
    );
    const added = performance.now();
    const paths = await waitUntilPlaced(admin, {
      timeoutMs: budgetFor(totalPaths, 500, 300_000),
      expectCount: totalPaths,
    });
    const placed = performance.now();
    const reads = await readPaths(cluster, paths, { concurrency: READ_CONCURRENCY, waitMs: 60_000 });
    const readable = performance.now();
    const tenth = Math.max(1, Math.floor(disks / 10));
    const unreadable = reads.filter((read) => !read.read.ok);
    say(
      `add: ${disks} disks × ${PATHS_PER_DISK} paths = ${paths.length} paths; AddDisk ${addConcurrency} at a time: ${summary(latencies)}`,
    );
    say(
      `  AddDisk p50 of the first ${tenth} disks ${ms(percentile(latencies.slice(0, tenth), 50))}, of the last ${tenth} ${ms(percentile(latencies.slice(-tenth), 50))}`,
    );
    say(
      `  every AddDisk answered ${seconds(added - started)} after the first (${(disks / ((added - started) / 1000)).toFixed(1)} disks/s)`,
    );
    say(
      `  every path placed ${seconds(placed - started)} after the first AddDisk → ${(paths.length / ((placed - started) / 1000)).toFixed(1)} paths/s; ` +
        `placement ${JSON.stringify(Object.fromEntries(countByNode(paths)))}`,
    );
    say(
      `  every path readable from the client ${seconds(readable - started)} after the first AddDisk ` +
        `(reads ${READ_CONCURRENCY} at a time took ${seconds(readable - placed)}; first read of a path ${summary(reads.map((read) => read.read.ms))}); ` +
        `unreadable after 60 s: ${unreadable.length}${unreadable.length === 0 ? "" : ` (${unreadable[0]?.path.ip}: ${unreadable[0]?.read.problem})`}`,
    );
  } finally {
    admin.close();
  }
}

interface WatchedProcess {
  node: string;
  what: string;
  pid: number;
}

function watchedProcesses(cluster: DevCluster): WatchedProcess[] {
  return cluster.state.nodes.flatMap((node) => {
    const sanpathd = node.sanpathd?.pid;
    const guard =
      sanpathd === undefined
        ? undefined
        : childPids(sanpathd).find((pid) => processCommandLine(pid).includes("crash-guard"));
    return [
      { what: "sanpathd", pid: sanpathd },
      { what: "crash guard", pid: guard },
      { what: "tgtd", pid: node.tgtd?.pid },
      { what: "consul", pid: node.consul?.pid },
    ].flatMap((entry) =>
      entry.pid === undefined ? [] : [{ node: node.name, what: entry.what, pid: entry.pid }],
    );
  });
}

async function idlePhase(cluster: DevCluster, ticksPerSecond: number): Promise<void> {
  await sleep(IDLE_SETTLE_MS);
  const watched = watchedProcesses(cluster);
  const nodes = cluster.state.nodes.map((node) => node.name);
  const scrapeAll = (): Promise<Map<string, number>[]> =>
    Promise.all(nodes.map(async (node) => consulRequestCounts(await scrapeNodeMetrics(cluster, node))));
  const loadBefore = loadavg()[0] ?? Number.NaN;
  const countsBefore = await scrapeAll();
  const from = wall();
  const first = watched.map((entry) => readProcessUsage(entry.pid));
  const maxRss = first.map((usage) => usage?.rssKib ?? 0);
  while (wall() < from + idleSeconds * 1000) {
    await sleep(Math.min(1000, Math.max(0, from + idleSeconds * 1000 - wall())));
    for (const [index, entry] of watched.entries())
      maxRss[index] = Math.max(maxRss[index] ?? 0, readProcessUsage(entry.pid)?.rssKib ?? 0);
  }
  const last = watched.map((entry) => readProcessUsage(entry.pid));
  const countsAfter = await scrapeAll();
  const to = wall();
  const windowSeconds = (to - from) / 1000;
  const paths = countByNode(await clusterPaths(cluster));

  say(
    `idle ${windowSeconds.toFixed(1)} s (after a ${seconds(IDLE_SETTLE_MS)} settle; load average ${loadBefore.toFixed(2)} → ${(loadavg()[0] ?? Number.NaN).toFixed(2)}); ` +
      `RSS at the end (max over the window), CPU in % of one core:`,
  );
  const usageOf = (index: number): string => {
    const before: ProcessUsage | undefined = first[index];
    const after: ProcessUsage | undefined = last[index];
    const entry = watched[index];
    if (entry === undefined || before === undefined || after === undefined)
      return `${entry?.what ?? "?"} gone`;
    return `${entry.what} ${mib(after.rssKib)} (${mib(maxRss[index] ?? 0)}), ${cpuPercent(before, after, ticksPerSecond).toFixed(1)} %`;
  };
  for (const node of nodes) {
    const parts = watched.flatMap((entry, index) => (entry.node === node ? [usageOf(index)] : []));
    say(`  ${node} (${paths.get(node) ?? 0} paths): ${parts.join("; ")}`);
  }
  const rates = nodes.map((_, index) =>
    consulRequestRates(countsBefore[index] ?? new Map(), countsAfter[index] ?? new Map(), windowSeconds),
  );
  const together = new Map<string, number>();
  const togetherBefore = new Map<string, number>();
  for (const [index] of nodes.entries()) {
    for (const [operation, count] of countsAfter[index] ?? [])
      together.set(operation, (together.get(operation) ?? 0) + count);
    for (const [operation, count] of countsBefore[index] ?? [])
      togetherBefore.set(operation, (togetherBefore.get(operation) ?? 0) + count);
  }
  say(
    `  Consul requests at idle, all nodes: ${describeRates(consulRequestRates(togetherBefore, together, windowSeconds))}`,
  );
  for (const [index, node] of nodes.entries()) say(`    ${node}: ${describeRates(rates[index] ?? [])}`);

  const logs = sanpathdLogEntries(cluster, from, to);
  const passes = nodes.map((node) => {
    const ofNode = (logs.get(node) ?? []).filter((entry) => entry.msg === "reconcile pass done");
    const done = ofNode.map((entry) => JSON.parse(entry.line) as { paths?: number; durationMs?: number });
    const described = done.map((pass) => `${pass.paths ?? 0} paths in ${pass.durationMs ?? 0} ms`);
    return `${node} ${ofNode.length}${described.length === 0 ? "" : ` (${described.join(", ")})`}`;
  });
  say(`  reconcile passes in the window (debug log "reconcile pass done"): ${passes.join("; ")}`);
  say(
    `  sanpathd log lines per second at idle (log level ${args["log-level"]}): ${nodes
      .map((node) => `${node} ${((logs.get(node)?.length ?? 0) / windowSeconds).toFixed(1)}`)
      .join(", ")}`,
  );
}

async function restartPhase(cluster: DevCluster): Promise<void> {
  const { node, paths } = await plainFollower(cluster);
  const nodes = cluster.state.nodes.map((each) => each.name);
  const intervalMs = probeIntervalFor(paths.length);
  const sampler = startSampler(cluster, nodes, totalPaths);
  const prober = await startProber(cluster, paths);
  let probed: ProberReport;
  let sampled: SamplerReport;
  let signalAt = 0;
  let servingAfterMs = Number.NaN;
  try {
    await sleep(1000);
    signalAt = wall();
    servingAfterMs = (await cluster.restartSanpathd(node, "restart")).servingAfterMs;
    await sleep(2000);
  } finally {
    [probed, sampled] = await Promise.all([prober.stop(), sampler.stop()]);
  }
  const ips = new Set(paths.map((path) => path.ip));
  const lastGapEnd = Math.max(
    0,
    ...probed.outages.filter((outage) => outage.to > signalAt).map((outage) => outage.to - signalAt),
  );
  say(
    `restart (SIGUSR2) of ${node}'s sanpathd, ${paths.length} paths: healthy session ${seconds(servingAfterMs)} after the signal; ` +
      `every path answering again ${lastGapEnd === 0 ? `throughout (no gap over ${Math.max(100, 2 * intervalMs)} ms)` : `${ms(lastGapEnd)} after the signal (the end of the last gap)`}`,
  );
  for (const line of proberLines(probed, intervalMs)) say(`  ${line}`);
  say(
    `  ${samplerLine(sampled, nodes)}; the node's IPs that vanished from it: ${
      sampled.changes.filter((change) => change.node === node && !change.present && ips.has(change.ip)).length
    }`,
  );
}

async function coldStartPhase(cluster: DevCluster): Promise<void> {
  const { node, paths } = await plainFollower(cluster);
  const nodes = cluster.state.nodes.map((each) => each.name);
  const intervalMs = probeIntervalFor(paths.length);
  const sampler = startSampler(cluster, nodes, totalPaths);
  const prober = await startProber(cluster, paths);
  let probed: ProberReport;
  let sampled: SamplerReport;
  let back = new Map<string, number>();
  let servingAfterMs = Number.NaN;
  const ips = new Set(paths.map((path) => path.ip));
  try {
    await sleep(1000);
    const watchFrom = wall();
    // A path is down once its IP left the node (the crash guard tears them down one by one).
    const downAt = (): Map<string, number> => {
      const down = new Map<string, number>();
      for (const change of sampler.changesSoFar())
        if (
          change.node === node &&
          !change.present &&
          change.at >= watchFrom &&
          ips.has(change.ip) &&
          !down.has(change.ip)
        )
          down.set(change.ip, change.at);
      return down;
    };
    const watching = readsAgain(prober, [...ips], watchFrom, {
      timeoutMs: budgetFor(paths.length, 250, 120_000),
      downAt,
    });
    const coldStart = await coldStartSanpathd(cluster, node);
    servingAfterMs = coldStart.servingAfterMs;
    const sinceWatchFrom = await watching;
    // Counted from the kill itself.
    back = new Map(
      [...sinceWatchFrom].map(([ip, afterMs]) => [ip, afterMs - (coldStart.killedAt - watchFrom)]),
    );
  } finally {
    [probed, sampled] = await Promise.all([prober.stop(), sampler.stop()]);
  }
  const after = countByNode((await clusterPaths(cluster)).filter((path) => ips.has(path.ip)));
  const times = [...back.values()];
  say(
    `cold start (kill -9 of ${node}'s sanpathd, a new one started at once), ${paths.length} paths: NodeService SERVING ${seconds(servingAfterMs)} after the kill; ` +
      `every path read again ${times.length === paths.length ? seconds(Math.max(...times)) : `- (${paths.length - times.length} not seen back)`} after the kill`,
  );
  say(
    `  read again per path (kill → first answer after its IP left the node): ${summary(times)}; now on ${JSON.stringify(Object.fromEntries(after))}`,
  );
  for (const line of proberLines(probed, intervalMs)) say(`  ${line}`);
  say(`  ${samplerLine(sampled, nodes)}`);
}

async function drainPhase(cluster: DevCluster): Promise<void> {
  const rebalanced = await rebalanceCluster(cluster, budgetFor(totalPaths, 1000, 300_000));
  say(
    `  (rebalance before the drain: ${rebalanced.totals?.succeeded ?? 0} moves, ${JobState[rebalanced.state]})`,
  );
  const { node, paths } = await plainFollower(cluster);
  const nodes = cluster.state.nodes.map((each) => each.name);
  const intervalMs = probeIntervalFor(paths.length);
  const sampler = startSampler(cluster, nodes, totalPaths);
  const prober = await startProber(cluster, paths);
  let probed: ProberReport;
  let sampled: SamplerReport;
  let wallMs = Number.NaN;
  let moved = 0;
  let state = "?";
  let from = 0;
  let to = 0;
  try {
    await sleep(1000);
    from = Date.now();
    const started = performance.now();
    const job = await withAdmin(cluster, (admin) => drainNode(admin, node));
    const done = await waitForJob(cluster, job.id, budgetFor(paths.length, 1000, 300_000));
    wallMs = performance.now() - started;
    to = Date.now();
    moved = done.totals?.succeeded ?? 0;
    state = JobState[done.state];
    await sleep(1000);
  } finally {
    [probed, sampled] = await Promise.all([prober.stop(), sampler.stop()]);
  }
  const outages = probed.paths.map((path) => path.maxGapMs);
  say(
    `drain of ${node}: ${moved}/${paths.length} moves succeeded, job ${state}; wall time (DrainNode → job finished) ${seconds(wallMs)} → ${(moved / (wallMs / 1000)).toFixed(1)} paths/s`,
  );
  say(
    `  per-path outage from the client (longest time between two answers, one READ CAPACITY every ${intervalMs} ms): ${summary(outages)}`,
  );
  for (const line of proberLines(probed, intervalMs).slice(1)) say(`  ${line}`);
  say(`  ${samplerLine(sampled, nodes)}`);
  if (args["log-level"] === "debug") {
    say("  where sanpathd's time went during the drain (all nodes; top 8):");
    for (const line of commandTimes(cluster, from, to).slice(0, 8)) say(`    ${line}`);
  }
  await withAdmin(cluster, (admin) => uncordonNode(admin, node));
  const rebalanceStarted = performance.now();
  const back = await rebalanceCluster(cluster, budgetFor(totalPaths, 1000, 300_000));
  const moves = back.totals?.succeeded ?? 0;
  say(
    `  rebalance after it (${node} uncordoned): ${moves} moves in ${seconds(performance.now() - rebalanceStarted)}, ${JobState[back.state]}`,
  );
}

async function failoverPhase(cluster: DevCluster): Promise<void> {
  const rebalanced = await rebalanceCluster(cluster, budgetFor(totalPaths, 1000, 300_000));
  say(
    `  (rebalance before the failover: ${rebalanced.totals?.succeeded ?? 0} moves, ${JobState[rebalanced.state]})`,
  );
  const { node, paths } = await plainFollower(cluster);
  const survivors = cluster.state.nodes.map((each) => each.name).filter((name) => name !== node);
  const intervalMs = probeIntervalFor(paths.length);
  // A powered-off node's namespace keeps its addresses on cut links: only the survivors count.
  const sampler = startSampler(cluster, survivors, totalPaths);
  const prober = await startProber(cluster, paths);
  let probed: ProberReport;
  let sampled: SamplerReport;
  let back = new Map<string, number>();
  try {
    await sleep(1000);
    const killedAt = wall();
    await cluster.kill(node);
    back = await readsAgain(
      prober,
      paths.map((path) => path.ip),
      killedAt,
      {
        timeoutMs: budgetFor(paths.length, 250, 120_000),
      },
    );
  } finally {
    [probed, sampled] = await Promise.all([prober.stop(), sampler.stop()]);
  }
  const times = [...back.values()];
  const ips = new Set(paths.map((path) => path.ip));
  const after = countByNode((await clusterPaths(cluster)).filter((path) => ips.has(path.ip)));
  say(
    `failover (power-off of ${node}), ${paths.length} paths: read again per path (kill → first answer from another node): ${summary(times)}; ` +
      `never back: ${paths.length - times.length}; now on ${JSON.stringify(Object.fromEntries(after))}`,
  );
  for (const line of proberLines(probed, intervalMs).slice(1)) say(`  ${line}`);
  say(`  ${samplerLine(sampled, survivors)}`);
}

/**
 * sanpathd's warnings and errors between `from` and `to` (all nodes), the most frequent first:
 * fences, crash-guard tear-downs and failed moves explain slow figures.
 */
function troubleLine(from: number, to: number): string {
  const counts = new Map<string, number>();
  let total = 0;
  for (const entries of sanpathdLogEntries(cluster, from, to).values()) {
    for (const entry of entries) {
      if (!entry.line.includes('"level":"warn"') && !entry.line.includes('"level":"error"')) continue;
      total += 1;
      counts.set(entry.msg, (counts.get(entry.msg) ?? 0) + 1);
    }
  }
  const most = [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([msg, count]) => `"${msg}" ×${count}`);
  return `sanpathd warnings and errors (all nodes): ${total}${most.length === 0 ? "" : `; most: ${most.join(", ")}`}`;
}

function neighbourTableWarning(): string | undefined {
  let limit: number;
  try {
    limit = Number(readFileSync("/proc/sys/net/ipv4/neigh/default/gc_thresh3", "utf8").trim());
  } catch {
    return undefined;
  }
  // One neighbour entry per path IP in the client namespace, plus the nodes' entries for the
  // client; the kernel's IPv4 neighbour table and its limits are shared by every namespace.
  if (totalPaths + 64 <= limit) return undefined;
  return (
    `warning: net.ipv4.neigh.default.gc_thresh3 is ${limit}, below the ${totalPaths} path IPs the client resolves ` +
    `(the table is shared by every namespace): expect "neighbour table overflow" and unreadable paths unless it is raised`
  );
}

say(`scale bench: ${machineLine()}`);
say(
  `${disks} disks × ${PATHS_PER_DISK} paths = ${totalPaths} paths on ${NODE_COUNT} nodes; AddDisk ${addConcurrency} at a time; ` +
    `idle ${idleSeconds} s; sanpathd log level ${args["log-level"]}; skipped: ${skipped.size === 0 ? "none" : [...skipped].join(",")}; ` +
    `path IPs in ${DEV_CLUSTER_SETTINGS.subnet1?.network} and ${DEV_CLUSTER_SETTINGS.subnet2?.network}`,
);
const warning = neighbourTableWarning();
if (warning !== undefined) say(warning);
const ticksPerSecond = await clockTicksPerSecond();
const cluster = await startBenchCluster("scale", {
  nodes: NODE_COUNT,
  logLevel: args["log-level"],
});
const failed: string[] = [];
/** Runs one phase, prints its duration and the bench's memory; a failure is printed, not thrown. */
async function phase(name: string, work: () => Promise<void>): Promise<boolean> {
  say("");
  const started = performance.now();
  const from = Date.now();
  try {
    await work();
    return true;
  } catch (error) {
    failed.push(name);
    say(`${name}: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return false;
  } finally {
    say(`  ${troubleLine(from, Date.now())}`);
    say(`  (${name}: ${seconds(performance.now() - started)}; bench process ${benchMemoryLine()})`);
  }
}
try {
  const phases: Record<Phase, () => Promise<void>> = {
    idle: () => idlePhase(cluster, ticksPerSecond),
    restart: () => restartPhase(cluster),
    "cold-start": () => coldStartPhase(cluster),
    drain: () => drainPhase(cluster),
    failover: () => failoverPhase(cluster),
  };
  if (await phase("add", () => addPhase(cluster))) {
    for (const name of PHASES) if (!skipped.has(name)) await phase(name, phases[name]);
  }
} finally {
  if (args["keep-logs"] !== undefined) saveLogs(cluster, args["keep-logs"]);
  await cluster.down();
}
say("");
say(failed.length === 0 ? "every phase ran" : `failed phases: ${failed.join(", ")}`);
if (failed.length > 0) process.exitCode = 1;
