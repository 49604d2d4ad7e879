import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EventKind,
  EventServiceClient,
  type Event,
  type ListEventsResponse,
} from "../../src/gen/sanpath/v1/event.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { runSanpathCli, startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";
import { cleanUpAll } from "../support/clean-up.js";
import { until } from "../support/until.js";
import { writeRoleTokens } from "./security-support.js";

/** The event history over gRPC: a real sanpathd on a real Consul, auth on (the actor is the caller). */
describe("EventService and sanpath events against a real Consul and sanpathd", () => {
  const dir = mkdtempSync(join(tmpdir(), `sanpath-events-${process.pid}-`));
  const { tokenFile, tokens } = writeRoleTokens(dir);
  let consul: ConsulHarness;
  let daemon: SanpathdProcess;
  let client: EventServiceClient;
  const metadata = (): Metadata => {
    const md = new Metadata();
    md.set("authorization", `Bearer ${tokens.viewer}`);
    return md;
  };
  const cli = (token: string, ...args: string[]) =>
    runSanpathCli(["--server", daemon.address, "--timeout", "5s", ...args], { SANPATH_TOKEN: token });

  const list = (request: Partial<Parameters<EventServiceClient["listEvents"]>[0]>) =>
    new Promise<ListEventsResponse>((resolve, reject) => {
      client.listEvents(
        {
          node: "",
          diskId: "",
          kinds: [],
          since: undefined,
          until: undefined,
          pageSize: 0,
          pageToken: "",
          ...request,
        },
        metadata(),
        { deadline: new Date(Date.now() + 5000) },
        (error, response) => (error === null ? resolve(response) : reject(error)),
      );
    });

  beforeAll(async () => {
    consul = await startConsulHarness("events-grpc");
    daemon = await startSanpathd({
      name: "events-grpc",
      consulAddress: consul.agent.httpAddress,
      config: { consul: { root: `EventsGrpc-${process.pid}` } },
      env: {
        SANPATH_NODE_NAME: "node-ev",
        SANPATH_AUTH_MODE: "required",
        SANPATH_AUTH_TOKEN_FILE: tokenFile,
      },
    });
    client = new EventServiceClient(daemon.address, credentials.createInsecure());
  });

  afterAll(async () => {
    await cleanUpAll(
      () => client.close(),
      () => daemon.stop(),
      () => consul.stop(),
      () => rmSync(dir, { recursive: true, force: true }),
    );
  });

  it("records the coordinator's election; a cordon and uncordon with their caller reach a WatchEvents stream and ListEvents", async () => {
    // The single node is elected coordinator: an event of its own.
    const elected = await until(
      "the coordinator-elected event",
      async () =>
        (await list({ kinds: [EventKind.EVENT_KIND_COORDINATOR_ELECTED] })).events.find(
          (event) => event.node === "node-ev",
        ),
      { timeoutMs: 20_000, retryErrors: true },
    );
    expect(elected.epoch).toBeGreaterThan(0);
    expect(elected.recordedBy).toBe("node-ev");

    const watched: Event[] = [];
    const stream = client.watchEvents(
      {
        node: "node-ev",
        diskId: "",
        kinds: [EventKind.EVENT_KIND_CORDON, EventKind.EVENT_KIND_UNCORDON],
        since: undefined,
      },
      metadata(),
    );
    const ended = new Promise<string>((resolve) => {
      stream.on("data", (message: { event?: Event }) => {
        if (message.event !== undefined) watched.push(message.event);
      });
      stream.on("error", (error: { code?: number }) => resolve(`error ${error.code}`));
      stream.on("end", () => resolve("end"));
    });
    // Give the stream a moment to start following before the change.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    expect((await cli(tokens["path-admin"], "node", "cordon", "node-ev")).code).toBe(0);
    expect((await cli(tokens["path-admin"], "node", "uncordon", "node-ev")).code).toBe(0);
    await until("both events on the stream", () => (watched.length >= 2 ? true : undefined), {
      timeoutMs: 10_000,
    });
    expect(watched.map((event) => [event.kind, event.node, event.actor])).toEqual([
      [EventKind.EVENT_KIND_CORDON, "node-ev", "test-path-admin"],
      [EventKind.EVENT_KIND_UNCORDON, "node-ev", "test-path-admin"],
    ]);
    stream.cancel();
    expect(await ended).toBe("error 1");

    const listed = await list({
      kinds: [EventKind.EVENT_KIND_CORDON, EventKind.EVENT_KIND_UNCORDON],
      node: "node-ev",
    });
    expect(listed.events.map((event) => event.id)).toEqual(watched.map((event) => event.id));

    // The CLI's table and JSON, as a viewer.
    const table = await cli(tokens.viewer, "events", "--kind", "cordon,uncordon");
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^TIME\s+KIND\s+NODE\s+DISK\/PATH\s+FROM → TO\s+DURATION\s+WHO\s+WHY/);
    expect(table.stdout).toMatch(/cordon\s+node-ev\s+test-path-admin/);
    const json = await cli(
      tokens.viewer,
      "--output",
      "json",
      "events",
      "--since",
      "10m",
      "--node",
      "node-ev",
    );
    expect(json.code).toBe(0);
    const kinds = (JSON.parse(json.stdout) as { events: { kind: string }[] }).events.map(
      (event) => event.kind,
    );
    expect(kinds).toEqual(
      expect.arrayContaining(["EVENT_KIND_COORDINATOR_ELECTED", "EVENT_KIND_CORDON", "EVENT_KIND_UNCORDON"]),
    );
  });

  it("refuses bad filters with the field named: since after until, an unknown kind, a page size out of range", async () => {
    const refused = async (request: Parameters<typeof list>[0]) =>
      await list(request).then(
        () => "accepted",
        (error: unknown) => {
          const failure = error as { code: number; metadata: Metadata };
          return `${failure.code} ${String(failure.metadata.get("sanpath-field")[0])}`;
        },
      );
    expect(await refused({ since: new Date(2000), until: new Date(1000) })).toBe("3 since");
    // A kind this server does not know (a newer client's): the wire carries the number as it is.
    const unknownKind = 99 as unknown as EventKind;
    expect(await refused({ kinds: [unknownKind] })).toBe("3 kinds[0]");
    expect(await refused({ pageSize: 5000 })).toBe("3 page_size");
    const usage = await cli(tokens.viewer, "events", "--kind", "nonsense");
    expect(usage.code).not.toBe(0);
    expect(usage.stderr).toContain("--kind: unknown kind");
  });
});
