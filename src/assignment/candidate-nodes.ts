import type { SubnetNumber } from "./assignment-model.js";
import { NO_NODE, type ClusterIndex } from "./cluster-index.js";
import { NumberMinHeap } from "./number-heap.js";

export interface CandidateNodesOptions {
  /** Only nodes serving fewer paths than this receive (the average planner's target). */
  readonly below?: number;
  /** A node that never receives (the node being drained). */
  readonly never?: number;
}

/**
 * The eligible nodes that may receive a path, and the choice among them: fewest paths of the
 * path's disk, then fewest paths in total, then node name. One heap per subnet orders the nodes
 * with that subnet by (total, name); a node with few paths of a disk is found by popping past the
 * few nodes that hold the disk's paths. Entries whose total changed are dropped when popped.
 */
export class CandidateNodes {
  private readonly heaps: readonly [NumberMinHeap, NumberMinHeap];
  private readonly scale: number;
  private readonly below: number;
  /** Reused by best() for the entries it pops and puts back. */
  private readonly kept: number[] = [];

  constructor(
    private readonly index: ClusterIndex,
    options: CandidateNodesOptions = {},
  ) {
    this.scale = Math.max(index.nodeCount, 1);
    this.below = options.below ?? Number.POSITIVE_INFINITY;
    const initial: [number[], number[]] = [[], []];
    for (let node = 0; node < index.nodeCount; node++) {
      if (node === options.never || !this.canReceive(node)) continue;
      const key = this.keyOf(node);
      if (index.hasSubnet(node, 1)) initial[0].push(key);
      if (index.hasSubnet(node, 2)) initial[1].push(key);
    }
    this.heaps = [new NumberMinHeap(initial[0]), new NumberMinHeap(initial[1])];
  }

  /**
   * The best node for a path of the disk on the subnet, skipping `excluded` nodes; NO_NODE when
   * no node qualifies.
   */
  best(disk: number, subnet: SubnetNumber, excluded?: ReadonlySet<number>): number {
    const heap = this.heaps[subnet - 1];
    if (heap === undefined) return NO_NODE;
    const kept = this.kept;
    kept.length = 0;
    let chosen = NO_NODE;
    let chosenCount = Number.POSITIVE_INFINITY;
    for (let key = heap.pop(); key !== undefined; key = heap.pop()) {
      const node = key % this.scale;
      const total = (key - node) / this.scale;
      if (total !== this.index.totalOf(node) || !this.canReceive(node) || kept.includes(key)) continue;
      kept.push(key);
      if (excluded?.has(node) === true) continue;
      const count = this.index.countOf(node, disk);
      if (count < chosenCount) {
        chosen = node;
        chosenCount = count;
      }
      if (count === 0) break;
    }
    for (const key of kept) heap.push(key);
    return chosen;
  }

  /** Call after the node was given a path, so that it is ordered by its new total. */
  received(node: number): void {
    if (!this.canReceive(node)) return;
    const key = this.keyOf(node);
    if (this.index.hasSubnet(node, 1)) this.heaps[0].push(key);
    if (this.index.hasSubnet(node, 2)) this.heaps[1].push(key);
  }

  private canReceive(node: number): boolean {
    return this.index.isEligible(node) && this.index.totalOf(node) < this.below;
  }

  private keyOf(node: number): number {
    return this.index.totalOf(node) * this.scale + node;
  }
}
