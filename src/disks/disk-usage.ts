import { diskIdFromImageName, isDiskId } from "./disk-id.js";
import { tryParseIpv4 } from "./ipv4.js";

/**
 * What one existing disk holds, as far as it can be read, whoever made it: the ids it answers to,
 * its name and its path addresses. Allocation must never hand any of these out.
 */
export interface DiskUsage {
  /** The id of the image name and, when it differs, the id its metadata records. */
  readonly ids: readonly string[];
  /** "" when the record names none (or cannot be read). */
  readonly name: string;
  readonly ips: readonly string[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The usage an image's `petasan-metada` record shows. Deliberately lenient, unlike
 * parseDiskMetadata: a record too broken to serve still holds whatever it names (a missing mask
 * does not free the address beside it), so every readable id, name and address counts.
 */
export function diskUsageFromMetadata(imageName: string, text: string): DiskUsage {
  const ids = new Set<string>();
  const fromName = diskIdFromImageName(imageName);
  if (fromName !== undefined) ids.add(fromName);
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    return { ids: [...ids], name: "", ips: [] };
  }
  if (!isObject(record)) return { ids: [...ids], name: "", ips: [] };
  if (typeof record.id === "string" && isDiskId(record.id)) ids.add(record.id);
  const ips: string[] = [];
  if (Array.isArray(record.paths)) {
    for (const path of record.paths as unknown[]) {
      if (isObject(path) && typeof path.ip === "string" && tryParseIpv4(path.ip) !== undefined) {
        ips.push(path.ip);
      }
    }
  }
  const name = typeof record.disk_name === "string" ? record.disk_name : "";
  return { ids: [...ids], name, ips };
}
