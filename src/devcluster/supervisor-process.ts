/**
 * Starting and stopping the supervisor process (supervisor.ts) of a dev cluster: the built
 * dist/src/devcluster/supervisor-main.js, detached in the root namespace, recorded in the state
 * file, stopped by PID.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../util/project-root.js";
import { spawnDetached, stopProcess } from "./detached-process.js";
import type { RecordedCluster } from "./recorded-cluster.js";
import { DEFAULT_RESTART_DELAY_MS } from "./supervisor.js";

export const SUPERVISOR_LOG = "supervisor.log";

export function supervisorMain(): string {
  const main = join(projectRoot(), "dist", "src", "devcluster", "supervisor-main.js");
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first`);
  return main;
}

/** Starts the supervisor, supervising (`enabled`) or idle until `supervise on`. */
export async function startSupervisor(
  cluster: RecordedCluster,
  options: { enabled: boolean; restartDelayMs?: number | undefined },
): Promise<void> {
  const record = spawnDetached({
    file: process.execPath,
    args: [supervisorMain(), cluster.state.dir],
    logFile: join(cluster.state.dir, SUPERVISOR_LOG),
    label: "supervisor",
  });
  cluster.state.supervision = {
    enabled: options.enabled,
    restartDelayMs: options.restartDelayMs ?? DEFAULT_RESTART_DELAY_MS,
    process: record,
  };
  await cluster.persist();
}

/** Stops the recorded supervisor (SIGTERM, then SIGKILL); fine when it is gone already. */
export async function stopSupervisor(cluster: RecordedCluster): Promise<void> {
  const record = cluster.state.supervision?.process;
  if (record !== undefined) await stopProcess(record, { graceMs: 2000 });
}
