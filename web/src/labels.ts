/** Readable labels for the proto enum names the API sends. */

/** The event kinds a filter can choose, in the proto's order. */
export const EVENT_KINDS: readonly string[] = [
  "EVENT_KIND_FAILOVER",
  "EVENT_KIND_PLACEMENT",
  "EVENT_KIND_MOVE",
  "EVENT_KIND_JOB_STARTED",
  "EVENT_KIND_JOB_FINISHED",
  "EVENT_KIND_FENCE",
  "EVENT_KIND_DEGRADED",
  "EVENT_KIND_RECOVERED",
  "EVENT_KIND_COORDINATOR_ELECTED",
  "EVENT_KIND_COORDINATOR_STEPPED_DOWN",
  "EVENT_KIND_CORDON",
  "EVENT_KIND_UNCORDON",
  "EVENT_KIND_DRAIN",
];

/** "EVENT_KIND_COORDINATOR_STEPPED_DOWN" → "coordinator stepped down"; "" and UNSPECIFIED → "". */
export function enumLabel(name: string, prefix: string): string {
  const bare = name.startsWith(prefix) ? name.slice(prefix.length) : name;
  if (bare === "" || bare === "UNSPECIFIED") return "";
  return bare.toLowerCase().replaceAll("_", " ");
}

export function eventKindLabel(kind: string): string {
  return enumLabel(kind, "EVENT_KIND_");
}

export function jobStateLabel(state: string): string {
  return enumLabel(state, "JOB_STATE_");
}

export function jobKindLabel(kind: string): string {
  return enumLabel(kind, "JOB_KIND_");
}

export function pathPhaseLabel(phase: string): string {
  return enumLabel(phase, "PATH_PHASE_");
}

export function moveStatusLabel(status: string): string {
  return enumLabel(status, "MOVE_STATUS_");
}

const FINAL_JOB_STATES: ReadonlySet<string> = new Set([
  "JOB_STATE_SUCCEEDED",
  "JOB_STATE_PARTIALLY_FAILED",
  "JOB_STATE_FAILED",
  "JOB_STATE_CANCELLED",
]);

/** The job has ended: it moves nothing more. */
export function isFinalJobState(state: string): boolean {
  return FINAL_JOB_STATES.has(state);
}

/** The job is running or about to (it can be cancelled). */
export function isActiveJobState(state: string): boolean {
  return state === "JOB_STATE_PENDING" || state === "JOB_STATE_RUNNING" || state === "JOB_STATE_CANCELLING";
}

/** A CSS tone for a state, phase or status: "ok", "bad", "warn", "busy" or "" (neutral). */
export function toneOf(name: string): string {
  if (/(SUCCEEDED|SERVING)$/.test(name)) return "ok";
  if (/(_FAILED|PARTIALLY_FAILED)$/.test(name)) return "bad";
  if (/CANCELL(ED|ING)$/.test(name)) return "warn";
  if (/(RUNNING|PENDING|MOVING|CLEANING|RELEASED|ACQUIRING|QUEUED)$/.test(name)) return "busy";
  return "";
}
