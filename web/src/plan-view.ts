/** A dry-run plan shown before a job starts: moves (source → target), path counts per node, Confirm. */
import type { Job, Plan } from "./api-model.js";
import { badge, button, cell, h, table } from "./dom.js";
import { formatFromTo, formatPathRef } from "./format.js";
import type { PageContext } from "./page-context.js";
import { formatChange, isEmptyPlan, nodeCountRows, planHeadline } from "./plan-summary.js";

export interface PlanViewOptions {
  title: string;
  plan: Plan;
  onConfirm(button: HTMLButtonElement): void;
  onDismiss(): void;
}

/**
 * The Confirm of a plan that starts a job: starts it, then opens the job's live view. A refusal is
 * shown, Confirm is offered again, and `afterRefusal` runs (a refresh, say).
 */
export function startJobOnConfirm(
  context: Pick<PageContext, "clearError" | "showError" | "navigate">,
  start: () => Promise<Job>,
  afterRefusal?: () => void,
): (confirm: HTMLButtonElement) => void {
  return (confirm) => {
    confirm.disabled = true;
    context.clearError();
    start().then(
      (job) => context.navigate({ page: "job", id: job.id }),
      (error: unknown) => {
        confirm.disabled = false;
        context.showError(error);
        afterRefusal?.();
      },
    );
  };
}

export function renderPlanView(options: PlanViewOptions): HTMLElement {
  const { plan } = options;
  const view = h(
    "section",
    { class: "panel plan", "data-testid": "plan-view", "aria-label": "dry-run plan" },
    h("h2", {}, `${options.title}: ${planHeadline(plan)}`),
  );
  if (isEmptyPlan(plan)) {
    view.append(
      h("p", { class: "muted" }, "Nothing to move: the paths are placed as the plan wants them."),
      h(
        "div",
        { class: "actions" },
        button("Close", () => options.onDismiss()),
      ),
    );
    return view;
  }
  const moves = table(["Disk/path", "Disk name", "IP", "Source → target"], { "aria-label": "planned moves" });
  for (const move of plan.moves) {
    moves.body.append(
      h(
        "tr",
        { "data-ip": move.ip },
        cell(formatPathRef(move.diskId, move.index), "mono"),
        cell(move.diskName),
        cell(move.ip, "mono"),
        cell(formatFromTo(move.sourceNode, move.targetNode)),
      ),
    );
  }
  const counts = table(["Node", "Paths before", "Paths after", "Change"], { "aria-label": "paths per node" });
  for (const row of nodeCountRows(plan.before, plan.after)) {
    counts.body.append(
      h(
        "tr",
        {},
        cell(row.node),
        cell(row.before, "num"),
        cell(row.after, "num"),
        cell(badge(formatChange(row.change), row.change === 0 ? "" : "busy"), "num"),
      ),
    );
  }
  const confirm = button(
    "Confirm and start",
    (event) => options.onConfirm(event.currentTarget as HTMLButtonElement),
    {
      class: "primary",
      "data-action": "confirm",
    },
  );
  view.append(
    h(
      "div",
      { class: "plan-tables" },
      h("div", { class: "scroll" }, moves.table),
      h("div", {}, counts.table),
    ),
    h(
      "p",
      { class: "muted" },
      "The job is refused if the cluster changed since this plan was made; plan again then.",
    ),
    h(
      "div",
      { class: "actions" },
      button("Cancel", () => options.onDismiss()),
      confirm,
    ),
  );
  return view;
}
