import type { SubnetNumber } from "./assignment-model.js";
import type { ClusterIndex } from "./cluster-index.js";
import type { DonorGroups } from "./donor-groups.js";
import type { PlannedMoves } from "./planned-moves.js";
import type { ReceiverPool } from "./receiver-pool.js";

/**
 * Completes the average planner's moves to a maximum: as long as a donor still owes paths and an
 * augmenting path exists, one more path leaves the donors, earlier choices revised as needed.
 *
 * The moves form a flow in this network (one vertex per kind of choice, so that paths of a class
 * are interchangeable):
 *
 *     source → donor (what it owes) → class = (donor, disk, subnet) (its paths still there)
 *            → (receiver, disk) when the receiver has the subnet
 *            → receiver (room for the disk under its spread cap) → sink (room under the target)
 *
 * An augmenting path in the residual network is found by breadth-first search; the edges it
 * walks backwards revise planned moves: (receiver, disk) → class takes a planned path of the
 * class off the receiver (it goes on along the path: to another receiver, or back to its donor,
 * which then gives another path); receiver → (receiver, disk) frees room on a full receiver by
 * moving a planned path of that disk on. Each augmentation adds exactly one path to the plan
 * (revised paths still move once, from their donor), and when no augmenting path is left the
 * number of moves is the most any plan keeping the rules can make (max-flow = min-cut).
 *
 * The search visits each (disk, subnet) pair's receivers once per search, so a search costs
 * O(groups + disks × receivers + planned paths); the planner calls this only when its greedy
 * pass left paths that subnets alone would let move.
 */
export function augmentMoves(
  index: ClusterIndex,
  groups: DonorGroups,
  pool: ReceiverPool,
  planned: PlannedMoves,
): void {
  const search = new AugmentingSearch(index, groups, pool, planned);
  while (search.augment()) {
    // Each augmentation plans one more path.
  }
}

const UNSEEN = -2;
const SOURCE = -1;

/** Vertices: donors [0, D), classes [D, D + 2G) (group g, subnet s at D + 2g + s - 1), receivers, then (receiver, disk) pairs as found. */
class AugmentingSearch {
  private readonly classBase: number;
  private readonly receiverBase: number;
  private readonly pairBase: number;
  /** Per node rank: its place among the receivers, or -1. */
  private readonly receiverAt: Int32Array;
  /** Per vertex: the vertex it was reached from (SOURCE for a start), UNSEEN before. */
  private readonly parent: number[] = [];
  /** Per (receiver, disk) vertex, from pairBase on: the receiver's node and the disk. */
  private readonly pairNode: number[] = [];
  private readonly pairDisk: number[] = [];
  private readonly pairVertex = new Map<number, number>();
  /** (disk, subnet) pairs whose receivers were reached in this search. */
  private readonly expanded = new Set<number>();
  private readonly queue: number[] = [];

  constructor(
    private readonly index: ClusterIndex,
    private readonly groups: DonorGroups,
    private readonly pool: ReceiverPool,
    private readonly planned: PlannedMoves,
  ) {
    this.classBase = groups.donorCount;
    this.receiverBase = this.classBase + 2 * groups.groupCount;
    this.pairBase = this.receiverBase + pool.nodes.length;
    this.receiverAt = new Int32Array(index.nodeCount).fill(-1);
    pool.nodes.forEach((node, at) => (this.receiverAt[node] = at));
  }

  /** Finds one augmenting path and applies it; false when there is none. */
  augment(): boolean {
    const parent = this.parent;
    parent.length = this.pairBase;
    parent.fill(UNSEEN);
    this.pairNode.length = 0;
    this.pairDisk.length = 0;
    this.pairVertex.clear();
    this.expanded.clear();
    const queue = this.queue;
    queue.length = 0;
    for (let slot = 0; slot < this.groups.donorCount; slot++) {
      if (this.groups.owedBy(slot) <= 0) continue;
      parent[slot] = SOURCE;
      queue.push(slot);
    }
    for (let head = 0; head < queue.length; head++) {
      const vertex = queue[head] ?? 0;
      const end = this.expand(vertex);
      if (end !== undefined) {
        this.apply(end);
        return true;
      }
    }
    return false;
  }

  /** Reaches the vertex's unseen neighbours; the receiver vertex when it has room (the sink is reached). */
  private expand(vertex: number): number | undefined {
    const { groups, index } = this;
    if (vertex < this.classBase) {
      for (let g = groups.firstGroup[vertex] ?? 0; g < (groups.firstGroup[vertex + 1] ?? 0); g++) {
        if (groups.unmoved(g, 1) > 0) this.reach(this.classBase + 2 * g, vertex);
        if (groups.unmoved(g, 2) > 0) this.reach(this.classBase + 2 * g + 1, vertex);
      }
      return undefined;
    }
    if (vertex < this.receiverBase) {
      const g = (vertex - this.classBase) >> 1;
      const subnet: SubnetNumber = ((vertex - this.classBase) & 1) === 0 ? 1 : 2;
      const slot = groups.groupDonor[g] ?? 0;
      if (groups.moved(g, subnet) > 0) this.reach(slot, vertex);
      const disk = groups.groupDisk[g] ?? 0;
      const key = disk * 2 + subnet - 1;
      if (this.expanded.has(key)) return undefined;
      this.expanded.add(key);
      for (const node of this.pool.nodes) {
        if (index.hasSubnet(node, subnet)) this.reach(this.pairOf(node, disk), vertex);
      }
      return undefined;
    }
    if (vertex < this.pairBase) {
      const node = this.pool.nodes[vertex - this.receiverBase] ?? 0;
      if (this.pool.spareOf(node) > 0) return vertex;
      for (const path of this.planned.incomingOf(node))
        this.reach(this.pairOf(node, index.diskOf(path)), vertex);
      return undefined;
    }
    const node = this.pairNode[vertex - this.pairBase] ?? 0;
    const disk = this.pairDisk[vertex - this.pairBase] ?? 0;
    if (index.countOf(node, disk) < (this.groups.spreadCap[disk] ?? 0)) {
      this.reach(this.receiverBase + (this.receiverAt[node] ?? 0), vertex);
    }
    for (const path of this.planned.incomingOf(node)) {
      if (index.diskOf(path) !== disk) continue;
      this.reach(this.classOf(path), vertex);
    }
    return undefined;
  }

  private reach(vertex: number, from: number): void {
    if (this.parent[vertex] !== UNSEEN) return;
    this.parent[vertex] = from;
    this.queue.push(vertex);
  }

  private classOf(path: number): number {
    return this.classBase + 2 * (this.groups.groupOfPath[path] ?? 0) + this.index.subnetOf(path) - 1;
  }

  private pairOf(node: number, disk: number): number {
    const key = (this.receiverAt[node] ?? 0) * this.index.diskCount + disk;
    let vertex = this.pairVertex.get(key);
    if (vertex === undefined) {
      vertex = this.pairBase + this.pairNode.length;
      this.pairVertex.set(key, vertex);
      this.pairNode.push(node);
      this.pairDisk.push(disk);
      this.parent.push(UNSEEN);
    }
    return vertex;
  }

  /**
   * Turns the augmenting path ending at `end` into moves: each class on it carries one path, a
   * fresh one when reached from its donor or a planned one off the receiver it was reached from,
   * to the receiver it leads to or back to its donor. The paths are chosen before any is moved.
   */
  private apply(end: number): void {
    const chain: number[] = [];
    for (let vertex = end; vertex !== SOURCE; vertex = this.parent[vertex] ?? SOURCE) chain.push(vertex);
    chain.reverse();
    const steps: { path: number; from: "donor" | "receiver"; to: number | "donor" }[] = [];
    for (let at = 0; at < chain.length; at++) {
      const vertex = chain[at] ?? 0;
      if (vertex < this.classBase || vertex >= this.receiverBase) continue;
      const before = chain[at - 1] ?? 0;
      const after = chain[at + 1] ?? 0;
      const path =
        before < this.classBase
          ? this.freshPath(vertex)
          : this.plannedPath(vertex, this.pairNode[before - this.pairBase] ?? 0);
      const to = after < this.classBase ? "donor" : (this.pairNode[after - this.pairBase] ?? 0);
      steps.push({ path, from: before < this.classBase ? "donor" : "receiver", to });
    }
    for (const { path, from, to } of steps) {
      if (to === "donor") this.planned.takeBack(path);
      else if (from === "donor") this.planned.give(path, to);
      else this.planned.reroute(path, to);
    }
  }

  /** The first path of the class (in path order) still on its donor. */
  private freshPath(vertex: number): number {
    const g = (vertex - this.classBase) >> 1;
    for (let at = this.groups.pathStart[g] ?? 0; at < (this.groups.pathStart[g + 1] ?? 0); at++) {
      const path = this.groups.movable[at] ?? 0;
      if (this.classOf(path) === vertex && !this.planned.isPlanned(path)) return path;
    }
    throw new Error(`augmenting path through class ${vertex} without a path on its donor`);
  }

  /** The first path of the class planned onto the node. */
  private plannedPath(vertex: number, node: number): number {
    for (const path of this.planned.incomingOf(node)) {
      if (this.classOf(path) === vertex) return path;
    }
    throw new Error(`augmenting path through class ${vertex} without a path on node ${node}`);
  }
}
