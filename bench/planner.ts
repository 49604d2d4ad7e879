// Times the planners at cluster scale: 100,000 paths (25,000 disks of 4 paths) over 1,000 nodes.
// The average planner also runs on three placements drawn from a seeded PRNG over nodes of which
// one in ten has only subnet 1 and one in ten only subnet 2 (uniform, skewed, ten hot nodes).
// Run: npx vite-node bench/planner.ts
import { loadavg } from "node:os";
import type { NodeInfo, PathAssignment, SubnetNumber } from "../src/assignment/assignment-model.js";
import { planAverage } from "../src/assignment/average-planner.js";
import { planDrain } from "../src/assignment/drain-planner.js";
import { placeFreePaths } from "../src/assignment/placement.js";
import { seededRandom } from "../src/util/seeded-random.js";

const NODES = 1_000;
const DISKS = 25_000;
const PATHS_PER_DISK = 4;
const RUNS = 9;

const nodeName = (n: number): string => `node-${String(n).padStart(4, "0")}`;
const nodes: NodeInfo[] = Array.from({ length: NODES }, (_, n) => ({
  name: nodeName(n),
  online: true,
  cordoned: false,
  subnets: [1, 2],
}));

/** Every path of disk d on one of `crowded` nodes, the disk's paths on distinct nodes. */
function pathsOn(crowded: number | undefined): PathAssignment[] {
  const paths: PathAssignment[] = [];
  for (let d = 0; d < DISKS; d++) {
    for (let k = 0; k < PATHS_PER_DISK; k++) {
      const subnet: SubnetNumber = k % 2 === 0 ? 1 : 2;
      const p = d * PATHS_PER_DISK + k;
      paths.push({
        diskId: String(d + 1).padStart(5, "0"),
        diskName: `disk-${d + 1}`,
        index: k + 1,
        ip: `10.${p >> 16}.${(p >> 8) & 255}.${p & 255}`,
        subnet,
        node: crowded === undefined ? "" : nodeName((d + k * (crowded / PATHS_PER_DISK)) % crowded),
      });
    }
  }
  return paths;
}

/** Node n has subnet 1 only when n % 10 === 3, subnet 2 only when n % 10 === 7, else both. */
const mixedNodes: NodeInfo[] = nodes.map((node, n) => ({
  ...node,
  subnets: n % 10 === 3 ? [1] : n % 10 === 7 ? [2] : [1, 2],
}));

/**
 * Every path on a node with its subnet drawn with probability proportional to `weight(n)`, the
 * paths of a disk on distinct nodes.
 */
function weightedPaths(seed: number, weight: (n: number) => number): PathAssignment[] {
  const random = seededRandom(seed);
  const bySubnet = ([1, 2] as const).map((subnet) => {
    const members = mixedNodes.flatMap((node, n) =>
      (node.subnets as SubnetNumber[]).includes(subnet) ? [n] : [],
    );
    const cumulative: number[] = [];
    let sum = 0;
    for (const n of members) cumulative.push((sum += weight(n)));
    return { members, cumulative, sum };
  });
  const draw = (subnet: SubnetNumber): number => {
    const { members, cumulative, sum } = bySubnet[subnet - 1] as (typeof bySubnet)[number];
    const x = random() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] ?? 0) > x) hi = mid;
      else lo = mid + 1;
    }
    return members[lo] ?? 0;
  };
  const paths: PathAssignment[] = [];
  for (let d = 0; d < DISKS; d++) {
    const holders: number[] = [];
    for (let k = 0; k < PATHS_PER_DISK; k++) {
      const subnet: SubnetNumber = k % 2 === 0 ? 1 : 2;
      let n = draw(subnet);
      while (holders.includes(n)) n = draw(subnet);
      holders.push(n);
      const p = d * PATHS_PER_DISK + k;
      paths.push({
        diskId: String(d + 1).padStart(5, "0"),
        diskName: `disk-${d + 1}`,
        index: k + 1,
        ip: `10.${p >> 16}.${(p >> 8) & 255}.${p & 255}`,
        subnet,
        node: nodeName(n),
      });
    }
  }
  return paths;
}

/**
 * A cluster where the spread rule binds: node a (both subnets) serves 5,000 single-path disks, then
 * 15,000 disks whose other path is on r2 (subnet 1 only), then 25,000 subnet-2 paths; r1 (both)
 * and r2 are 10,000 below the target of 25,000. PetaSAN's order fills r1 and r2 with the first
 * disks, and the rest of r2's room can only take paths of those: the augmenting step moves them
 * over, one search per path (2,500).
 */
function spreadBound(): { paths: PathAssignment[]; nodes: NodeInfo[] } {
  const paths: PathAssignment[] = [];
  const add = (node: string, subnet: SubnetNumber, disk: number, index = 1): void => {
    const p = paths.length;
    const ip = `10.${p >> 16}.${(p >> 8) & 255}.${p & 255}`;
    paths.push({ diskId: String(disk).padStart(6, "0"), diskName: `disk-${disk}`, index, ip, subnet, node });
  };
  let disk = 0;
  for (let i = 0; i < 5_000; i++) add("a", 1, ++disk);
  for (let i = 0; i < 15_000; i++) {
    add("a", 1, ++disk);
    add("r2", 1, disk, 2);
  }
  for (let i = 0; i < 25_000; i++) add("a", 2, ++disk);
  for (let i = 0; i < 15_000; i++) add("r1", 1, ++disk);
  for (let i = 0; i < 25_000; i++) add("f", 2, ++disk);
  const nodes: NodeInfo[] = ["a", "f", "r1", "r2"].map((name) => ({
    name,
    online: true,
    cordoned: false,
    subnets: name === "r2" ? [1] : [1, 2],
  }));
  return { paths, nodes };
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? Number.NaN;
}

/**
 * Runs `run` RUNS times and prints the median wall time and the median CPU time of the process
 * (on a busy machine the wall time includes waiting for a core; the CPU time does not).
 */
function time(label: string, run: () => string): void {
  const wall: number[] = [];
  const cpu: number[] = [];
  let summary = "";
  for (let i = 0; i < RUNS; i++) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    summary = run();
    wall.push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1000);
  }
  const figures = `wall ${median(wall).toFixed(1)} ms, cpu ${median(cpu).toFixed(1)} ms`;
  console.log(`${label.padEnd(46)} ${figures.padEnd(32)} ${summary}`);
}

// Through JSON, as the coordinator gets them from Consul (flat strings, not concatenations).
const crowded = JSON.parse(JSON.stringify(pathsOn(100))) as PathAssignment[];
const spread = JSON.parse(JSON.stringify(pathsOn(NODES))) as PathAssignment[];
const free = JSON.parse(JSON.stringify(pathsOn(undefined))) as PathAssignment[];
// Uniform: ~100 paths a node, a few dozen above the target of 100. Skewed: node n's weight grows
// from 1 to 3 with n (~50 to ~150 paths). Hot: ten nodes (0, 100, ..., 900) 250 times as likely as
// any other (~7,000 paths each, the others ~30; ~70,000 moves).
const uniform = JSON.parse(JSON.stringify(weightedPaths(1, () => 1))) as PathAssignment[];
const skewed = JSON.parse(
  JSON.stringify(weightedPaths(2, (n) => 1 + (2 * n) / (NODES - 1))),
) as PathAssignment[];
const hot = JSON.parse(
  JSON.stringify(weightedPaths(3, (n) => (n % 100 === 0 ? 250 : 1))),
) as PathAssignment[];
const selection = crowded.filter((_, p) => p % 10 === 0).map((path) => path.ip);

console.log(
  `${DISKS * PATHS_PER_DISK} paths, ${NODES} nodes, median of ${RUNS} runs (load average ${loadavg()[0]?.toFixed(2)})`,
);
time("average: all on 100 nodes (90,000 moves)", () => `${planAverage(crowded, nodes).moves.length} moves`);
const averageOf = (paths: PathAssignment[]) => (): string => {
  const plan = planAverage(paths, mixedNodes);
  const after = new Map(plan.after.map((count) => [count.node, count.paths]));
  return `${plan.moves.length} moves, max ${Math.max(...after.values())} paths a node`;
};
time("average: uniform, mixed subnets", averageOf(uniform));
time("average: skewed, mixed subnets", averageOf(skewed));
time("average: ten hot nodes, mixed subnets", averageOf(hot));
const bound = spreadBound();
time("average: spread rule binds, 4 nodes", () => {
  const plan = planAverage(bound.paths, bound.nodes);
  return `${plan.moves.length} moves, ${plan.after.map((count) => count.paths).join("/")} paths`;
});
time("average: already balanced", () => `${planAverage(spread, nodes).moves.length} moves`);
time("average over a selection of 10,000 IPs", () => {
  return `${planAverage(crowded, nodes, { selectedIps: selection }).moves.length} moves`;
});
time("placement: 100,000 free paths", () => `${placeFreePaths(free, nodes).placements.length} placed`);
time(
  "drain: one node of 100 serving 1,000 paths",
  () => `${planDrain(crowded, nodes, nodeName(0)).moves.length} moves`,
);
