/**
 * #/jobs/<id>: one job, live. GetReassignment gives the state now; WatchReassignment (after the
 * job's last sequence) moves each path's phase and the totals on; the final state is shown in an
 * element with `data-job-state`.
 */
import { ApiError } from "./api-client.js";
import { confirmAction } from "./confirm-dialog.js";
import { badge, button, cell, h, replaceChildren, table } from "./dom.js";
import { openStream, type StreamHandle } from "./event-stream.js";
import { formatFromTo, formatPathRef, formatTime } from "./format.js";
import {
  applyJobMessage,
  jobProgress,
  jobViewOf,
  mergeFinalState,
  phaseLabel,
  type JobPathRow,
  type JobView,
} from "./job-progress.js";
import { isActiveJobState, jobKindLabel, jobStateLabel, toneOf } from "./labels.js";
import { parseJobWatchMessage } from "./api-model.js";
import type { Page, PageContext } from "./page-context.js";
import { canManagePaths } from "./roles.js";
import { cancelReassignment, getJob } from "./sanpath-api.js";

const RECONNECT_MS = 2000;

/** Errors worth trying again after a pause (no coordinator, a node restarting). */
function isTransient(code: string): boolean {
  return code === "UNAVAILABLE" || code === "DEADLINE_EXCEEDED" || code === "HTTP_502" || code === "HTTP_503";
}

export function mountJobPage(context: PageContext, id: string): Page {
  const { root } = context;
  const manage = canManagePaths(context.session.role);
  let view: JobView | undefined;
  let stream: StreamHandle | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let frame: number | undefined;
  let disposed = false;

  const heading = h("h1", {}, `Job ${id}`);
  const meta = h("p", { class: "muted" }, "loading…");
  const state = h("div", { class: "job-state", "data-job-state": "", role: "status" });
  const progress = h("progress", {
    max: 1,
    value: 0,
    "data-testid": "job-progress",
    "aria-label": "moves done",
  });
  const progressText = h("span", { class: "progress-text" });
  const totals = h("dl", { class: "job-totals" });
  const actions = h("div", { class: "actions" });
  const paths = table(["Disk/path", "Disk name", "IP", "Source → target", "Phase", "Reason"], {
    "aria-label": "moves of the job",
  });
  const rows = new Map<string, { row: JobPathRow; element: HTMLTableRowElement }>();
  root.replaceChildren(
    h(
      "section",
      { class: "job-view", "data-testid": "job-view", "data-job": id },
      h("div", { class: "title-row" }, heading, h("div", { class: "spacer" }), actions),
      meta,
      h(
        "div",
        { class: "job-summary panel" },
        state,
        h("div", { class: "progress" }, progress, progressText),
        totals,
      ),
      h("section", { class: "panel" }, h("h2", {}, "Paths"), paths.table),
    ),
  );

  const cancel = button(
    "Cancel job",
    () => {
      void confirmAction({
        title: `Cancel job ${id}?`,
        body: "Pending moves are dropped; moves already under way finish.",
        confirmLabel: "Cancel the job",
        danger: true,
      }).then(async (yes) => {
        if (!yes) return;
        try {
          context.clearError();
          await cancelReassignment(id);
        } catch (error) {
          context.showError(error);
        }
      });
    },
    { class: "danger", "data-action": "cancel" },
  );

  const renderRow = (row: JobPathRow): HTMLTableRowElement =>
    h(
      "tr",
      { "data-ip": row.ip, "data-phase": row.phase },
      cell(formatPathRef(row.diskId, row.index), "mono"),
      cell(row.diskName),
      cell(row.ip, "mono"),
      cell(formatFromTo(row.sourceNode, row.targetNode)),
      cell(badge(phaseLabel(row.phase), toneOf(row.phase))),
      cell(row.reason, "reason"),
    );

  const render = (): void => {
    frame = undefined;
    if (view === undefined) return;
    const v = view;
    replaceChildren(
      meta,
      `${jobKindLabel(v.kind)}${v.drainNode === "" ? "" : ` of ${v.drainNode}`}`,
      v.startedBy === "" ? "" : `, started by ${v.startedBy}`,
      v.createTime === "" ? "" : ` at ${formatTime(v.createTime)} UTC`,
      v.finishTime === "" ? "" : `, finished ${formatTime(v.finishTime)} UTC`,
    );
    state.dataset["jobState"] = v.state;
    state.className = `job-state tone-${toneOf(v.state) || "none"}${v.finished ? " final" : ""}`;
    state.textContent = v.finished
      ? `Finished: ${jobStateLabel(v.state)}`
      : jobStateLabel(v.state) || "unknown";
    const { done, total } = jobProgress(v.totals);
    progress.max = Math.max(total, 1);
    progress.value = done;
    progressText.textContent = `${done} / ${total} moves done`;
    replaceChildren(
      totals,
      ...(["pending", "moving", "succeeded", "failed", "cancelled"] as const).flatMap((name) => [
        h("dt", {}, name),
        h("dd", { "data-total": name }, v.totals[name]),
      ]),
    );
    actions.replaceChildren(...(manage && isActiveJobState(v.state) && !v.finished ? [cancel] : []));
    // Only rows whose model changed are rebuilt (the reducer keeps unchanged rows as they are).
    for (const row of v.rows) {
      const known = rows.get(row.key);
      if (known?.row === row) continue;
      const element = renderRow(row);
      if (known === undefined) paths.body.append(element);
      else known.element.replaceWith(element);
      rows.set(row.key, { row, element });
    }
  };
  const scheduleRender = (): void => {
    frame ??= requestAnimationFrame(render);
  };

  const watch = (): void => {
    if (disposed || view === undefined || view.finished) return;
    stream = openStream(
      "AssignmentService",
      "WatchReassignment",
      { id, afterSequence: view.lastSequence, stopWhenDone: true },
      {
        onMessage: (data) => {
          if (view === undefined) return;
          view = applyJobMessage(view, parseJobWatchMessage(data));
          scheduleRender();
        },
        // The stream ends after the job's last event; the stored job has its final state and
        // times (the rows keep what the events said, e.g. the reason of a new target).
        onEnd: () => void finish(),
        onServerError: (error) => {
          context.showError(new ApiError(0, error.code, error.message));
          if (isTransient(error.code)) retryLater();
        },
        onTransportError: retryLater,
      },
    );
  };
  function retryLater(): void {
    stream = undefined;
    if (disposed) return;
    retry = setTimeout(() => void load(true), RECONNECT_MS);
  }

  const finish = async (): Promise<void> => {
    try {
      const job = await getJob(id);
      if (disposed || view === undefined) return;
      view = mergeFinalState(view, jobViewOf(job));
      render();
    } catch (error) {
      context.showError(error);
    }
  };

  const load = async (thenWatch: boolean): Promise<void> => {
    try {
      const job = await getJob(id);
      if (disposed) return;
      const fresh = jobViewOf(job);
      // A resumed watch continues from whichever of the two is further on.
      view = view !== undefined && view.lastSequence > fresh.lastSequence && !fresh.finished ? view : fresh;
      rows.clear();
      paths.body.replaceChildren();
      render();
      if (thenWatch) watch();
    } catch (error) {
      context.showError(error);
      const transient = error instanceof ApiError && (error.status === 0 || isTransient(error.code));
      if (thenWatch && transient && !disposed) retry = setTimeout(() => void load(true), RECONNECT_MS * 3);
    }
  };
  void load(true);

  return {
    dispose() {
      disposed = true;
      stream?.close();
      if (retry !== undefined) clearTimeout(retry);
      if (frame !== undefined) cancelAnimationFrame(frame);
    },
  };
}
