/**
 * The dev cluster's supervisor: what systemd's Restart=always does for tgtd and Consul on a
 * production node (deploy/systemd), for every node of a dev cluster. `up` starts it as a detached
 * process of its own (supervisor-main.ts; `up` itself exits), `down` stops it by PID.
 *
 * Every `pollMs` it reads the state file and checks the recorded daemons' PIDs in /proc (no
 * command runs while all is well); RestartPlanner decides which to start again. A restart happens
 * under the state lock, after checking the decision against the state as it is then (a command
 * may have killed the node or turned supervision off meanwhile): the Consul agent with its data
 * folder and configuration (it rejoins the cluster), tgtd on the same control port (sanpathd's
 * configuration names it). Each restart is counted in the state file and logged.
 *
 * It stops by itself when the state file is gone or names another supervisor (until `up` has
 * recorded it, the state names none).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { errorMessage } from "../errors/sanpath-error.js";
import { isRunning, processStartTime, type ProcessRecord } from "./detached-process.js";
import { RecordedCluster, SERVICE_START_MS } from "./recorded-cluster.js";
import { RestartPlanner, type Restart } from "./restart-planner.js";
import { readState, type DevClusterState } from "./state.js";
import { countRestart } from "./supervisor-records.js";
import { removeTgtdSocket } from "./tgtd-daemon.js";

export const DEFAULT_RESTART_DELAY_MS = 1000;
export const DEFAULT_POLL_MS = 250;

export interface SupervisorOptions {
  dir: string;
  pollMs?: number;
  signal: AbortSignal;
  /** One line per event (restarts, failures, the start and the end). */
  log: (line: string) => void;
}

export async function runSupervisor(options: SupervisorOptions): Promise<void> {
  const { dir, signal, log } = options;
  const planner = new RestartPlanner(isRunning);
  const self = { pid: process.pid, startTime: processStartTime(process.pid) ?? "" };
  log(`supervisor ${self.pid} watching ${dir}`);
  while (!signal.aborted) {
    const state = readStateOrProblem(dir);
    if (state === undefined) return log("the dev cluster is gone: supervisor exits");
    const recorded = typeof state === "string" ? undefined : state.supervision?.process;
    if (recorded !== undefined && !isSelf(recorded, self)) {
      return log(`the state file names another supervisor (pid ${recorded.pid}): this one exits`);
    }
    const due = typeof state === "string" ? [] : planner.due(state, Date.now());
    if (typeof state === "string") log(`cannot read the state file: ${state}`);
    if (due.length > 0) {
      try {
        await RecordedCluster.tryLocked(dir, (cluster) => restartDue(cluster, due, log));
      } catch (error) {
        log(`restart round failed: ${errorMessage(error)}`);
      }
    }
    await sleep(options.pollMs ?? DEFAULT_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
  log("supervisor stopped");
}

/** Restarts what is still due in the state as it is under the lock. */
async function restartDue(
  cluster: RecordedCluster,
  due: readonly Restart[],
  log: (line: string) => void,
): Promise<void> {
  await Promise.all(
    due.map(async (restart) => {
      const node = cluster.node(restart.node);
      const current = node[restart.daemon];
      if (
        cluster.state.supervision?.enabled !== true ||
        node.condition !== "running" ||
        current === undefined ||
        current.pid !== restart.dead.pid ||
        current.startTime !== restart.dead.startTime
      ) {
        return;
      }
      const what = `${restart.daemon} of ${node.name} (pid ${restart.dead.pid}, dead for ${restart.deadForMs} ms)`;
      // Counted with the first write of the new record: whoever sees the new daemon sees its count.
      countRestart(node, restart.daemon);
      try {
        if (restart.daemon === "consul") await cluster.startNodeConsul(node);
        else {
          removeTgtdSocket(node.tgtControlPort);
          await cluster.startNodeTgtd(node, AbortSignal.timeout(SERVICE_START_MS), { samePort: true });
        }
        log(`restarted ${what} as pid ${node[restart.daemon]?.pid ?? "?"}`);
      } catch (error) {
        log(`restart of ${what} failed: ${errorMessage(error)}`);
      }
    }),
  );
}

function isSelf(record: ProcessRecord, self: { pid: number; startTime: string }): boolean {
  return record.pid === self.pid && record.startTime === self.startTime;
}

/** The state; undefined when there is none any more; a string: why it cannot be read now. */
function readStateOrProblem(dir: string): DevClusterState | string | undefined {
  try {
    return readState(dir);
  } catch (error) {
    return errorMessage(error);
  }
}
