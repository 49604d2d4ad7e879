import type { SubnetNumber } from "./assignment-model.js";
import { NO_NODE, type ClusterIndex } from "./cluster-index.js";
import { NodeHeap } from "./node-heap.js";

export interface CandidateNodesOptions {
  /** Only nodes serving fewer paths than this receive (the average planner's target). */
  readonly below?: number;
  /** A node that never receives (the node being drained). */
  readonly never?: number;
}

/**
 * The eligible nodes that may receive a path, and the choice among them: fewest paths of the
 * path's disk, then fewest paths in total, then node name. One heap per subnet orders the nodes
 * with that subnet by (total, name); the best node is found by visiting them in that order past
 * the few nodes that hold paths of the disk (or are excluded). Call received() after giving a node
 * a path, so that it is ordered by its new total.
 */
export class CandidateNodes {
  private readonly heaps: readonly [NodeHeap, NodeHeap];
  private readonly below: number;
  private readonly never: number;
  /** Per node: total * scale + rank, the heaps' order. */
  private readonly keys: Float64Array;
  private readonly scale: number;

  // State of the visit in progress, kept in fields so that one visitor closure serves every call.
  private disk = 0;
  private excluded: ReadonlySet<number> | undefined;
  private chosen = NO_NODE;
  private chosenCount = 0;
  private readonly visit: (node: number) => boolean;

  constructor(
    private readonly index: ClusterIndex,
    options: CandidateNodesOptions = {},
  ) {
    this.below = options.below ?? Number.POSITIVE_INFINITY;
    this.never = options.never ?? NO_NODE;
    this.scale = Math.max(index.nodeCount, 1);
    this.keys = new Float64Array(index.nodeCount);
    for (let node = 0; node < index.nodeCount; node++) this.keys[node] = this.keyOf(node);
    this.heaps = [new NodeHeap(this.keys, this.scale), new NodeHeap(this.keys, this.scale)];
    const withSubnet: [number[], number[]] = [[], []];
    for (let node = 0; node < index.nodeCount; node++) {
      if (!this.canReceive(node)) continue;
      if (index.hasSubnet(node, 1)) withSubnet[0].push(node);
      if (index.hasSubnet(node, 2)) withSubnet[1].push(node);
    }
    this.heaps[0].addAll(withSubnet[0]);
    this.heaps[1].addAll(withSubnet[1]);

    this.visit = (node: number): boolean => {
      if (this.excluded?.has(node) === true) return false;
      const count = this.index.countOf(node, this.disk);
      if (count < this.chosenCount) {
        this.chosen = node;
        this.chosenCount = count;
      }
      return count === 0;
    };
  }

  /**
   * The best node for a path of the disk on the subnet, skipping `excluded` nodes; NO_NODE when
   * no node qualifies.
   */
  best(disk: number, subnet: SubnetNumber, excluded?: ReadonlySet<number>): number {
    this.disk = disk;
    this.excluded = excluded;
    this.chosen = NO_NODE;
    this.chosenCount = Number.POSITIVE_INFINITY;
    (subnet === 1 ? this.heaps[0] : this.heaps[1]).visitInOrder(this.visit);
    this.excluded = undefined;
    return this.chosen;
  }

  /** Call after the node was given a path. */
  received(node: number): void {
    this.keys[node] = this.keyOf(node);
    const [first, second] = this.heaps;
    if (this.canReceive(node)) {
      first.update(node);
      second.update(node);
    } else {
      first.remove(node);
      second.remove(node);
    }
  }

  private keyOf(node: number): number {
    return this.index.totalOf(node) * this.scale + node;
  }

  private canReceive(node: number): boolean {
    return node !== this.never && this.index.isEligible(node) && this.index.totalOf(node) < this.below;
  }
}
