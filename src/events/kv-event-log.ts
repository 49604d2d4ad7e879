import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage } from "../errors/sanpath-error.js";
import type { KvOperation, KvStore } from "../kv/kv-store.js";
import { TransactionConflictError } from "../kv/transaction-conflict.js";
import type { Logger } from "../log/logger.js";
import { isAborted } from "../util/abort.js";
import { jitteredBackoffMs, pause } from "../util/pause.js";
import type { EventInput, EventLog } from "./event-log.js";
import {
  compareSegments,
  MAX_SEGMENT_EVENTS,
  parseSegmentName,
  segmentName,
  serializeSegment,
  storedEvent,
  type SegmentName,
} from "./event-segment.js";

/** How much history Consul keeps (documented in docs/DEPLOY.md, "Events"). */
export interface EventRetention {
  /** Events kept at least (the oldest segments beyond it are deleted); default 20,000. */
  maxEvents: number;
  /** Events older than this are deleted (and never served); default 7 days. */
  maxAgeMs: number;
}

export const DEFAULT_RETENTION: EventRetention = { maxEvents: 20_000, maxAgeMs: 7 * 24 * 3600_000 };

export interface KvEventLogOptions {
  kv: KvStore;
  keys: ConsulKeys;
  /** This sanpathd: in every segment name it writes (recordedBy). */
  nodeName: string;
  logger: Logger;
  retention?: EventRetention;
  /** After the first event of a batch, wait this long for more before writing (default 200 ms). */
  lingerMs?: number;
  /** Events waiting to be written at most; beyond it the oldest are dropped (default 10,000). */
  maxBuffered?: number;
  /**
   * Compaction runs at most this often after writes, and at least this often without (default
   * 60 s; 0: only when `compact` is called).
   */
  compactEveryMs?: number;
  now?: () => Date;
  /** Told how many events were written, and how many were given up and why (metrics). */
  observer?: EventWriteObserver;
}

/** Why events were given up: too many waiting (Consul down long), or still queued at stop. */
export type EventDropReason = "overflow" | "stop";

export interface EventWriteObserver {
  written(count: number): void;
  dropped(reason: EventDropReason, count: number): void;
}

interface Pending {
  readonly event: EventInput;
  readonly time: Date;
}

/**
 * The event history's writer on one sanpathd (the EventLog the core tells). `record` only queues;
 * a background writer sends the queue in batches: one Consul transaction per segment of up to
 * MAX_SEGMENT_EVENTS events (a create-only write of the segment's key, and the head key that
 * followers block on), so 4,000 failovers at once are 20 writes. Every node writes segments of its
 * own (its name and a sequence in the key), so writers never contend; a name taken already (a
 * restarted process in the same millisecond) is retried with the next sequence. A write Consul did
 * not answer is retried with back-off, the events kept; only more than `maxBuffered` waiting events
 * drop the oldest (logged). Compaction (any writer, after writes and on a timer) deletes the oldest
 * segments while the rest still hold `maxEvents`, and every segment whose newest event is older
 * than `maxAgeMs`: the history is bounded by count and age.
 */
export class KvEventLog implements EventLog {
  private readonly options: KvEventLogOptions;
  private readonly retention: EventRetention;
  private readonly now: () => Date;
  private readonly queue: Pending[] = [];
  private readonly stopping = new AbortController();
  private seq = 0;
  private dropped = 0;
  private writing: Promise<void> | undefined;
  private lastCompaction = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(options: KvEventLogOptions) {
    this.options = options;
    this.retention = options.retention ?? DEFAULT_RETENTION;
    this.now = options.now ?? (() => new Date());
    const every = options.compactEveryMs ?? 60_000;
    this.timer = setInterval(() => void this.compactSoon(true), every === 0 ? 2 ** 30 : every);
    this.timer.unref();
  }

  record(event: EventInput): void {
    try {
      if (this.stopping.signal.aborted) return;
      this.queue.push({ event, time: event.time ?? this.now() });
      const max = this.options.maxBuffered ?? 10_000;
      if (this.queue.length > max) {
        const overflow = this.queue.length - max;
        this.dropped += overflow;
        this.queue.splice(0, overflow);
        this.options.observer?.dropped("overflow", overflow);
      }
      this.startWriting();
    } catch {
      // Never the caller's problem.
    }
  }

  /** Events waiting to be written. */
  get queued(): number {
    return this.queue.length;
  }

  /** Resolves once every event recorded so far is written (or given up at close). */
  async flushed(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }

  /** Writes what is queued (waiting up to `graceMs` for Consul), then stops. */
  async close(graceMs = 3000): Promise<void> {
    clearInterval(this.timer);
    const timeout = setTimeout(() => this.stopping.abort(), graceMs);
    try {
      await this.flushed();
    } finally {
      clearTimeout(timeout);
      this.stopping.abort();
    }
    if (this.queue.length > 0) {
      this.options.logger.warn({ events: this.queue.length }, "events not written before stop: dropped");
      this.options.observer?.dropped("stop", this.queue.length);
      this.queue.splice(0);
    }
  }

  private startWriting(): void {
    if (this.writing !== undefined) return;
    this.writing = this.drain().finally(() => {
      this.writing = undefined;
      if (this.queue.length > 0 && !this.stopping.signal.aborted) this.startWriting();
    });
  }

  private async drain(): Promise<void> {
    const { signal } = this.stopping;
    await pause(this.options.lingerMs ?? 200, signal);
    let failures = 0;
    while (this.queue.length > 0 && !signal.aborted) {
      if (this.dropped > 0) {
        this.options.logger.warn(
          { dropped: this.dropped },
          "event history: too many events waiting; oldest dropped",
        );
        this.dropped = 0;
      }
      const batch = this.queue.slice(0, MAX_SEGMENT_EVENTS);
      try {
        await this.write(batch);
        // Only now: events dropped meanwhile (overflow) were the oldest, which may be this batch.
        const written = new Set(batch);
        let taken = 0;
        while (taken < this.queue.length && written.has(this.queue[taken] as Pending)) taken++;
        this.queue.splice(0, taken);
        this.options.observer?.written(batch.length);
        failures = 0;
      } catch (error) {
        if (isAborted(signal)) return;
        failures++;
        if (failures === 1 || failures % 20 === 0) {
          this.options.logger.warn(
            { events: this.queue.length, attempt: failures, err: errorMessage(error) },
            "event history: writing to Consul failed; trying again",
          );
        }
        await pause(jitteredBackoffMs(failures, 100, 5000), signal);
      }
    }
    void this.compactSoon(false);
  }

  private async write(batch: readonly Pending[]): Promise<void> {
    const { kv, keys, nodeName } = this.options;
    const times = batch.map((pending) => pending.time.getTime());
    const value = serializeSegment(batch.map((pending) => storedEvent(pending.event, pending.time)));
    for (;;) {
      this.seq++;
      const name = segmentName(Math.min(...times), Math.max(...times), nodeName, this.seq, batch.length);
      const operations: KvOperation[] = [
        { verb: "cas", key: keys.eventSegment(name), value, index: 0 },
        { verb: "set", key: keys.eventsHead(), value: name },
      ];
      try {
        await kv.transaction(operations, { signal: this.stopping.signal, timeoutMs: 10_000 });
        return;
      } catch (error) {
        // The name exists (a previous process of this node, same millisecond): take the next one.
        if (error instanceof TransactionConflictError && error.opIndex === 0) continue;
        throw error;
      }
    }
  }

  private async compactSoon(timer: boolean): Promise<void> {
    const now = Date.now();
    const every = this.options.compactEveryMs ?? 60_000;
    if (every === 0 || (!timer && now - this.lastCompaction < every)) return;
    this.lastCompaction = now;
    try {
      await this.compact();
    } catch (error) {
      this.options.logger.debug({ err: errorMessage(error) }, "event history: compaction failed (next time)");
    }
  }

  /** Deletes the segments beyond the retention; returns how many. */
  async compact(): Promise<number> {
    const { kv, keys } = this.options;
    const doomed = segmentsBeyond(
      await listSegments(kv, keys, this.stopping.signal),
      this.retention,
      this.now().getTime(),
    );
    if (doomed.length === 0) return 0;
    // Deleting a segment another writer deleted already is no error: compaction may run anywhere.
    await kv.transaction(
      doomed.map((segment): KvOperation => ({ verb: "delete", key: keys.eventSegment(segment.name) })),
      { signal: this.stopping.signal, timeoutMs: 30_000 },
    );
    this.options.logger.debug({ segments: doomed.length }, "event history compacted");
    return doomed.length;
  }
}

/** Every segment in Consul, oldest first (names only: no value is read). */
export async function listSegments(
  kv: KvStore,
  keys: ConsulKeys,
  signal?: AbortSignal,
): Promise<SegmentName[]> {
  const names = await kv.keys(keys.eventSegments(), signal === undefined ? {} : { signal });
  const segments: SegmentName[] = [];
  for (const key of names) {
    const name = keys.parseEventSegment(key);
    const segment = name === undefined ? undefined : parseSegmentName(name);
    if (segment !== undefined) segments.push(segment);
  }
  return segments.sort(compareSegments);
}

/**
 * The segments retention deletes (`segments` oldest first): whole segments, oldest first, while the
 * ones left still hold `maxEvents`; and every segment entirely older than `maxAgeMs`.
 */
export function segmentsBeyond(
  segments: readonly SegmentName[],
  retention: EventRetention,
  nowMs: number,
): SegmentName[] {
  let total = segments.reduce((sum, segment) => sum + segment.count, 0);
  const doomed: SegmentName[] = [];
  let counting = true;
  for (const segment of segments) {
    const tooOld = segment.lastMs < nowMs - retention.maxAgeMs;
    // Never a newer segment for the count while an older one stays.
    if (counting && total - segment.count < retention.maxEvents) counting = false;
    if (!tooOld && !counting) continue;
    doomed.push(segment);
    total -= segment.count;
  }
  return doomed;
}
