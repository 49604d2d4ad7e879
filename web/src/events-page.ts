/**
 * #/events: the event history (ListEvents over a chosen window, newest first), then live: each
 * new event from the console's WatchEvents stream that matches the filters goes on top.
 */
import type { ClusterEvent } from "./api-model.js";
import { badge, cell, h, labelled, select, table } from "./dom.js";
import {
  eventWhy,
  matchesEventFilter,
  mergeEvents,
  NO_EVENT_FILTER,
  type EventFilter,
} from "./event-feed.js";
import { formatDuration, formatFromTo, formatPathRef, formatTime } from "./format.js";
import { EVENT_KINDS, eventKindLabel } from "./labels.js";
import type { Page, PageContext } from "./page-context.js";
import { routeHash } from "./route.js";
import { listEvents } from "./sanpath-api.js";

/** Rows kept on the page. */
export const EVENT_LIMIT = 500;
const PAGE_SIZE = 1000;
const MAX_PAGES = 25;

const WINDOWS: readonly (readonly [string, string])[] = [
  ["3600000", "last hour"],
  ["21600000", "last 6 hours"],
  ["86400000", "last 24 hours"],
  ["604800000", "last 7 days"],
];

const KIND_TONE: Readonly<Record<string, string>> = {
  EVENT_KIND_FAILOVER: "warn",
  EVENT_KIND_FENCE: "bad",
  EVENT_KIND_DEGRADED: "bad",
  EVENT_KIND_RECOVERED: "ok",
  EVENT_KIND_COORDINATOR_STEPPED_DOWN: "warn",
  EVENT_KIND_COORDINATOR_ELECTED: "ok",
  EVENT_KIND_JOB_STARTED: "busy",
  EVENT_KIND_JOB_FINISHED: "busy",
};

export function mountEventsPage(context: PageContext): Page {
  const { root } = context;
  let filter: EventFilter = { ...NO_EVENT_FILTER };
  let events: ClusterEvent[] = [];
  let pending: ClusterEvent[] | undefined;
  let generation = 0;
  let frame: number | undefined;
  let disposed = false;

  const nodeInput = h("input", { type: "search", placeholder: "any node", "aria-label": "node" });
  const diskInput = h("input", {
    type: "search",
    placeholder: "any disk",
    "aria-label": "disk id",
    class: "mono",
  });
  const kindSelect = select(
    [["", "any kind"], ...EVENT_KINDS.map((k): [string, string] => [k, eventKindLabel(k)])],
    "",
    {
      "aria-label": "kind",
    },
  );
  const windowSelect = select(WINDOWS, "3600000", { "aria-label": "history window" });
  const status = h("span", { class: "muted", role: "status" });
  const list = table(
    ["Time (UTC)", "Kind", "Node", "Disk/path", "IP", "From → to", "Duration", "Why", "Actor", "Job"],
    {
      "data-testid": "events-table",
      "aria-label": "events, newest first",
    },
  );
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "filter events" },
    labelled("Node", nodeInput),
    labelled("Disk id", diskInput),
    labelled("Kind", kindSelect),
    labelled("History", windowSelect),
    status,
  );
  form.addEventListener("submit", (event) => event.preventDefault());
  root.replaceChildren(h("h1", {}, "Events"), form, h("section", { class: "panel" }, list.table));

  const eventRow = (event: ClusterEvent): HTMLTableRowElement =>
    h(
      "tr",
      { "data-testid": "event-row", "data-kind": event.kind, "data-id": event.id },
      cell(formatTime(event.time), "mono nowrap"),
      cell(badge(eventKindLabel(event.kind), KIND_TONE[event.kind] ?? "")),
      cell(event.node),
      cell(formatPathRef(event.diskId, event.pathIndex), "mono"),
      cell(event.ip, "mono"),
      cell(formatFromTo(event.fromNode, event.toNode)),
      cell(formatDuration(event.durationMs), "num nowrap"),
      cell(eventWhy(event), "reason"),
      cell(event.actor),
      cell(
        event.jobId === "" ? "" : h("a", { href: routeHash({ page: "job", id: event.jobId }) }, event.jobId),
        "mono",
      ),
    );

  const render = (): void => {
    frame = undefined;
    list.body.replaceChildren(...events.map(eventRow));
    if (events.length === 0 && pending === undefined) {
      list.body.append(h("tr", {}, h("td", { colspan: 10, class: "muted" }, "No events in this window.")));
    }
  };
  const scheduleRender = (): void => {
    frame ??= requestAnimationFrame(render);
  };

  const load = async (): Promise<void> => {
    const mine = ++generation;
    filter = { node: nodeInput.value.trim(), diskId: diskInput.value.trim(), kind: kindSelect.value };
    // Events arriving live while the history loads are kept and merged in after it.
    pending = [];
    events = [];
    status.textContent = "loading…";
    render();
    const since = new Date(Date.now() - Number(windowSelect.value)).toISOString();
    let loaded: ClusterEvent[] = [];
    try {
      let pageToken = "";
      for (let page = 0; page < MAX_PAGES; page++) {
        const result = await listEvents({
          node: filter.node,
          diskId: filter.diskId,
          kinds: filter.kind === "" ? [] : [filter.kind],
          since,
          pageSize: PAGE_SIZE,
          pageToken,
        });
        if (disposed || mine !== generation) return;
        loaded = mergeEvents(loaded, result.events, EVENT_LIMIT);
        pageToken = result.nextPageToken;
        if (pageToken === "") break;
      }
    } catch (error) {
      if (mine === generation) context.showError(error);
    }
    if (disposed || mine !== generation) return;
    events = mergeEvents(loaded, pending, EVENT_LIMIT);
    pending = undefined;
    status.textContent = `${events.length === EVENT_LIMIT ? `newest ${EVENT_LIMIT}` : events.length} events, live`;
    render();
  };

  let reload: ReturnType<typeof setTimeout> | undefined;
  const reloadSoon = (): void => {
    if (reload !== undefined) clearTimeout(reload);
    reload = setTimeout(() => void load(), 300);
  };
  nodeInput.addEventListener("input", reloadSoon);
  diskInput.addEventListener("input", reloadSoon);
  kindSelect.addEventListener("change", () => void load());
  windowSelect.addEventListener("change", () => void load());

  const unsubscribe = context.live.subscribe({
    onEvent: (event) => {
      if (!matchesEventFilter(event, filter)) return;
      if (pending !== undefined) {
        pending.push(event);
        return;
      }
      events = mergeEvents(events, [event], EVENT_LIMIT);
      scheduleRender();
    },
  });
  void load();

  return {
    dispose() {
      disposed = true;
      unsubscribe();
      if (reload !== undefined) clearTimeout(reload);
      if (frame !== undefined) cancelAnimationFrame(frame);
    },
  };
}
