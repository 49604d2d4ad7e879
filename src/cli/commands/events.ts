import type { Command } from "commander";
import {
  Event,
  EventKind,
  eventKindFromJSON,
  eventKindToJSON,
  ListEventsResponse,
  type ListEventsRequest,
} from "../../gen/sanpath/v1/event.js";
import { action, type ActionInput } from "../action.js";
import type { CliSession } from "../client.js";
import { parseDuration } from "../duration.js";
import { UsageError } from "../errors.js";
import { renderTable } from "../table.js";
import { escapeControls } from "../../util/escape-controls.js";

const KIND_NAMES = Object.values(EventKind)
  .filter(
    (value): value is EventKind => typeof value === "number" && value !== EventKind.EVENT_KIND_UNSPECIFIED,
  )
  .map(kindName);

/** EVENT_KIND_JOB_STARTED → "job-started". */
export function kindName(kind: EventKind): string {
  return eventKindToJSON(kind)
    .replace(/^EVENT_KIND_/, "")
    .replaceAll("_", "-")
    .toLowerCase();
}

function parseKind(text: string): EventKind {
  const kind = eventKindFromJSON(`EVENT_KIND_${text.trim().toUpperCase().replaceAll("-", "_")}`);
  if (kind === EventKind.UNRECOGNIZED || kind === EventKind.EVENT_KIND_UNSPECIFIED) {
    throw new UsageError(`--kind: unknown kind ${JSON.stringify(text)}; one of ${KIND_NAMES.join(", ")}`);
  }
  return kind;
}

/** "1h", "30m", "2d" (before now), or an ISO 8601 time. */
export function parseTime(option: string, text: string, now = Date.now()): Date {
  const days = /^(\d+(?:\.\d+)?)d$/.exec(text.trim());
  const ago = days?.[1] !== undefined ? Number(days[1]) * 86_400_000 : parseDuration(text);
  if (ago !== undefined && !/^\d+$/.test(text.trim())) return new Date(now - ago);
  const time = new Date(text);
  if (Number.isNaN(time.getTime()) || !/^\d{4}-/.test(text.trim())) {
    throw new UsageError(
      `${option}: give a duration before now (30m, 1h, 2d) or an ISO time, got ${JSON.stringify(text)}`,
    );
  }
  return time;
}

function duration(ms: number): string {
  if (ms === 0) return "";
  if (ms < 10_000) return `${ms}ms`;
  if (ms < 600_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${(ms / 60_000).toFixed(1)}m`;
}

function where(event: Event): string {
  if (event.diskId === "") return event.ip;
  const path = event.pathIndex === 0 ? event.diskId : `${event.diskId}/${event.pathIndex}`;
  return event.ip === "" ? path : `${path} ${event.ip}`;
}

function fromTo(event: Event): string {
  if (event.fromNode === "" && event.toNode === "") return "";
  return `${event.fromNode === "" ? "(free)" : event.fromNode} → ${event.toNode}`;
}

function why(event: Event): string {
  const parts = [event.result, event.reason].filter((part) => part !== "");
  if (event.jobId !== "") parts.push(`job ${event.jobId}`);
  if (event.epoch !== 0) parts.push(`epoch ${event.epoch}`);
  return parts.join("; ");
}

const COLUMNS = [
  { header: "time", value: (event: Event) => event.time?.toISOString() ?? "" },
  { header: "kind", value: (event: Event) => kindName(event.kind) },
  { header: "node", value: (event: Event) => event.node },
  { header: "disk/path", value: where },
  { header: "from → to", value: fromTo },
  { header: "duration", value: (event: Event) => duration(event.durationMs), align: "right" as const },
  { header: "who", value: (event: Event) => event.actor },
  { header: "why", value: why },
];

export function renderEvents(events: readonly Event[]): string {
  return renderTable(COLUMNS, events, "(no events)");
}

/** One line per event while following: the table's columns, separated by two spaces. */
export function eventLine(event: Event): string {
  return COLUMNS.map((column) => escapeControls(column.value(event)))
    .filter((text) => text !== "")
    .join("  ");
}

function filterOf(input: ActionInput): Omit<ListEventsRequest, "pageSize" | "pageToken"> {
  const { options } = input;
  const text = (name: string): string | undefined => {
    const value = options[name];
    return typeof value === "string" && value !== "" ? value : undefined;
  };
  const kinds = Array.isArray(options["kind"]) ? (options["kind"] as unknown[]) : [];
  const since = text("since");
  const until = text("until");
  const filter = {
    node: text("node") ?? "",
    diskId: text("disk") ?? "",
    kinds: kinds
      .flatMap((kind) => String(kind).split(","))
      .filter((kind) => kind !== "")
      .map(parseKind),
    since: since === undefined ? undefined : parseTime("--since", since),
    until: until === undefined ? undefined : parseTime("--until", until),
  };
  if (filter.since !== undefined && filter.until !== undefined && filter.since > filter.until) {
    throw new UsageError("--since is after --until");
  }
  return filter;
}

async function listAll(session: CliSession, input: ActionInput): Promise<Event[]> {
  const filter = filterOf(input);
  const limitText = input.options["limit"];
  const limit = typeof limitText === "string" ? Number(limitText) : 1000;
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit must be a whole number ≥ 1, got ${JSON.stringify(limitText)}`);
  const events: Event[] = [];
  let pageToken = "";
  do {
    const answer = await session.unary<ListEventsResponse>((metadata, options, done) =>
      session.events.listEvents(
        { ...filter, pageSize: Math.min(1000, limit - events.length), pageToken },
        metadata,
        options,
        done,
      ),
    );
    events.push(...answer.events);
    pageToken = answer.nextPageToken;
  } while (pageToken !== "" && events.length < limit);
  return events;
}

async function follow(session: CliSession, input: ActionInput): Promise<void> {
  const filter = filterOf(input);
  const json = session.options.output === "json";
  const call = session.events.watchEvents({
    ...filter,
    since: filter.since ?? new Date(Date.now() - 600_000),
  });
  const stop = (): void => call.cancel();
  process.once("SIGINT", stop);
  try {
    for await (const message of session.stream<{ event?: Event }>(call)) {
      const event = message.event;
      if (event === undefined) continue;
      process.stdout.write(`${json ? JSON.stringify(Event.toJSON(event)) : eventLine(event)}\n`);
    }
  } catch (error) {
    if ((error as { code?: unknown }).code === 1) return; // cancelled by Ctrl-C
    throw error;
  } finally {
    process.off("SIGINT", stop);
  }
}

/** `sanpath events`: the event history, and --follow to watch it. */
export function registerEventCommands(program: Command): void {
  program
    .command("events")
    .description(
      "what happened: failovers, placements, moves, jobs, fences, degradations, coordinator changes, cordons, drains",
    )
    .option("--node <node>", "only events about this node (where it happened, or the from / to node)")
    .option("--disk <id>", "only events of this disk (its 5-digit id)")
    .option("--kind <kind...>", `only these kinds (repeat or comma-separate): ${KIND_NAMES.join(", ")}`)
    .option(
      "--since <when>",
      "from this time: a duration before now (30m, 1h, 2d) or an ISO time (default 1h; with --follow 10m)",
    )
    .option("--until <when>", "up to this time (same forms as --since; not with --follow)")
    .option("--limit <n>", "list at most this many events, oldest first (default 1000)")
    .option("-f, --follow", "print the recent events, then each new one as it happens, until Ctrl-C")
    .addHelpText(
      "after",
      `
Columns: TIME (UTC), KIND, NODE (where it happened), DISK/PATH, FROM → TO, DURATION (a failover:
free until served again; a move: its steps; a job: its run), WHO (the job's owner, the caller, or
the node that acted), WHY (result, reason, job, coordinator epoch).

The cluster keeps the last 20,000 events and at most 7 days (docs/DEPLOY.md, "Events").

Examples:
  $ sanpath events                              # the last hour
  $ sanpath events --since 1d --kind failover   # failovers of the last day
  $ sanpath events --node node-2 --since 2024-05-01T00:00:00Z --until 2024-05-02T00:00:00Z
  $ sanpath events --disk 00003 --follow        # follow one disk's paths
  $ sanpath --output json events --since 30m    # for scripts`,
    )
    .action(
      action(async (session, input) => {
        if (input.options["follow"] === true) {
          if (input.options["until"] !== undefined) throw new UsageError("--until does not go with --follow");
          await follow(session, input);
          return undefined;
        }
        if (input.options["since"] === undefined) input.options["since"] = "1h";
        const events = await listAll(session, input);
        session.print({ events: events.map((event) => Event.toJSON(event)) }, () => renderEvents(events));
        return undefined;
      }),
    );
}
