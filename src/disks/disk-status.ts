/** Where a disk is in its life cycle, derived from its stopped flag and the holders of its path locks. */
export type DiskStatus = "starting" | "started" | "stopped" | "stopping";

/**
 * `holders[i]` is the node holding path i+1's lock, or undefined / "" when nobody does.
 * Stopped: STOPPED once no path is held, STOPPING while some still is. Running: STARTED when every
 * path is held, STARTING until then.
 */
export function diskStatus(stopped: boolean, holders: readonly (string | undefined)[]): DiskStatus {
  const isHeld = (holder: string | undefined): boolean => holder !== undefined && holder !== "";
  if (stopped) return holders.some(isHeld) ? "stopping" : "stopped";
  return holders.every(isHeld) ? "started" : "starting";
}
