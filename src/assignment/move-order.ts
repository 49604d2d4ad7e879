/**
 * The order a job's moves start in: one path of each disk in turn (disk order kept, and each
 * disk's paths in their order), so the moves in flight at once are on different disks. A node
 * works on different targets side by side but one target's changes one after the other, so moves
 * of one disk started together (a drain plans a disk's paths one after the other) would wait for
 * each other on the source and on the target.
 */
export function interleaveByDisk<T extends { readonly diskId: string }>(moves: readonly T[]): T[] {
  const byDisk = new Map<string, T[]>();
  for (const move of moves) {
    const paths = byDisk.get(move.diskId);
    if (paths === undefined) byDisk.set(move.diskId, [move]);
    else paths.push(move);
  }
  const queues = [...byDisk.values()];
  const ordered: T[] = [];
  for (let round = 0; ordered.length < moves.length; round++) {
    for (const queue of queues) {
      const move = queue[round];
      if (move !== undefined) ordered.push(move);
    }
  }
  return ordered;
}
