import { SanpathError } from "../errors/sanpath-error.js";

export function reassignmentRunning(jobId: string | undefined): SanpathError {
  const which = jobId === undefined ? "another reassignment job" : `reassignment job ${jobId}`;
  return new SanpathError(
    "failed_precondition",
    `${which} is running; wait for it to end (sanpath job watch) or cancel it (sanpath job cancel)`,
    { reason: "REASSIGNMENT_RUNNING" },
  );
}

export function jobNotFound(id: string): SanpathError {
  return id === ""
    ? new SanpathError("not_found", "id: no reassignment job is running and none has run yet", {
        reason: "JOB_NOT_FOUND",
        field: "id",
      })
    : new SanpathError("not_found", `id: no reassignment job ${id} (running or in the history)`, {
        reason: "JOB_NOT_FOUND",
        field: "id",
      });
}

export function planStale(planned: number, now: number): SanpathError {
  return new SanpathError(
    "aborted",
    `state_index: the cluster changed since the plan (planned at index ${planned}, now ${now}); plan again`,
    { reason: "PLAN_STALE", field: "state_index" },
  );
}

/** The coordinator lock is no longer held by the session that wrote: another node leads. */
export function leadershipLost(detail: string): SanpathError {
  return new SanpathError("unavailable", `no longer the coordinator: ${detail}`, { reason: "NO_LEADER" });
}

export function noLeader(): SanpathError {
  return new SanpathError(
    "unavailable",
    "no coordinator is elected right now, so no job would run; retry in a few seconds",
    { reason: "NO_LEADER" },
  );
}
