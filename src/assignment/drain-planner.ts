import { SanpathError } from "../errors/sanpath-error.js";
import type { NodeInfo, PathAssignment, Plan, UnplacedPath } from "./assignment-model.js";
import { CandidateNodes } from "./candidate-nodes.js";
import { ClusterIndex, NO_NODE } from "./cluster-index.js";

export interface DrainPlan extends Plan {
  /** Paths of the drained node that no other eligible node can take (no node with their subnet). */
  readonly unplaced: readonly UnplacedPath[];
}

/**
 * Moves every path off `drainNode`, whatever its state (cordoned, offline or eligible). Paths go
 * in disk id, then path index order; each to the eligible node other than the drained one that has
 * the path's subnet and holds the fewest paths of its disk, then the fewest paths in total, then
 * by node name, so no node gets a second path of a disk while another eligible node has none.
 * Fails with NODE_NOT_FOUND (field "node") when the node is not among `nodes`.
 */
export function planDrain(
  paths: readonly PathAssignment[],
  nodes: readonly NodeInfo[],
  drainNode: string,
): DrainPlan {
  if (!nodes.some((node) => node.name === drainNode)) {
    throw new SanpathError("not_found", `node: no node is named "${drainNode}"`, {
      reason: "NODE_NOT_FOUND",
      field: "node",
    });
  }
  const index = new ClusterIndex(paths, nodes);
  const drained = index.rankOf(drainNode);
  const candidates = new CandidateNodes(index, { never: drained });
  const unplaced: UnplacedPath[] = [];
  for (let path = 0; path < index.paths.length; path++) {
    if (index.nodeOf(path) !== drained) continue;
    const subnet = index.subnetOf(path);
    const target = candidates.best(index.diskOf(path), subnet);
    if (target === NO_NODE) {
      const { diskId, diskName, index: pathIndex, ip } = index.pathAt(path);
      unplaced.push({
        diskId,
        diskName,
        index: pathIndex,
        ip,
        subnet,
        reason: `no eligible node other than ${drainNode} has an interface on iSCSI subnet ${subnet}`,
      });
      continue;
    }
    index.movePath(path, target);
    candidates.received(target);
  }
  return { ...index.plan(), unplaced };
}
