/**
 * What the supervisor (supervisor.ts) decides each round: which node daemons to start again. A
 * daemon is due once its recorded process has been seen dead for `restartDelayMs` (systemd's
 * RestartSec), while supervision is on and its node is "running": a killed node stays down (its
 * death is the point), and a partitioned node's daemons were never stopped. A daemon with no record
 * was never started (a node still coming up) and is left alone.
 *
 * Deaths are timed per record (PID and start time), so a daemon that someone else started again
 * and that died again waits its full delay, and a restart that exits at once is retried one delay
 * later.
 */
import type { ProcessRecord } from "./detached-process.js";
import type { NodeState } from "./state.js";

export const SUPERVISED_DAEMONS = ["consul", "tgtd"] as const;
export type SupervisedDaemon = (typeof SUPERVISED_DAEMONS)[number];

export interface Restart {
  node: string;
  daemon: SupervisedDaemon;
  /** The dead process it replaces. */
  dead: ProcessRecord;
  /** How long it has been seen dead, in ms. */
  deadForMs: number;
}

/** The part of the state file the decision reads. */
export interface SupervisedCluster {
  supervision?: { enabled: boolean; restartDelayMs: number } | undefined;
  nodes: readonly Pick<NodeState, "name" | "condition" | "consul" | "tgtd">[];
}

export class RestartPlanner {
  /** Record key → when it was first seen dead (ms). */
  private readonly deadSince = new Map<string, number>();

  constructor(private readonly isRunning: (record: ProcessRecord) => boolean) {}

  /** The restarts due at `nowMs`, in node order. */
  due(cluster: SupervisedCluster, nowMs: number): Restart[] {
    const supervision = cluster.supervision;
    const watched = new Set<string>();
    const restarts: Restart[] = [];
    for (const node of cluster.nodes) {
      if (supervision?.enabled !== true || node.condition !== "running") continue;
      for (const daemon of SUPERVISED_DAEMONS) {
        const record = node[daemon];
        if (record === undefined || this.isRunning(record)) continue;
        const key = `${node.name} ${daemon} ${record.pid} ${record.startTime}`;
        watched.add(key);
        const since = this.deadSince.get(key) ?? nowMs;
        this.deadSince.set(key, since);
        const deadForMs = nowMs - since;
        if (deadForMs >= supervision.restartDelayMs) {
          restarts.push({ node: node.name, daemon, dead: record, deadForMs });
        }
      }
    }
    for (const key of this.deadSince.keys()) if (!watched.has(key)) this.deadSince.delete(key);
    return restarts;
  }
}
