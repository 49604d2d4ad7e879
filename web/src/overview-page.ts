/** #/overview: the coordinator, the nodes with their state and paths, totals, and the running job. */
import type { ClusterInfo, Job, NodeSummary, PathList } from "./api-model.js";
import {
  activeJob,
  activeJobSummary,
  formatSubnetCounts,
  nodeStateFlags,
  pathTotals,
  pathsPerSubnetByNode,
  sortNodes,
} from "./cluster-overview.js";
import { badge, button, cell, h, replaceChildren, table } from "./dom.js";
import { liveRefresh } from "./live-refresh.js";
import type { Page, PageContext } from "./page-context.js";
import { canManagePaths } from "./roles.js";
import { routeHash } from "./route.js";
import { renderPlanView, startJobOnConfirm } from "./plan-view.js";
import {
  cordonNode,
  drainNode,
  getClusterInfo,
  listJobs,
  listPaths,
  planReassignment,
  uncordonNode,
} from "./sanpath-api.js";

interface OverviewData {
  cluster: ClusterInfo;
  paths: PathList;
  jobs: Job[];
}

export function mountOverviewPage(context: PageContext): Page {
  const { root, session } = context;
  const manage = canManagePaths(session.role);
  const coordinator = h("div", { class: "coordinator" });
  const jobBanner = h("div", { class: "job-banner", hidden: true });
  const planArea = h("div");
  const totals = h("div", { class: "totals" });
  const headers = ["Node", "State", "Paths", "Paths per subnet", "Address", "Version"];
  const nodes = table(manage ? [...headers, "Actions"] : headers, {
    "data-testid": "nodes-table",
    "aria-label": "nodes",
  });
  root.replaceChildren(
    h("h1", {}, "Cluster overview"),
    coordinator,
    jobBanner,
    totals,
    planArea,
    h("section", { class: "panel" }, h("h2", {}, "Nodes"), nodes.table),
  );

  const runAction = async (action: () => Promise<unknown>): Promise<void> => {
    try {
      context.clearError();
      await action();
    } catch (error) {
      context.showError(error);
    }
    refresh.now();
  };

  const nodeActions = (node: NodeSummary): HTMLElement => {
    const actions = h("div", { class: "row-actions" });
    if (node.cordoned) {
      actions.append(
        button("Uncordon", () => void runAction(() => uncordonNode(node.name)), {
          "data-action": "uncordon",
          "aria-label": `uncordon ${node.name}`,
        }),
      );
    } else {
      actions.append(
        button("Cordon", () => void runAction(() => cordonNode(node.name)), {
          "data-action": "cordon",
          "aria-label": `cordon ${node.name}`,
        }),
      );
    }
    actions.append(
      button(
        "Drain…",
        () => {
          // The dry-run plan first; Confirm cordons the node and starts the drain.
          context.clearError();
          planReassignment({ drain: { node: node.name } })
            .then((plan) => {
              replaceChildren(
                planArea,
                renderPlanView({
                  title: `Drain ${node.name} (it is cordoned first)`,
                  plan,
                  onDismiss: () => planArea.replaceChildren(),
                  onConfirm: startJobOnConfirm(
                    context,
                    () => drainNode(node.name),
                    () => refresh.now(),
                  ),
                }),
              );
            })
            .catch((error: unknown) => context.showError(error));
        },
        { "data-action": "drain", "aria-label": `drain ${node.name}` },
      ),
    );
    return actions;
  };

  const render = ({ cluster, paths, jobs }: OverviewData): void => {
    const leader = cluster.leader;
    if (leader === undefined) {
      coordinator.className = "coordinator warning";
      replaceChildren(
        coordinator,
        h("strong", {}, "No coordinator"),
        " is elected: free paths are not placed and jobs do not run until one is.",
      );
    } else {
      coordinator.className = "coordinator";
      replaceChildren(
        coordinator,
        "Coordinator ",
        h("strong", { "data-testid": "coordinator" }, leader.node),
        h("span", { class: "muted" }, ` epoch ${leader.epoch}`),
      );
    }

    const job = activeJob(jobs);
    jobBanner.hidden = job === undefined;
    if (job !== undefined) {
      replaceChildren(
        jobBanner,
        h("a", { href: routeHash({ page: "job", id: job.id }) }, activeJobSummary(job)),
        h("span", { class: "muted" }, ` (job ${job.id})`),
      );
    }

    const t = pathTotals(paths.paths);
    const online = cluster.nodes.filter((n) => n.online).length;
    replaceChildren(
      totals,
      total("Disks", cluster.diskCount || t.disks, false),
      total("Paths", t.paths, false),
      total("Unserved paths", t.unserved, t.unserved > 0, "unserved-total"),
      total("Nodes online", `${online} / ${cluster.nodes.length}`, online < cluster.nodes.length),
    );

    const perSubnet = pathsPerSubnetByNode(paths.paths);
    nodes.body.replaceChildren(
      ...sortNodes(cluster.nodes).map((node) =>
        h(
          "tr",
          { "data-testid": "node-row", "data-node": node.name },
          cell([
            node.name,
            node.leader ? h("span", { class: "leader-mark", title: "coordinator" }, " ★ coordinator") : null,
          ]),
          cell(nodeStateFlags(node).map((flag) => badge(flag.label, flag.tone, flag.detail))),
          cell(node.pathCount, "num"),
          cell(formatSubnetCounts(perSubnet.get(node.name))),
          cell(node.address, "mono muted"),
          cell(node.version, "muted"),
          manage ? cell(nodeActions(node)) : null,
        ),
      ),
    );
    if (cluster.nodes.length === 0) {
      nodes.body.replaceChildren(
        h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No nodes are registered.")),
      );
    }
  };

  const refresh = liveRefresh(context.live, async () => {
    try {
      const [cluster, paths, jobs] = await Promise.all([getClusterInfo(), listPaths(), listJobs()]);
      render({ cluster, paths, jobs });
    } catch (error) {
      context.showError(error);
    }
  });
  return { dispose: () => refresh.dispose() };
}

function total(label: string, value: string | number, alert: boolean, testId?: string): HTMLElement {
  return h(
    "div",
    { class: alert ? "total alert" : "total", "data-testid": testId },
    h("div", { class: "total-value" }, value),
    h("div", { class: "total-label" }, label),
  );
}
