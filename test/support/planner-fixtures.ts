/**
 * Small clusters for the planner tests (assignment planners, placement, the coordinator's
 * placement view): nodes, paths and a one-line-per-move rendering of plans.
 *
 * Path `index` of disk `n` has disk id "0000n", name "disk-n" and IP 198.51.100.(10n + index) on
 * subnet 1 or 203.0.113.(10n + index) on subnet 2.
 */
import type { NodeInfo, PathAssignment, Plan, SubnetNumber } from "../../src/assignment/assignment-model.js";

/** An online, uncordoned node on both subnets, unless `state` says otherwise. */
export function node(name: string, state: Partial<Omit<NodeInfo, "name">> = {}): NodeInfo {
  return { name, online: true, cordoned: false, subnets: [1, 2], ...state };
}

/** Path `index` of disk `disk` (a number), served by `on` ("" for a free path). */
export function path(disk: number, index: number, on: string, subnet: SubnetNumber = 1): PathAssignment {
  const diskId = String(disk).padStart(5, "0");
  const ip = subnet === 1 ? `198.51.100.${disk * 10 + index}` : `203.0.113.${disk * 10 + index}`;
  return { diskId, diskName: `disk-${disk}`, index, ip, subnet, node: on };
}

/** "d<disk>/<index> <source>→<target>" per move ("-" for no source), to compare plans at a glance. */
export function movesOf(plan: Plan): string[] {
  return plan.moves.map((m) => `d${Number(m.diskId)}/${m.index} ${m.sourceNode || "-"}→${m.targetNode}`);
}
