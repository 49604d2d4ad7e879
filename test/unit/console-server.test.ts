import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ActiveCalls } from "../../src/api/active-calls.js";
import type { CallContext } from "../../src/api/call-handlers.js";
import { ServiceRegistry } from "../../src/api/service-registry.js";
import { CSRF_HEADER, SESSION_COOKIE } from "../../src/console/console-api.js";
import { startConsoleServer, type ConsoleServer } from "../../src/console/console-server.js";
import { ConsoleSessions } from "../../src/console/console-sessions.js";
import { formatHostPort } from "../../src/config/host-port.js";
import {
  JobKind,
  JobState,
  type StartReassignmentRequest,
  type StartReassignmentResponse,
} from "../../src/gen/sanpath/v1/assignment.js";
import {
  EventKind,
  type WatchEventsRequest,
  type WatchEventsResponse,
} from "../../src/gen/sanpath/v1/event.js";
import { createLogger } from "../../src/log/logger.js";
import type { AuditLog, AuditRecord } from "../../src/security/audit-log.js";
import { Authorizer } from "../../src/security/authorizer.js";
import type { Caller } from "../../src/security/caller.js";
import { SecurityGate } from "../../src/security/security-gate.js";
import { formatTokenFile, generateToken, tokenEntry } from "../../src/security/token-file.js";
import { TokenStore } from "../../src/security/token-store.js";
import { untilTrue } from "../support/until.js";

const logger = createLogger({ level: process.env.CONSOLE_TEST_LOG === "1" ? "error" : "silent" });
const dir = mkdtempSync(join(tmpdir(), `sanpath-console-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const tokens = {
  viewer: generateToken(),
  pathAdmin: generateToken(),
  node: generateToken(),
};
const tokenFile = join(dir, "tokens.json");
writeFileSync(
  tokenFile,
  formatTokenFile([
    tokenEntry("watcher", "viewer", tokens.viewer),
    tokenEntry("mover", "path-admin", tokens.pathAdmin),
    tokenEntry("a-node", "node", tokens.node),
  ]),
);

const assets = { staticDir: join(dir, "static"), scriptDir: join(dir, "js") };
mkdirSync(assets.staticDir);
mkdirSync(assets.scriptDir);
writeFileSync(join(assets.staticDir, "index.html"), "<!doctype html><title>sanpath</title>");
writeFileSync(join(assets.scriptDir, "main.js"), "export {};");

interface Harness {
  url: string;
  audit: AuditRecord[];
  started: { request: StartReassignmentRequest; caller: Caller }[];
  watchSignals: AbortSignal[];
  calls: ActiveCalls;
  server: ConsoleServer;
}

async function startHarness(
  options: { authOff?: boolean; sessions?: ConsoleSessions } = {},
): Promise<Harness> {
  const audit: AuditRecord[] = [];
  const auditLog: AuditLog = {
    write: (record) => audit.push(record),
    close: () => Promise.resolve(),
  };
  const store = await TokenStore.open(tokenFile, logger);
  const authorizer = options.authOff === true ? undefined : new Authorizer(store);
  const calls = new ActiveCalls();
  const services = new ServiceRegistry({ calls, logger, gate: new SecurityGate(authorizer, auditLog) });
  const started: Harness["started"] = [];
  const watchSignals: AbortSignal[] = [];
  services.implement("assignment", {
    listNodes: () =>
      Promise.resolve({
        nodes: [
          {
            name: "node1",
            address: "192.0.2.11:7410",
            online: true,
            cordoned: false,
            pathCount: 3,
            subnets: [1, 2],
            version: "0.1.0",
            leader: true,
            degraded: false,
            degradedReason: "",
          },
        ],
      }),
    startReassignment: (request: StartReassignmentRequest, context: CallContext) => {
      started.push({ request, caller: context.caller });
      const response: StartReassignmentResponse = {
        job: {
          id: "job-1",
          kind: JobKind.JOB_KIND_AUTO,
          state: JobState.JOB_STATE_PENDING,
          moves: [],
          totals: undefined,
          createTime: new Date("2026-12-07T03:00:00Z"),
          finishTime: undefined,
          startedBy: context.caller.name,
          drainNode: "",
          lastSequence: 0,
        },
      };
      return Promise.resolve(response);
    },
  });
  services.implement("event", {
    watchEvents: async function* (
      request: WatchEventsRequest,
      context: CallContext,
    ): AsyncGenerator<WatchEventsResponse> {
      watchSignals.push(context.signal);
      for (const [index, kind] of [EventKind.EVENT_KIND_FAILOVER, EventKind.EVENT_KIND_MOVE].entries()) {
        yield {
          event: {
            id: `e${index}`,
            time: new Date(Date.UTC(2026, 11, 7, 3, 0, index)),
            kind,
            node: "node2",
            diskId: "00001",
            pathIndex: 1,
            ip: "198.51.100.64",
            fromNode: "node3",
            toNode: "node2",
            durationMs: 1200,
            reason: "node3 lost its session",
            actor: "node1",
            jobId: "",
            result: "",
            epoch: 0,
            recordedBy: "node1",
          },
        };
      }
      if (request.node !== "finite") {
        await new Promise((resolve) => context.signal.addEventListener("abort", resolve, { once: true }));
      }
    },
  });
  const server = await startConsoleServer({
    listen: { host: "127.0.0.1", port: 0 },
    socket: undefined,
    services,
    identify: (credentials) =>
      authorizer?.authenticate(credentials) ?? { name: "anonymous", role: "admin", credential: "none" },
    tls: undefined,
    logger,
    assets,
    ...(options.sessions === undefined ? {} : { sessions: options.sessions }),
  });
  cleanups.push(() => server.close());
  const address = server.address;
  if (address === undefined) throw new Error("no address");
  return { url: `http://${formatHostPort(address)}`, audit, started, watchSignals, calls, server };
}

async function login(
  url: string,
  token: string,
): Promise<{ status: number; cookie: string | undefined; body: unknown }> {
  const response = await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json", [CSRF_HEADER]: "1" },
    body: JSON.stringify({ token }),
  });
  const setCookie = response.headers.get("set-cookie") ?? undefined;
  return { status: response.status, cookie: setCookie?.split(";")[0], body: await response.json() };
}

function post(
  url: string,
  path: string,
  cookie: string | undefined,
  body: unknown,
  csrf = true,
): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(csrf ? { [CSRF_HEADER]: "1" } : {}),
      ...(cookie === undefined ? {} : { cookie }),
    },
    body: JSON.stringify(body),
  });
}

describe("web console server", () => {
  it("serves its page and scripts with a CSP that allows only its own origin, and 404s anything else", async () => {
    const { url } = await startHarness();
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(await page.text()).toContain("<title>sanpath</title>");
    const script = await fetch(`${url}/js/main.js`);
    expect(script.headers.get("content-type")).toContain("text/javascript");
    for (const path of ["/js/../tokens.json", "/..%2ftokens.json", "/.env", "/js/none.js", "/tokens.json"]) {
      expect((await fetch(`${url}${path}`)).status, path).toBe(404);
    }
  });

  it("refuses the API without a sign-in, and a wrong token, naming what is missing", async () => {
    const { url } = await startHarness();
    const session = await fetch(`${url}/api/session`);
    expect(session.status).toBe(401);
    expect(await session.json()).toMatchObject({ error: { code: "UNAUTHENTICATED" } });
    const wrong = await login(url, "spt_not-a-token");
    expect(wrong.status).toBe(401);
    expect(wrong.cookie).toBeUndefined();
    expect(JSON.stringify(wrong.body)).not.toContain("spt_not-a-token");
    const call = await post(url, "/api/call/AssignmentService/ListNodes", undefined, {});
    expect(call.status).toBe(401);
    const empty = await login(url, "");
    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({ error: { field: "token" } });
  });

  it("signs a token in with an HttpOnly SameSite cookie that holds no token, and answers calls as proto3 JSON", async () => {
    const { url } = await startHarness();
    const response = await fetch(`${url}/api/login`, {
      method: "POST",
      headers: { "content-type": "application/json", [CSRF_HEADER]: "1" },
      body: JSON.stringify({ token: tokens.viewer }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ name: "watcher", role: "viewer", credential: "token" });
    const setCookie = response.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{40,};`));
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Strict");
    expect(setCookie).not.toContain(tokens.viewer);
    const cookie = setCookie.split(";")[0];
    const session = await fetch(`${url}/api/session`, { headers: { cookie: cookie ?? "" } });
    expect(await session.json()).toEqual({ name: "watcher", role: "viewer", credential: "token" });
    const nodes = await post(url, "/api/call/AssignmentService/ListNodes", cookie, {});
    expect(nodes.status).toBe(200);
    expect(await nodes.json()).toEqual({
      nodes: [
        {
          name: "node1",
          address: "192.0.2.11:7410",
          online: true,
          pathCount: 3,
          subnets: [1, 2],
          version: "0.1.0",
          leader: true,
        },
      ],
    });
    const out = await post(url, "/api/logout", cookie, {});
    expect(out.status).toBe(204);
    expect((await fetch(`${url}/api/session`, { headers: { cookie: cookie ?? "" } })).status).toBe(401);
  });

  it("refuses a viewer's forged StartReassignment in the gate (403, audited, handler never runs) and lets a path-admin's through", async () => {
    const harness = await startHarness();
    const viewer = await login(harness.url, tokens.viewer);
    const spec = { spec: { auto: { planner: "PLANNER_AVERAGE" } }, stateIndex: 7 };
    const forged = await post(
      harness.url,
      "/api/call/AssignmentService/StartReassignment",
      viewer.cookie,
      spec,
    );
    expect(forged.status).toBe(403);
    const body = (await forged.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("PERMISSION_DENIED");
    expect(body.error.message).toContain(
      "watcher (role viewer) may not call AssignmentService/StartReassignment",
    );
    expect(harness.started).toHaveLength(0);
    expect(harness.audit).toContainEqual(
      expect.objectContaining({
        method: "/sanpath.v1.AssignmentService/StartReassignment",
        code: "PERMISSION_DENIED",
        caller: { name: "watcher", role: "viewer", credential: "token" },
      }),
    );
    expect(harness.audit.at(-1)?.peer).toMatch(/^console:/);

    const mover = await login(harness.url, tokens.pathAdmin);
    const started = await post(
      harness.url,
      "/api/call/AssignmentService/StartReassignment",
      mover.cookie,
      spec,
    );
    expect(started.status).toBe(200);
    expect(await started.json()).toMatchObject({
      job: { id: "job-1", startedBy: "mover", state: "JOB_STATE_PENDING" },
    });
    expect(harness.started).toHaveLength(1);
    expect(harness.started[0]?.request.stateIndex).toBe(7);
    expect(harness.started[0]?.request.spec?.auto?.planner).toBe(1);
    expect(harness.started[0]?.caller.name).toBe("mover");
    expect(harness.audit.at(-1)).toMatchObject({ code: "OK", caller: { name: "mover" } });
  });

  it("refuses a POST without the console header (a cross-site form), calls it does not offer, and bodies that are not JSON objects", async () => {
    const harness = await startHarness();
    const mover = await login(harness.url, tokens.pathAdmin);
    const spec = { spec: { auto: { planner: "PLANNER_AVERAGE" } } };
    const crossSite = await post(
      harness.url,
      "/api/call/AssignmentService/StartReassignment",
      mover.cookie,
      spec,
      false,
    );
    expect(crossSite.status).toBe(403);
    expect(await crossSite.text()).toContain(CSRF_HEADER);
    expect(harness.started).toHaveLength(0);
    const notOffered = await post(harness.url, "/api/call/ClusterService/InitCluster", mover.cookie, {});
    expect(notOffered.status).toBe(404);
    const nodeRpc = await post(harness.url, "/api/call/NodeService/CleanPath", mover.cookie, {});
    expect(nodeRpc.status).toBe(404);
    const array = await post(harness.url, "/api/call/AssignmentService/ListNodes", mover.cookie, [1, 2]);
    expect(array.status).toBe(400);
    expect(await array.json()).toMatchObject({ error: { code: "INVALID_ARGUMENT", field: "request" } });
    const garbage = await fetch(`${harness.url}/api/call/AssignmentService/ListNodes`, {
      method: "POST",
      headers: { "content-type": "application/json", [CSRF_HEADER]: "1", cookie: mover.cookie ?? "" },
      body: "{not json",
    });
    expect(garbage.status).toBe(400);
    const streamAsCall = await post(harness.url, "/api/call/EventService/WatchEvents", mover.cookie, {});
    expect(streamAsCall.status).toBe(404);
  });

  it("refuses node credentials: a cluster member is not an operator", async () => {
    const { url } = await startHarness();
    const node = await login(url, tokens.node);
    expect(node.status).toBe(403);
    expect(node.cookie).toBeUndefined();
  });

  it("streams a server stream as Server-Sent Events, and ends the handler when the browser goes away", async () => {
    const harness = await startHarness();
    const viewer = await login(harness.url, tokens.viewer);
    const controller = new AbortController();
    const response = await fetch(
      `${harness.url}/api/watch/EventService/WatchEvents?request=${encodeURIComponent(JSON.stringify({}))}`,
      { headers: { cookie: viewer.cookie ?? "" }, signal: controller.signal },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body?.getReader();
    if (reader === undefined) throw new Error("no body");
    let text = "";
    while ((text.match(/^data: /gm) ?? []).length < 2) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += new TextDecoder().decode(chunk.value as Uint8Array);
    }
    const messages = [...text.matchAll(/^data: (.*)$/gm)].map(
      (match) => JSON.parse(match[1] ?? "") as unknown,
    );
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatchObject({
      event: { id: "e0", kind: "EVENT_KIND_FAILOVER", fromNode: "node3", durationMs: 1200 },
    });
    expect(messages[1]).toMatchObject({
      event: { id: "e1", kind: "EVENT_KIND_MOVE", time: "2026-12-07T03:00:01.000Z" },
    });
    expect(harness.calls.count()).toBe(1);
    controller.abort();
    await untilTrue(
      "the stream's handler ends",
      () => harness.calls.count() === 0 && harness.watchSignals[0]?.aborted === true,
      {
        timeoutMs: 2000,
        intervalMs: 10,
      },
    );
  });

  it("ends a stream that finished with an end event, and one cut by shutdown with an error event", async () => {
    const harness = await startHarness();
    const viewer = await login(harness.url, tokens.viewer);
    const finite = await fetch(
      `${harness.url}/api/watch/EventService/WatchEvents?request=${encodeURIComponent(JSON.stringify({ node: "finite" }))}`,
      { headers: { cookie: viewer.cookie ?? "" } },
    );
    const finiteText = await finite.text();
    expect((finiteText.match(/^data: /gm) ?? []).length).toBeGreaterThanOrEqual(2);
    expect(finiteText).toContain("event: end");

    const endless = await fetch(`${harness.url}/api/watch/EventService/WatchEvents`, {
      headers: { cookie: viewer.cookie ?? "" },
    });
    const body = endless.text();
    await untilTrue("the stream is open", () => harness.calls.count() === 1, {
      timeoutMs: 2000,
      intervalMs: 10,
    });
    harness.calls.endStreams();
    const text = await body;
    expect(text).toMatch(/event: error\ndata: \{"code":"UNAVAILABLE"/);
  });

  it("a revoked token loses its power at its next call; with auth off everyone is the anonymous admin", async () => {
    const sessions = new ConsoleSessions();
    const harness = await startHarness({ sessions });
    const viewer = await login(harness.url, tokens.viewer);
    expect(sessions.size).toBe(1);
    const revokedFile = join(dir, "tokens.json");
    const store = await TokenStore.open(revokedFile, logger);
    expect(store.find(tokens.viewer)?.name).toBe("watcher");
    const off = await startHarness({ authOff: true });
    const anonymous = await fetch(`${off.url}/api/session`);
    expect(await anonymous.json()).toEqual({ name: "anonymous", role: "admin", credential: "none" });
    const started = await post(off.url, "/api/call/AssignmentService/StartReassignment", undefined, {});
    expect(started.status).toBe(200);
    expect(viewer.status).toBe(200);
  });

  it("throttles an address after 10 failed sign-ins", async () => {
    const { url } = await startHarness();
    for (let attempt = 0; attempt < 10; attempt += 1)
      expect((await login(url, `spt_wrong${attempt}`)).status).toBe(401);
    const throttled = await login(url, tokens.viewer);
    expect(throttled.status).toBe(429);
    expect(throttled.body).toMatchObject({ error: { code: "RESOURCE_EXHAUSTED" } });
  });
});

describe("ConsoleSessions", () => {
  it("forgets a session idle too long or too old, and the least recently used beyond the limit", () => {
    let now = 0;
    const sessions = new ConsoleSessions({ idleMs: 100, maxAgeMs: 1000, maxSessions: 2 }, () => now);
    const caller: Caller = { name: "x", role: "viewer", credential: "token" };
    const a = sessions.create("t1", caller);
    now = 50;
    expect(sessions.use(a.id)?.token).toBe("t1");
    now = 151;
    expect(sessions.use(a.id)).toBeUndefined();
    const b = sessions.create("t2", caller);
    const c = sessions.create("t3", caller);
    now = 160;
    sessions.use(b.id);
    const d = sessions.create("t4", caller);
    expect(sessions.use(c.id)).toBeUndefined();
    expect(sessions.use(b.id)?.token).toBe("t2");
    expect(sessions.use(d.id)?.token).toBe("t4");
    for (now = 200; now < 1300; now += 90) sessions.use(d.id);
    expect(sessions.use(d.id)).toBeUndefined();
  });
});
