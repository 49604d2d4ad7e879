import { SanpathError } from "../errors/sanpath-error.js";
import { diskNotFound, pathHolder, type DiskKeys, type LoadedDisk } from "./disk-reader.js";

/** NOT_FOUND for a disk whose delete has begun (its record is "deleting"). */
export function beingDeleted(id: string): SanpathError {
  return diskNotFound(id, " (it is being deleted; run delete again to finish)");
}

/** The record of a disk that may change; NOT_FOUND for one being deleted or not made by sanpath. */
export function activeRecord(loaded: LoadedDisk, id: string): NonNullable<LoadedDisk["record"]> {
  const { record } = loaded;
  if (record === undefined) {
    throw diskNotFound(
      id,
      " made by sanpath (it has no allocation record: sanpath can show it but not change it)",
    );
  }
  if (record.allocation.state === "deleting") throw beingDeleted(id);
  return record;
}

/** FAILED_PRECONDITION / DISK_NOT_STOPPED unless the disk is stopped and no node holds a path. */
export function refuseUnlessStopped(id: string, keys: DiskKeys): void {
  if (keys.disk.flags !== 1) {
    throw new SanpathError(
      "failed_precondition",
      `disk ${id} is running; stop it first (sanpath disk stop ${id}) and wait until its paths are given up`,
      { reason: "DISK_NOT_STOPPED" },
    );
  }
  for (const [index, entry] of [...keys.paths].sort(([a], [b]) => a - b)) {
    const holder = pathHolder(entry);
    if (holder !== undefined) {
      throw new SanpathError(
        "failed_precondition",
        `disk ${id} is stopping: node ${holder} still serves path ${index}; try again once it has given the path up`,
        { reason: "DISK_NOT_STOPPED" },
      );
    }
  }
}
