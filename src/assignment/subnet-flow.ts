import type { SubnetNumber } from "./assignment-model.js";

/** A receiver by the subnets it has: subnet 1 only, subnet 2 only, or both. */
export type ReceiverKind = 0 | 1 | 2;
export const ONLY_SUBNET_1: ReceiverKind = 0;
export const ONLY_SUBNET_2: ReceiverKind = 1;
export const BOTH_SUBNETS: ReceiverKind = 2;

/** The kind of a receiver with these subnets, or undefined when it has neither. */
export function receiverKind(hasSubnet1: boolean, hasSubnet2: boolean): ReceiverKind | undefined {
  if (hasSubnet1 && hasSubnet2) return BOTH_SUBNETS;
  if (hasSubnet1) return ONLY_SUBNET_1;
  if (hasSubnet2) return ONLY_SUBNET_2;
  return undefined;
}

/**
 * How many paths could still move off the donors onto the receivers if only subnets mattered (no
 * spread rule): a max-flow from donors to receivers where a path of subnet s goes to a receiver
 * with s, in closed form, kept up to date move by move in O(1).
 *
 * Per donor, the paths it can still give are a1 of subnet 1 and a2 of subnet 2 with a1 <= m1 (its
 * movable paths of subnet 1), a2 <= m2, a1 + a2 <= e (its excess): a polymatroid with ranks
 * min(m1, e), min(m2, e), min(m1 + m2, e). Their sum over donors is the polymatroid of the totals
 * (A1, A2), with ranks M1, M2, M12. The receivers take A1 <= S1 + Sb, A2 <= S2 + Sb and
 * A1 + A2 <= S1 + S2 + Sb (spare room of the subnet-1-only, subnet-2-only and two-subnet ones).
 * Within a subnet any donor's path may go to any receiver that takes the subnet, so the flow is
 * the largest A1 + A2 in both polymatroids, which by the polymatroid intersection theorem is
 *
 *     min(M12, S1 + S2 + Sb, M1 + S2 + Sb, M2 + S1 + Sb).
 *
 * A move keeps the flow reachable when the value after it is one less than before; the planner
 * makes no other, so that greedy choices never spend room that another subnet's paths need.
 */
export class SubnetFlow {
  private readonly excess: Int32Array;
  private readonly movable: [Int32Array, Int32Array];
  /** M1, M2, M12: the donors' ranks summed. */
  private readonly ranks: [number, number, number] = [0, 0, 0];
  /** Spare room per receiver kind. */
  private readonly spare: [number, number, number] = [0, 0, 0];
  /** The flow, kept up to date. */
  private current = 0;

  constructor(donorSlots: number) {
    this.excess = new Int32Array(donorSlots);
    this.movable = [new Int32Array(donorSlots), new Int32Array(donorSlots)];
  }

  addDonor(slot: number, excess: number, movable1: number, movable2: number): void {
    this.excess[slot] = excess;
    this.movable[0][slot] = movable1;
    this.movable[1][slot] = movable2;
    this.addRanks(slot, 1);
    this.current = this.flow();
  }

  addReceiver(kind: ReceiverKind, spare: number): void {
    this.spare[kind] += spare;
    this.current = this.flow();
  }

  /** Paths that could still move, subnets alone considered. */
  get value(): number {
    return this.current;
  }

  /** Whether moving a path of the subnet off the donor onto a receiver of the kind keeps the rest reachable. */
  keepsFlow(slot: number, subnet: SubnetNumber, kind: ReceiverKind): boolean {
    const [m1, m2, m12] = this.ranks;
    const e = this.excess[slot] ?? 0;
    const a = this.movable[0][slot] ?? 0;
    const b = this.movable[1][slot] ?? 0;
    const a2 = subnet === 1 ? a - 1 : a;
    const b2 = subnet === 2 ? b - 1 : b;
    const d1 = Math.min(a2, e - 1) - Math.min(a, e);
    const d2 = Math.min(b2, e - 1) - Math.min(b, e);
    const d12 = Math.min(a2 + b2, e - 1) - Math.min(a + b, e);
    this.spare[kind]--;
    const after = flowOf(m1 + d1, m2 + d2, m12 + d12, this.spare);
    this.spare[kind]++;
    return after === this.current - 1;
  }

  /** Accounts for a move of a path of the subnet off the donor onto a receiver of the kind. */
  moved(slot: number, subnet: SubnetNumber, kind: ReceiverKind): void {
    this.addRanks(slot, -1);
    this.excess[slot] = (this.excess[slot] ?? 0) - 1;
    const movable = this.movable[subnet - 1] as Int32Array;
    movable[slot] = (movable[slot] ?? 0) - 1;
    this.addRanks(slot, 1);
    this.spare[kind]--;
    this.current = this.flow();
  }

  private flow(): number {
    return flowOf(this.ranks[0], this.ranks[1], this.ranks[2], this.spare);
  }

  private addRanks(slot: number, sign: 1 | -1): void {
    const e = this.excess[slot] ?? 0;
    const a = this.movable[0][slot] ?? 0;
    const b = this.movable[1][slot] ?? 0;
    this.ranks[0] += sign * Math.min(a, e);
    this.ranks[1] += sign * Math.min(b, e);
    this.ranks[2] += sign * Math.min(a + b, e);
  }
}

function flowOf(m1: number, m2: number, m12: number, spare: readonly [number, number, number]): number {
  const [s1, s2, both] = spare;
  return Math.min(m12, s1 + s2 + both, m1 + s2 + both, m2 + s1 + both);
}
