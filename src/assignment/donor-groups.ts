import type { SubnetNumber } from "./assignment-model.js";
import { NO_NODE, type ClusterIndex } from "./cluster-index.js";

/**
 * The paths the average planner may move, grouped: a donor is an eligible node above the target
 * with at least one movable path (with a selection, only selected paths are movable); a group is
 * the movable paths of one disk on one donor, in path order. Kept in flat arrays, as a crowded
 * cluster has one group per path. Donors are in node rank order (a donor's place is its slot),
 * each donor's groups in disk order. Per group and subnet, the paths not moved yet are counted.
 */
export class DonorGroups {
  /** Node rank per donor slot. */
  readonly donorNode: Int32Array;
  /** Paths above the target per donor slot; `given` counts the paths planned off it so far. */
  readonly excess: Int32Array;
  readonly given: Int32Array;
  /** The groups of slot s are firstGroup[s] .. firstGroup[s + 1] - 1. */
  readonly firstGroup: Int32Array;
  readonly groupDonor: Int32Array;
  readonly groupDisk: Int32Array;
  /** The paths of group g are movable[pathStart[g] .. pathStart[g + 1]). */
  readonly pathStart: Int32Array;
  readonly movable: Int32Array;
  /** Per disk rank: its spread before any move (ClusterIndex.spreadOf), for the disks of the groups. */
  readonly spreadCap: Int32Array;
  /** Per path (index position): its group, or -1 when it may not move. */
  readonly groupOfPath: Int32Array;
  /** Per subnet (1, 2), per group: paths still on the donor. */
  private readonly unmovedCount: [Int32Array, Int32Array];
  /** Per subnet (1, 2), per group: all its paths. */
  private readonly pathCount: [Int32Array, Int32Array];

  constructor(index: ClusterIndex, target: number, selected: ReadonlySet<number> | undefined) {
    const isMovable = (path: number): boolean => {
      const node = index.nodeOf(path);
      if (node === NO_NODE || !index.isEligible(node) || index.totalOf(node) <= target) return false;
      return selected === undefined || selected.has(path);
    };
    // Movable paths bucketed by node (counting sort), each bucket in path order, i.e. by disk.
    const offsets = new Int32Array(index.nodeCount + 1);
    let movableCount = 0;
    for (let path = 0; path < index.paths.length; path++) {
      if (!isMovable(path)) continue;
      const node = index.nodeOf(path);
      offsets[node + 1] = (offsets[node + 1] ?? 0) + 1;
      movableCount++;
    }
    let donorCount = 0;
    for (let node = 0; node < index.nodeCount; node++) {
      if ((offsets[node + 1] ?? 0) > 0) donorCount++;
      offsets[node + 1] = (offsets[node + 1] ?? 0) + (offsets[node] ?? 0);
    }
    const fill = offsets.slice(0, index.nodeCount);
    this.movable = new Int32Array(movableCount);
    for (let path = 0; path < index.paths.length; path++) {
      if (!isMovable(path)) continue;
      const node = index.nodeOf(path);
      const at = fill[node] ?? 0;
      this.movable[at] = path;
      fill[node] = at + 1;
    }

    this.donorNode = new Int32Array(donorCount);
    this.excess = new Int32Array(donorCount);
    this.given = new Int32Array(donorCount);
    this.firstGroup = new Int32Array(donorCount + 1);
    this.groupOfPath = new Int32Array(index.paths.length).fill(-1);
    const groupDonor = new Int32Array(movableCount);
    const groupDisk = new Int32Array(movableCount);
    const pathStart = new Int32Array(movableCount + 1);
    let groupCount = 0;
    let slot = 0;
    for (let node = 0; node < index.nodeCount; node++) {
      const from = offsets[node] ?? 0;
      const to = offsets[node + 1] ?? 0;
      if (from === to) continue;
      this.donorNode[slot] = node;
      this.excess[slot] = index.totalOf(node) - target;
      this.firstGroup[slot] = groupCount;
      for (let at = from; at < to; at++) {
        const path = this.movable[at] ?? 0;
        const disk = index.diskOf(path);
        if (at === from || groupDisk[groupCount - 1] !== disk) {
          groupDonor[groupCount] = slot;
          groupDisk[groupCount] = disk;
          pathStart[groupCount] = at;
          groupCount++;
        }
        this.groupOfPath[path] = groupCount - 1;
      }
      slot++;
    }
    this.firstGroup[donorCount] = groupCount;
    pathStart[groupCount] = movableCount;
    this.groupDonor = groupDonor.subarray(0, groupCount);
    this.groupDisk = groupDisk.subarray(0, groupCount);
    this.pathStart = pathStart.subarray(0, groupCount + 1);
    this.pathCount = [new Int32Array(groupCount), new Int32Array(groupCount)];
    for (let at = 0; at < movableCount; at++) {
      const path = this.movable[at] ?? 0;
      const counts = bySubnet(this.pathCount, index.subnetOf(path));
      const g = this.groupOfPath[path] ?? 0;
      counts[g] = (counts[g] ?? 0) + 1;
    }
    this.unmovedCount = [this.pathCount[0].slice(), this.pathCount[1].slice()];
    this.spreadCap = new Int32Array(index.diskCount);
    for (const disk of this.groupDisk) {
      if (this.spreadCap[disk] === 0) this.spreadCap[disk] = index.spreadOf(disk);
    }
  }

  get donorCount(): number {
    return this.donorNode.length;
  }

  get groupCount(): number {
    return this.groupDisk.length;
  }

  /** Paths the donor still has to give to reach the target. */
  owedBy(slot: number): number {
    return (this.excess[slot] ?? 0) - (this.given[slot] ?? 0);
  }

  /** Paths of the subnet in group g still on their donor. */
  unmoved(g: number, subnet: SubnetNumber): number {
    return bySubnet(this.unmovedCount, subnet)[g] ?? 0;
  }

  /** Paths of the subnet in group g planned off their donor. */
  moved(g: number, subnet: SubnetNumber): number {
    return (bySubnet(this.pathCount, subnet)[g] ?? 0) - this.unmoved(g, subnet);
  }

  /** Movable paths of the subnet the donor has in all its groups. */
  movableOf(slot: number, subnet: SubnetNumber): number {
    let count = 0;
    for (let g = this.firstGroup[slot] ?? 0; g < (this.firstGroup[slot + 1] ?? 0); g++) {
      count += bySubnet(this.pathCount, subnet)[g] ?? 0;
    }
    return count;
  }

  /** Bookkeeping for a path of group g planned off its donor (+1) or back on it (-1). */
  count(g: number, subnet: SubnetNumber, delta: 1 | -1): void {
    const unmoved = bySubnet(this.unmovedCount, subnet);
    unmoved[g] = (unmoved[g] ?? 0) - delta;
    const slot = this.groupDonor[g] ?? 0;
    this.given[slot] = (this.given[slot] ?? 0) + delta;
  }
}

function bySubnet(counts: readonly [Int32Array, Int32Array], subnet: SubnetNumber): Int32Array {
  return subnet === 1 ? counts[0] : counts[1];
}
