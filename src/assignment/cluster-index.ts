import { invalidField } from "../errors/sanpath-error.js";
import {
  isEligible,
  nodeHasSubnet,
  type NodeCount,
  type NodeInfo,
  type PathAssignment,
  type Plan,
  type PlannedMove,
  type SubnetNumber,
} from "./assignment-model.js";

/** A node name that no path or node carries; the rank of a free path's node. */
export const NO_NODE = -1;

const SUBNET_BITS: Record<SubnetNumber, number> = { 1: 1, 2: 2 };

/**
 * The planners' working view of the cluster, indexed so that every question a planner asks per
 * step is O(1) or O(paths of one disk):
 * - nodes and disks get ranks in name / id order, the only tie-breakers the planners use, so the
 *   result does not depend on the order of the input;
 * - paths are ordered by disk rank, then path index, then IP; the paths of a disk are contiguous;
 * - per node the number of paths it serves; per disk the nodes holding its paths with their counts
 *   (a flat array slice per disk, as a disk has few paths);
 * - per disk and subnet how many eligible nodes with that subnet hold one of its paths, so "is
 *   there an eligible node without a path of this disk" is a subtraction.
 * Moves applied through movePath() update all of it and are recorded in order.
 */
export class ClusterIndex {
  /** In disk id, then path index, then IP order; a path's position here is its id for the planners. */
  readonly paths: readonly PathAssignment[];

  private readonly nodeNames: readonly string[];
  private readonly rankByNode: ReadonlyMap<string, number>;
  private readonly eligible: Uint8Array;
  /** Bit 1: subnet 1, bit 2: subnet 2. */
  private readonly subnetBits: Uint8Array;
  /** Paths served per node. */
  private readonly total: Int32Array;
  /** Eligible nodes with subnet 1, with subnet 2. */
  private readonly eligibleWithSubnet: [number, number];

  private readonly diskIds: readonly string[];
  /** Paths of disk d are paths[diskStart[d] .. diskStart[d + 1]). */
  private readonly diskStart: Int32Array;
  private readonly pathDisk: Int32Array;
  private readonly pathNode: Int32Array;
  /** Per path: 1 or 2. */
  private readonly pathSubnet: Uint8Array;
  /** Per disk, holderNode/holderCount[diskStart[d] .. + holderLength[d]) are its nodes and their counts. */
  private readonly holderNode: Int32Array;
  private readonly holderCount: Int32Array;
  private readonly holderLength: Int32Array;
  /** Per disk and subnet (d * 2 + subnet - 1): eligible nodes with the subnet serving a path of it. */
  private readonly eligibleHolders: Int32Array;

  private readonly moves: PlannedMove[] = [];
  private readonly beforeCounts: readonly NodeCount[];

  constructor(paths: readonly PathAssignment[], nodes: readonly NodeInfo[]) {
    const nodeByName = new Map<string, NodeInfo>();
    for (const node of nodes) {
      if (node.name === "") throw invalidField("nodes", "a node name must not be empty");
      if (nodeByName.has(node.name)) {
        throw invalidField("nodes", `node names must be unique; "${node.name}" appears twice`);
      }
      nodeByName.set(node.name, node);
    }

    // One pass over the input: provisional ids for node names and disk ids, in order of first
    // sight. Consecutive paths often share a disk or a node, so the last ones are remembered to
    // spare map lookups.
    const provisionalIds = new Map<string, number>();
    const provisionalNames: string[] = [];
    for (const name of nodeByName.keys()) {
      provisionalIds.set(name, provisionalNames.length);
      provisionalNames.push(name);
    }
    const provisionalNode = new Int32Array(paths.length);
    const provisionalDisk = new Int32Array(paths.length);
    const provisionalDiskIds = new Map<string, number>();
    const diskIdsSeen: string[] = [];
    let lastDiskId: string | undefined;
    let lastDisk = 0;
    let lastNodeName: string | undefined;
    let lastNode = NO_NODE;
    for (let position = 0; position < paths.length; position++) {
      const path = paths[position] as PathAssignment;
      if (path.node === "") {
        provisionalNode[position] = NO_NODE;
      } else {
        if (path.node !== lastNodeName) {
          lastNodeName = path.node;
          let id = provisionalIds.get(path.node);
          if (id === undefined) {
            id = provisionalNames.length;
            provisionalIds.set(path.node, id);
            provisionalNames.push(path.node);
          }
          lastNode = id;
        }
        provisionalNode[position] = lastNode;
      }
      if (path.diskId !== lastDiskId) {
        lastDiskId = path.diskId;
        let id = provisionalDiskIds.get(path.diskId);
        if (id === undefined) {
          id = diskIdsSeen.length;
          provisionalDiskIds.set(path.diskId, id);
          diskIdsSeen.push(path.diskId);
        }
        lastDisk = id;
      }
      provisionalDisk[position] = lastDisk;
    }

    this.nodeNames = provisionalNames.slice().sort();
    const nodeCount = this.nodeNames.length;
    this.rankByNode = new Map(this.nodeNames.map((name, rank) => [name, rank]));
    const rankOfProvisional = provisionalNames.map((name) => this.rankOf(name));
    this.eligible = new Uint8Array(nodeCount);
    this.subnetBits = new Uint8Array(nodeCount);
    this.total = new Int32Array(nodeCount);
    this.eligibleWithSubnet = [0, 0];
    this.nodeNames.forEach((name, rank) => {
      const node = nodeByName.get(name);
      if (node === undefined) return;
      let bits = 0;
      if (nodeHasSubnet(node, 1)) bits |= SUBNET_BITS[1];
      if (nodeHasSubnet(node, 2)) bits |= SUBNET_BITS[2];
      this.subnetBits[rank] = bits;
      if (!isEligible(node)) return;
      this.eligible[rank] = 1;
      if (bits & SUBNET_BITS[1]) this.eligibleWithSubnet[0]++;
      if (bits & SUBNET_BITS[2]) this.eligibleWithSubnet[1]++;
    });

    this.diskIds = diskIdsSeen.slice().sort();
    const diskCount = this.diskIds.length;
    const rankOfProvisionalDisk = new Int32Array(diskCount);
    this.diskIds.forEach((diskId, disk) => {
      rankOfProvisionalDisk[provisionalDiskIds.get(diskId) ?? 0] = disk;
    });

    // Input positions bucketed by disk rank (counting sort), then each disk's by path order.
    this.diskStart = new Int32Array(diskCount + 1);
    for (let position = 0; position < paths.length; position++) {
      const disk = rankOfProvisionalDisk[provisionalDisk[position] ?? 0] ?? 0;
      provisionalDisk[position] = disk;
      this.diskStart[disk + 1] = (this.diskStart[disk + 1] ?? 0) + 1;
    }
    for (let disk = 0; disk < diskCount; disk++) {
      this.diskStart[disk + 1] = (this.diskStart[disk + 1] ?? 0) + (this.diskStart[disk] ?? 0);
    }
    const fill = this.diskStart.slice(0, diskCount);
    const positions = new Int32Array(paths.length);
    for (let position = 0; position < paths.length; position++) {
      const disk = provisionalDisk[position] ?? 0;
      const at = fill[disk] ?? 0;
      positions[at] = position;
      fill[disk] = at + 1;
    }

    const ordered: PathAssignment[] = new Array<PathAssignment>(paths.length);
    this.pathDisk = new Int32Array(paths.length);
    this.pathNode = new Int32Array(paths.length);
    this.pathSubnet = new Uint8Array(paths.length);
    this.holderNode = new Int32Array(paths.length);
    this.holderCount = new Int32Array(paths.length);
    this.holderLength = new Int32Array(diskCount);
    this.eligibleHolders = new Int32Array(diskCount * 2);
    let next = 0;
    for (let disk = 0; disk < diskCount; disk++) {
      const end = this.diskStart[disk + 1] ?? 0;
      sortByPathOrder(positions, next, end, paths);
      for (; next < end; next++) {
        const position = positions[next] ?? 0;
        const provisional = provisionalNode[position] ?? NO_NODE;
        const node = provisional === NO_NODE ? NO_NODE : (rankOfProvisional[provisional] ?? NO_NODE);
        ordered[next] = paths[position] as PathAssignment;
        this.pathDisk[next] = disk;
        this.pathNode[next] = node;
        this.pathSubnet[next] = (ordered[next] as PathAssignment).subnet;
        if (node !== NO_NODE) {
          this.total[node] = (this.total[node] ?? 0) + 1;
          this.addHolding(node, disk);
        }
      }
    }
    this.paths = ordered;
    this.beforeCounts = this.counts();
  }

  get nodeCount(): number {
    return this.nodeNames.length;
  }

  get diskCount(): number {
    return this.diskIds.length;
  }

  /** The rank of a node name, or NO_NODE when no node or path carries it. */
  rankOf(name: string): number {
    return this.rankByNode.get(name) ?? NO_NODE;
  }

  nameOf(node: number): string {
    return this.nodeNames[node] ?? "";
  }

  diskOf(path: number): number {
    return this.pathDisk[path] ?? 0;
  }

  nodeOf(path: number): number {
    return this.pathNode[path] ?? NO_NODE;
  }

  subnetOf(path: number): SubnetNumber {
    return this.pathSubnet[path] === 2 ? 2 : 1;
  }

  pathAt(path: number): PathAssignment {
    const found = this.paths[path];
    if (found === undefined) throw new RangeError(`no path at position ${path}`);
    return found;
  }

  totalOf(node: number): number {
    return this.total[node] ?? 0;
  }

  isEligible(node: number): boolean {
    return this.eligible[node] === 1;
  }

  hasSubnet(node: number, subnet: SubnetNumber): boolean {
    return ((this.subnetBits[node] ?? 0) & SUBNET_BITS[subnet]) !== 0;
  }

  /** Paths of the disk the node serves. */
  countOf(node: number, disk: number): number {
    const start = this.diskStart[disk] ?? 0;
    const end = start + (this.holderLength[disk] ?? 0);
    for (let h = start; h < end; h++) {
      if (this.holderNode[h] === node) return this.holderCount[h] ?? 0;
    }
    return 0;
  }

  /** The disk's spread: the most paths of it that one eligible node serves (0 when none serves one). */
  spreadOf(disk: number): number {
    const start = this.diskStart[disk] ?? 0;
    const end = start + (this.holderLength[disk] ?? 0);
    let most = 0;
    for (let h = start; h < end; h++) {
      if (this.isEligible(this.holderNode[h] ?? NO_NODE)) most = Math.max(most, this.holderCount[h] ?? 0);
    }
    return most;
  }

  /** How many nodes serve paths of the disk; holderOf(disk, 0 .. that - 1) are they, in no order. */
  holderCountOf(disk: number): number {
    return this.holderLength[disk] ?? 0;
  }

  holderOf(disk: number, at: number): number {
    return this.holderNode[(this.diskStart[disk] ?? 0) + at] ?? NO_NODE;
  }

  /** Eligible nodes with the subnet that serve none of the disk's paths. */
  eligibleNodesWithout(disk: number, subnet: SubnetNumber): number {
    const eligible = subnet === 1 ? this.eligibleWithSubnet[0] : this.eligibleWithSubnet[1];
    return eligible - (this.eligibleHolders[disk * 2 + subnet - 1] ?? 0);
  }

  /** Moves the path to the node, updating every index, and records the move. */
  movePath(path: number, target: number): void {
    const source = this.nodeOf(path);
    this.setNode(path, target);
    this.recordMove(path, source);
  }

  /**
   * Records the move of a path from `source` to the node it is on now (given to it by setNode(), by
   * a planner that settles its moves before it records them).
   */
  recordMove(path: number, source: number): void {
    const target = this.nodeOf(path);
    const moved = this.pathAt(path);
    this.moves.push({
      diskId: moved.diskId,
      diskName: moved.diskName,
      index: moved.index,
      ip: moved.ip,
      sourceNode: source === NO_NODE ? "" : this.nameOf(source),
      targetNode: this.nameOf(target),
    });
  }

  /** Gives the path to the node, updating every index, without recording a move. */
  setNode(path: number, target: number): void {
    const source = this.nodeOf(path);
    const disk = this.diskOf(path);
    if (source !== NO_NODE) {
      this.total[source] = this.totalOf(source) - 1;
      this.removeHolding(source, disk);
    }
    this.total[target] = this.totalOf(target) + 1;
    this.addHolding(target, disk);
    this.pathNode[path] = target;
  }

  /** Paths served per node now, in name order. */
  counts(): NodeCount[] {
    return this.nodeNames.map((node, rank) => ({ node, paths: this.totalOf(rank) }));
  }

  /** The moves recorded so far with the counts before the first and after the last (not copies). */
  plan(): Plan {
    return { moves: this.moves, before: this.beforeCounts, after: this.counts() };
  }

  private addHolding(node: number, disk: number): void {
    const start = this.diskStart[disk] ?? 0;
    const length = this.holderLength[disk] ?? 0;
    for (let h = start; h < start + length; h++) {
      if (this.holderNode[h] === node) {
        this.holderCount[h] = (this.holderCount[h] ?? 0) + 1;
        return;
      }
    }
    this.holderNode[start + length] = node;
    this.holderCount[start + length] = 1;
    this.holderLength[disk] = length + 1;
    this.countEligibleHolder(node, disk, 1);
  }

  private removeHolding(node: number, disk: number): void {
    const start = this.diskStart[disk] ?? 0;
    const last = start + (this.holderLength[disk] ?? 0) - 1;
    for (let h = start; h <= last; h++) {
      if (this.holderNode[h] !== node) continue;
      const remaining = (this.holderCount[h] ?? 0) - 1;
      if (remaining > 0) {
        this.holderCount[h] = remaining;
        return;
      }
      this.holderNode[h] = this.holderNode[last] ?? NO_NODE;
      this.holderCount[h] = this.holderCount[last] ?? 0;
      this.holderLength[disk] = last - start;
      this.countEligibleHolder(node, disk, -1);
      return;
    }
  }

  private countEligibleHolder(node: number, disk: number, delta: 1 | -1): void {
    if (!this.isEligible(node)) return;
    const bits = this.subnetBits[node] ?? 0;
    if (bits & SUBNET_BITS[1]) this.eligibleHolders[disk * 2] = (this.eligibleHolders[disk * 2] ?? 0) + delta;
    if (bits & SUBNET_BITS[2]) {
      this.eligibleHolders[disk * 2 + 1] = (this.eligibleHolders[disk * 2 + 1] ?? 0) + delta;
    }
  }
}

/**
 * Sorts positions[from .. to) by the path index, then IP of the paths they point at: an insertion
 * sort, as a disk has a handful of paths, mostly in order already.
 */
function sortByPathOrder(
  positions: Int32Array,
  from: number,
  to: number,
  paths: readonly PathAssignment[],
): void {
  for (let i = from + 1; i < to; i++) {
    const moving = positions[i] ?? 0;
    const path = paths[moving] as PathAssignment;
    let j = i - 1;
    for (; j >= from; j--) {
      const other = paths[positions[j] ?? 0] as PathAssignment;
      if (other.index < path.index || (other.index === path.index && other.ip <= path.ip)) break;
      positions[j + 1] = positions[j] ?? 0;
    }
    positions[j + 1] = moving;
  }
}
