import type { NodeInfo, PathAssignment, Plan } from "./assignment-model.js";
import { CandidateNodes } from "./candidate-nodes.js";
import { ClusterIndex, NO_NODE } from "./cluster-index.js";
import { NumberMinHeap } from "../util/number-heap.js";
import { resolveSelectedPaths } from "./path-selection.js";

export interface AveragePlanOptions {
  /**
   * Only the paths with these IPs may move (manual reassignment to "auto"); the target and the
   * counts still consider every path. Unknown IPs fail with PATH_NOT_FOUND (field `ips[i]`).
   */
  readonly selectedIps?: readonly string[];
}

/** A node above the target and the order in which it gives its disks away. */
interface Donor {
  readonly node: number;
  /** Its groups are firstGroup .. firstGroup + groupCount - 1 in the Groups arrays, in disk order. */
  readonly firstGroup: number;
  readonly groupCount: number;
  /** Groups by most paths of the disk on the node, then disk id. */
  readonly order: NumberMinHeap;
}

/**
 * The movable paths of one disk on one donor node are a group: movable[start .. end), in path
 * order. Kept in flat arrays, as a crowded cluster has one group per path.
 */
interface Groups {
  readonly movable: Int32Array;
  readonly disk: Int32Array;
  readonly start: Int32Array;
  readonly end: Int32Array;
  readonly remaining: Int32Array;
}

/**
 * PetaSAN's "average" planner (plugin id 1). Eligible nodes are online and not cordoned; the target
 * per node is ceil(paths served by eligible nodes / eligible nodes). While a node is above the
 * target, the most loaded one (ties: node name) gives a path of the disk it serves most paths of
 * (ties: disk id; within the disk, path index) to the node below the target that has the path's
 * subnet and holds the fewest paths of that disk (ties: fewest paths in total, then node name).
 * When that disk cannot move, its next disk is tried; a node none of whose paths can move stays
 * above the target.
 *
 * A move never puts a second path of a disk on a node while another eligible node with the subnet
 * would hold none of the disk's paths. Paths on cordoned, offline or unknown nodes and free paths
 * neither count nor move (drain and placement handle them). A balanced cluster yields no move.
 */
export function planAverage(
  paths: readonly PathAssignment[],
  nodes: readonly NodeInfo[],
  options: AveragePlanOptions = {},
): Plan {
  const index = new ClusterIndex(paths, nodes);
  const selected =
    options.selectedIps === undefined
      ? undefined
      : new Set(resolveSelectedPaths(index, options.selectedIps).map((selection) => selection.path));

  const target = averageTarget(index);
  if (target === undefined) return index.plan();

  const { donors, groups } = collectDonors(index, target, selected);
  const receivers = new CandidateNodes(index, { below: target });
  const donorOrder = new NumberMinHeap(
    donors.map((donor, slot) => donorKey(index, donor, slot, donors.length)),
  );
  const scratch: number[] = [];
  for (let key = donorOrder.pop(); key !== undefined; key = donorOrder.pop()) {
    const slot = key % donors.length;
    const donor = donors[slot];
    if (donor === undefined) continue;
    if (!giveOnePath(index, receivers, donor, groups, scratch)) continue;
    if (index.totalOf(donor.node) > target) donorOrder.push(donorKey(index, donor, slot, donors.length));
  }
  return index.plan();
}

/** Paths per node the average planner aims at: ceil(paths served by eligible nodes / eligible nodes). */
export function averageTarget(index: ClusterIndex): number | undefined {
  let eligibleNodes = 0;
  let servedPaths = 0;
  for (let node = 0; node < index.nodeCount; node++) {
    if (!index.isEligible(node)) continue;
    eligibleNodes++;
    servedPaths += index.totalOf(node);
  }
  return eligibleNodes === 0 ? undefined : Math.ceil(servedPaths / eligibleNodes);
}

function collectDonors(
  index: ClusterIndex,
  target: number,
  selected: ReadonlySet<number> | undefined,
): { donors: Donor[]; groups: Groups } {
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
  for (let node = 0; node < index.nodeCount; node++) {
    offsets[node + 1] = (offsets[node + 1] ?? 0) + (offsets[node] ?? 0);
  }
  const fill = offsets.slice(0, index.nodeCount);
  const movable = new Int32Array(movableCount);
  for (let path = 0; path < index.paths.length; path++) {
    if (!isMovable(path)) continue;
    const node = index.nodeOf(path);
    const at = fill[node] ?? 0;
    movable[at] = path;
    fill[node] = at + 1;
  }

  const groups: Groups = {
    movable,
    disk: new Int32Array(movableCount),
    start: new Int32Array(movableCount),
    end: new Int32Array(movableCount),
    remaining: new Int32Array(movableCount),
  };
  const donors: Donor[] = [];
  let groupCount = 0;
  for (let node = 0; node < index.nodeCount; node++) {
    const from = offsets[node] ?? 0;
    const to = offsets[node + 1] ?? 0;
    if (from === to) continue;
    const firstGroup = groupCount;
    for (let at = from; at < to; at++) {
      const disk = index.diskOf(movable[at] ?? 0);
      const last = groupCount - 1;
      if (groupCount > firstGroup && groups.disk[last] === disk) {
        groups.end[last] = at + 1;
        groups.remaining[last] = (groups.remaining[last] ?? 0) + 1;
        continue;
      }
      groups.disk[groupCount] = disk;
      groups.start[groupCount] = at;
      groups.end[groupCount] = at + 1;
      groups.remaining[groupCount] = 1;
      groupCount++;
    }
    const donor = { node, firstGroup, groupCount: groupCount - firstGroup, order: new NumberMinHeap() };
    for (let g = firstGroup; g < groupCount; g++) donor.order.push(groupKey(index, donor, groups, g));
    donors.push(donor);
  }
  return { donors, groups };
}

/** Most paths first, then lowest node rank; `slot` is the donor's place in the donors array. */
function donorKey(index: ClusterIndex, donor: Donor, slot: number, slots: number): number {
  return (index.paths.length - index.totalOf(donor.node)) * slots + slot;
}

/** Most paths of the disk on the node first, then lowest disk rank (groups are in disk order). */
function groupKey(index: ClusterIndex, donor: Donor, groups: Groups, g: number): number {
  const onNode = index.countOf(donor.node, groups.disk[g] ?? 0);
  return (index.paths.length - onNode) * donor.groupCount + (g - donor.firstGroup);
}

/** Moves one path off the donor; false when none of its paths can move anywhere. */
function giveOnePath(
  index: ClusterIndex,
  receivers: CandidateNodes,
  donor: Donor,
  groups: Groups,
  skipped: number[],
): boolean {
  if (skipped.length > 0) skipped.length = 0;
  let moved = false;
  for (let key = donor.order.pop(); key !== undefined; key = donor.order.pop()) {
    const g = donor.firstGroup + (key % donor.groupCount);
    if (groups.remaining[g] === 0 || key !== groupKey(index, donor, groups, g)) continue;
    if (moveFromGroup(index, receivers, donor.node, groups, g)) {
      if (groups.remaining[g] !== 0) donor.order.push(groupKey(index, donor, groups, g));
      moved = true;
      break;
    }
    skipped.push(key);
  }
  for (const key of skipped) donor.order.push(key);
  return moved;
}

function moveFromGroup(
  index: ClusterIndex,
  receivers: CandidateNodes,
  source: number,
  groups: Groups,
  g: number,
): boolean {
  const disk = groups.disk[g] ?? 0;
  const end = groups.end[g] ?? 0;
  let triedSubnets = 0;
  for (let at = groups.start[g] ?? 0; at < end; at++) {
    const path = groups.movable[at] ?? 0;
    if (index.nodeOf(path) !== source) continue;
    const subnet = index.subnetOf(path);
    if (triedSubnets & subnet) continue;
    triedSubnets |= subnet;
    const receiver = receivers.best(disk, subnet);
    if (receiver === NO_NODE) continue;
    if (index.countOf(receiver, disk) > 0 && !everyEligibleNodeKeepsDisk(index, disk, path, source)) continue;
    index.movePath(path, receiver);
    receivers.received(receiver);
    groups.remaining[g] = (groups.remaining[g] ?? 0) - 1;
    return true;
  }
  return false;
}

/**
 * Whether, once the path left its source, every eligible node with the path's subnet would still
 * serve a path of the disk: the only case in which a node may be given a second path of it.
 */
export function everyEligibleNodeKeepsDisk(
  index: ClusterIndex,
  disk: number,
  path: number,
  source: number,
): boolean {
  const subnet = index.subnetOf(path);
  const sourceLosesDisk =
    index.isEligible(source) && index.hasSubnet(source, subnet) && index.countOf(source, disk) === 1;
  return index.eligibleNodesWithout(disk, subnet) + (sourceLosesDisk ? 1 : 0) === 0;
}
