/** The overview page's figures, computed from ListNodes, ListPaths and ListReassignments. */
import type { Job, NodeSummary, PathInfo } from "./api-model.js";
import { isActiveJobState } from "./labels.js";

export interface StateFlag {
  label: "serving" | "offline" | "degraded" | "cordoned";
  /** CSS tone: "ok", "bad" or "warn". */
  tone: string;
  /** Longer text for a tooltip and for screen readers (the degraded reason). */
  detail: string;
}

/** A node's state badges; several can hold at once (an offline, cordoned node). */
export function nodeStateFlags(node: NodeSummary): StateFlag[] {
  const flags: StateFlag[] = [];
  if (!node.online) flags.push({ label: "offline", tone: "bad", detail: "no live Consul session" });
  else if (!node.degraded) flags.push({ label: "serving", tone: "ok", detail: "online" });
  if (node.degraded) {
    flags.push({ label: "degraded", tone: "bad", detail: node.degradedReason || "data path failed" });
  }
  if (node.cordoned) flags.push({ label: "cordoned", tone: "warn", detail: "given no new paths" });
  return flags;
}

/** Node names in natural order: node2 before node10. */
export function compareNames(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true, sensitivity: "base" });
}

export function sortNodes(nodes: readonly NodeSummary[]): NodeSummary[] {
  return [...nodes].sort((a, b) => compareNames(a.name, b.name));
}

/** node → subnet → number of paths it serves in that subnet. Unserved paths are left out. */
export function pathsPerSubnetByNode(paths: readonly PathInfo[]): Map<string, Map<number, number>> {
  const byNode = new Map<string, Map<number, number>>();
  for (const path of paths) {
    if (path.node === "") continue;
    let bySubnet = byNode.get(path.node);
    if (bySubnet === undefined) {
      bySubnet = new Map();
      byNode.set(path.node, bySubnet);
    }
    bySubnet.set(path.subnet, (bySubnet.get(path.subnet) ?? 0) + 1);
  }
  return byNode;
}

/** "subnet 1: 4, subnet 2: 3" in subnet order; "" when the node serves nothing. */
export function formatSubnetCounts(bySubnet: ReadonlyMap<number, number> | undefined): string {
  if (bySubnet === undefined) return "";
  return [...bySubnet.entries()]
    .sort(([a], [b]) => a - b)
    .map(([subnet, count]) => `subnet ${subnet}: ${count}`)
    .join(", ");
}

export interface PathTotals {
  disks: number;
  paths: number;
  /** Paths nobody serves now. */
  unserved: number;
}

export function pathTotals(paths: readonly PathInfo[]): PathTotals {
  return {
    disks: new Set(paths.map((p) => p.diskId)).size,
    paths: paths.length,
    unserved: paths.filter((p) => p.node === "").length,
  };
}

/** The job that runs now (pending, running or cancelling), if any. */
export function activeJob(jobs: readonly Job[]): Job | undefined {
  return jobs.find((job) => isActiveJobState(job.state));
}

/** "reassignment in progress: moved 3 / failed 1 / pending 6" (pending counts moves under way). */
export function activeJobSummary(job: Job): string {
  const t = job.totals;
  const pending = Math.max(0, t.total - t.succeeded - t.failed - t.cancelled);
  return `reassignment in progress: moved ${t.succeeded} / failed ${t.failed} / pending ${pending}`;
}
