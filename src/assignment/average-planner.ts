import type { NodeInfo, PathAssignment, Plan, SubnetNumber } from "./assignment-model.js";
import { augmentMoves } from "./augmenting-moves.js";
import { ClusterIndex, NO_NODE } from "./cluster-index.js";
import { DonorGroups } from "./donor-groups.js";
import { GroupOrder } from "./group-order.js";
import { NumberMinHeap } from "../util/number-heap.js";
import { resolveSelectedPaths } from "./path-selection.js";
import { PlannedMoves } from "./planned-moves.js";
import { ReceiverPool } from "./receiver-pool.js";
import { BOTH_SUBNETS, ONLY_SUBNET_1, ONLY_SUBNET_2, SubnetFlow, type ReceiverKind } from "./subnet-flow.js";

export interface AveragePlanOptions {
  /**
   * Only the paths with these IPs may move (manual reassignment to "auto"); the target and the
   * counts still consider every path. Unknown IPs fail with PATH_NOT_FOUND (field `ips[i]`).
   */
  readonly selectedIps?: readonly string[];
}

/**
 * PetaSAN's "average" planner (plugin id 1), made to reach its own target whenever a plan can.
 *
 * Definitions:
 * - Eligible nodes are online, not cordoned and not degraded. P = paths served by eligible nodes,
 *   N = eligible nodes, the target T = ceil(P / N) (no eligible node: no plan). Free paths and
 *   paths on ineligible or unknown nodes neither count nor move (placement and drain handle them).
 * - A donor is an eligible node above T; only its paths move (with `selectedIps`, only the selected
 *   ones), each at most once, and it gives at most (paths − T): it never ends below T. A receiver
 *   is an eligible node below T with the path's subnet; it never ends above T. A node that starts
 *   at or below T never loses a path, and a node at T takes none. A balanced cluster (no eligible
 *   node above T) yields no move.
 * - A disk's spread is the most paths of it that one eligible node serves. No move makes it worse:
 *   a receiver ends with at most the disk's spread before the plan. (Over eligible nodes, as only
 *   they serve paths for good and only their counts change; ineligible nodes' counts stay as they
 *   are, so the spread over all nodes never gets worse either.)
 *
 * The plan removes as much excess as any plan keeping these rules can: when some plan brings every
 * eligible node to T or below, this one does, and it moves exactly Σ(paths − T) over the donors,
 * the fewest moves that can (every move takes one path off a donor's excess; none cancels
 * another). When no plan can, it still moves as many paths as any plan can (a maximum flow). It
 * is found in two passes:
 *
 * 1. Greedy, PetaSAN's order: the most loaded donor first (ties: node name) gives a path of the
 *    disk it serves most paths of (ties: disk id; within the disk, path index) to the receiver
 *    that holds the fewest paths of that disk, then the fewest in total, then by name, keeping
 *    PetaSAN's rule (no second path of a disk on a node while another eligible node with the
 *    subnet holds none). Unlike PetaSAN:
 *    - when that rule leaves the donor nothing to give, the spread rule alone decides (a receiver
 *      takes another path of the disk if it stays within the disk's spread);
 *    - a choice is only made when it keeps the subnet-level max-flow reachable (subnet-flow.ts): a
 *      path does not take the room of a two-subnet receiver that the other subnet's paths need,
 *      and a donor gives the subnet its receivers can take;
 *    - a donor (or a group of its paths) that may give nothing now is tried again in a next round
 *      after the others moved.
 * 2. When the greedy pass leaves paths that subnets alone would let move (only the spread rule can
 *    stop it: every greedy choice keeps the subnet-level flow), augmenting paths
 *    (augmenting-moves.ts) revise earlier choices until no more can move.
 *
 * docs/ARCHITECTURE.md ("The average planner") lists each difference from PetaSAN's plugin.
 *
 * Deterministic: ties break on node names, disk ids and path indices only, so the plan does not
 * depend on the order of the input.
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
  const groups = new DonorGroups(index, target, selected);
  if (groups.donorCount === 0) return index.plan();

  const pool = new ReceiverPool(index, target);
  const flow = new SubnetFlow(groups.donorCount);
  for (let slot = 0; slot < groups.donorCount; slot++) {
    flow.addDonor(slot, groups.excess[slot] ?? 0, groups.movableOf(slot, 1), groups.movableOf(slot, 2));
  }
  for (const node of pool.nodes) flow.addReceiver(pool.kindOf(node) ?? BOTH_SUBNETS, pool.spareOf(node));

  const planned = new PlannedMoves(index, groups);
  new GreedyPass(index, groups, pool, flow, planned).run();
  if (flow.value > 0) augmentMoves(index, groups, pool, planned);
  planned.record();
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

/** Pass 1 of planAverage: PetaSAN's greedy order, within the spread caps and the subnet flow. */
class GreedyPass {
  /** Per donor slot: its groups by most paths of the disk on the donor, then disk rank. */
  private readonly order: GroupOrder[];
  /**
   * Per donor slot, keys of groups set aside for the rest of the round: those PetaSAN's rule let
   * nothing move from (still tried under the spread rule alone, in order, from `asideFrom`), and
   * those nothing could move from at all. A group is tried once per round and rule, so that a
   * donor whose groups are mostly blocked does not scan them again for every path it gives.
   */
  private readonly asidePetasan: number[][];
  private readonly asideFrom: Int32Array;
  private readonly asideAll: number[][];

  constructor(
    private readonly index: ClusterIndex,
    private readonly groups: DonorGroups,
    private readonly pool: ReceiverPool,
    private readonly flow: SubnetFlow,
    private readonly planned: PlannedMoves,
  ) {
    this.order = Array.from({ length: groups.donorCount }, (_, slot) => {
      const first = groups.firstGroup[slot] ?? 0;
      const keys = new Float64Array((groups.firstGroup[slot + 1] ?? 0) - first);
      for (let at = 0; at < keys.length; at++) keys[at] = this.groupKey(slot, first + at);
      return new GroupOrder(keys);
    });
    this.asidePetasan = Array.from({ length: groups.donorCount }, () => []);
    this.asideFrom = new Int32Array(groups.donorCount);
    this.asideAll = Array.from({ length: groups.donorCount }, () => []);
  }

  /**
   * Rounds of "the most loaded donor gives one path" until no donor can. Donors that could not
   * give in a round, and groups set aside, are tried again in the next round as long as the
   * previous one moved a path (other donors' moves may have made room for them under the rules).
   */
  run(): void {
    const slots = this.groups.donorCount;
    let waiting = Array.from({ length: slots }, (_, slot) => slot);
    while (waiting.length > 0 && this.flow.value > 0) {
      const donorOrder = new NumberMinHeap(waiting.map((slot) => this.donorKey(slot)));
      const stuck: number[] = [];
      let moved = false;
      for (let key = donorOrder.pop(); key !== undefined; key = donorOrder.pop()) {
        const slot = key % slots;
        if (this.groups.owedBy(slot) <= 0) continue;
        if (!this.giveOnePath(slot)) {
          stuck.push(slot);
          continue;
        }
        moved = true;
        if (this.groups.owedBy(slot) > 0) donorOrder.push(this.donorKey(slot));
      }
      if (!moved) return;
      for (let slot = 0; slot < slots; slot++) this.restoreAside(slot);
      waiting = stuck;
    }
  }

  /** Puts the groups set aside back in the donor's order for the next round. */
  private restoreAside(slot: number): void {
    const order = this.order[slot];
    const petasan = this.asidePetasan[slot] ?? [];
    const all = this.asideAll[slot] ?? [];
    for (let at = this.asideFrom[slot] ?? 0; at < petasan.length; at++) order?.push(petasan[at] ?? 0);
    for (const key of all) order?.push(key);
    petasan.length = 0;
    all.length = 0;
    this.asideFrom[slot] = 0;
  }

  /** Most paths first, then lowest node rank (slots are in rank order). */
  private donorKey(slot: number): number {
    const node = this.groups.donorNode[slot] ?? 0;
    return (this.index.paths.length - this.index.totalOf(node)) * this.groups.donorCount + slot;
  }

  /** Most paths of the disk on the donor first, then lowest disk rank (groups are in disk order). */
  private groupKey(slot: number, g: number): number {
    const first = this.groups.firstGroup[slot] ?? 0;
    const count = (this.groups.firstGroup[slot + 1] ?? 0) - first;
    const onNode = this.index.countOf(this.groups.donorNode[slot] ?? 0, this.groups.groupDisk[g] ?? 0);
    return (this.index.paths.length - onNode) * count + (g - first);
  }

  /**
   * Plans one path off the donor; false when none of its paths may move now. PetaSAN's rule first:
   * no second path of a disk on a node while another eligible node with the subnet holds none;
   * only when that leaves the donor nothing to give, the spread rule alone.
   */
  private giveOnePath(slot: number): boolean {
    const order = this.order[slot];
    const petasan = this.asidePetasan[slot];
    const all = this.asideAll[slot];
    if (order === undefined || petasan === undefined || all === undefined) return false;
    for (let key = order.pop(); key !== undefined; key = order.pop()) {
      const g = this.liveGroup(slot, key);
      if (g === undefined) continue;
      if (this.moveFromGroup(slot, g, true)) {
        this.keepGroup(slot, g);
        return true;
      }
      petasan.push(key);
    }
    for (let at = this.asideFrom[slot] ?? 0; at < petasan.length; at++) {
      const key = petasan[at] ?? 0;
      this.asideFrom[slot] = at + 1;
      const g = this.liveGroup(slot, key);
      if (g === undefined) continue;
      if (this.moveFromGroup(slot, g, false)) {
        this.keepGroup(slot, g);
        return true;
      }
      all.push(key);
    }
    return false;
  }

  /** The group a key names, unless it has no path left to give or the key is stale. */
  private liveGroup(slot: number, key: number): number | undefined {
    const first = this.groups.firstGroup[slot] ?? 0;
    const g = first + (key % ((this.groups.firstGroup[slot + 1] ?? 0) - first));
    if (this.groups.unmoved(g, 1) + this.groups.unmoved(g, 2) === 0) return undefined;
    return key === this.groupKey(slot, g) ? g : undefined;
  }

  /** After the group gave a path: back in the donor's order under its new key, if it has more. */
  private keepGroup(slot: number, g: number): void {
    if (this.groups.unmoved(g, 1) + this.groups.unmoved(g, 2) > 0)
      this.order[slot]?.push(this.groupKey(slot, g));
  }

  /**
   * Plans the group's first path (of a subnet) that may move to its best receiver: one that holds
   * fewer paths of the disk than its spread, and with `petasanRule` none of them unless every
   * eligible node with the subnet would still hold one.
   */
  private moveFromGroup(slot: number, g: number, petasanRule: boolean): boolean {
    const { groups, index } = this;
    const disk = groups.groupDisk[g] ?? 0;
    const cap = groups.spreadCap[disk] ?? 0;
    const donor = groups.donorNode[slot] ?? 0;
    let triedSubnets = 0;
    for (let at = groups.pathStart[g] ?? 0; at < (groups.pathStart[g + 1] ?? 0); at++) {
      const path = groups.movable[at] ?? 0;
      if (index.nodeOf(path) !== donor) continue;
      const subnet: SubnetNumber = index.subnetOf(path);
      if (triedSubnets & subnet) continue;
      triedSubnets |= subnet;
      const only = subnet === 1 ? ONLY_SUBNET_1 : ONLY_SUBNET_2;
      const first = this.allows(slot, subnet, only) ? only : undefined;
      const second = this.allows(slot, subnet, BOTH_SUBNETS) ? BOTH_SUBNETS : undefined;
      if (first === undefined && second === undefined) continue;
      // A receiver without a path of the disk is the best one under either rule, when there is one.
      let receiver = this.pool.best(disk, 1, first, second);
      if (
        receiver === NO_NODE &&
        cap > 1 &&
        (!petasanRule || everyEligibleNodeKeepsDisk(index, disk, path, donor))
      ) {
        receiver = this.pool.best(disk, cap, first, second);
      }
      if (receiver === NO_NODE) continue;
      this.flow.moved(slot, subnet, this.pool.kindOf(receiver) ?? BOTH_SUBNETS);
      this.planned.give(path, receiver);
      this.pool.received(receiver);
      return true;
    }
    return false;
  }

  /** Whether a receiver of the kind may take a path of the subnet off the donor now. */
  private allows(slot: number, subnet: SubnetNumber, kind: ReceiverKind): boolean {
    return this.pool.hasAny(kind) && this.flow.keepsFlow(slot, subnet, kind);
  }
}

/**
 * Whether, once the path left its source, every eligible node with the path's subnet would still
 * serve a path of the disk: PetaSAN's only case in which a node may be given a second path of it.
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
