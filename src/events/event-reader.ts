import type { ConsulKeys } from "../consul/keys.js";
import { invalidField } from "../errors/sanpath-error.js";
import type { KvStore } from "../kv/kv-store.js";
import { isAborted } from "../util/abort.js";
import { jitteredBackoffMs, pause } from "../util/pause.js";
import type { EventKind, RecordedEvent } from "./event-log.js";
import { compareEvents, parseSegment, type SegmentName } from "./event-segment.js";
import { DEFAULT_RETENTION, listSegments } from "./kv-event-log.js";

/** Which events a listing or a follower wants; every field set must match. */
export interface EventFilter {
  /** The node an event is about: its node, from or to. */
  readonly node?: string | undefined;
  readonly diskId?: string | undefined;
  /** Any of these kinds (none: every kind). */
  readonly kinds?: readonly EventKind[] | undefined;
  /** At or after. */
  readonly since?: Date | undefined;
  /** At or before. */
  readonly until?: Date | undefined;
}

export function matches(event: RecordedEvent, filter: EventFilter): boolean {
  if (filter.node !== undefined && filter.node !== "") {
    if (event.node !== filter.node && event.from !== filter.node && event.to !== filter.node) return false;
  }
  if (filter.diskId !== undefined && filter.diskId !== "" && event.diskId !== filter.diskId) return false;
  if (filter.kinds !== undefined && filter.kinds.length > 0 && !filter.kinds.includes(event.kind))
    return false;
  const time = event.time.getTime();
  if (filter.since !== undefined && time < filter.since.getTime()) return false;
  if (filter.until !== undefined && time > filter.until.getTime()) return false;
  return true;
}

export interface ReadOptions {
  signal?: AbortSignal | undefined;
  /** Older events are not served even before compaction removed them (default 7 days). */
  maxAgeMs?: number | undefined;
  now?: () => Date;
}

export interface ListOptions extends ReadOptions {
  pageSize: number;
  /** The next_page_token of the previous page ("" / undefined: the first page). */
  pageToken?: string | undefined;
}

export interface EventPage {
  readonly events: RecordedEvent[];
  /** "" when this was the last page. */
  readonly nextPageToken: string;
}

export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 100;
/** Segments read from Consul at once. */
const READ_PARALLELISM = 16;

interface Cursor {
  readonly ms: number;
  readonly id: string;
}

function encodeToken(event: RecordedEvent): string {
  return Buffer.from(`${event.time.getTime()}|${event.id}`).toString("base64url");
}

function decodeToken(token: string): Cursor {
  const text = Buffer.from(token, "base64url").toString();
  const bar = text.indexOf("|");
  const ms = Number(text.slice(0, bar));
  if (bar <= 0 || !Number.isSafeInteger(ms) || text.length === bar + 1) {
    throw invalidField("page_token", "is not a token this server handed out; start again without it");
  }
  return { ms, id: text.slice(bar + 1) };
}

function after(event: RecordedEvent, cursor: Cursor | undefined): boolean {
  if (cursor === undefined) return true;
  const ms = event.time.getTime();
  return ms > cursor.ms || (ms === cursor.ms && event.id > cursor.id);
}

/** The age bound and the filter's since: whichever is later. */
function lowerBound(filter: EventFilter, options: ReadOptions): number {
  const now = (options.now ?? (() => new Date()))().getTime();
  return Math.max(now - (options.maxAgeMs ?? DEFAULT_RETENTION.maxAgeMs), filter.since?.getTime() ?? 0);
}

async function readSegments(
  kv: KvStore,
  keys: ConsulKeys,
  segments: readonly SegmentName[],
  signal: AbortSignal | undefined,
): Promise<RecordedEvent[]> {
  const values = await Promise.all(
    segments.map((segment) =>
      kv.get(keys.eventSegment(segment.name), signal === undefined ? {} : { signal }),
    ),
  );
  const events: RecordedEvent[] = [];
  values.forEach((entry, place) => {
    const segment = segments[place];
    // Gone meanwhile: compacted.
    if (entry !== undefined && segment !== undefined) events.push(...parseSegment(segment, entry.value));
  });
  return events;
}

/**
 * One page of the history, oldest first (time, then id). Segments are picked by the times in
 * their names and read in time order, only as many as the page needs: segments of different
 * nodes overlap in time, so reading stops once the next segment starts after the page's last event.
 */
export async function listEvents(
  kv: KvStore,
  keys: ConsulKeys,
  filter: EventFilter,
  options: ListOptions,
): Promise<EventPage> {
  const cursor =
    options.pageToken === undefined || options.pageToken === "" ? undefined : decodeToken(options.pageToken);
  const from = Math.max(lowerBound(filter, options), cursor?.ms ?? 0);
  const until = filter.until?.getTime() ?? Number.POSITIVE_INFINITY;
  const candidates = (await listSegments(kv, keys, options.signal)).filter(
    (segment) => segment.lastMs >= from && segment.firstMs <= until,
  );
  const bounded: EventFilter = { ...filter, since: new Date(from) };
  const found: RecordedEvent[] = [];
  let next = 0;
  while (next < candidates.length) {
    const chunk = candidates.slice(next, next + READ_PARALLELISM);
    next += chunk.length;
    for (const event of await readSegments(kv, keys, chunk, options.signal)) {
      if (matches(event, bounded) && after(event, cursor)) found.push(event);
    }
    found.sort(compareEvents);
    const last = found[options.pageSize - 1];
    const following = candidates[next];
    if (last !== undefined && (following === undefined || following.firstMs > last.time.getTime())) break;
  }
  const events = found.slice(0, options.pageSize);
  const more = found.length > options.pageSize || next < candidates.length;
  const lastEvent = events.at(-1);
  return { events, nextPageToken: more && lastEvent !== undefined ? encodeToken(lastEvent) : "" };
}

export interface FollowOptions extends ReadOptions {
  signal: AbortSignal;
  /** Blocking-query wait (default 30 s). */
  waitSeconds?: number;
  /** Told about Consul failures; following goes on after a back-off. */
  onError?: (error: unknown) => void;
}

/**
 * The history as it is written: first what is stored from `filter.since` on (nothing when since is
 * unset), then each new segment as it appears, its events in time order. Followers block on the
 * head key every writer rewrites, then list segment names and read the ones not seen yet (so a
 * segment from a node whose clock is behind is not missed). Ends when `signal` aborts.
 */
export async function* followEvents(
  kv: KvStore,
  keys: ConsulKeys,
  filter: EventFilter,
  options: FollowOptions,
): AsyncGenerator<RecordedEvent, void, undefined> {
  const { signal } = options;
  let index = 0;
  let seen: Set<string> | undefined;
  let failures = 0;
  const live: EventFilter = { ...filter, since: undefined };
  while (!signal.aborted) {
    try {
      // The head's index first, then the names: a segment written in between is seen either way.
      const answer = await kv.getBlocking(keys.eventsHead(), {
        index,
        waitSeconds: seen === undefined ? 1 : (options.waitSeconds ?? 30),
        signal,
      });
      const segments = await listSegments(kv, keys, signal);
      let fresh: SegmentName[];
      let wanted: EventFilter;
      if (seen === undefined) {
        const from = lowerBound(filter, options);
        fresh = filter.since === undefined ? [] : segments.filter((segment) => segment.lastMs >= from);
        wanted = { ...filter, since: new Date(from) };
      } else {
        const before = seen;
        fresh = segments.filter((segment) => !before.has(segment.name));
        wanted = live;
      }
      const events = (await readSegments(kv, keys, fresh, signal))
        .filter((event) => matches(event, wanted))
        .sort(compareEvents);
      index = answer.index;
      seen = new Set(segments.map((segment) => segment.name));
      failures = 0;
      for (const event of events) yield event;
    } catch (error) {
      if (isAborted(signal)) return;
      options.onError?.(error);
      failures++;
      index = 0;
      if (!(await pause(jitteredBackoffMs(failures, 100, 5000), signal))) return;
    }
  }
}
