// Reassignment on a real 3-node dev cluster: every path moved off one node (a drain of >= 300
// paths), timed end to end, with each path's outage measured from the client namespace (one
// iSCSI session per path sending READ CAPACITY every few ms) and an address sampler checking
// that no IP is ever up on two nodes.
// Run (root, after `npm run build`):
//   node dist/bench/reassignment.js [--paths 304] [--parallelism 16] [--interval 50] [--session lease|consul|fast]
import { parseArgs } from "node:util";
import { startAddressSampler } from "../src/devcluster/address-sampler.js";
import { listPaths } from "../src/devcluster/client-reads.js";
import {
  addDisk,
  countByNode,
  drainNode,
  uncordonNode,
  waitForJob,
  waitUntilPlaced,
  withAdmin,
} from "../src/devcluster/cluster-ops.js";
import { startIscsiProber } from "../src/devcluster/iscsi-prober.js";
import { readPaths } from "../src/devcluster/path-reads.js";
import {
  CONSUL_SESSION_TIMING,
  DEV_SESSION_TIMING,
  FAST_SESSION_TIMING,
  type SessionTiming,
} from "../src/devcluster/sanpathd-node.js";
import { JobState } from "../src/gen/sanpath/v1/assignment.js";
import type { CordonNodeResponse } from "../src/gen/sanpath/v1/cluster.js";
import {
  commandTimes,
  machineLine,
  ms,
  percentile,
  saveLogs,
  startBenchCluster,
  summary,
} from "./devcluster-support.js";

const { values: args } = parseArgs({
  options: {
    paths: { type: "string", default: "304" },
    parallelism: { type: "string", default: "16" },
    interval: { type: "string", default: "100" },
    session: { type: "string", default: "lease" },
    "keep-logs": { type: "string" },
  },
});
const PATHS_PER_DISK = 8;
const wantedPaths = Number(args.paths);
const disks = Math.ceil(wantedPaths / PATHS_PER_DISK);
const parallelism = Number(args.parallelism);
const intervalMs = Number(args.interval);
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** --session: lease (the shipped peer leases), consul (the Consul session before #17) or fast. */
function sessionTiming(name: string): SessionTiming {
  if (name === "lease") return DEV_SESSION_TIMING;
  if (name === "consul") return CONSUL_SESSION_TIMING;
  if (name === "fast") return FAST_SESSION_TIMING;
  throw new Error(`--session: lease, consul or fast, not ${name}`);
}

say(`reassignment bench: ${machineLine()}`);
const cluster = await startBenchCluster("reassign", {
  nodes: 3,
  logLevel: "debug",
  parallelism,
  session: sessionTiming(args.session),
});
try {
  // Every new path goes to node1: the others are cordoned while the disks are added.
  await withAdmin(cluster, async (admin) => {
    for (const node of ["node2", "node3"]) {
      await admin.call<CordonNodeResponse>((md, opts, done) =>
        admin.cluster.cordonNode({ node }, md, opts, done),
      );
    }
  });
  const addStarted = performance.now();
  await withAdmin(cluster, async (admin) => {
    for (let d = 1; d <= disks; d++) {
      await addDisk(admin, { name: `bench-${d}`, paths: PATHS_PER_DISK, subnet: "both" });
    }
  });
  const added = performance.now();
  const paths = await withAdmin(cluster, (admin) =>
    waitUntilPlaced(admin, { timeoutMs: 15 * 60_000, expectCount: disks * PATHS_PER_DISK }),
  );
  const placed = performance.now();
  say(
    `set-up: ${disks} disks × ${PATHS_PER_DISK} paths = ${paths.length} paths; AddDisk ${ms((added - addStarted) / disks)} each; ` +
      `all placed on node1 ${((placed - addStarted) / 1000).toFixed(1)} s after the first AddDisk (${(paths.length / ((placed - addStarted) / 1000)).toFixed(1)} paths/s)`,
  );
  const counts = countByNode(paths);
  if (counts.get("node1") !== paths.length)
    throw new Error(`expected every path on node1, got ${JSON.stringify([...counts])}`);
  // The lock is taken first: a placed path serves a moment later.
  const unreadable = (await readPaths(cluster, paths, { concurrency: 8, waitMs: 30_000 })).filter(
    (read) => !read.read.ok,
  );
  if (unreadable.length > 0) throw new Error(`${unreadable.length} paths do not read before the drain`);

  await withAdmin(cluster, async (admin) => {
    await uncordonNode(admin, "node2");
    await uncordonNode(admin, "node3");
  });
  const prober = await startIscsiProber(cluster, paths, { intervalMs });
  const sampler = startAddressSampler({
    nodes: cluster.state.nodes.map((node) => ({ name: node.name, netns: node.netns })),
    intervalMs: 5,
  });
  await new Promise((resolve) => setTimeout(resolve, 500));

  const wallStart = Date.now();
  const started = performance.now();
  const job = await withAdmin(cluster, (admin) => drainNode(admin, "node1", parallelism));
  const done = await waitForJob(cluster, job.id, 30 * 60_000);
  const wallMs = performance.now() - started;
  const wallEnd = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const probe = await prober.stop();
  const addresses = await sampler.stop();

  const after = await withAdmin(cluster, (admin) => listPaths(admin));
  const finalReads = await readPaths(cluster, after, { concurrency: 8 });
  const moved = done.totals?.succeeded ?? 0;
  // A path's outage: the longest time between two answers while it was watched.
  const outages = probe.paths.map((path) => path.maxGapMs);
  const interrupted = new Set(probe.outages.map((outage) => outage.ip));
  const jobMs =
    done.finishTime !== undefined && done.createTime !== undefined
      ? done.finishTime.getTime() - done.createTime.getTime()
      : Number.NaN;

  say("");
  say(
    `drain of node1: ${moved}/${paths.length} moves succeeded, job ${JobState[done.state]}, parallelism ${parallelism}, session ${args.session}`,
  );
  say(
    `  wall time (DrainNode → job finished, seen by the client): ${(wallMs / 1000).toFixed(2)} s → ${(moved / (wallMs / 1000)).toFixed(1)} paths/s`,
  );
  say(`  job record (create → finish, coordinator clock):          ${(jobMs / 1000).toFixed(2)} s`);
  say(
    `  per-path outage seen by the client (longest time between two READ CAPACITY answers; one every ${intervalMs} ms):`,
  );
  say(
    `    ${summary(outages)}; mean ${ms(outages.reduce((sum, value) => sum + value, 0) / Math.max(1, outages.length))}`,
  );
  say(
    `    paths with a gap over ${Math.max(100, 2 * intervalMs)} ms: ${interrupted.size}/${paths.length} (${probe.outages.length} gaps); ` +
      `not answering at the end: ${probe.stillDown.length}; probes ${probe.probes} (${probe.failures} failed)`,
  );
  say(`    (a gap includes up to one interval, ${intervalMs} ms, before the path stopped answering)`);
  say(
    `  final placement: ${JSON.stringify(Object.fromEntries(countByNode(after)))}; readable ${finalReads.filter((read) => read.read.ok).length}/${after.length}`,
  );
  say(
    `  address sampler: ${addresses.rounds} rounds, max gap ${ms(addresses.maxRoundGapMs)}, IPs up on two nodes: ${addresses.overlaps.length}`,
  );
  say(
    `  longest time a path IP was up nowhere: ${ms(Math.max(0, ...addresses.unserved.map((gap) => gap.durationMs)))}; p99 ${ms(
      percentile(
        addresses.unserved.map((gap) => gap.durationMs),
        99,
      ),
    )}`,
  );
  const worst = [...addresses.unserved].sort((a, b) => b.durationMs - a.durationMs).slice(0, 3);
  say(
    `  longest unserved: ${worst.map((gap) => `${gap.ip} ${ms(gap.durationMs)} from ${new Date(gap.from).toISOString()}`).join("; ")}`,
  );
  say(
    "  where sanpathd's time went during the drain (NodeService calls served, external commands run; all nodes):",
  );
  for (const line of commandTimes(cluster, wallStart, wallEnd)) say(`    ${line}`);
} finally {
  if (args["keep-logs"] !== undefined) saveLogs(cluster, args["keep-logs"]);
  await cluster.down();
}
