import type { NodeInfo, PathAssignment, Plan } from "./assignment-model.js";
import { CandidateNodes } from "./candidate-nodes.js";
import { ClusterIndex, NO_NODE } from "./cluster-index.js";
import { NumberMinHeap } from "./number-heap.js";
import { resolveSelectedPaths } from "./path-selection.js";

export interface AveragePlanOptions {
  /**
   * Only the paths with these IPs may move (manual reassignment to "auto"); the target and the
   * counts still consider every path. Unknown IPs fail with PATH_NOT_FOUND (field `ips[i]`).
   */
  readonly selectedIps?: readonly string[];
}

/** The movable paths of one disk on one donor node, in path order. */
interface DiskGroup {
  readonly disk: number;
  readonly paths: number[];
}

/** A node above the target and the order in which it gives its disks away. */
interface Donor {
  readonly node: number;
  readonly groups: readonly DiskGroup[];
  /** Groups by most paths of the disk on the node, then disk id. */
  readonly order: NumberMinHeap;
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

  let eligibleNodes = 0;
  let servedPaths = 0;
  for (let node = 0; node < index.nodeCount; node++) {
    if (!index.isEligible(node)) continue;
    eligibleNodes++;
    servedPaths += index.totalOf(node);
  }
  if (eligibleNodes === 0) return index.plan();
  const target = Math.ceil(servedPaths / eligibleNodes);

  const donors = collectDonors(index, target, selected);
  const receivers = new CandidateNodes(index, { below: target });
  const donorOrder = new NumberMinHeap(donors.map((donor, d) => donorKey(index, donor, d, donors.length)));
  for (let key = donorOrder.pop(); key !== undefined; key = donorOrder.pop()) {
    const slot = key % donors.length;
    const donor = donors[slot];
    if (donor === undefined) continue;
    if (!giveOnePath(index, receivers, donor)) continue;
    if (index.totalOf(donor.node) > target) donorOrder.push(donorKey(index, donor, slot, donors.length));
  }
  return index.plan();
}

function collectDonors(
  index: ClusterIndex,
  target: number,
  selected: ReadonlySet<number> | undefined,
): Donor[] {
  const groupsByNode = new Map<number, DiskGroup[]>();
  for (let path = 0; path < index.paths.length; path++) {
    const node = index.nodeOf(path);
    if (node === NO_NODE || !index.isEligible(node) || index.totalOf(node) <= target) continue;
    if (selected !== undefined && !selected.has(path)) continue;
    const disk = index.diskOf(path);
    let groups = groupsByNode.get(node);
    if (groups === undefined) {
      groups = [];
      groupsByNode.set(node, groups);
    }
    const last = groups.at(-1);
    if (last?.disk === disk) last.paths.push(path);
    else groups.push({ disk, paths: [path] });
  }
  const donors: Donor[] = [];
  for (const [node, groups] of [...groupsByNode].sort((a, b) => a[0] - b[0])) {
    const keys = groups.map((group, g) => groupKey(index, node, group, g, groups.length));
    donors.push({ node, groups, order: new NumberMinHeap(keys) });
  }
  return donors;
}

/** Most paths first, then lowest node rank; `slot` is the donor's place in the donors array. */
function donorKey(index: ClusterIndex, donor: Donor, slot: number, slots: number): number {
  return (index.paths.length - index.totalOf(donor.node)) * slots + slot;
}

/** Most paths of the disk on the node first, then lowest disk rank (groups are in disk order). */
function groupKey(index: ClusterIndex, node: number, group: DiskGroup, g: number, groups: number): number {
  return (index.paths.length - index.countOf(node, group.disk)) * groups + g;
}

/** Moves one path off the donor; false when none of its paths can move anywhere. */
function giveOnePath(index: ClusterIndex, receivers: CandidateNodes, donor: Donor): boolean {
  const groupCount = donor.groups.length;
  const skipped: number[] = [];
  let moved = false;
  for (let key = donor.order.pop(); key !== undefined; key = donor.order.pop()) {
    const g = key % groupCount;
    const group = donor.groups[g];
    if (group === undefined || group.paths.length === 0) continue;
    if (key !== groupKey(index, donor.node, group, g, groupCount)) continue;
    if (moveFromGroup(index, receivers, donor.node, group)) {
      if (group.paths.length > 0) donor.order.push(groupKey(index, donor.node, group, g, groupCount));
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
  group: DiskGroup,
): boolean {
  let triedSubnets = 0;
  for (let i = 0; i < group.paths.length; i++) {
    const path = group.paths[i] ?? 0;
    const subnet = index.subnetOf(path);
    if (triedSubnets & subnet) continue;
    triedSubnets |= subnet;
    const receiver = receivers.best(group.disk, subnet);
    if (receiver === NO_NODE) continue;
    if (
      index.countOf(receiver, group.disk) > 0 &&
      !everyEligibleNodeKeepsDisk(index, group.disk, path, source)
    ) {
      continue;
    }
    group.paths.splice(i, 1);
    index.movePath(path, receiver);
    receivers.received(receiver);
    return true;
  }
  return false;
}

/**
 * Whether, once the path left its source, every eligible node with the path's subnet would still
 * serve a path of the disk: the only case in which a node may be given a second path of it.
 */
function everyEligibleNodeKeepsDisk(
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
