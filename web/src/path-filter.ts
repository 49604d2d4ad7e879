/** The paths page's filters (as PetaSAN's: disk name, IP, node) and order. */
import type { PathInfo } from "./api-model.js";
import { compareNames } from "./cluster-overview.js";

/** The node filter's value for paths nobody serves. */
export const UNSERVED = ":unserved";

export interface PathFilter {
  /** Case-insensitive substring of the disk name (or the disk id). */
  diskName: string;
  /** Substring of the IP (a whole IP matches itself). */
  ip: string;
  /** "" any node; UNSERVED paths nobody serves; else an exact node name. */
  node: string;
}

export const NO_FILTER: PathFilter = { diskName: "", ip: "", node: "" };

export function matchesPathFilter(path: PathInfo, filter: PathFilter): boolean {
  const name = filter.diskName.trim().toLowerCase();
  if (name !== "" && !path.diskName.toLowerCase().includes(name) && !path.diskId.includes(name)) return false;
  const ip = filter.ip.trim();
  if (ip !== "" && !path.ip.includes(ip)) return false;
  if (filter.node === UNSERVED) return path.node === "";
  return filter.node === "" || path.node === filter.node;
}

/** By disk id, then path index. */
export function comparePaths(a: PathInfo, b: PathInfo): number {
  return compareNames(a.diskId, b.diskId) || a.index - b.index;
}

export function filterPaths(paths: readonly PathInfo[], filter: PathFilter): PathInfo[] {
  return paths.filter((p) => matchesPathFilter(p, filter)).sort(comparePaths);
}

/** The node filter's choices: every known node (listed or serving a path), in natural order. */
export function nodeChoices(nodeNames: readonly string[], paths: readonly PathInfo[]): string[] {
  const names = new Set(nodeNames);
  for (const path of paths) if (path.node !== "") names.add(path.node);
  return [...names].sort(compareNames);
}

/** The selection kept after a refresh: only IPs that still exist. */
export function keepSelection(selected: ReadonlySet<string>, paths: readonly PathInfo[]): Set<string> {
  const present = new Set(paths.map((p) => p.ip));
  return new Set([...selected].filter((ip) => present.has(ip)));
}
