import { isEventKind, type EventInput, type RecordedEvent } from "./event-log.js";

/**
 * One key of the event history holds a segment: the events one sanpathd wrote in one batch. Its
 * name says what a reader needs to pick segments without reading them, and sorts by age:
 *
 *   <first ms, 13 digits>_<last ms, 13 digits>_<node>_<writer seq>_<event count>
 *
 * (node names have no "_"). An event's id is "<segment name>.<place in the segment>".
 */
export interface SegmentName {
  readonly name: string;
  readonly firstMs: number;
  readonly lastMs: number;
  readonly node: string;
  readonly seq: number;
  readonly count: number;
}

/** Events one segment holds at most: a Consul value stays far below its 512 KiB limit. */
export const MAX_SEGMENT_EVENTS = 200;
/** Text fields are cut to this many characters. */
export const MAX_TEXT = 500;

const NAME = /^([0-9]{13})_([0-9]{13})_([A-Za-z0-9.-]+)_([0-9]{1,12})_([0-9]{1,6})$/;

export function segmentName(
  firstMs: number,
  lastMs: number,
  node: string,
  seq: number,
  count: number,
): string {
  const pad = (ms: number): string => String(Math.max(0, Math.trunc(ms))).padStart(13, "0");
  return `${pad(firstMs)}_${pad(lastMs)}_${node}_${seq}_${count}`;
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const match = NAME.exec(name);
  if (match === null) return undefined;
  const [, first, last, node, seq, count] = match;
  if (
    first === undefined ||
    last === undefined ||
    node === undefined ||
    seq === undefined ||
    count === undefined
  )
    return undefined;
  return { name, firstMs: Number(first), lastMs: Number(last), node, seq: Number(seq), count: Number(count) };
}

/** Oldest first (then by writer and sequence, so the order is total). */
export function compareSegments(a: SegmentName, b: SegmentName): number {
  return a.firstMs - b.firstMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Time order, then id order: the order every listing has. */
export function compareEvents(a: RecordedEvent, b: RecordedEvent): number {
  return a.time.getTime() - b.time.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

interface StoredEvent {
  time: string;
  kind: string;
  node?: string;
  diskId?: string;
  pathIndex?: number;
  ip?: string;
  from?: string;
  to?: string;
  durationMs?: number;
  reason?: string;
  actor?: string;
  jobId?: string;
  result?: string;
  epoch?: number;
}

const TEXT_FIELDS = ["node", "diskId", "ip", "from", "to", "reason", "actor", "jobId", "result"] as const;
const NUMBER_FIELDS = ["pathIndex", "durationMs", "epoch"] as const;

/** The stored form of one event (JSON; absent fields left out). */
export function storedEvent(event: EventInput, time: Date): StoredEvent {
  const stored: StoredEvent = { time: time.toISOString(), kind: event.kind };
  for (const field of TEXT_FIELDS) {
    const value = event[field];
    if (typeof value === "string" && value !== "") stored[field] = value.slice(0, MAX_TEXT);
  }
  for (const field of NUMBER_FIELDS) {
    const value = event[field];
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) stored[field] = Math.round(value);
  }
  return stored;
}

export function serializeSegment(events: readonly StoredEvent[]): string {
  return JSON.stringify({ v: 1, events });
}

/**
 * The events of a segment's value; events it cannot read (a newer sanpath's kind, a damaged value)
 * are skipped, not fatal: one bad record must not hide the history.
 */
export function parseSegment(segment: SegmentName, value: string): RecordedEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return [];
  }
  const list = (parsed as { events?: unknown } | null)?.events;
  if (!Array.isArray(list)) return [];
  const events: RecordedEvent[] = [];
  list.forEach((item: unknown, place) => {
    if (typeof item !== "object" || item === null) return;
    const raw = item as Record<string, unknown>;
    const kind = raw["kind"];
    const time = typeof raw["time"] === "string" ? new Date(raw["time"]) : undefined;
    if (typeof kind !== "string" || !isEventKind(kind) || time === undefined || Number.isNaN(time.getTime()))
      return;
    const event: Record<string, unknown> = {
      id: `${segment.name}.${place}`,
      time,
      kind,
      recordedBy: segment.node,
    };
    for (const field of TEXT_FIELDS) if (typeof raw[field] === "string") event[field] = raw[field];
    for (const field of NUMBER_FIELDS) if (typeof raw[field] === "number") event[field] = raw[field];
    events.push(event as unknown as RecordedEvent);
  });
  return events;
}
