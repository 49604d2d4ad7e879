/**
 * #/paths: every path with its node, filtered by disk name, IP and node. path-admin and admin
 * select paths and move them: target node (or "auto") → dry-run plan → Confirm → the job view.
 */
import type { PathInfo, PathList, Plan } from "./api-model.js";
import { badge, button, cell, h, labelled, replaceChildren, select, table } from "./dom.js";
import { formatJobStatus } from "./format.js";
import { toneOf } from "./labels.js";
import { liveRefresh } from "./live-refresh.js";
import type { Page, PageContext } from "./page-context.js";
import {
  filterPaths,
  keepSelection,
  nodeChoices,
  NO_FILTER,
  UNSERVED,
  type PathFilter,
} from "./path-filter.js";
import { renderPlanView, startJobOnConfirm } from "./plan-view.js";
import { canManagePaths } from "./roles.js";
import {
  AUTO_TARGET,
  listNodes,
  listPaths,
  manualMove,
  planReassignment,
  startReassignment,
} from "./sanpath-api.js";

export function mountPathsPage(context: PageContext): Page {
  const { root } = context;
  const manage = canManagePaths(context.session.role);
  let filter: PathFilter = { ...NO_FILTER };
  let data: PathList = { paths: [], onlineNodes: [], busy: false, stateIndex: 0 };
  let nodeNames: string[] = [];
  let selected = new Set<string>();
  let disposed = false;

  const diskInput = h("input", { type: "search", placeholder: "any disk", "aria-label": "disk name" });
  const ipInput = h("input", { type: "search", placeholder: "any IP", "aria-label": "IP", class: "mono" });
  const nodeSelect = select([], "", { "aria-label": "node" });
  const summary = h("span", { class: "muted" });
  const moveButton = button("Move selected…", () => openMovePanel(), {
    class: "primary",
    "data-action": "move",
    disabled: true,
  });
  const movePanel = h("div", { class: "move-panel" });
  const selectAll = h("input", { type: "checkbox", "aria-label": "select every listed path" });
  const headers = ["Disk id", "Disk name", "Path", "IP", "Subnet", "Node", "Job status"];
  const paths = table(headers, { "data-testid": "paths-table", "aria-label": "paths" });
  if (manage) {
    const th = h("th", { scope: "col", class: "check" }, selectAll);
    paths.table.tHead?.rows[0]?.prepend(th);
  }

  const onFilter = (): void => {
    filter = { diskName: diskInput.value, ip: ipInput.value, node: nodeSelect.value };
    renderTable();
  };
  diskInput.addEventListener("input", onFilter);
  ipInput.addEventListener("input", onFilter);
  nodeSelect.addEventListener("change", onFilter);
  selectAll.addEventListener("change", () => {
    for (const path of filterPaths(data.paths, filter)) {
      if (selectAll.checked) selected.add(path.ip);
      else selected.delete(path.ip);
    }
    renderTable();
  });

  root.replaceChildren(
    h("h1", {}, "Disks and paths"),
    h(
      "form",
      { class: "filters", role: "search", "aria-label": "filter paths" },
      labelled("Disk name", diskInput),
      labelled("IP", ipInput),
      labelled("Node", nodeSelect),
      summary,
      h("div", { class: "spacer" }),
      manage ? moveButton : null,
    ),
    movePanel,
    h("section", { class: "panel" }, paths.table),
  );
  root.querySelector("form")?.addEventListener("submit", (event) => event.preventDefault());

  const renderNodeSelect = (): void => {
    const choices = nodeChoices(nodeNames, data.paths);
    const current = nodeSelect.value;
    const options: [string, string][] = [
      ["", "any node"],
      [UNSERVED, "unserved"],
      ...choices.map((n): [string, string] => [n, n]),
    ];
    const next = select(options, current);
    nodeSelect.replaceChildren(...next.options);
    nodeSelect.value = options.some(([v]) => v === current) ? current : "";
  };

  const renderTable = (): void => {
    selected = keepSelection(selected, data.paths);
    const listed = filterPaths(data.paths, filter);
    const unserved = data.paths.filter((p) => p.node === "").length;
    summary.textContent =
      `${listed.length} of ${data.paths.length} paths` +
      (unserved > 0 ? `, ${unserved} unserved` : "") +
      (selected.size > 0 ? `, ${selected.size} selected` : "") +
      (data.busy ? " — a job is running" : "");
    moveButton.disabled = selected.size === 0;
    selectAll.checked = listed.length > 0 && listed.every((p) => selected.has(p.ip));
    paths.body.replaceChildren(...listed.map(pathRow));
    if (listed.length === 0) {
      paths.body.append(
        h("tr", {}, h("td", { colspan: headers.length + 1, class: "muted" }, "No path matches the filters.")),
      );
    }
  };

  const pathRow = (path: PathInfo): HTMLTableRowElement => {
    const row = h("tr", {
      "data-testid": "path-row",
      "data-ip": path.ip,
      class: path.node === "" ? "unserved" : undefined,
    });
    if (manage) {
      const box = h("input", { type: "checkbox", "aria-label": `select ${path.ip}` });
      box.checked = selected.has(path.ip);
      box.addEventListener("change", () => {
        if (box.checked) selected.add(path.ip);
        else selected.delete(path.ip);
        renderTable();
      });
      row.append(cell(box, "check"));
    }
    const status = formatJobStatus(path);
    row.append(
      cell(path.diskId, "mono"),
      cell(path.diskName),
      cell(path.index, "num"),
      cell(path.ip, "mono"),
      cell(path.subnet, "num"),
      cell(path.node === "" ? badge("unserved", "bad") : path.node),
      cell(status === "" ? "" : badge(status, toneOf(path.jobStatus))),
    );
    return row;
  };

  const closeMovePanel = (): void => {
    movePanel.replaceChildren();
  };

  const openMovePanel = (): void => {
    const ips = [...selected];
    const choices = nodeChoices(nodeNames, data.paths);
    const target = select(
      [[AUTO_TARGET, "auto (the planner chooses)"], ...choices.map((n): [string, string] => [n, n])],
      AUTO_TARGET,
      { "aria-label": "target node" },
    );
    const planButton = button("Plan the move", () => void plan(), { class: "primary" });
    const plan = async (): Promise<void> => {
      const spec = manualMove(ips, target.value);
      planButton.disabled = true;
      try {
        context.clearError();
        const result = await planReassignment(spec);
        if (!disposed) showPlan(spec, result);
      } catch (error) {
        context.showError(error);
      } finally {
        planButton.disabled = false;
      }
    };
    const showPlan = (spec: ReturnType<typeof manualMove>, result: Plan): void => {
      replaceChildren(
        movePanel,
        renderPlanView({
          title: `Move ${ips.length} ${ips.length === 1 ? "path" : "paths"} to ${target.value}`,
          plan: result,
          onDismiss: closeMovePanel,
          onConfirm: startJobOnConfirm(context, () => startReassignment(spec, result.stateIndex)),
        }),
      );
    };
    replaceChildren(
      movePanel,
      h(
        "section",
        { class: "panel", "aria-label": "move selected paths" },
        h("h2", {}, `Move ${ips.length} selected ${ips.length === 1 ? "path" : "paths"}`),
        h("p", { class: "mono small" }, ips.join(", ")),
        h(
          "div",
          { class: "actions" },
          labelled("Target node", target),
          button("Cancel", closeMovePanel),
          planButton,
        ),
      ),
    );
  };

  const refresh = liveRefresh(context.live, async () => {
    try {
      const [list, nodes] = await Promise.all([listPaths(), listNodes()]);
      if (disposed) return;
      data = list;
      nodeNames = nodes.map((n) => n.name);
      renderNodeSelect();
      renderTable();
    } catch (error) {
      context.showError(error);
    }
  });
  return {
    dispose() {
      disposed = true;
      refresh.dispose();
    },
  };
}
