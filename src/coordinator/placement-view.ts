import type { PathAssignment } from "../assignment/assignment-model.js";

/** What the placement loop knows besides Consul's state when it places free paths. */
export interface PlacementContext {
  /** Target of the running job's unfinished (pending or moving) move of the path, if any. */
  targetOf(ip: string): string | undefined;
  /** A job's move is working on the path now: placement leaves it alone. */
  isWorking(ip: string): boolean;
  /** The node the placement loop's own AcquirePath in flight is asking, if any. */
  acquiringOn(ip: string): string | undefined;
  /** The path waits for its next try (lock-delay, back-off). */
  isWaiting(ip: string): boolean;
}

export interface PlacementView {
  /** The paths as placeFreePaths must see them. */
  readonly paths: PathAssignment[];
  /** Free paths to place now. */
  readonly toPlace: Set<string>;
  /** Every free path (placed now or not). */
  readonly free: Set<string>;
}

/**
 * The cluster as placement must see it so that it agrees with what is under way: a path a job is
 * about to move counts on the move's target already (else placement could give that target
 * another path of the same disk just before the job does — a job planned before a node died
 * meets the placement of that node's paths), a path a move or an AcquirePath is working on counts
 * where it is going and is not placed again.
 */
export function placementView(paths: readonly PathAssignment[], context: PlacementContext): PlacementView {
  const seen: PathAssignment[] = [];
  const toPlace = new Set<string>();
  const free = new Set<string>();
  for (const path of paths) {
    const target = context.targetOf(path.ip);
    if (path.node !== "") {
      seen.push(target === undefined ? path : { ...path, node: target });
      continue;
    }
    free.add(path.ip);
    if (context.isWorking(path.ip)) {
      if (target !== undefined) seen.push({ ...path, node: target });
      continue;
    }
    const acquiringOn = context.acquiringOn(path.ip);
    if (acquiringOn !== undefined) {
      seen.push({ ...path, node: acquiringOn });
      continue;
    }
    seen.push(path);
    if (!context.isWaiting(path.ip)) toPlace.add(path.ip);
  }
  return { paths: seen, toPlace, free };
}
