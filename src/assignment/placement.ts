import type { NodeInfo, PathAssignment, SubnetNumber, UnplacedPath } from "./assignment-model.js";
import { CandidateNodes } from "./candidate-nodes.js";
import { ClusterIndex, NO_NODE } from "./cluster-index.js";

export interface PlacementOptions {
  /** Per path IP, nodes not to choose (e.g. they just failed to acquire it). Unknown names are ignored. */
  readonly exclude?: ReadonlyMap<string, Iterable<string>>;
}

/** A free path and the node chosen to serve it. */
export interface PathPlacement {
  readonly diskId: string;
  readonly diskName: string;
  readonly index: number;
  readonly ip: string;
  readonly subnet: SubnetNumber;
  readonly node: string;
}

export interface PlacementResult {
  /** In disk id, then path index order. */
  readonly placements: readonly PathPlacement[];
  readonly unplaced: readonly UnplacedPath[];
}

/**
 * Chooses a node for every free path (node ""), for new and started disks and for the paths of a
 * dead node. Paths go in disk id, then path index order; each to the eligible node (online, not
 * cordoned, with the path's subnet, not excluded for it) holding the fewest paths of its disk,
 * then the fewest paths in total (served paths and the placements made so far), then by node
 * name. So no node gets a second path of a disk while another eligible node has none.
 */
export function placeFreePaths(
  paths: readonly PathAssignment[],
  nodes: readonly NodeInfo[],
  options: PlacementOptions = {},
): PlacementResult {
  const index = new ClusterIndex(paths, nodes);
  const candidates = new CandidateNodes(index);
  const placements: PathPlacement[] = [];
  const unplaced: UnplacedPath[] = [];
  for (let path = 0; path < index.paths.length; path++) {
    if (index.nodeOf(path) !== NO_NODE) continue;
    const free = index.pathAt(path);
    const excludedNames = options.exclude?.get(free.ip);
    const excluded = excludedNames === undefined ? undefined : ranksOf(index, excludedNames);
    const target = candidates.best(index.diskOf(path), free.subnet, excluded);
    if (target === NO_NODE) {
      const { diskId, diskName, index: pathIndex, ip, subnet } = free;
      unplaced.push({
        diskId,
        diskName,
        index: pathIndex,
        ip,
        subnet,
        reason: whyUnplaced(index, subnet, excluded),
      });
      continue;
    }
    index.setNode(path, target);
    candidates.received(target);
    placements.push({
      diskId: free.diskId,
      diskName: free.diskName,
      index: free.index,
      ip: free.ip,
      subnet: free.subnet,
      node: index.nameOf(target),
    });
  }
  return { placements, unplaced };
}

function ranksOf(index: ClusterIndex, names: Iterable<string>): Set<number> {
  const ranks = new Set<number>();
  for (const name of names) {
    const rank = index.rankOf(name);
    if (rank !== NO_NODE) ranks.add(rank);
  }
  return ranks;
}

function whyUnplaced(
  index: ClusterIndex,
  subnet: SubnetNumber,
  excluded: ReadonlySet<number> | undefined,
): string {
  const withSubnet: string[] = [];
  for (let node = 0; node < index.nodeCount; node++) {
    if (index.isEligible(node) && index.hasSubnet(node, subnet)) withSubnet.push(index.nameOf(node));
  }
  if (withSubnet.length === 0) {
    return `no eligible node (online, not cordoned) has an interface on iSCSI subnet ${subnet}`;
  }
  const excludedNames = [...(excluded ?? [])].map((node) => index.nameOf(node)).sort();
  return `every eligible node with an interface on iSCSI subnet ${subnet} is excluded for this path (${excludedNames.join(", ")})`;
}
