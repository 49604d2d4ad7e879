import { describe, expect, it } from "vitest";
import type { NodeInfo, PathAssignment, Plan, SubnetNumber } from "../../src/assignment/assignment-model.js";
import { augmentMoves } from "../../src/assignment/augmenting-moves.js";
import { averageTarget, planAverage } from "../../src/assignment/average-planner.js";
import { ClusterIndex } from "../../src/assignment/cluster-index.js";
import { DonorGroups } from "../../src/assignment/donor-groups.js";
import { resolveSelectedPaths } from "../../src/assignment/path-selection.js";
import { PlannedMoves } from "../../src/assignment/planned-moves.js";
import { ReceiverPool } from "../../src/assignment/receiver-pool.js";
import { below, seededRandom, shuffled, type Random } from "../../src/util/seeded-random.js";

// The average planner's invariants (issue #15) over thousands of seeded random clusters, checked as
// an outsider would: from the input and the plan only, with a max-flow of its own for "could the
// target be reached". The checks share no code with the planner but the types. (The second test
// runs the planner's augmenting step alone, from no move, so that it is checked on every cluster
// and not only where the greedy pass leaves it work.)
//
// PLANNER_PROPERTY_RUNS=n runs n clusters instead of the default. PLANNER_PROPERTY_TALLY=1 counts
// the failures of each invariant instead of failing at the first, and prints the counts (by hand,
// to compare planners; the suite itself prints nothing).

const RUNS = Number(process.env.PLANNER_PROPERTY_RUNS ?? "2000");
const TALLY = process.env.PLANNER_PROPERTY_TALLY === "1";

interface Cluster {
  readonly nodes: NodeInfo[];
  readonly paths: PathAssignment[];
  readonly selectedIps?: string[];
}

/**
 * 2–12 nodes, some with one subnet only, some offline, cordoned or degraded; 1–60 disks of 1–8
 * paths on random subnets; each path on a node drawn by per-node weights (so that some nodes are
 * crowded), free, or on a node nobody knows. In a third of the clusters the paths of a disk mostly
 * pile up on one or two nodes of their own (so that spreads bind). A quarter of the clusters
 * select some paths.
 */
function randomCluster(random: Random): Cluster {
  const nodeCount = 2 + below(random, 11);
  const subnetChoices: SubnetNumber[][] = [[1], [2], [1, 2], [1, 2], [2, 1]];
  const nodes: NodeInfo[] = Array.from({ length: nodeCount }, (_, n) => {
    const state = random();
    return {
      name: `n${String.fromCharCode(97 + n)}`,
      online: state >= 0.06,
      cordoned: state >= 0.06 && state < 0.12,
      degraded: state >= 0.12 && state < 0.16 ? true : undefined,
      subnets: subnetChoices[below(random, subnetChoices.length)] ?? [1, 2],
    };
  });
  const weights = nodes.map(() => (random() < 0.25 ? 4 + random() * 8 : random()));
  const weightSum = weights.reduce((sum, w) => sum + w, 0);
  const drawNode = (): string => {
    let x = random() * weightSum;
    for (let n = 0; n < nodes.length; n++) {
      x -= weights[n] ?? 0;
      if (x < 0) return nodes[n]?.name ?? "";
    }
    return nodes[nodes.length - 1]?.name ?? "";
  };
  const paths: PathAssignment[] = [];
  const clumped = random() < 1 / 3;
  const diskCount = 1 + below(random, 60);
  for (let disk = 1; disk <= diskCount; disk++) {
    const pathCount = 1 + below(random, 8);
    const homes = [drawNode(), drawNode()].slice(0, 1 + below(random, 2));
    for (let index = 1; index <= pathCount; index++) {
      const subnet: SubnetNumber = random() < 0.5 ? 1 : 2;
      const where = random();
      const home = clumped && random() < 0.8 ? homes[below(random, homes.length)] : undefined;
      const node = where < 0.05 ? "" : where < 0.08 ? "gone" : (home ?? drawNode());
      paths.push({
        diskId: String(disk).padStart(5, "0"),
        diskName: `disk-${disk}`,
        index,
        ip: `${subnet === 1 ? "198.51" : "203.0"}.${disk}.${index}`,
        subnet,
        node,
      });
    }
  }
  if (random() < 0.25) {
    return { nodes, paths, selectedIps: paths.filter(() => random() < 0.5).map((p) => p.ip) };
  }
  return { nodes, paths };
}

const eligibleNode = (node: NodeInfo): boolean => node.online && !node.cordoned && node.degraded !== true;
const hasSubnet = (node: NodeInfo, subnet: SubnetNumber): boolean => [...node.subnets].includes(subnet);

/** Paths per node and per (node, disk). */
class Tally {
  private readonly total = new Map<string, number>();
  private readonly perDisk = new Map<string, number>();

  constructor(paths: readonly PathAssignment[]) {
    for (const path of paths) {
      if (path.node === "") continue;
      this.total.set(path.node, this.totalOf(path.node) + 1);
      this.perDisk.set(`${path.node}/${path.diskId}`, this.of(path.node, path.diskId) + 1);
    }
  }

  totalOf(node: string): number {
    return this.total.get(node) ?? 0;
  }

  of(node: string, diskId: string): number {
    return this.perDisk.get(`${node}/${diskId}`) ?? 0;
  }
}

/** Per disk: the most paths of it on one eligible node (0 when no eligible node holds one). */
function spreads(
  paths: readonly PathAssignment[],
  tally: Tally,
  eligible: ReadonlySet<string>,
): Map<string, number> {
  const spread = new Map<string, number>();
  for (const path of paths) {
    const count = eligible.has(path.node) ? tally.of(path.node, path.diskId) : 0;
    spread.set(path.diskId, Math.max(spread.get(path.diskId) ?? 0, count));
  }
  return spread;
}

/** A flow network as adjacency lists; each edge's reverse follows it (edge e ^ 1). */
class Network {
  readonly out: number[][];
  private readonly head: number[] = [];
  private readonly capacity: number[] = [];

  constructor(size: number) {
    this.out = Array.from({ length: size }, () => []);
  }

  link(from: number, to: number, capacity: number): void {
    if (capacity <= 0) return;
    this.out[from]?.push(this.head.length);
    this.head.push(to);
    this.capacity.push(capacity);
    this.out[to]?.push(this.head.length);
    this.head.push(from);
    this.capacity.push(0);
  }

  /** Edmonds–Karp: augment along shortest paths until none is left; plain and obviously right. */
  maxFlow(source: number, sink: number): number {
    const via = new Int32Array(this.out.length);
    const queue = new Int32Array(this.out.length);
    let flow = 0;
    for (;;) {
      via.fill(-1);
      queue[0] = source;
      let length = 1;
      for (let at = 0; at < length && via[sink] === -1; at++) {
        const u = queue[at] ?? 0;
        for (const e of this.out[u] ?? []) {
          const v = this.head[e] ?? 0;
          if (v !== source && via[v] === -1 && (this.capacity[e] ?? 0) > 0) {
            via[v] = e;
            queue[length++] = v;
          }
        }
      }
      if (via[sink] === -1) return flow;
      let bottleneck = Number.POSITIVE_INFINITY;
      for (let v = sink; v !== source; v = this.head[(via[v] ?? 0) ^ 1] ?? source) {
        bottleneck = Math.min(bottleneck, this.capacity[via[v] ?? 0] ?? 0);
      }
      for (let v = sink; v !== source; v = this.head[(via[v] ?? 0) ^ 1] ?? source) {
        const e = via[v] ?? 0;
        this.capacity[e] = (this.capacity[e] ?? 0) - bottleneck;
        this.capacity[e ^ 1] = (this.capacity[e ^ 1] ?? 0) + bottleneck;
      }
      flow += bottleneck;
    }
  }
}

interface Facts {
  readonly eligible: ReadonlySet<string>;
  readonly target: number;
  /** Sum over eligible nodes of paths above the target. */
  readonly excess: number;
  /** The most excess any plan keeping the rules can remove, with and without (tally only) the spread rule. */
  readonly reachable: number;
  readonly reachableIgnoringSpread: number;
}

/**
 * The rules as a flow: source → donor (its excess) → (donor, disk, subnet) class (its movable
 * paths) → (receiver, disk) when the receiver has the subnet (room for the disk under its spread
 * before) → receiver (room under the target) → sink.
 */
function factsOf(cluster: Cluster): Facts {
  const eligibleNodes = cluster.nodes.filter(eligibleNode);
  const eligible = new Set(eligibleNodes.map((node) => node.name));
  const tally = new Tally(cluster.paths);
  const served = cluster.paths.filter((path) => eligible.has(path.node)).length;
  const target = eligible.size === 0 ? 0 : Math.ceil(served / eligible.size);
  const excess = eligibleNodes.reduce((sum, node) => sum + Math.max(0, tally.totalOf(node.name) - target), 0);
  if (excess === 0) return { eligible, target, excess, reachable: 0, reachableIgnoringSpread: 0 };

  const donors = eligibleNodes.filter((node) => tally.totalOf(node.name) > target);
  const receivers = eligibleNodes.filter((node) => tally.totalOf(node.name) < target);
  const selected = cluster.selectedIps === undefined ? undefined : new Set(cluster.selectedIps);
  const classes = new Map<string, { donor: number; diskId: string; subnet: SubnetNumber; count: number }>();
  for (const path of cluster.paths) {
    const donor = donors.findIndex((node) => node.name === path.node);
    if (donor < 0 || (selected !== undefined && !selected.has(path.ip))) continue;
    const key = `${donor}/${path.diskId}/${path.subnet}`;
    const found = classes.get(key) ?? { donor, diskId: path.diskId, subnet: path.subnet, count: 0 };
    classes.set(key, { ...found, count: found.count + 1 });
  }
  const diskIds = [...new Set([...classes.values()].map((c) => c.diskId))];
  const diskRank = new Map(diskIds.map((diskId, k) => [diskId, k]));
  const spread = spreads(cluster.paths, tally, eligible);

  const flowWith = (spreadRule: boolean): number => {
    const classList = [...classes.values()];
    const donorAt = 1;
    const classAt = donorAt + donors.length;
    const slotAt = classAt + classList.length;
    const receiverAt = slotAt + receivers.length * diskIds.length;
    const sink = receiverAt + receivers.length;
    const network = new Network(sink + 1);
    const slot = (r: number, diskId: string): number =>
      slotAt + r * diskIds.length + (diskRank.get(diskId) ?? 0);
    donors.forEach((node, d) => network.link(0, donorAt + d, tally.totalOf(node.name) - target));
    classList.forEach((c, i) => {
      network.link(donorAt + c.donor, classAt + i, c.count);
      receivers.forEach((node, r) => {
        if (hasSubnet(node, c.subnet)) network.link(classAt + i, slot(r, c.diskId), c.count);
      });
    });
    receivers.forEach((node, r) => {
      diskIds.forEach((diskId) => {
        const room = spreadRule ? (spread.get(diskId) ?? 0) - tally.of(node.name, diskId) : Infinity;
        network.link(slot(r, diskId), receiverAt + r, room);
      });
      network.link(receiverAt + r, sink, target - tally.totalOf(node.name));
    });
    return network.maxFlow(0, sink);
  };
  // Only the tally needs the second flow (for the figures); the suite saves its time.
  const reachableIgnoringSpread = TALLY ? flowWith(false) : Number.NaN;
  return { eligible, target, excess, reachable: flowWith(true), reachableIgnoringSpread };
}

const INVARIANTS = [
  "move off an eligible node above the target, each path once",
  "move of a selected path only",
  "move to an eligible receiver below the target with the path's subnet",
  "no receiver ends above the target",
  "no donor ends below the target",
  "no disk's spread gets worse",
  "moves remove as much excess as any plan can",
  "target reached when a plan reaches it",
  "never more moves than the excess",
  "balanced: no move",
  "before and after counts",
  "deterministic, whatever the input order",
] as const;
type Invariant = (typeof INVARIANTS)[number];

/** Fails at once, or (PLANNER_PROPERTY_TALLY=1) counts the clusters where each invariant failed. */
class Verdicts {
  readonly failures = new Map<Invariant, Set<number>>();

  check(seed: number, invariant: Invariant, ok: boolean, detail: () => string = () => ""): void {
    if (ok) return;
    if (!TALLY) expect.fail(`seed ${seed}: ${invariant} ${detail()}`);
    const seeds = this.failures.get(invariant) ?? new Set<number>();
    this.failures.set(invariant, seeds.add(seed));
  }
}

/** Whether every eligible node ends at or below the target. */
function checkPlan(seed: number, cluster: Cluster, plan: Plan, facts: Facts, verdicts: Verdicts): boolean {
  const { eligible, target } = facts;
  const nodeByName = new Map(cluster.nodes.map((node) => [node.name, node]));
  const pathByIp = new Map(cluster.paths.map((path) => [path.ip, path]));
  const before = new Tally(cluster.paths);
  const selected = cluster.selectedIps === undefined ? undefined : new Set(cluster.selectedIps);
  const moved = new Set<string>();
  const targetOf = new Map<string, string>();
  for (const move of plan.moves) {
    const path = pathByIp.get(move.ip);
    const receiver = nodeByName.get(move.targetNode);
    verdicts.check(
      seed,
      "move off an eligible node above the target, each path once",
      path !== undefined &&
        !moved.has(move.ip) &&
        move.sourceNode === path.node &&
        move.diskId === path.diskId &&
        move.index === path.index &&
        eligible.has(path.node) &&
        before.totalOf(path.node) > target,
      () => JSON.stringify(move),
    );
    moved.add(move.ip);
    targetOf.set(move.ip, move.targetNode);
    verdicts.check(seed, "move of a selected path only", selected === undefined || selected.has(move.ip));
    verdicts.check(
      seed,
      "move to an eligible receiver below the target with the path's subnet",
      path !== undefined &&
        receiver !== undefined &&
        eligible.has(receiver.name) &&
        hasSubnet(receiver, path.subnet) &&
        before.totalOf(receiver.name) < target,
      () => JSON.stringify(move),
    );
  }
  const afterPaths = cluster.paths.map((path) => ({ ...path, node: targetOf.get(path.ip) ?? path.node }));
  const after = new Tally(afterPaths);
  for (const name of eligible) {
    const start = before.totalOf(name);
    const end = after.totalOf(name);
    if (start <= target) verdicts.check(seed, "no receiver ends above the target", end <= target, () => name);
    else verdicts.check(seed, "no donor ends below the target", end >= target, () => name);
  }
  const spreadBefore = spreads(cluster.paths, before, eligible);
  const spreadAfter = spreads(afterPaths, after, eligible);
  verdicts.check(
    seed,
    "no disk's spread gets worse",
    [...spreadAfter].every(([diskId, spread]) => spread <= (spreadBefore.get(diskId) ?? 0)),
  );
  verdicts.check(
    seed,
    "moves remove as much excess as any plan can",
    plan.moves.length === facts.reachable,
    () => `${plan.moves.length} moves, ${facts.reachable} reachable`,
  );
  const highest = Math.max(0, ...[...eligible].map((name) => after.totalOf(name)));
  if (facts.reachable === facts.excess) {
    verdicts.check(seed, "target reached when a plan reaches it", highest <= target);
  }
  verdicts.check(seed, "never more moves than the excess", plan.moves.length <= facts.excess);
  if (facts.excess === 0) verdicts.check(seed, "balanced: no move", plan.moves.length === 0);
  const counts = (tally: Tally): Plan["after"] => {
    const names = new Set([...cluster.nodes.map((node) => node.name), ...cluster.paths.map((p) => p.node)]);
    names.delete("");
    return [...names].sort().map((node) => ({ node, paths: tally.totalOf(node) }));
  };
  verdicts.check(
    seed,
    "before and after counts",
    JSON.stringify(plan.before) === JSON.stringify(counts(before)) &&
      JSON.stringify(plan.after) === JSON.stringify(counts(after)),
  );
  return highest <= target;
}

describe("planAverage invariants over seeded random clusters", () => {
  it(`keeps every rule and reaches the target whenever a plan can (${RUNS} clusters)`, () => {
    const verdicts = new Verdicts();
    /** Clusters with excess; of them feasible (a plan removes it all); mixed: an eligible node has one subnet only. */
    const stats = { excess: 0, feasible: 0, mixed: 0, mixedFeasible: 0, mixedMissed: 0, spreadBound: 0 };
    /** Clusters where subnets alone would let a plan remove every excess, and of them those left above. */
    const subnetFeasible = { all: 0, missed: 0, mixed: 0, mixedMissed: 0 };
    let spreadWorse = 0;
    let moves = 0;
    for (let seed = 1; seed <= RUNS; seed++) {
      const random = seededRandom(seed);
      const cluster = randomCluster(random);
      const options = { selectedIps: cluster.selectedIps };
      const plan = planAverage(cluster.paths, cluster.nodes, options);
      const facts = factsOf(cluster);
      const spreadFailures = verdicts.failures.get("no disk's spread gets worse")?.size ?? 0;
      const reached = checkPlan(seed, cluster, plan, facts, verdicts);
      if ((verdicts.failures.get("no disk's spread gets worse")?.size ?? 0) > spreadFailures) spreadWorse++;
      moves += plan.moves.length;
      if (facts.excess > 0) {
        const mixed = cluster.nodes.some(
          (node) => facts.eligible.has(node.name) && new Set(node.subnets).size === 1,
        );
        const feasible = facts.reachable === facts.excess;
        stats.excess++;
        if (feasible) stats.feasible++;
        if (mixed) stats.mixed++;
        if (mixed && feasible) stats.mixedFeasible++;
        if (mixed && feasible && !reached) stats.mixedMissed++;
        if (!feasible && facts.reachableIgnoringSpread === facts.excess) stats.spreadBound++;
        if (facts.reachableIgnoringSpread === facts.excess) {
          subnetFeasible.all++;
          if (!reached) subnetFeasible.missed++;
          if (mixed) subnetFeasible.mixed++;
          if (mixed && !reached) subnetFeasible.mixedMissed++;
        }
      }

      const again = planAverage(cluster.paths, cluster.nodes, options);
      const reordered = planAverage(shuffled(random, cluster.paths), shuffled(random, cluster.nodes), {
        selectedIps: cluster.selectedIps === undefined ? undefined : shuffled(random, cluster.selectedIps),
      });
      verdicts.check(
        seed,
        "deterministic, whatever the input order",
        JSON.stringify(again) === JSON.stringify(plan) && JSON.stringify(reordered) === JSON.stringify(plan),
      );
    }
    if (TALLY) {
      const lines = INVARIANTS.map((name) => {
        const seeds = [...(verdicts.failures.get(name) ?? [])];
        const some = seeds.length > 0 ? `  (seeds ${seeds.slice(0, 5).join(", ")}…)` : "";
        return `${String(seeds.length).padStart(6)}  ${name}${some}`;
      });
      console.log(
        [
          `${RUNS} clusters, ${stats.excess} with a node above the target, ${moves} moves`,
          `feasible (a plan keeping every rule reaches the target): ${stats.feasible}; mixed-subnet ${stats.mixed}, of them feasible ${stats.mixedFeasible}, left above the target ${stats.mixedMissed}`,
          `subnet-feasible (spread rule ignored): ${subnetFeasible.all}, left above the target ${subnetFeasible.missed}; mixed-subnet ${subnetFeasible.mixed}, left above ${subnetFeasible.mixedMissed}; only the spread rule makes ${stats.spreadBound} of them infeasible`,
          `clusters where a disk's spread got worse: ${spreadWorse}`,
          "clusters failing:",
          ...lines,
        ].join("\n"),
      );
    }
    // The generator must produce the interesting cases: work to do, feasible or not.
    expect(stats.feasible).toBeGreaterThan(RUNS / 10);
    expect(stats.mixedFeasible).toBeGreaterThan(RUNS / 40);
    expect(moves).toBeGreaterThan(RUNS);
  });

  it(`reaches the same maximum with the augmenting step alone, from no move (${RUNS / 4} clusters)`, () => {
    const verdicts = new Verdicts();
    for (let seed = 1; seed <= RUNS / 4; seed++) {
      const cluster = randomCluster(seededRandom(seed));
      const facts = factsOf(cluster);
      checkPlan(seed, cluster, augmentedOnly(cluster), facts, verdicts);
    }
    if (TALLY) {
      const failed = INVARIANTS.filter((name) => (verdicts.failures.get(name)?.size ?? 0) > 0);
      console.log(
        `augmenting step alone: ${RUNS / 4} clusters, invariants failing: ${failed.join(", ") || "none"}`,
      );
    }
  });
});

/** The plan the augmenting step makes on its own, starting from no move. */
function augmentedOnly(cluster: Cluster): Plan {
  const index = new ClusterIndex(cluster.paths, cluster.nodes);
  const target = averageTarget(index);
  if (target === undefined) return index.plan();
  const selected =
    cluster.selectedIps === undefined
      ? undefined
      : new Set(resolveSelectedPaths(index, cluster.selectedIps).map((selection) => selection.path));
  const groups = new DonorGroups(index, target, selected);
  const planned = new PlannedMoves(index, groups);
  augmentMoves(index, groups, new ReceiverPool(index, target), planned);
  planned.record();
  return index.plan();
}
