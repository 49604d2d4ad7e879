/** #/jobs: the reassignment jobs, and "Rebalance…" (auto, PLANNER_AVERAGE) through a dry-run plan. */
import type { Job } from "./api-model.js";
import { compareNames } from "./cluster-overview.js";
import { badge, button, cell, h, replaceChildren, table } from "./dom.js";
import { formatJobTotals, formatTime } from "./format.js";
import { jobKindLabel, jobStateLabel, toneOf } from "./labels.js";
import { liveRefresh } from "./live-refresh.js";
import type { Page, PageContext } from "./page-context.js";
import { renderPlanView, startJobOnConfirm } from "./plan-view.js";
import { canManagePaths } from "./roles.js";
import { routeHash } from "./route.js";
import { AUTO_REBALANCE, listJobs, planReassignment, startReassignment } from "./sanpath-api.js";

const JOB_KIND_EVENTS = new Set([
  "EVENT_KIND_JOB_STARTED",
  "EVENT_KIND_JOB_FINISHED",
  "EVENT_KIND_MOVE",
  "EVENT_KIND_DRAIN",
]);

export function mountJobsPage(context: PageContext): Page {
  const { root } = context;
  const manage = canManagePaths(context.session.role);
  let disposed = false;
  const planArea = h("div");
  const jobs = table(["Job", "Kind", "State", "Moves", "Started by", "Created", "Finished"], {
    "data-testid": "jobs-table",
    "aria-label": "reassignment jobs",
  });
  const rebalance = button(
    "Rebalance…",
    () => {
      rebalance.disabled = true;
      context.clearError();
      planReassignment(AUTO_REBALANCE)
        .then((plan) => {
          if (disposed) return;
          replaceChildren(
            planArea,
            renderPlanView({
              title: "Rebalance (average planner)",
              plan,
              onDismiss: () => planArea.replaceChildren(),
              onConfirm: startJobOnConfirm(context, () => startReassignment(AUTO_REBALANCE, plan.stateIndex)),
            }),
          );
        })
        .catch((error: unknown) => context.showError(error))
        .finally(() => (rebalance.disabled = false));
    },
    { class: "primary", "data-action": "rebalance" },
  );
  root.replaceChildren(
    h(
      "div",
      { class: "title-row" },
      h("h1", {}, "Reassignment jobs"),
      h("div", { class: "spacer" }),
      manage ? rebalance : null,
    ),
    planArea,
    h("section", { class: "panel" }, jobs.table),
  );

  const render = (list: readonly Job[]): void => {
    // Newest first (the server lists the running job last).
    const sorted = [...list].sort(
      (a, b) => compareNames(b.createTime, a.createTime) || compareNames(b.id, a.id),
    );
    jobs.body.replaceChildren(
      ...sorted.map((job) =>
        h(
          "tr",
          { "data-job": job.id, "data-state": job.state },
          cell(h("a", { href: routeHash({ page: "job", id: job.id }) }, job.id), "mono"),
          cell(jobKindLabel(job.kind) + (job.drainNode === "" ? "" : ` ${job.drainNode}`)),
          cell(badge(jobStateLabel(job.state), toneOf(job.state))),
          cell(formatJobTotals(job.totals)),
          cell(job.startedBy),
          cell(formatTime(job.createTime), "mono"),
          cell(formatTime(job.finishTime), "mono"),
        ),
      ),
    );
    if (sorted.length === 0) {
      jobs.body.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No jobs yet.")));
    }
  };

  const refresh = liveRefresh(
    context.live,
    async () => {
      try {
        const list = await listJobs();
        if (!disposed) render(list);
      } catch (error) {
        context.showError(error);
      }
    },
    (event) => JOB_KIND_EVENTS.has(event.kind),
  );
  return {
    dispose() {
      disposed = true;
      refresh.dispose();
    },
  };
}
