import { NO_NODE, type ClusterIndex } from "./cluster-index.js";
import { NodeHeap } from "./node-heap.js";
import { receiverKind, type ReceiverKind } from "./subnet-flow.js";

/**
 * The average planner's receivers: eligible nodes below the target, by kind (subnet 1 only,
 * subnet 2 only, both), each kind in a heap by (paths in total, name). The choice for a path of a
 * disk among the allowed kinds: fewest paths of the disk, then fewest in total, then name, among
 * the nodes that hold fewer paths of the disk than a cap (the disk's spread). Found by visiting
 * each allowed heap in order past the few nodes that hold paths of the disk. Call received()
 * after giving a node a path.
 */
export class ReceiverPool {
  /** Receivers in rank order, and each one's kind (undefined for a node that is none). */
  readonly nodes: readonly number[];
  private readonly kinds: (ReceiverKind | undefined)[];
  private readonly heaps: readonly [NodeHeap, NodeHeap, NodeHeap];
  /** Per node: total * scale + rank, the heaps' order. */
  private readonly keys: Float64Array;
  private readonly scale: number;

  // State of the visit in progress, kept in fields so that one visitor closure serves every call.
  private disk = 0;
  private cap = 0;
  private chosen = NO_NODE;
  private chosenCount = 0;
  private readonly visit: (node: number) => boolean;

  constructor(
    private readonly index: ClusterIndex,
    private readonly target: number,
  ) {
    this.scale = Math.max(index.nodeCount, 1);
    this.keys = new Float64Array(index.nodeCount);
    this.kinds = new Array<ReceiverKind | undefined>(index.nodeCount);
    this.heaps = [
      new NodeHeap(this.keys, this.scale),
      new NodeHeap(this.keys, this.scale),
      new NodeHeap(this.keys, this.scale),
    ];
    const nodes: number[] = [];
    const byKind: [number[], number[], number[]] = [[], [], []];
    for (let node = 0; node < index.nodeCount; node++) {
      if (!index.isEligible(node) || index.totalOf(node) >= target) continue;
      const kind = receiverKind(index.hasSubnet(node, 1), index.hasSubnet(node, 2));
      if (kind === undefined) continue;
      this.kinds[node] = kind;
      this.keys[node] = this.keyOf(node);
      nodes.push(node);
      byKind[kind].push(node);
    }
    this.nodes = nodes;
    byKind.forEach((members, kind) => this.heaps[kind as ReceiverKind].addAll(members));

    this.visit = (node: number): boolean => {
      const count = this.index.countOf(node, this.disk);
      if (count >= this.cap) return false;
      if (
        count < this.chosenCount ||
        (count === this.chosenCount && (this.keys[node] ?? 0) < (this.keys[this.chosen] ?? 0))
      ) {
        this.chosen = node;
        this.chosenCount = count;
      }
      return count === 0;
    };
  }

  /** The receiver's kind; undefined for a node that is not a receiver. */
  kindOf(node: number): ReceiverKind | undefined {
    return this.kinds[node];
  }

  /** Whether a receiver of the kind has room left. */
  hasAny(kind: ReceiverKind): boolean {
    return this.heaps[kind].size > 0;
  }

  /** Room left under the target. */
  spareOf(node: number): number {
    return this.target - this.index.totalOf(node);
  }

  /**
   * The best receiver of the allowed kinds for a path of the disk, among those holding fewer than
   * `cap` of its paths; NO_NODE when none qualifies.
   */
  best(disk: number, cap: number, first: ReceiverKind | undefined, second: ReceiverKind | undefined): number {
    this.disk = disk;
    this.cap = cap;
    this.chosen = NO_NODE;
    this.chosenCount = Number.POSITIVE_INFINITY;
    if (first !== undefined) this.heaps[first].visitInOrder(this.visit);
    if (second !== undefined) this.heaps[second].visitInOrder(this.visit);
    return this.chosen;
  }

  /** Call after the node was given a path: it is ordered by its new total, or leaves when full. */
  received(node: number): void {
    const kind = this.kinds[node];
    if (kind === undefined) return;
    const heap = this.heaps[kind];
    if (this.index.totalOf(node) >= this.target) {
      heap.remove(node);
      return;
    }
    this.keys[node] = this.keyOf(node);
    heap.update(node);
  }

  private keyOf(node: number): number {
    return this.index.totalOf(node) * this.scale + node;
  }
}
