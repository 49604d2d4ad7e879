import type { ConsulKeys } from "../consul/keys.js";
import { SanpathError } from "../errors/sanpath-error.js";
import { EVENT_KINDS, type EventKind as DomainKind, type RecordedEvent } from "../events/event-log.js";
import {
  DEFAULT_PAGE_SIZE,
  followEvents,
  listEvents,
  MAX_PAGE_SIZE,
  type EventFilter,
} from "../events/event-reader.js";
import type { KvStore } from "../kv/kv-store.js";
import type { Logger } from "../log/logger.js";
import { EventKind, type Event } from "../gen/sanpath/v1/event.js";
import type { ServiceHandlers } from "./service-registry.js";

/** Domain kind ↔ proto enum: "job-started" ↔ EVENT_KIND_JOB_STARTED. */
export function toProtoKind(kind: DomainKind): EventKind {
  return EventKind[`EVENT_KIND_${kind.toUpperCase().replaceAll("-", "_")}` as keyof typeof EventKind];
}

const BY_PROTO = new Map<EventKind, DomainKind>(EVENT_KINDS.map((kind) => [toProtoKind(kind), kind]));

export function toProtoEvent(event: RecordedEvent): Event {
  return {
    id: event.id,
    time: event.time,
    kind: toProtoKind(event.kind),
    node: event.node ?? "",
    diskId: event.diskId ?? "",
    pathIndex: event.pathIndex ?? 0,
    ip: event.ip ?? "",
    fromNode: event.from ?? "",
    toNode: event.to ?? "",
    durationMs: event.durationMs ?? 0,
    reason: event.reason ?? "",
    actor: event.actor ?? "",
    jobId: event.jobId ?? "",
    result: event.result ?? "",
    epoch: event.epoch ?? 0,
    recordedBy: event.recordedBy,
  };
}

function invalid(field: string, message: string): SanpathError {
  return new SanpathError("invalid_argument", `${field}: ${message}`, { reason: "INVALID_FIELD", field });
}

/** The domain filter of a request; INVALID_ARGUMENT naming the field for an unknown kind or a reversed range. */
export function toFilter(request: {
  node: string;
  diskId: string;
  kinds: readonly EventKind[];
  since?: Date | undefined;
  until?: Date | undefined;
}): EventFilter {
  const kinds = request.kinds.map((kind, place) => {
    const domain = BY_PROTO.get(kind);
    if (domain === undefined) throw invalid(`kinds[${place}]`, `unknown event kind ${kind}`);
    return domain;
  });
  if (request.since !== undefined && request.until !== undefined && request.since > request.until) {
    throw invalid("since", "is after until");
  }
  return {
    node: request.node,
    diskId: request.diskId,
    kinds,
    since: request.since,
    until: request.until,
  };
}

export interface EventHandlerDeps {
  kv: KvStore;
  keys: ConsulKeys;
  logger: Logger;
  /** Events older than this are not served (the retention's age). */
  maxAgeMs: number;
}

/** EventService over the history in Consul (src/events); any node answers. */
export function eventHandlers(deps: EventHandlerDeps): ServiceHandlers<"event"> {
  const { kv, keys } = deps;
  return {
    listEvents: async (request, { signal }) => {
      const filter = toFilter(request);
      if (request.pageSize > MAX_PAGE_SIZE) {
        throw invalid("page_size", `must be 1..${MAX_PAGE_SIZE} (0 = ${DEFAULT_PAGE_SIZE})`);
      }
      const page = await listEvents(kv, keys, filter, {
        signal,
        pageSize: request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize,
        pageToken: request.pageToken,
        maxAgeMs: deps.maxAgeMs,
      });
      return { events: page.events.map(toProtoEvent), nextPageToken: page.nextPageToken };
    },
    watchEvents: (request, { signal }) => {
      const filter = toFilter(request);
      return mapEvents(
        followEvents(kv, keys, filter, {
          signal,
          maxAgeMs: deps.maxAgeMs,
          onError: (error) =>
            deps.logger.debug(
              { err: error instanceof Error ? error.message : String(error) },
              "WatchEvents: Consul",
            ),
        }),
      );
    },
  };
}

async function* mapEvents(
  events: AsyncIterable<RecordedEvent>,
): AsyncGenerator<{ event: Event }, void, undefined> {
  for await (const event of events) yield { event: toProtoEvent(event) };
}
