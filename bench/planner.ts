// Times the planners at cluster scale: 100,000 paths (25,000 disks of 4 paths) over 1,000 nodes.
// Run: npx vite-node bench/planner.ts
import { loadavg } from "node:os";
import type { NodeInfo, PathAssignment, SubnetNumber } from "../src/assignment/assignment-model.js";
import { planAverage } from "../src/assignment/average-planner.js";
import { planDrain } from "../src/assignment/drain-planner.js";
import { placeFreePaths } from "../src/assignment/placement.js";

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
const selection = crowded.filter((_, p) => p % 10 === 0).map((path) => path.ip);

console.log(
  `${DISKS * PATHS_PER_DISK} paths, ${NODES} nodes, median of ${RUNS} runs (load average ${loadavg()[0]?.toFixed(2)})`,
);
time("average: all on 100 nodes (90,000 moves)", () => `${planAverage(crowded, nodes).moves.length} moves`);
time("average: already balanced", () => `${planAverage(spread, nodes).moves.length} moves`);
time("average over a selection of 10,000 IPs", () => {
  return `${planAverage(crowded, nodes, { selectedIps: selection }).moves.length} moves`;
});
time("placement: 100,000 free paths", () => `${placeFreePaths(free, nodes).placements.length} placed`);
time(
  "drain: one node of 100 serving 1,000 paths",
  () => `${planDrain(crowded, nodes, nodeName(0)).moves.length} moves`,
);
