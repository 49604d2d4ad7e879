import { describe, expect, it } from "vitest";
import {
  applyMoves,
  isEligible,
  nodeHasSubnet,
  type NodeCount,
  type NodeInfo,
  type PathAssignment,
  type Plan,
  type SubnetNumber,
} from "../../src/assignment/assignment-model.js";
import { planAverage } from "../../src/assignment/average-planner.js";
import { planDrain } from "../../src/assignment/drain-planner.js";
import { placeFreePaths } from "../../src/assignment/placement.js";
import { below, pick, seededRandom, shuffled, type Random } from "../../src/util/seeded-random.js";

// Property tests over clusters drawn from a seeded PRNG; a failure names its seed so it can be replayed.

interface Cluster {
  readonly nodes: NodeInfo[];
  readonly paths: PathAssignment[];
}

interface ClusterShape {
  /** Every node has both subnets. */
  readonly bothSubnets: boolean;
  /**
   * Served paths only on eligible nodes and no node holds two paths of a disk while an eligible
   * node holds none (plus some free paths); otherwise paths go anywhere, unknown nodes included.
   */
  readonly antiAffine: boolean;
}

function randomCluster(random: Random, shape: ClusterShape): Cluster {
  const nodes: NodeInfo[] = Array.from({ length: 1 + below(random, 10) }, (_, n) => ({
    name: `node-${String.fromCharCode(97 + n)}`,
    online: random() < 0.9,
    cordoned: random() < 0.15,
    subnets: shape.bothSubnets ? [1, 2] : pick<SubnetNumber[]>(random, [[1], [2], [1, 2], [1, 2], [2, 1]]),
  }));
  const eligible = nodes.filter(isEligible).map((node) => node.name);
  const crowded = shuffled(random, eligible).slice(0, 1 + below(random, eligible.length));
  const paths: PathAssignment[] = [];
  const diskCount = below(random, 30);
  for (let disk = 1; disk <= diskCount; disk++) {
    const pathCount = 1 + below(random, 8);
    const holders =
      pathCount <= crowded.length
        ? shuffled(random, crowded)
        : pathCount <= eligible.length
          ? shuffled(random, eligible)
          : eligible.slice(below(random, eligible.length)).concat(eligible);
    for (let index = 1; index <= pathCount; index++) {
      const subnet: SubnetNumber = random() < 0.5 ? 1 : 2;
      let node: string;
      if (shape.antiAffine) {
        // A free path of a disk stacked on every node would leave a node without it: none there.
        const free = holders.length === 0 || (pathCount <= eligible.length && random() < 0.1);
        node = free ? "" : (holders[(index - 1) % holders.length] ?? "");
      } else {
        const anywhere = random();
        node = anywhere < 0.1 ? "" : anywhere < 0.13 ? "node-unknown" : pick(random, nodes).name;
      }
      const ip = `${subnet === 1 ? "198.51" : "203.0"}.${disk}.${index}`;
      paths.push({
        diskId: String(disk).padStart(5, "0"),
        diskName: `disk-${disk}`,
        index,
        ip,
        subnet,
        node,
      });
    }
  }
  return { nodes, paths };
}

/** Paths per node and per (node, disk), and helpers over them, for checking states. */
class Tally {
  readonly total = new Map<string, number>();
  private readonly perDisk = new Map<string, number>();

  constructor(paths: readonly PathAssignment[]) {
    for (const path of paths) this.add(path.node, path.diskId, 1);
  }

  add(node: string, diskId: string, delta: number): void {
    if (node === "") return;
    this.total.set(node, (this.total.get(node) ?? 0) + delta);
    const key = `${node}\u0000${diskId}`;
    this.perDisk.set(key, (this.perDisk.get(key) ?? 0) + delta);
  }

  of(node: string, diskId: string): number {
    return this.perDisk.get(`${node}\u0000${diskId}`) ?? 0;
  }

  totalOf(node: string): number {
    return this.total.get(node) ?? 0;
  }
}

function countsOf(paths: readonly PathAssignment[], nodes: readonly NodeInfo[]): NodeCount[] {
  const tally = new Tally(paths);
  const names = new Set([...nodes.map((node) => node.name), ...tally.total.keys()]);
  return [...names].sort().map((node) => ({ node, paths: tally.totalOf(node) }));
}

function averageTarget(paths: readonly PathAssignment[], nodes: readonly NodeInfo[]): number {
  const eligible = new Set(nodes.filter(isEligible).map((node) => node.name));
  const served = paths.filter((path) => eligible.has(path.node)).length;
  return eligible.size === 0 ? 0 : Math.ceil(served / eligible.size);
}

/**
 * How a planner may give a node a second path of a disk: placement and drain ("anti-affine") only
 * when every other eligible node with the subnet (but `never` and the nodes excluded for the path)
 * holds one; the average planner ("spread") only up to the most paths of the disk one eligible
 * node held before the plan.
 */
type Stacking = "anti-affine" | "spread";

/**
 * Replays the moves one by one and checks the rules every planner keeps: each path moves at most
 * once from where it is to an eligible node with its subnet; a node is given a second path of a
 * disk only as `stacking` allows.
 */
function checkMoves(
  cluster: Cluster,
  plan: Plan,
  never?: string,
  excluded: ReadonlyMap<string, readonly string[]> = new Map(),
  stacking: Stacking = "anti-affine",
): PathAssignment[] {
  const { nodes, paths } = cluster;
  const nodeByName = new Map(nodes.map((node) => [node.name, node]));
  const byIp = new Map(paths.map((path) => [path.ip, path]));
  const tally = new Tally(paths);
  const eligibleNames = nodes.filter(isEligible).map((node) => node.name);
  const spreadBefore = (diskId: string): number =>
    Math.max(0, ...eligibleNames.map((name) => tally.of(name, diskId)));
  const spreads = new Map(paths.map((path) => [path.diskId, spreadBefore(path.diskId)]));
  const moved = new Set<string>();
  for (const move of plan.moves) {
    const path = byIp.get(move.ip);
    expect(path, `move of unknown ${move.ip}`).toBeDefined();
    if (path === undefined) continue;
    expect(moved.has(move.ip), `${move.ip} moves twice`).toBe(false);
    moved.add(move.ip);
    expect(move).toMatchObject({ diskId: path.diskId, index: path.index, sourceNode: path.node });
    const target = nodeByName.get(move.targetNode);
    expect(target !== undefined && isEligible(target) && nodeHasSubnet(target, path.subnet)).toBe(true);
    expect(move.targetNode).not.toBe(never);
    tally.add(path.node, path.diskId, -1);
    tally.add(move.targetNode, path.diskId, 1);
    if (stacking === "spread") {
      expect(
        tally.of(move.targetNode, path.diskId),
        `${path.diskId} on ${move.targetNode}`,
      ).toBeLessThanOrEqual(spreads.get(path.diskId) ?? 0);
    } else if (tally.of(move.targetNode, path.diskId) >= 2) {
      const idle = nodes.filter(
        (node) =>
          node.name !== never &&
          !(excluded.get(path.ip) ?? []).includes(node.name) &&
          isEligible(node) &&
          nodeHasSubnet(node, path.subnet) &&
          tally.of(node.name, path.diskId) === 0,
      );
      expect(
        idle.map((node) => node.name),
        `second path of ${path.diskId} on ${move.targetNode}`,
      ).toEqual([]);
    }
  }
  const after = applyMoves(paths, plan.moves);
  expect(after.map((path) => path.ip)).toEqual(paths.map((path) => path.ip));
  expect(plan.before).toEqual(countsOf(paths, nodes));
  expect(plan.after).toEqual(countsOf(after, nodes));
  return after;
}

/** (node, disk) pairs with two paths of the disk while an eligible node holds none of them. */
function antiAffinityViolations(paths: readonly PathAssignment[], nodes: readonly NodeInfo[]): string[] {
  const eligible = new Set(nodes.filter(isEligible).map((node) => node.name));
  const holdersByDisk = new Map<string, Map<string, number>>();
  for (const path of paths) {
    if (!eligible.has(path.node)) continue;
    const holders = holdersByDisk.get(path.diskId) ?? new Map<string, number>();
    holdersByDisk.set(path.diskId, holders.set(path.node, (holders.get(path.node) ?? 0) + 1));
  }
  const violations: string[] = [];
  for (const [diskId, holders] of holdersByDisk) {
    if (holders.size === eligible.size) continue;
    for (const [node, count] of holders) if (count >= 2) violations.push(`${diskId} on ${node}`);
  }
  return violations;
}

const SEEDS = Array.from({ length: 200 }, (_, i) => 1000 + i);

describe("planAverage properties", () => {
  it("keeps every rule on arbitrary clusters, whole or over a selection, deterministically", () => {
    for (const seed of SEEDS) {
      const random = seededRandom(seed);
      const cluster = randomCluster(random, { bothSubnets: false, antiAffine: false });
      const selectedIps =
        random() < 0.5 ? undefined : cluster.paths.filter(() => random() < 0.4).map((p) => p.ip);
      const plan = planAverage(cluster.paths, cluster.nodes, { selectedIps });
      const after = checkMoves(cluster, plan, undefined, undefined, "spread");

      const target = averageTarget(cluster.paths, cluster.nodes);
      const before = new Tally(cluster.paths);
      const end = new Tally(after);
      for (const node of cluster.nodes.filter(isEligible)) {
        // Receivers never pass the target; givers never go under it.
        if (before.totalOf(node.name) <= target)
          expect(end.totalOf(node.name), `seed ${seed}`).toBeLessThanOrEqual(target);
        else expect(end.totalOf(node.name), `seed ${seed}`).toBeGreaterThanOrEqual(target);
      }
      if (selectedIps !== undefined) {
        const selected = new Set(selectedIps);
        expect(
          plan.moves.filter((move) => !selected.has(move.ip)),
          `seed ${seed}`,
        ).toEqual([]);
      }
      const reordered = planAverage(shuffled(random, cluster.paths), shuffled(random, cluster.nodes), {
        selectedIps: selectedIps === undefined ? undefined : shuffled(random, selectedIps),
      });
      expect(reordered, `seed ${seed}`).toEqual(plan);
    }
  });

  it("reaches the target on every node and keeps disks spread when subnets do not constrain", () => {
    let moved = 0;
    for (const seed of SEEDS) {
      const cluster = randomCluster(seededRandom(seed), { bothSubnets: true, antiAffine: true });
      expect(antiAffinityViolations(cluster.paths, cluster.nodes), `seed ${seed} input`).toEqual([]);
      const plan = planAverage(cluster.paths, cluster.nodes);
      const after = checkMoves(cluster, plan);
      moved += plan.moves.length;
      const target = averageTarget(cluster.paths, cluster.nodes);
      const end = new Tally(after);
      for (const node of cluster.nodes.filter(isEligible)) {
        expect(end.totalOf(node.name), `seed ${seed} ${node.name}`).toBeLessThanOrEqual(target);
      }
      expect(antiAffinityViolations(after, cluster.nodes), `seed ${seed}`).toEqual([]);
      expect(
        planAverage(after, cluster.nodes).moves,
        `seed ${seed}: a second pass has nothing to do`,
      ).toEqual([]);
    }
    expect(moved).toBeGreaterThan(SEEDS.length);
  });
});

describe("planDrain properties", () => {
  it("empties the node onto the best eligible node each time, or says why not", () => {
    for (const seed of SEEDS) {
      const random = seededRandom(seed);
      const cluster = randomCluster(random, { bothSubnets: random() < 0.5, antiAffine: false });
      const drained = pick(random, cluster.nodes).name;
      const plan = planDrain(cluster.paths, cluster.nodes, drained);
      const after = checkMoves(cluster, plan, drained);
      const left = after.filter((path) => path.node === drained).map((path) => path.ip);
      expect(left.sort(), `seed ${seed}`).toEqual(plan.unplaced.map((path) => path.ip).sort());
      for (const path of plan.unplaced) {
        const takers = cluster.nodes.filter(
          (node) => node.name !== drained && isEligible(node) && nodeHasSubnet(node, path.subnet),
        );
        expect(takers, `seed ${seed}`).toEqual([]);
      }
      checkGreedyChoices(cluster, plan, drained);
    }
  });
});

/**
 * Each move's target is, at its turn, a node with the fewest paths of the disk and then the fewest
 * paths in total among the eligible nodes with the subnet, but `never` and the nodes excluded for
 * the path (placement and drain choose this way).
 */
function checkGreedyChoices(
  cluster: Cluster,
  plan: Plan,
  never?: string,
  excluded: ReadonlyMap<string, readonly string[]> = new Map(),
): void {
  const tally = new Tally(cluster.paths);
  const byIp = new Map(cluster.paths.map((path) => [path.ip, path]));
  for (const move of plan.moves) {
    const path = byIp.get(move.ip);
    if (path === undefined) throw new Error(`unknown ${move.ip}`);
    const score = (node: string): number => tally.of(node, path.diskId) * 1e6 + tally.totalOf(node);
    const scores = cluster.nodes
      .filter((node) => node.name !== never && isEligible(node) && nodeHasSubnet(node, path.subnet))
      .filter((node) => !(excluded.get(path.ip) ?? []).includes(node.name))
      .map((node) => score(node.name));
    expect(score(move.targetNode)).toBe(Math.min(...scores));
    tally.add(path.node, path.diskId, -1);
    tally.add(move.targetNode, path.diskId, 1);
  }
}

describe("placeFreePaths properties", () => {
  it("places every free path it can on the best eligible, non-excluded node", () => {
    for (const seed of SEEDS) {
      const random = seededRandom(seed);
      const cluster = randomCluster(random, { bothSubnets: random() < 0.5, antiAffine: random() < 0.5 });
      const exclude = new Map<string, string[]>();
      for (const path of cluster.paths) {
        if (path.node === "" && random() < 0.3) exclude.set(path.ip, [pick(random, cluster.nodes).name]);
      }
      const result = placeFreePaths(cluster.paths, cluster.nodes, { exclude });
      const free = cluster.paths.filter((path) => path.node === "").map((path) => path.ip);
      const handled = [...result.placements, ...result.unplaced].map((path) => path.ip);
      expect(handled.sort(), `seed ${seed}`).toEqual(free.sort());
      for (const placement of result.placements) {
        expect(exclude.get(placement.ip) ?? [], `seed ${seed}`).not.toContain(placement.node);
      }
      const moves = result.placements.map((placement) => ({
        ...placement,
        sourceNode: "",
        targetNode: placement.node,
      }));
      const plan: Plan = { moves, before: countsOf(cluster.paths, cluster.nodes), after: [] };
      const after = applyMoves(cluster.paths, moves);
      checkMoves(cluster, { ...plan, after: countsOf(after, cluster.nodes) }, undefined, exclude);
      checkGreedyChoices(cluster, plan, undefined, exclude);
      const reordered = placeFreePaths(shuffled(random, cluster.paths), shuffled(random, cluster.nodes), {
        exclude,
      });
      expect(reordered, `seed ${seed}`).toEqual(result);
    }
  });
});

describe("at scale", () => {
  it("plans 100,000 paths over 1,000 nodes to the target, spread, each path on one node", () => {
    const nodes: NodeInfo[] = Array.from({ length: 1000 }, (_, n) => ({
      name: `node-${String(n).padStart(4, "0")}`,
      online: true,
      cordoned: n % 97 === 0,
      subnets: [1, 2],
    }));
    const crowded = nodes.filter((node, n) => n < 150 && isEligible(node)).map((node) => node.name);
    const paths: PathAssignment[] = [];
    for (let disk = 0; disk < 25_000; disk++) {
      for (let k = 0; k < 4; k++) {
        const p = disk * 4 + k;
        paths.push({
          diskId: String(disk + 1).padStart(5, "0"),
          diskName: `disk-${disk + 1}`,
          index: k + 1,
          ip: `10.${p >> 16}.${(p >> 8) & 255}.${p & 255}`,
          subnet: k % 2 === 0 ? 1 : 2,
          node: crowded[(disk + k * 37) % crowded.length] ?? "",
        });
      }
    }
    const plan = planAverage(paths, nodes);
    const target = averageTarget(paths, nodes);
    const after = applyMoves(paths, plan.moves);
    const end = new Tally(after);
    expect(new Set(plan.moves.map((move) => move.ip)).size).toBe(plan.moves.length);
    expect(Math.max(...nodes.filter(isEligible).map((node) => end.totalOf(node.name)))).toBeLessThanOrEqual(
      target,
    );
    expect(nodes.filter((node) => !isEligible(node)).every((node) => end.totalOf(node.name) === 0)).toBe(
      true,
    );
    expect(after.every((path) => path.node !== "")).toBe(true);
    expect(antiAffinityViolations(after, nodes)).toEqual([]);
    expect(plan.after.reduce((sum, count) => sum + count.paths, 0)).toBe(100_000);
  });
});
