/** The event history list: newest first, without duplicates, filtered like ListEvents. */
import type { ClusterEvent } from "./api-model.js";
import { jobStateLabel } from "./labels.js";

export interface EventFilter {
  /** "" any; else events about this node (its node, from node or to node), as the server filters. */
  node: string;
  /** "" any; else an exact disk id. */
  diskId: string;
  /** "" any; else one EventKind name. */
  kind: string;
}

export const NO_EVENT_FILTER: EventFilter = { node: "", diskId: "", kind: "" };

export function matchesEventFilter(event: ClusterEvent, filter: EventFilter): boolean {
  const node = filter.node.trim();
  if (node !== "" && event.node !== node && event.fromNode !== node && event.toNode !== node) return false;
  const diskId = filter.diskId.trim();
  if (diskId !== "" && event.diskId !== diskId) return false;
  return filter.kind === "" || event.kind === filter.kind;
}

function timeOf(event: ClusterEvent): number {
  const t = Date.parse(event.time);
  return Number.isNaN(t) ? 0 : t;
}

/** Newest first; events of the same millisecond by id, descending. */
export function compareNewestFirst(a: ClusterEvent, b: ClusterEvent): number {
  return timeOf(b) - timeOf(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/**
 * `current` (newest first) with `incoming` merged in: an event already listed (same id) is not
 * added again, the result is newest first and keeps at most `limit` events (the newest).
 */
export function mergeEvents(
  current: readonly ClusterEvent[],
  incoming: readonly ClusterEvent[],
  limit: number,
): ClusterEvent[] {
  const seen = new Set(current.map((e) => e.id));
  const added: ClusterEvent[] = [];
  for (const event of incoming) {
    if (event.id !== "" && seen.has(event.id)) continue;
    seen.add(event.id);
    added.push(event);
  }
  if (added.length === 0) return current.slice(0, limit);
  return [...current, ...added].sort(compareNewestFirst).slice(0, limit);
}

/** The ISO time to resume a watch from: the newest event's, or `fallback` with no events. */
export function resumeSince(events: readonly ClusterEvent[], fallback: string): string {
  let newest: ClusterEvent | undefined;
  for (const event of events) if (newest === undefined || timeOf(event) > timeOf(newest)) newest = event;
  return newest === undefined || newest.time === "" ? fallback : newest.time;
}

/** A bounded set of ids seen, so a resumed watch that sends events again is not shown twice. */
export class SeenIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity: number) {}

  /** True the first time an id is offered (and for events without id); false afterwards. */
  firstTime(id: string): boolean {
    if (id === "") return true;
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
    return true;
  }
}

/** The "why" column: the result and the reason, e.g. "failed: AcquirePath on node2: fenced". */
export function eventWhy(event: ClusterEvent): string {
  // A job's result is its final JobState name.
  const result = event.result.startsWith("JOB_STATE_") ? jobStateLabel(event.result) : event.result;
  return [result, event.reason].filter((s) => s !== "").join(": ");
}
