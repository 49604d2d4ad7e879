/**
 * What reconcile does with each path, as pure functions of what Consul and the node say.
 *
 * Rule: the paths configured on this node are exactly the paths whose lock this node's session
 * holds, of disks that are running.
 *   - locked by us, disk running, not (fully) configured here → configure;
 *   - locked by us, disk stopped or gone, or a clean was interrupted → release (tear down, unlock);
 *   - configured here, not locked by us → remove the local configuration (the lock is not ours).
 */
import type { KvEntry } from "../kv/kv-store.js";
import type { ConsulKeys } from "../consul/keys.js";
import { runStateOf, type DiskRunState } from "./disk-source.js";
import { pathKeyOf, type LocalPath } from "./path-journal.js";
import { presenceOf, type LocalObservation, type PathPresence } from "./path-setup.js";

export type PathAction = "none" | "configure" | "release" | "remove-local";

export interface PathFacts {
  lockedByUs: boolean;
  disk: DiskRunState;
  local: LocalPath | undefined;
  /** What the drivers show for the local path; undefined when not observed. */
  presence: PathPresence | undefined;
}

export function decidePath(facts: PathFacts): PathAction {
  if (facts.lockedByUs) {
    if (facts.disk !== "running") return "release";
    if (facts.local?.state === "cleaning") return "release";
    const complete =
      facts.local?.state === "served" &&
      facts.presence !== undefined &&
      facts.presence.ipPresent &&
      facts.presence.portalEnabled;
    return complete ? "none" : "configure";
  }
  return facts.local === undefined ? "none" : "remove-local";
}

export interface PlannedPath {
  key: string;
  diskId: string;
  index: number;
  action: Exclude<PathAction, "none">;
  facts: PathFacts;
}

export interface ClusterView {
  /** Disk id → run state. */
  disks: Map<string, DiskRunState>;
  /** Path key ("00001/1") → the lock's entry. */
  paths: Map<string, KvEntry>;
}

/** Groups a listing of `<root>/Disks/` into run states and path entries. */
export function clusterViewOf(keys: ConsulKeys, entries: readonly KvEntry[]): ClusterView {
  const disks = new Map<string, DiskRunState>();
  const paths = new Map<string, KvEntry>();
  for (const entry of entries) {
    const diskId = keys.parseDisk(entry.key);
    if (diskId !== undefined) {
      disks.set(diskId, runStateOf(entry));
      continue;
    }
    const path = keys.parseDiskPath(entry.key);
    if (path !== undefined) paths.set(pathKeyOf(path.diskId, path.index), entry);
  }
  return { disks, paths };
}

/** Facts of every path that is locked by `sessionId` or known locally. */
export function pathFacts(
  view: ClusterView,
  sessionId: string,
  local: readonly LocalPath[],
  observed: LocalObservation | undefined,
): Map<string, PathFacts & { diskId: string; index: number }> {
  const facts = new Map<string, PathFacts & { diskId: string; index: number }>();
  const localByKey = new Map(local.map((entry) => [pathKeyOf(entry.diskId, entry.index), entry]));
  const consider = (key: string, diskId: string, index: number): void => {
    if (facts.has(key)) return;
    const entry = localByKey.get(key);
    facts.set(key, {
      diskId,
      index,
      lockedByUs: view.paths.get(key)?.session === sessionId,
      disk: view.disks.get(diskId) ?? "missing",
      local: entry,
      presence: entry === undefined || observed === undefined ? undefined : presenceOf(entry, observed),
    });
  };
  for (const [key, entry] of view.paths) {
    if (entry.session !== sessionId) continue;
    const [diskId = "", indexText = "0"] = key.split("/");
    consider(key, diskId, Number(indexText));
  }
  for (const [key, entry] of localByKey) consider(key, entry.diskId, entry.index);
  return facts;
}

/** The paths reconcile must act on, in key order. */
export function planReconcile(
  view: ClusterView,
  sessionId: string,
  local: readonly LocalPath[],
  observed: LocalObservation | undefined,
): PlannedPath[] {
  const planned: PlannedPath[] = [];
  for (const [key, facts] of pathFacts(view, sessionId, local, observed)) {
    const action = decidePath(facts);
    if (action !== "none") planned.push({ key, diskId: facts.diskId, index: facts.index, action, facts });
  }
  return planned.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export type DriftKind =
  "locked-not-configured" | "configured-not-locked" | "served-while-stopped" | "partial";

export interface DriftItem {
  diskId: string;
  index: number;
  ip: string;
  kind: DriftKind;
  detail: string;
}

/** Where Consul and the node disagree (what reconcile would repair). */
export function driftOf(
  view: ClusterView,
  sessionId: string | undefined,
  local: readonly LocalPath[],
  observed: LocalObservation | undefined,
): DriftItem[] {
  const drift: DriftItem[] = [];
  for (const facts of pathFacts(view, sessionId ?? "", local, observed).values()) {
    const ip = facts.local?.ip ?? "";
    const base = { diskId: facts.diskId, index: facts.index, ip };
    if (facts.local === undefined) {
      if (facts.lockedByUs && facts.disk === "running") {
        drift.push({
          ...base,
          kind: "locked-not-configured",
          detail: "this node holds the lock; nothing is configured here",
        });
      }
      continue;
    }
    if (!facts.lockedByUs) {
      drift.push({
        ...base,
        kind: "configured-not-locked",
        detail: `configured here (${facts.local.state}) without the lock`,
      });
    }
    if (facts.disk === "stopped") {
      drift.push({ ...base, kind: "served-while-stopped", detail: "the disk is stopped" });
    }
    const presence = facts.presence;
    if (facts.local.state !== "served") {
      drift.push({ ...base, kind: "partial", detail: `the path is ${facts.local.state}` });
    } else if (presence !== undefined && (!presence.ipPresent || !presence.portalEnabled)) {
      const missing = [
        presence.ipPresent ? undefined : "IP missing",
        presence.portalEnabled ? undefined : "portal disabled",
      ];
      drift.push({
        ...base,
        kind: "partial",
        detail: missing.filter((text) => text !== undefined).join(", "),
      });
    }
  }
  return drift.sort((x, y) => x.diskId.localeCompare(y.diskId) || x.index - y.index);
}
