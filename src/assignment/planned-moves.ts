import { NO_NODE, type ClusterIndex } from "./cluster-index.js";
import type { DonorGroups } from "./donor-groups.js";

/**
 * The moves the average planner has settled on so far, revisable until they are recorded: each
 * planned path is on its receiver in the index (setNode), listed among the receiver's incoming
 * paths, and counted off its group. A path may be given to another receiver or taken back to its
 * donor (the augmenting step does both); record() writes the moves into the index's plan, in the
 * order in which the paths were first given. The lists of incoming paths per receiver are only
 * built when first asked for (the greedy pass never revises, so it does without them).
 */
export class PlannedMoves {
  /** Per receiver node, and per receiver node and disk: the paths planned onto it, in the order they landed. */
  private incoming: Map<number, number[]> | undefined;
  private incomingOfDisk: Map<number, number[]> | undefined;
  /** Paths in the order they were first given (a path taken back and given again keeps its place). */
  private readonly order: number[] = [];
  private readonly listed: Uint8Array;

  constructor(
    private readonly index: ClusterIndex,
    private readonly groups: DonorGroups,
  ) {
    this.listed = new Uint8Array(index.paths.length);
  }

  /** The paths planned onto the receiver (do not change the array). */
  incomingOf(receiver: number): readonly number[] {
    return this.lists().get(receiver) ?? [];
  }

  /** The paths of the disk planned onto the receiver (do not change the array). */
  incomingOfDiskOn(receiver: number, disk: number): readonly number[] {
    this.lists();
    return this.incomingOfDisk?.get(receiver * this.index.diskCount + disk) ?? [];
  }

  /** Whether the path is planned off its donor. */
  isPlanned(path: number): boolean {
    return this.index.nodeOf(path) !== this.donorNodeOf(path);
  }

  /** Plans the path, now on its donor, onto the receiver. */
  give(path: number, receiver: number): void {
    const g = this.groups.groupOfPath[path] ?? -1;
    this.groups.count(g, this.index.subnetOf(path), 1);
    this.land(path, receiver);
    if (this.listed[path] === 0) {
      this.listed[path] = 1;
      this.order.push(path);
    }
  }

  /** Plans the path, now on a receiver, onto another receiver. */
  reroute(path: number, receiver: number): void {
    this.lift(path);
    this.land(path, receiver);
  }

  /** Takes the planned path back to its donor. */
  takeBack(path: number): void {
    this.lift(path);
    this.index.setNode(path, this.donorNodeOf(path));
    this.groups.count(this.groups.groupOfPath[path] ?? -1, this.index.subnetOf(path), -1);
  }

  /** Records the planned moves in the index's plan. */
  record(): void {
    for (const path of this.order) {
      if (this.isPlanned(path)) this.index.recordMove(path, this.donorNodeOf(path));
    }
  }

  private donorNodeOf(path: number): number {
    const g = this.groups.groupOfPath[path] ?? -1;
    return g < 0 ? NO_NODE : (this.groups.donorNode[this.groups.groupDonor[g] ?? 0] ?? NO_NODE);
  }

  private land(path: number, receiver: number): void {
    this.index.setNode(path, receiver);
    if (this.incoming !== undefined) this.listIncoming(path);
  }

  private lists(): Map<number, number[]> {
    if (this.incoming === undefined) {
      this.incoming = new Map();
      this.incomingOfDisk = new Map();
      for (const path of this.order) if (this.isPlanned(path)) this.listIncoming(path);
    }
    return this.incoming;
  }

  private listIncoming(path: number): void {
    const receiver = this.index.nodeOf(path);
    append(this.incoming, receiver, path);
    append(this.incomingOfDisk, receiver * this.index.diskCount + this.index.diskOf(path), path);
  }

  private lift(path: number): void {
    const receiver = this.index.nodeOf(path);
    remove(this.incoming, receiver, path);
    remove(this.incomingOfDisk, receiver * this.index.diskCount + this.index.diskOf(path), path);
  }
}

function append(lists: Map<number, number[]> | undefined, key: number, path: number): void {
  const paths = lists?.get(key);
  if (paths === undefined) lists?.set(key, [path]);
  else paths.push(path);
}

function remove(lists: Map<number, number[]> | undefined, key: number, path: number): void {
  const paths = lists?.get(key);
  const at = paths?.indexOf(path) ?? -1;
  if (at >= 0) paths?.splice(at, 1);
}
