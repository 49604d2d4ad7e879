import { SanpathError } from "../errors/sanpath-error.js";
import {
  isEligible,
  nodeHasSubnet,
  type NodeInfo,
  type PathAssignment,
  type Plan,
} from "./assignment-model.js";
import { planAverage } from "./average-planner.js";
import { ClusterIndex } from "./cluster-index.js";
import { resolveSelectedPaths } from "./path-selection.js";

/** The target of a manual reassignment that lets the average planner place the selection. */
export const AUTO_TARGET = "auto";

export interface ManualReassignmentRequest {
  /** IPs of the paths to move. */
  readonly ips: readonly string[];
  /** A node name, or AUTO_TARGET. */
  readonly targetNode: string;
}

/**
 * Manual reassignment as PetaSAN's: the selected paths go to the named node, or with "auto" the
 * average planner moves only them (counts still consider every path).
 */
export function planManual(
  paths: readonly PathAssignment[],
  nodes: readonly NodeInfo[],
  request: ManualReassignmentRequest,
): Plan {
  requireFields(request);
  if (request.targetNode === AUTO_TARGET) return planAverage(paths, nodes, { selectedIps: request.ips });
  return planMoveToNode(paths, nodes, request);
}

/**
 * The selected paths to the named node. The node must exist (NODE_NOT_FOUND), be online
 * (NODE_NOT_FOUND: an offline node is not among the nodes that can serve), not be cordoned
 * (NODE_CORDONED) and have every moving path's subnet (WRONG_SUBNET); all with field
 * "target_node". Unknown IPs fail with PATH_NOT_FOUND (field `ips[i]`). A path already on the node
 * does not move. The moves must not leave the node with two paths of a disk while another eligible
 * node with the subnet has none of them (WRONG_DATA, field `ips[i]`).
 */
export function planMoveToNode(
  paths: readonly PathAssignment[],
  nodes: readonly NodeInfo[],
  request: ManualReassignmentRequest,
): Plan {
  requireFields(request);
  const { targetNode } = request;
  const node = nodes.find((candidate) => candidate.name === targetNode);
  if (node === undefined) {
    throw new SanpathError("not_found", `target_node: no node is named "${targetNode}"`, {
      reason: "NODE_NOT_FOUND",
      field: "target_node",
    });
  }
  if (!isEligible(node)) {
    const [kind, reason, state] = !node.online
      ? (["not_found", "NODE_NOT_FOUND", "offline (it holds no live session)"] as const)
      : node.cordoned
        ? (["failed_precondition", "NODE_CORDONED", "cordoned and takes no paths"] as const)
        : ([
            "failed_precondition",
            "NODE_DEGRADED",
            "degraded (its data path failed) and takes no paths until it recovers",
          ] as const);
    throw new SanpathError(kind, `target_node: node ${targetNode} is ${state}`, {
      reason,
      field: "target_node",
    });
  }

  const index = new ClusterIndex(paths, nodes);
  const target = index.rankOf(targetNode);
  const moving = resolveSelectedPaths(index, request.ips).filter(({ path }) => index.nodeOf(path) !== target);
  for (const { path, field } of moving) {
    const { ip, subnet } = index.pathAt(path);
    if (!nodeHasSubnet(node, subnet)) {
      throw new SanpathError(
        "invalid_argument",
        `target_node: node ${targetNode} has no interface on iSCSI subnet ${subnet}, which ${field} (${ip}) uses`,
        { reason: "WRONG_SUBNET", field: "target_node" },
      );
    }
  }
  for (const { path } of moving) index.movePath(path, target);

  for (const { path, field } of moving) {
    const disk = index.diskOf(path);
    const { ip, subnet, diskName } = index.pathAt(path);
    const onTarget = index.countOf(target, disk);
    if (onTarget < 2 || index.eligibleNodesWithout(disk, subnet) === 0) continue;
    const idle = firstEligibleNodeWithout(index, disk, subnet);
    throw new SanpathError(
      "invalid_argument",
      `${field}: moving ${ip} to ${targetNode} would leave ${onTarget} paths of disk ${diskName} on it while ` +
        `node ${idle} serves none of them; choose a node without a path of the disk, or "auto"`,
      { reason: "WRONG_DATA", field },
    );
  }
  return index.plan();
}

function requireFields(request: ManualReassignmentRequest): void {
  if (request.ips.length === 0) {
    throw new SanpathError("invalid_argument", "ips: select at least one path IP", {
      reason: "DATA_MISSING",
      field: "ips",
    });
  }
  if (request.targetNode === "") {
    throw new SanpathError("invalid_argument", `target_node: name a node or "${AUTO_TARGET}"`, {
      reason: "DATA_MISSING",
      field: "target_node",
    });
  }
}

function firstEligibleNodeWithout(index: ClusterIndex, disk: number, subnet: 1 | 2): string {
  for (let node = 0; node < index.nodeCount; node++) {
    if (index.isEligible(node) && index.hasSubnet(node, subnet) && index.countOf(node, disk) === 0) {
      return index.nameOf(node);
    }
  }
  return "";
}
