// Data-path repair on a real 3-node dev cluster: a served path's IP is deleted by hand inside its
// node's namespace (`ip addr del`), and the time until it is back on the node is measured by
// polling the node's addresses every 5 ms; then the path is read from the client. Nothing changes
// in Consul: only the node's data-path probe (dataPath.probeIntervalMs, default 500 ms) can bring
// it back this fast (reconcile alone runs every 15 s).
// Second part: tgtd of a node is killed (-9) and started again on the same control port a second
// later, as systemd's Restart=always does; time = kill → every path of that node reads again from
// the client (the node re-creates its targets when its probe finds them gone).
// Third part: tgtd of a node is killed for good (the dev cluster's supervision off); the node's
// data path stays in trouble, it degrades after dataPath.degradeAfterMs (3 s), hands its paths off
// and the coordinator places them on the others; time = kill → every path that was on the node
// reads again from the client (now served elsewhere).
// Run (root, after `npm run build`):
//   node dist/bench/data-path-repair.js [--runs 20] [--tgtd-runs 6] [--down-runs 3]
import { execFile } from "node:child_process";
import { parseArgs, promisify } from "node:util";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { addDisk, waitUntilPlaced, withAdmin } from "../src/devcluster/cluster-ops.js";
import type { DevCluster } from "../src/devcluster/dev-cluster.js";
import { clusterPaths, readPaths } from "../src/devcluster/path-reads.js";
import { machineLine, ms, startBenchCluster, summary } from "./devcluster-support.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "20" },
    "tgtd-runs": { type: "string", default: "6" },
    "down-runs": { type: "string", default: "3" },
  },
});
const runs = Number(args.runs);
const tgtdRuns = Number(args["tgtd-runs"]);
const downRuns = Number(args["down-runs"]);
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const execFileAsync = promisify(execFile);

async function ip(netns: string, argv: readonly string[]): Promise<string> {
  const { stdout } = await execFileAsync("ip", ["-n", netns, ...argv], { timeout: 5000 });
  return stdout;
}

/** The device and prefix length `address` is on in `netns`, or undefined when it is not there. */
async function addressOn(
  netns: string,
  address: string,
): Promise<{ dev: string; prefix: string } | undefined> {
  for (const line of (await ip(netns, ["-o", "-4", "addr", "show"])).split("\n")) {
    const match = /^\d+:\s+(\S+)\s+inet\s+([\d.]+)\/(\d+)/.exec(line);
    if (match?.[2] === address && match[1] !== undefined && match[3] !== undefined) {
      return { dev: match[1], prefix: match[3] };
    }
  }
  return undefined;
}

function netnsOf(cluster: DevCluster, node: string): string {
  const found = cluster.state.nodes.find((candidate) => candidate.name === node);
  if (found === undefined) throw new Error(`no node ${node}`);
  return found.netns;
}

say(`data-path repair bench: ${machineLine()}`);
const cluster = await startBenchCluster("data-path", { nodes: 3, logLevel: "info" });
try {
  await withAdmin(cluster, async (admin) => {
    for (let d = 1; d <= 6; d++) await addDisk(admin, { name: `dp-${d}`, paths: 2, subnet: "both" });
    await waitUntilPlaced(admin, { timeoutMs: 120_000, expectCount: 12 });
  });
  const paths = (await clusterPaths(cluster)).filter((path) => path.node !== "");
  const back: number[] = [];
  const readable: number[] = [];
  for (let run = 0; run < runs; run++) {
    const path = paths[run % paths.length];
    if (path === undefined) break;
    const netns = netnsOf(cluster, path.node);
    const where = await addressOn(netns, path.ip);
    if (where === undefined) throw new Error(`${path.ip} is not on ${path.node} before run ${run + 1}`);
    const start = performance.now();
    await ip(netns, ["addr", "del", `${path.ip}/${where.prefix}`, "dev", where.dev]);
    while ((await addressOn(netns, path.ip)) === undefined) {
      if (performance.now() - start > 30_000) throw new Error(`${path.ip} not back within 30 s`);
      await sleep(5);
    }
    back.push(performance.now() - start);
    const [read] = await readPaths(cluster, [path], { waitMs: 30_000 });
    if (read === undefined || !read.read.ok) throw new Error(`${path.ip} does not read after its repair`);
    readable.push(performance.now() - start);
    say(
      `run ${run + 1}: ${path.ip} on ${path.node}: IP back after ${ms(back.at(-1) ?? 0)}, read after ${ms(readable.at(-1) ?? 0)}`,
    );
    await sleep(300);
  }
  say(`deleted IP back on its node: ${summary(back)}`);
  say(`deleted IP readable from the client again: ${summary(readable)}`);

  const allReadable: number[] = [];
  const nodes = [...new Set(paths.map((path) => path.node))].sort();
  for (let run = 0; run < tgtdRuns; run++) {
    const node = nodes[run % nodes.length];
    if (node === undefined) break;
    const served = (await clusterPaths(cluster)).filter((path) => path.node === node);
    const killedAt = performance.now();
    await cluster.restartTgtd(node, 1000);
    const readFrom = performance.now() - killedAt;
    const reads = await readPaths(cluster, served, { waitMs: 30_000 });
    if (reads.some((read) => !read.read.ok))
      throw new Error(`a path of ${node} does not read after tgtd came back`);
    const slowest = readFrom + Math.max(...reads.map((read) => read.afterMs));
    allReadable.push(slowest);
    say(
      `tgtd run ${run + 1}: ${node} (${served.length} paths): every path readable ${ms(slowest)} after the kill`,
    );
    await sleep(1000);
  }
  say(`tgtd kill -9, back after 1 s: every path of the node readable again: ${summary(allReadable)}`);

  const handedOff: number[] = [];
  for (let run = 0; run < downRuns; run++) {
    const current = (await clusterPaths(cluster)).filter((path) => path.node !== "");
    const counts = new Map<string, number>();
    for (const path of current) counts.set(path.node, (counts.get(path.node) ?? 0) + 1);
    const [node] = [...counts].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))[0] ?? [];
    if (node === undefined) break;
    const served = current.filter((path) => path.node === node);
    await cluster.setSupervision(false);
    const killedAt = performance.now();
    await cluster.killTgtd(node);
    const reads = await readPaths(cluster, served, { waitMs: 60_000 });
    if (reads.some((read) => !read.read.ok))
      throw new Error(`a path of ${node} does not read after its tgtd died for good`);
    const slowest = performance.now() - killedAt;
    const now = (await clusterPaths(cluster)).filter((path) => served.some((old) => old.ip === path.ip));
    handedOff.push(slowest);
    say(
      `tgtd down run ${run + 1}: ${node} (${served.length} paths): every path readable ${ms(slowest)} after the kill, now on ${[...new Set(now.map((path) => path.node))].sort().join(",")}`,
    );
    await cluster.setSupervision(true);
    await sleep(2000);
  }
  say(`tgtd kill -9 for good: every path of the node readable again elsewhere: ${summary(handedOff)}`);
} finally {
  await cluster.down();
}
