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
 * A receiver that holds no path of a disk has room for one under the disk's spread (at least 1,
 * as a donor holds the disk) and no planned path of it to give back, so its (receiver, disk)
 * vertex is skipped: the class reaches the receiver straight. Only receivers among the disk's
 * holders (at most its paths) get that vertex, and the search reaches the other receivers once
 * each, so a search costs O(donors' groups + holders of their disks + receivers + planned
 * paths). The planner calls this only when its greedy pass left paths that subnets alone would
 * let move.
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

const SOURCE = -1;

/**
 * Vertices: donors [0, D), classes [D, D + 2G) (group g, subnet s at D + 2g + s - 1), receivers,
 * then (receiver, disk) pairs as found. The search is breadth-first, except that a donor's groups
 * and a full receiver's planned paths (the long neighbour lists) are read a few at a time, each
 * read putting the vertex back at the end of the queue: a search that succeeds stops after
 * reading about as much as its path needs, not every group of every donor (a plan may need many
 * searches). Any augmenting path will do for a maximum; the order is fixed, so plans repeat.
 */
class AugmentingSearch {
  private readonly classBase: number;
  private readonly receiverBase: number;
  private readonly pairBase: number;
  /** Per node rank: its place among the receivers, or -1. */
  private readonly receiverAt: Int32Array;
  /** Per donor: no group before this one has a path still on the donor. */
  private readonly firstLive: Int32Array;
  /** Per donor, class and receiver vertex: the search that reached it, and the vertex it came from. */
  private readonly seenIn: Int32Array;
  private readonly parent: Int32Array;
  private search = 0;
  /** Per (receiver, disk) vertex, from pairBase on: the receiver's node, the disk, where it came from. */
  private readonly pairNode: number[] = [];
  private readonly pairDisk: number[] = [];
  private readonly pairParent: number[] = [];
  private readonly pairVertex = new Map<number, number>();
  /** Per subnet: receivers with it not reached yet in this search (maybe reached: checked when read). */
  private readonly pending: [number[], number[]] = [[], []];
  /** (disk, subnet) pairs whose receivers were reached in this search. */
  private readonly expanded = new Set<number>();
  /** Vertices to expand, each with how far its neighbour list was read. */
  private readonly queue: number[] = [];
  private readonly cursor: number[] = [];

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
    this.firstLive = groups.firstGroup.slice(0, groups.donorCount);
    this.seenIn = new Int32Array(this.pairBase);
    this.parent = new Int32Array(this.pairBase);
  }

  /** Finds one augmenting path and applies it; false when there is none. */
  augment(): boolean {
    this.search++;
    this.pairNode.length = 0;
    this.pairDisk.length = 0;
    this.pairParent.length = 0;
    this.pairVertex.clear();
    this.expanded.clear();
    const [pending1, pending2] = this.pending;
    pending1.length = 0;
    pending2.length = 0;
    for (const node of this.pool.nodes) {
      if (this.index.hasSubnet(node, 1)) pending1.push(node);
      if (this.index.hasSubnet(node, 2)) pending2.push(node);
    }
    const { queue, cursor } = this;
    queue.length = 0;
    cursor.length = 0;
    for (let slot = 0; slot < this.groups.donorCount; slot++) {
      if (this.groups.owedBy(slot) > 0) this.reach(slot, SOURCE);
    }
    for (let head = 0; head < queue.length; head++) {
      const end = this.expand(queue[head] ?? 0, cursor[head] ?? 0);
      if (end !== undefined) {
        this.apply(end);
        return true;
      }
    }
    return false;
  }

  /**
   * Reaches the vertex's unseen neighbours from the cursor on (donors and receivers: a few, then
   * the vertex goes back in the queue); the receiver vertex when it has room (the sink is reached).
   */
  private expand(vertex: number, from: number): number | undefined {
    const { groups, index } = this;
    if (vertex < this.classBase) {
      // The next group with a path still on the donor (groups that gave all are passed over here).
      const first = groups.firstGroup[vertex] ?? 0;
      const end = groups.firstGroup[vertex + 1] ?? 0;
      let g = Math.max(first + from, this.firstLive[vertex] ?? 0);
      while (g < end && groups.unmoved(g, 1) + groups.unmoved(g, 2) === 0) g++;
      if (from === 0) this.firstLive[vertex] = g;
      if (g === end) return undefined;
      if (groups.unmoved(g, 1) > 0) this.reach(this.classBase + 2 * g, vertex);
      if (groups.unmoved(g, 2) > 0) this.reach(this.classBase + 2 * g + 1, vertex);
      if (g + 1 < end) this.requeue(vertex, g + 1 - first);
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
      // Receivers holding paths of the disk through their (receiver, disk) vertex; the others
      // (no path of the disk: room under its spread) straight, once per search.
      for (let at = 0; at < index.holderCountOf(disk); at++) {
        const node = index.holderOf(disk, at);
        if ((this.receiverAt[node] ?? -1) >= 0 && index.hasSubnet(node, subnet)) {
          this.reach(this.pairOf(node, disk), vertex);
        }
      }
      const pending = this.pending[subnet - 1] ?? [];
      let kept = 0;
      for (const node of pending) {
        const receiver = this.receiverBase + (this.receiverAt[node] ?? 0);
        if (this.reached(receiver)) continue;
        if (index.countOf(node, disk) > 0) pending[kept++] = node;
        else this.reach(receiver, vertex);
      }
      pending.length = kept;
      return undefined;
    }
    if (vertex < this.pairBase) {
      const node = this.pool.nodes[vertex - this.receiverBase] ?? 0;
      if (from === 0 && this.pool.spareOf(node) > 0) return vertex;
      const incoming = this.planned.incomingOf(node);
      const path = incoming[from];
      if (path !== undefined) this.reach(this.pairOf(node, index.diskOf(path)), vertex);
      if (from + 1 < incoming.length) this.requeue(vertex, from + 1);
      return undefined;
    }
    const node = this.pairNode[vertex - this.pairBase] ?? 0;
    const disk = this.pairDisk[vertex - this.pairBase] ?? 0;
    if (index.countOf(node, disk) < (this.groups.spreadCap[disk] ?? 0)) {
      this.reach(this.receiverBase + (this.receiverAt[node] ?? 0), vertex);
    }
    for (const path of this.planned.incomingOfDiskOn(node, disk)) this.reach(this.classOf(path), vertex);
    return undefined;
  }

  /** Marks the vertex reached from `from` and queues it, unless this search reached it already. */
  private reach(vertex: number, from: number): void {
    if (vertex < this.pairBase) {
      if (this.seenIn[vertex] === this.search) return;
      this.seenIn[vertex] = this.search;
      this.parent[vertex] = from;
    } else {
      if (this.pairParent[vertex - this.pairBase] !== undefined) return;
      this.pairParent[vertex - this.pairBase] = from;
    }
    this.requeue(vertex, 0);
  }

  private requeue(vertex: number, from: number): void {
    this.queue.push(vertex);
    this.cursor.push(from);
  }

  private reached(vertex: number): boolean {
    return vertex < this.pairBase
      ? this.seenIn[vertex] === this.search
      : this.pairParent[vertex - this.pairBase] !== undefined;
  }

  private parentOf(vertex: number): number {
    return (vertex < this.pairBase ? this.parent[vertex] : this.pairParent[vertex - this.pairBase]) ?? SOURCE;
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
    for (let vertex = end; vertex !== SOURCE; vertex = this.parentOf(vertex)) chain.push(vertex);
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
      const to =
        after < this.classBase
          ? "donor"
          : after < this.pairBase
            ? (this.pool.nodes[after - this.receiverBase] ?? 0)
            : (this.pairNode[after - this.pairBase] ?? 0);
      steps.push({ path, from: before < this.classBase ? "donor" : "receiver", to });
    }
    for (const { path, from, to } of steps) {
      if (to === "donor") {
        this.planned.takeBack(path);
        const g = this.groups.groupOfPath[path] ?? 0;
        const slot = this.groups.groupDonor[g] ?? 0;
        this.firstLive[slot] = Math.min(this.firstLive[slot] ?? 0, g);
      } else if (from === "donor") this.planned.give(path, to);
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
    const disk = this.groups.groupDisk[(vertex - this.classBase) >> 1] ?? 0;
    for (const path of this.planned.incomingOfDiskOn(node, disk)) {
      if (this.classOf(path) === vertex) return path;
    }
    throw new Error(`augmenting path through class ${vertex} without a path on node ${node}`);
  }
}
