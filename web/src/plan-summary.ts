/** A dry-run plan (PlanReassignment) as tables: moves, and path counts per node before and after. */
import type { NodeCount, Plan } from "./api-model.js";
import { compareNames } from "./cluster-overview.js";

export interface NodeCountRow {
  node: string;
  before: number;
  after: number;
  /** after − before. */
  change: number;
}

/** One row per node named in either list, in natural order; a node missing from a list has 0. */
export function nodeCountRows(before: readonly NodeCount[], after: readonly NodeCount[]): NodeCountRow[] {
  const rows = new Map<string, NodeCountRow>();
  const row = (node: string): NodeCountRow => {
    let r = rows.get(node);
    if (r === undefined) {
      r = { node, before: 0, after: 0, change: 0 };
      rows.set(node, r);
    }
    return r;
  };
  for (const c of before) row(c.node).before += c.paths;
  for (const c of after) row(c.node).after += c.paths;
  for (const r of rows.values()) r.change = r.after - r.before;
  return [...rows.values()].sort((a, b) => compareNames(a.node, b.node));
}

/** "+3", "−2" (a real minus sign), "0". */
export function formatChange(change: number): string {
  if (change > 0) return `+${change}`;
  if (change < 0) return `\u2212${-change}`;
  return "0";
}

export function isEmptyPlan(plan: Plan): boolean {
  return plan.moves.length === 0;
}

/** "12 moves" / "1 move". */
export function planHeadline(plan: Plan): string {
  const n = plan.moves.length;
  return n === 0 ? "nothing to move" : `${n} ${n === 1 ? "move" : "moves"}`;
}
