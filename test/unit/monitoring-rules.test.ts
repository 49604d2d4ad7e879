/**
 * deploy/monitoring: the alert rules pass `promtool check rules` and their unit tests
 * (`promtool test rules alerts.test.yml`), and the rules and the Grafana dashboard name only
 * metrics a sanpathd exports (PrometheusMetrics' registry, prom-client's process metrics, `up`);
 * every dashboard query parses (promtool checks them as recording rules). promtool comes with
 * Debian's prometheus package (deploy/install-deps.sh): without it these tests fail.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PrometheusMetrics } from "../../src/metrics/prometheus-metrics.js";
import { projectRoot } from "../../src/util/project-root.js";

const MONITORING = join(projectRoot(), "deploy", "monitoring");

/** promtool with these arguments: its exit code and what it printed. */
function promtool(args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile("promtool", args, { timeout: 30_000, cwd: MONITORING }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      const missing =
        error !== null && error.code === "ENOENT" ? "promtool not found: run deploy/install-deps.sh\n" : "";
      resolve({ code, output: `${missing}${stdout}${stderr}` });
    });
  });
}

/** Every series name a sanpathd exports: its registry's metrics, a histogram's _bucket/_sum/_count. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new PrometheusMetrics({ version: "test", node: "test" });
  const names = new Set<string>(["up"]);
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === "histogram") {
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${metric.name}${suffix}`);
    }
  }
  return names;
}

/**
 * The metric names a PromQL expression reads: identifiers of our families (sanpath_, process_,
 * nodejs_, up) outside string literals. Label names, functions and keywords never start so.
 */
function metricNames(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  const names = code.match(/(?<![\w:$])(?:sanpath_|process_|nodejs_)[\w:]*|(?<![\w:$])up(?![\w:])/g) ?? [];
  return [...new Set(names)];
}

/** The `expr:` of every rule of alerts.yml: one line, or a block scalar (`>-`, `|`) below it. */
function ruleExpressions(yaml: string): string[] {
  const lines = yaml.split("\n");
  const exprs: string[] = [];
  lines.forEach((line, index) => {
    const match = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (match === null) return;
    const [, indent = "", rest = ""] = match;
    if (!/^[>|]/.test(rest)) {
      exprs.push(rest);
      return;
    }
    const body: string[] = [];
    for (const next of lines.slice(index + 1)) {
      if (next.trim() !== "" && next.length - next.trimStart().length <= indent.length) break;
      body.push(next.trim());
    }
    exprs.push(body.join(" "));
  });
  return exprs;
}

interface Target {
  expr?: string;
  refId?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: Target[];
  panels?: Panel[];
  datasource?: { type?: string; uid?: string };
}
interface Dashboard {
  uid?: string;
  schemaVersion?: number;
  panels: Panel[];
  templating: { list: { name: string; type: string }[] };
}

function dashboard(): Dashboard {
  return JSON.parse(readFileSync(join(MONITORING, "grafana-dashboard.json"), "utf8")) as Dashboard;
}

/** Every panel of the dashboard, rows' nested panels included. */
function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

function dashboardExpressions(): { panel: string; expr: string }[] {
  return allPanels(dashboard().panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr ?? "" })),
  );
}

describe("deploy/monitoring/alerts.yml", () => {
  it("passes promtool check rules", async () => {
    const result = await promtool(["check", "rules", "alerts.yml"]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it("passes its promtool unit tests (alerts.test.yml)", async () => {
    const result = await promtool(["test", "rules", "alerts.test.yml"]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain("SUCCESS");
  });

  it("has a unit test firing each alert it defines", () => {
    const alerts = [
      ...readFileSync(join(MONITORING, "alerts.yml"), "utf8").matchAll(/^\s*- alert: (\w+)$/gm),
    ].map((match) => match[1]);
    const tests = readFileSync(join(MONITORING, "alerts.test.yml"), "utf8");
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    const untested = alerts.filter(
      (alert) => !new RegExp(`alertname: ${alert ?? ""}\\n\\s+exp_alerts:`).test(tests),
    );
    expect(untested).toEqual([]);
  });

  it("reads only metrics a sanpathd exports", async () => {
    const exported = await exportedNames();
    const exprs = ruleExpressions(readFileSync(join(MONITORING, "alerts.yml"), "utf8"));
    expect(exprs.length).toBeGreaterThanOrEqual(8);
    const unknown = exprs.flatMap((expr) => metricNames(expr).filter((name) => !exported.has(name)));
    expect(unknown).toEqual([]);
  });
});

describe("deploy/monitoring/grafana-dashboard.json", () => {
  const scratch = mkdtempSync(join(tmpdir(), "sanpath-dashboard-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("is a dashboard with a uid, a datasource variable and unique panel ids, every panel on it", () => {
    const board = dashboard();
    expect(board.uid).toMatch(/^[\w-]{1,40}$/);
    expect(board.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(board.templating.list).toContainEqual(
      expect.objectContaining({ name: "datasource", type: "datasource" }),
    );
    const panels = allPanels(board.panels);
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
    for (const panel of panels.filter((each) => each.type !== "row")) {
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: "${datasource}" });
      expect(panel.targets?.length ?? 0, panel.title).toBeGreaterThan(0);
    }
    expect(readFileSync(join(MONITORING, "grafana-dashboard.json"), "utf8")).not.toMatch(/https?:\/\//);
  });

  it("queries only metrics a sanpathd exports", async () => {
    const exported = await exportedNames();
    const targets = dashboardExpressions();
    expect(targets.length).toBeGreaterThan(20);
    const unknown = targets.flatMap(({ panel, expr }) =>
      metricNames(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${panel}: ${name}`),
    );
    expect(unknown).toEqual([]);
    expect(targets.filter(({ expr }) => metricNames(expr).length === 0)).toEqual([]);
  });

  it("has queries that parse (promtool checks them as recording rules)", async () => {
    const rules = dashboardExpressions().map(({ expr }, index) => ({
      record: `dashboard:query_${index}`,
      expr: expr
        .replaceAll("$__rate_interval", "1m")
        .replaceAll("$instance", ".*")
        .replaceAll("$job", "sanpath"),
    }));
    const file = join(scratch, "dashboard-rules.yml");
    // JSON is YAML: promtool reads this as a rule file.
    writeFileSync(file, JSON.stringify({ groups: [{ name: "dashboard", rules }] }));
    const result = await promtool(["check", "rules", file]);
    expect(result.code, result.output).toBe(0);
  });
});
