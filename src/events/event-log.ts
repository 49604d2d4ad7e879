/**
 * What the stateful core tells the event history about, as it happens: failovers, placements,
 * moves, jobs, fences, degradations, coordinator changes, cordons and drains (issue #16). The store
 * behind it (kv-event-log.ts) keeps them in Consul under `<root>/Events/`, bounded by count and
 * age; EventService serves them. `record` is fire-and-forget: it never throws and never waits for
 * Consul.
 */
export interface EventLog {
  record(event: EventInput): void;
}

/** Every kind of event, in the order the proto enum has them. */
export const EVENT_KINDS = [
  "failover",
  "placement",
  "move",
  "job-started",
  "job-finished",
  "fence",
  "degraded",
  "recovered",
  "coordinator-elected",
  "coordinator-stepped-down",
  "cordon",
  "uncordon",
  "drain",
] as const;

export type EventKind = (typeof EVENT_KINDS)[number];

export function isEventKind(text: string): text is EventKind {
  return (EVENT_KINDS as readonly string[]).includes(text);
}

/**
 * One thing that happened. Only `kind` is required; what a kind fills in:
 * - failover / placement: node (= to), diskId, pathIndex, ip, from (the last holder; failover:
 *   it lost its session), to, durationMs (free → served), reason (why it was free), actor (the
 *   coordinator node), epoch;
 * - move: node (= to), diskId, pathIndex, ip, from, to, durationMs, result ("succeeded" /
 *   "failed"), reason (why it failed), jobId, actor (the job's owner);
 * - job-started / job-finished: jobId, actor (the job's owner), reason (kind, drained node, totals),
 *   result (the final state), durationMs (created → finished);
 * - fence: node, reason (cause and detail); degraded / recovered: node, reason;
 * - coordinator-elected / -stepped-down: node, epoch, reason;
 * - cordon / uncordon / drain: node, actor (the caller), jobId (drain).
 */
export interface EventInput {
  readonly kind: EventKind;
  /** When it happened (default: when recorded). */
  readonly time?: Date | undefined;
  /** Where it happened (the node it is about). */
  readonly node?: string | undefined;
  readonly diskId?: string | undefined;
  /** 1-based path number, when the event is about one path. */
  readonly pathIndex?: number | undefined;
  readonly ip?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly durationMs?: number | undefined;
  /** Why. */
  readonly reason?: string | undefined;
  /** Who: the job's owner, the caller's name, or the node that acted. */
  readonly actor?: string | undefined;
  readonly jobId?: string | undefined;
  readonly result?: string | undefined;
  /** The coordinator epoch, for coordinator and placement events. */
  readonly epoch?: number | undefined;
}

/** An event as stored and served: with its id, time, and the node that wrote it. */
export interface RecordedEvent extends EventInput {
  /**
   * Unique and ordered with `time`: "<segment>.<n>" (the segment's key name and the event's place
   * in it, kv-event-log.ts).
   */
  readonly id: string;
  readonly time: Date;
  /** The sanpathd that wrote it. */
  readonly recordedBy: string;
}

/** Records nothing: tests, tools, and code paths without an event history. */
export const NO_EVENTS: EventLog = { record: () => undefined };

/**
 * Forwards to the log set with `attach` (sanpathd: the events component attaches the Consul store
 * when it starts, after the daemon context that hands this to every component exists); records
 * nothing while none is attached.
 */
export class SwitchableEventLog implements EventLog {
  private target: EventLog = NO_EVENTS;

  attach(target: EventLog): void {
    this.target = target;
  }

  detach(): void {
    this.target = NO_EVENTS;
  }

  record(event: EventInput): void {
    try {
      this.target.record(event);
    } catch {
      // A log never breaks its caller.
    }
  }
}
