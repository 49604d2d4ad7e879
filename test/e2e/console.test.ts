/**
 * The web console in headless chromium against a 3-node dev cluster, reached as an operator would
 * from the root namespace (the loopback forwarder of `deploy/dev-cluster up`): sign in, see nodes
 * and paths, run a rebalance from its dry-run plan and watch it finish live, see a viewer get no
 * action buttons and its forged call refused, sign in by client certificate, and see a killed
 * node's failover arrive in the event view. With $SANPATH_CONSOLE_SCREENSHOTS set (npm run
 * console:screenshots) it saves each page there.
 */
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addDisk,
  cordonNode,
  uncordonNode,
  waitUntilPlaced,
  withAdmin,
} from "../../src/devcluster/cluster-ops.js";
import { CSRF_HEADER } from "../../src/console/console-api.js";
import {
  consoleContext,
  launchChromium,
  pageProblems,
  screenshot,
  signIn,
} from "../support/console-browser.js";
import { currentPaths, electedCoordinator, useE2eCluster } from "./support.js";

const PATHS = 8;

/**
 * Run in the page (a string: the test's tsconfig has no DOM types): records each job state the
 * job view shows, and marks the page so a reload would show.
 */
const WATCH_JOB_STATES = `
  window.sanpathSeenStates = [];
  window.sanpathMarker = "same page";
  new MutationObserver(() => {
    const state = document.querySelector("[data-job-state]")?.getAttribute("data-job-state") ?? "";
    const seen = window.sanpathSeenStates;
    if (state !== "" && seen[seen.length - 1] !== state) seen.push(state);
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-job-state"] });
`;

describe("the web console in chromium, on a 3-node dev cluster", () => {
  const dev = useE2eCluster("console", {
    setUp: (cluster) =>
      withAdmin(cluster, async (admin) => {
        // node3 gets nothing at first, so a rebalance has moves to make.
        await cordonNode(admin, "node3");
        for (const name of ["db", "web", "logs", "mail"])
          await addDisk(admin, { name, paths: 2, subnet: "both" });
        await waitUntilPlaced(admin, { timeoutMs: 60_000, expectCount: PATHS });
        await uncordonNode(admin, "node3");
      }),
  });
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  const url = (): string => {
    const consoleUrl = dev().consoleUrl();
    if (consoleUrl === undefined) throw new Error("the dev cluster has no console forwarder");
    return consoleUrl;
  };
  const token = (kind: "admin" | "viewer"): string => {
    const auth = dev().state.auth;
    const file = kind === "admin" ? auth?.adminTokenFile : auth?.viewerTokenFile;
    if (file === undefined) throw new Error(`no ${kind} token`);
    return readFileSync(file, "utf8").trim();
  };
  const openPage = async (): Promise<{ page: Page; problems: string[]; close: () => Promise<void> }> => {
    if (browser === undefined) throw new Error("no browser");
    const context = await consoleContext(browser);
    const page = await context.newPage();
    return { page, problems: pageProblems(page), close: () => context.close() };
  };

  it("an admin signs in with a token and sees every node and path", async () => {
    const { page, problems, close } = await openPage();
    try {
      await page.goto(url());
      await page.getByTestId("login-token").waitFor();
      await screenshot(page, "login");
      await signIn(page, url(), token("admin"));
      await expect.poll(() => page.getByTestId("session-role").textContent()).toBe("admin");
      await page.getByTestId("nodes-table").waitFor();
      await expect.poll(() => page.getByTestId("node-row").count()).toBe(3);
      expect(await page.locator('[data-testid="node-row"][data-node="node1"]').textContent()).toContain(
        "serving",
      );
      expect(await page.getByTestId("unserved-total").textContent()).toContain("0");
      await screenshot(page, "overview");
      // Drain shows its dry-run plan first; closing it changes nothing.
      await page.locator('[data-testid="node-row"][data-node="node1"] [data-action="drain"]').click();
      const drainPlan = page.getByTestId("plan-view");
      await drainPlan.waitFor();
      expect(await drainPlan.textContent()).toContain("Drain node1");
      const node1Paths = (await currentPaths(dev())).filter((path) => path.node === "node1");
      expect(await drainPlan.locator("tbody tr[data-ip]").count()).toBe(node1Paths.length);
      await drainPlan.getByRole("button", { name: "Cancel" }).click();
      await expect.poll(() => page.getByTestId("plan-view").count()).toBe(0);
      const nodes = await withAdmin(dev(), (admin) =>
        admin.call<{ nodes: { name: string; cordoned: boolean }[] }>((md, opts, done) =>
          admin.assignment.listNodes({}, md, opts, done),
        ),
      );
      expect(nodes.nodes.find((node) => node.name === "node1")?.cordoned).toBe(false);

      await page.goto(`${url()}#/paths`);
      await expect.poll(() => page.getByTestId("path-row").count()).toBe(PATHS);
      const paths = await currentPaths(dev());
      for (const path of paths) {
        const row = page.locator(`[data-testid="path-row"][data-ip="${path.ip}"]`);
        expect(await row.textContent()).toContain(path.node);
      }
      // PetaSAN's filter by disk name.
      await page.getByLabel("Disk name").fill("web");
      await expect.poll(() => page.getByTestId("path-row").count()).toBe(2);
      await screenshot(page, "paths");
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });

  it("an admin rebalances from the dry-run plan and watches the job finish live, without a reload", async () => {
    const { page, problems, close } = await openPage();
    try {
      await signIn(page, `${url()}#/jobs`, token("admin"));
      await page.getByTestId("jobs-table").waitFor();
      await page.locator('[data-action="rebalance"]').click();
      const plan = page.getByTestId("plan-view");
      await plan.waitFor();
      // node3 has nothing: the plan moves paths to it.
      expect(await plan.textContent()).toContain("node3");
      await screenshot(page, "plan");
      // The job view is followed live: record every state it shows, and mark the page to see it never reloads.
      await page.evaluate(WATCH_JOB_STATES);
      await page.locator('[data-testid="plan-view"] [data-action="confirm"]').click();
      await page.getByTestId("job-view").waitFor();
      await expect
        .poll(() => page.locator("[data-job-state]").getAttribute("data-job-state"), { timeout: 90_000 })
        .toMatch(/^JOB_STATE_(SUCCEEDED|PARTIALLY_FAILED|FAILED|CANCELLED)$/);
      expect(await page.locator("[data-job-state]").getAttribute("data-job-state")).toBe(
        "JOB_STATE_SUCCEEDED",
      );
      const seen = await page.evaluate<string[]>("window.sanpathSeenStates");
      expect(seen.at(-1)).toBe("JOB_STATE_SUCCEEDED");
      expect(seen[0]).not.toBe("JOB_STATE_SUCCEEDED");
      expect(await page.evaluate("window.sanpathMarker")).toBe("same page");
      const progress = page.getByTestId("job-progress");
      const [value, max] = await Promise.all([progress.getAttribute("value"), progress.getAttribute("max")]);
      expect(Number(value)).toBeGreaterThan(0);
      expect(value).toBe(max);
      await screenshot(page, "job");
      const after = await currentPaths(dev());
      const node3 = after.filter((path) => path.node === "node3").length;
      expect(node3).toBe(Number(max));
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });

  it("a viewer sees every page but no action, and its forged StartReassignment is refused", async () => {
    const { page, problems, close } = await openPage();
    try {
      await signIn(page, url(), token("viewer"));
      expect(await page.getByTestId("session-role").textContent()).toBe("viewer");
      for (const [route, region] of [
        ["overview", "nodes-table"],
        ["paths", "paths-table"],
        ["jobs", "jobs-table"],
        ["events", "events-table"],
      ] as const) {
        await page.goto(`${url()}#/${route}`);
        await page.getByTestId(region).waitFor();
        await page.waitForTimeout(300);
        expect(await page.locator("[data-action]").count(), route).toBe(0);
      }
      const listJobs = (): Promise<{ jobs: unknown[] }> =>
        withAdmin(dev(), (admin) =>
          admin.call<{ jobs: unknown[] }>((md, opts, done) =>
            admin.assignment.listReassignments({}, md, opts, done),
          ),
        );
      const jobsBefore = (await listJobs()).jobs.length;
      expect(jobsBefore).toBe(1);
      const forged = await page.evaluate(async (header) => {
        const response = await fetch("/api/call/AssignmentService/StartReassignment", {
          method: "POST",
          headers: { "content-type": "application/json", [header]: "1" },
          body: JSON.stringify({ spec: { auto: { planner: "PLANNER_AVERAGE" } } }),
        });
        return {
          status: response.status,
          body: (await response.json()) as { error?: { code?: string; message?: string } },
        };
      }, CSRF_HEADER);
      expect(forged.status).toBe(403);
      expect(forged.body.error?.code).toBe("PERMISSION_DENIED");
      expect(forged.body.error?.message).toContain(
        "dev-viewer (role viewer) may not call AssignmentService/StartReassignment",
      );
      expect((await listJobs()).jobs).toHaveLength(jobsBefore);
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });

  it("a browser with the admin client certificate is signed in by it, without a token", async () => {
    if (browser === undefined) throw new Error("no browser");
    const pki = dev().state.tls;
    if (pki === undefined) throw new Error("the dev cluster runs without TLS");
    const origin = new URL(url()).origin;
    const context = await consoleContext(browser, {
      clientCertificate: { origin, cert: pki.adminCert, key: pki.adminKey },
    });
    try {
      const page = await context.newPage();
      await page.goto(url());
      await page.getByTestId("session-name").waitFor();
      expect(await page.getByTestId("session-role").textContent()).toBe("admin");
      expect(await page.getByTestId("login-token").count()).toBe(0);
      const session = await page.evaluate<{ credential: string }>(
        'fetch("/api/session").then((response) => response.json())',
      );
      expect(session.credential).toBe("certificate");
    } finally {
      await context.close();
    }
  });

  it("a killed node's failovers appear live in the event view", async () => {
    const { page, problems, close } = await openPage();
    try {
      await signIn(page, `${url()}#/events`, token("admin"));
      await page.getByTestId("events-table").waitFor();
      await page.evaluate('window.sanpathMarker = "same page"');
      // The forwarder reaches the console through node1: another node dies.
      const coordinator = await electedCoordinator(dev());
      const paths = await currentPaths(dev());
      const victim = ["node3", "node2"].find(
        (node) => node !== coordinator && paths.some((path) => path.node === node),
      );
      if (victim === undefined) throw new Error("no node other than node1 and the coordinator serves a path");
      const victimPaths = paths.filter((path) => path.node === victim).length;
      expect(await page.locator('[data-testid="event-row"][data-kind="EVENT_KIND_FAILOVER"]').count()).toBe(
        0,
      );
      await dev().kill(victim);
      const failovers = page.locator('[data-testid="event-row"][data-kind="EVENT_KIND_FAILOVER"]');
      await expect.poll(() => failovers.count(), { timeout: 60_000, interval: 500 }).toBe(victimPaths);
      for (const text of await failovers.allTextContents()) expect(text).toContain(victim);
      expect(await page.evaluate("window.sanpathMarker")).toBe("same page");
      await screenshot(page, "events");
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });
});
