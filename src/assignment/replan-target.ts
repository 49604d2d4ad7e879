import type { NodeInfo, PathAssignment } from "./assignment-model.js";
import { averageTarget, everyEligibleNodeKeepsDisk } from "./average-planner.js";
import { CandidateNodes } from "./candidate-nodes.js";
import { ClusterIndex, NO_NODE } from "./cluster-index.js";
import { AUTO_TARGET } from "./manual-planner.js";
import type { JobHeader } from "./job-model.js";

/** The planner rule a job's moves were chosen by, and so may be chosen again by. */
export type ReplanRule =
  /** Any eligible node but the drained one (drain-planner.ts). */
  | { readonly kind: "drain"; readonly drainNode: string }
  /** A node below the average, as the average planner (an auto job, or a manual one to "auto"). */
  | { readonly kind: "average" }
  /** The node a manual request named: nobody chose it on the user's behalf, so nothing replaces it. */
  | { readonly kind: "named"; readonly targetNode: string };

export type ReplanResult = { readonly node: string } | { readonly reason: string };

export function replanRuleOf(header: JobHeader): ReplanRule {
  if (header.kind === "drain") return { kind: "drain", drainNode: header.drainNode };
  if (header.kind === "auto" || header.manualTarget === AUTO_TARGET) return { kind: "average" };
  return { kind: "named", targetNode: header.manualTarget ?? "" };
}

/**
 * A new target for the path with `ip`, whose planned target can no longer take it, chosen as the
 * job's planner chose: among the eligible nodes with the path's subnet (for "average" only those
 * below the average, other than the path's holder; for "drain" never the drained node), the one
 * holding the fewest paths of its disk, then the fewest in total, then by name; so no node gets a
 * second path of a disk while another eligible node with the subnet has none. `paths` must count
 * the job's other unfinished moves on their targets. A reason (naming the rule) when no node
 * qualifies, or when the rule is "named".
 */
export function replanTarget(
  paths: readonly PathAssignment[],
  nodes: readonly NodeInfo[],
  ip: string,
  rule: ReplanRule,
): ReplanResult {
  if (rule.kind === "named") {
    return {
      reason: `the request named this node, and a manual move to a named node is not re-planned (move the path again to another node or "${AUTO_TARGET}")`,
    };
  }
  const index = new ClusterIndex(paths, nodes);
  const path = index.paths.findIndex((candidate) => candidate.ip === ip);
  if (path < 0) return { reason: "the path is no longer one of a running disk" };
  const disk = index.diskOf(path);
  const { subnet, diskName } = index.pathAt(path);

  if (rule.kind === "drain") {
    const target = new CandidateNodes(index, { never: index.rankOf(rule.drainNode) }).best(disk, subnet);
    if (target === NO_NODE) {
      return {
        reason: `no eligible node other than ${rule.drainNode} has an interface on iSCSI subnet ${subnet}`,
      };
    }
    return { node: index.nameOf(target) };
  }

  const average = averageTarget(index);
  if (average === undefined) return { reason: "no node is eligible (online, not cordoned)" };
  const holder = index.nodeOf(path);
  const receiver = new CandidateNodes(index, { below: average }).best(
    disk,
    subnet,
    holder === NO_NODE ? undefined : new Set([holder]),
  );
  if (receiver === NO_NODE) {
    return {
      reason: `no eligible node with an interface on iSCSI subnet ${subnet} serves fewer paths than the average (${average})`,
    };
  }
  if (index.countOf(receiver, disk) > 0 && !everyEligibleNodeKeepsDisk(index, disk, path, holder)) {
    return {
      reason:
        `every eligible node below the average (${average} paths) serves a path of disk ${diskName} already, ` +
        `while another eligible node with iSCSI subnet ${subnet} serves none`,
    };
  }
  return { node: index.nameOf(receiver) };
}
