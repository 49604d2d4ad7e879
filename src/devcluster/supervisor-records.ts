/**
 * The part of the state file the supervisor writes (supervisor.ts): the Consul agent and tgtd
 * records of the daemons it started again, and its restart counts. Whoever else holds the state
 * in memory (a test's DevCluster) adopts them when it next takes the state lock, before it
 * writes: otherwise its write would put back the dead daemon's record, and `down` would miss the
 * new process while the supervisor started yet another one.
 */
import type { ProcessRecord } from "./detached-process.js";
import type { SupervisedDaemon } from "./restart-planner.js";
import type { DevClusterState, NodeState } from "./state.js";

/** Counts one restart of `daemon` on `node`. */
export function countRestart(node: NodeState, daemon: SupervisedDaemon): void {
  const restarts = node.restarts ?? { consul: 0, tgtd: 0 };
  node.restarts = { ...restarts, [daemon]: restarts[daemon] + 1 };
}

/**
 * Copies into `memory` what `recorded` (the state file) has newer: a daemon record started later
 * (start times only grow), the restart counts, and the supervision switch (every change of it is
 * written under the lock, so the file has the latest).
 */
export function adoptSupervisorRecords(memory: DevClusterState, recorded: DevClusterState | undefined): void {
  if (recorded === undefined) return;
  for (const node of memory.nodes) {
    const disk = recorded.nodes.find((candidate) => candidate.name === node.name);
    if (disk === undefined) continue;
    node.consul = later(node.consul, disk.consul);
    node.tgtd = later(node.tgtd, disk.tgtd);
    node.restarts = disk.restarts;
  }
  if (memory.supervision !== undefined && recorded.supervision !== undefined) {
    memory.supervision.enabled = recorded.supervision.enabled;
  }
}

function later(
  mine: ProcessRecord | undefined,
  theirs: ProcessRecord | undefined,
): ProcessRecord | undefined {
  if (mine === undefined || theirs === undefined) return mine ?? theirs;
  return BigInt(theirs.startTime) > BigInt(mine.startTime) ? theirs : mine;
}
