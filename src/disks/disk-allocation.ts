import type { SanpathError } from "../errors/sanpath-error.js";
import { parseJsonObject, unreadable } from "../errors/stored-record.js";
import { isDiskId } from "./disk-id.js";
import { tryParseIpv4 } from "./ipv4.js";

/**
 * What sanpath reserved for one disk: kept in Consul first as a pending reservation (while the
 * image is being made) and then as the disk's allocation record. It holds everything needed to give
 * the reservation back without reading the image, so a disk whose image or metadata is gone can
 * still be deleted, and a reservation left by a crash can be swept.
 */
export interface DiskAllocation {
  readonly id: string;
  readonly name: string;
  readonly pool: string;
  /** The path addresses, path 1 first. */
  readonly ips: readonly string[];
  /** The node that made the reservation. */
  readonly node: string;
  /** Random; tells this reservation from a later one of the same id. */
  readonly token: string;
  readonly createTime: Date;
  /** "active" for a registered disk; "deleting" once DeleteDisk has begun (nothing may start it). */
  readonly state: "pending" | "active" | "deleting";
  /** An UpdateDisk in progress holds the disk until `until`; others wait for it to end. */
  readonly lease?: { readonly token: string; readonly until: Date } | undefined;
}

const STATES = new Set(["pending", "active", "deleting"]);

function fail(key: string, rule: string): SanpathError {
  return unreadable(`allocation record ${key}`, rule);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readDate(value: unknown, key: string, field: string): Date {
  const date = typeof value === "string" ? new Date(value) : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) throw fail(key, `${field} is not a time`);
  return date;
}

export function parseDiskAllocation(text: string, key: string): DiskAllocation {
  const { id, name, pool, ips, node, token, createTime, state, lease } = parseJsonObject(
    text,
    `allocation record ${key}`,
  );
  if (typeof id !== "string" || !isDiskId(id)) throw fail(key, "id is not a disk id");
  if (typeof name !== "string" || name === "") throw fail(key, "name is missing");
  if (typeof pool !== "string" || pool === "") throw fail(key, "pool is missing");
  if (!Array.isArray(ips) || !ips.every((ip) => typeof ip === "string" && tryParseIpv4(ip) !== undefined)) {
    throw fail(key, "ips is not a list of IPv4 addresses");
  }
  if (typeof node !== "string") throw fail(key, "node is not text");
  if (typeof token !== "string" || token === "") throw fail(key, "token is missing");
  if (typeof state !== "string" || !STATES.has(state)) throw fail(key, "state is unknown");
  let parsedLease: DiskAllocation["lease"];
  if (lease !== undefined && lease !== null) {
    if (!isObject(lease) || typeof lease.token !== "string") throw fail(key, "lease is malformed");
    parsedLease = { token: lease.token, until: readDate(lease.until, key, "lease.until") };
  }
  return {
    id,
    name,
    pool,
    ips: ips as string[],
    node,
    token,
    createTime: readDate(createTime, key, "createTime"),
    state: state as DiskAllocation["state"],
    lease: parsedLease,
  };
}

export function serializeDiskAllocation(allocation: DiskAllocation): string {
  return JSON.stringify({
    id: allocation.id,
    name: allocation.name,
    pool: allocation.pool,
    ips: allocation.ips,
    node: allocation.node,
    token: allocation.token,
    createTime: allocation.createTime.toISOString(),
    state: allocation.state,
    ...(allocation.lease === undefined
      ? {}
      : { lease: { token: allocation.lease.token, until: allocation.lease.until.toISOString() } }),
  });
}
