import { credentials, Metadata, status as Status, type ServiceError } from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { layerFromObject } from "../../src/config/config-layers.js";
import { formatHostPort } from "../../src/config/host-port.js";
import { defaultSettings, resolveConfig } from "../../src/config/load-config.js";
import { ClusterServiceClient, GetClusterInfoResponse } from "../../src/gen/sanpath/v1/cluster.js";
import { createLogger } from "../../src/log/logger.js";
import type { DaemonComponent } from "../../src/server/component.js";
import { startDaemon, type Daemon } from "../../src/server/daemon.js";

/** Plugs in a GetClusterInfo that waits for `release()` or its abort signal, and records its stop. */
function slowClusterInfo(events: string[]): {
  component: DaemonComponent;
  release: () => void;
  abortReasons: unknown[];
} {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const abortReasons: unknown[] = [];
  const component: DaemonComponent = {
    name: "slow-cluster-info",
    start({ services }) {
      services.implement("cluster", {
        async getClusterInfo(_request, { signal }) {
          events.push("call started");
          const aborted = new Promise<void>((resolve) =>
            signal.addEventListener(
              "abort",
              () => {
                abortReasons.push(signal.reason);
                resolve();
              },
              { once: true },
            ),
          );
          await Promise.race([released, aborted]);
          events.push(signal.aborted ? "call aborted" : "call finished");
          return GetClusterInfoResponse.create({ consulRoot: "done" });
        },
      });
      return Promise.resolve({
        stop() {
          events.push("component stopped");
          return Promise.resolve();
        },
      });
    },
  };
  return { component, release: () => release(), abortReasons };
}

function config(shutdownGraceMs: number): ReturnType<typeof resolveConfig> {
  return resolveConfig([
    layerFromObject(defaultSettings(), { kind: "default" }),
    layerFromObject(
      {
        listen: "127.0.0.1:0",
        shutdownGraceMs,
        "imageStore.kind": "file",
        "auth.mode": "none",
        "tls.plaintext": true,
      },
      { kind: "default" },
    ),
  ]);
}

function callInfo(
  client: ClusterServiceClient,
): Promise<{ error: ServiceError | null; response?: GetClusterInfoResponse }> {
  return new Promise((resolve) => {
    client.getClusterInfo(
      {},
      new Metadata(),
      { deadline: new Date(Date.now() + 20_000) },
      (error, response) => resolve({ error, response }),
    );
  });
}

describe("sanpathd two-phase shutdown (in process)", () => {
  const logger = createLogger({ level: "silent" });
  let daemon: Daemon | undefined;
  let client: ClusterServiceClient | undefined;
  afterEach(async () => {
    client?.close();
    await daemon?.shutdown("test over");
  });

  it("is NOT_SERVING until every component has started (their handlers are in)", async () => {
    let finishStart: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (finishStart = resolve));
    let seenWhileStarting: string | undefined;
    const component: DaemonComponent = {
      name: "slow-start",
      async start({ health }) {
        seenWhileStarting = health.status("");
        await started;
        return { stop: () => Promise.resolve() };
      },
    };
    // The first component's condition is met at once (as the Consul monitor's is).
    const ready: DaemonComponent = {
      name: "ready",
      start({ health }) {
        health.setCondition("ready", true);
        return Promise.resolve({ stop: () => Promise.resolve() });
      },
    };
    const starting = startDaemon(config(1000), { logger, components: [ready, component] });
    await sleep(100);
    finishStart();
    daemon = await starting;
    expect(seenWhileStarting).toBe("NOT_SERVING");
    expect(daemon.health.status("")).toBe("SERVING");
  });

  it("lets a call in flight finish within the grace, refuses new ones, then stops components", async () => {
    const events: string[] = [];
    const slow = slowClusterInfo(events);
    daemon = await startDaemon(config(5000), { logger, components: [slow.component] });
    client = new ClusterServiceClient(formatHostPort(daemon.address), credentials.createInsecure());
    const inFlight = callInfo(client);
    while (!events.includes("call started")) await sleep(10);

    const shutdown = daemon.shutdown("SIGTERM");
    expect(daemon.health.status("")).toBe("NOT_SERVING");
    const late = new ClusterServiceClient(formatHostPort(daemon.address), credentials.createInsecure());
    const refused = await callInfo(late);
    late.close();
    expect(refused.error?.code).toBe(Status.UNAVAILABLE);

    slow.release();
    const answered = await inFlight;
    expect(answered.error).toBeNull();
    expect(answered.response?.consulRoot).toBe("done");
    expect(await shutdown).toEqual({ cutCalls: 0 });
    expect(events).toEqual(["call started", "call finished", "component stopped"]);
  });

  it("cuts a call still running when the grace is over; its handler sees why", async () => {
    const events: string[] = [];
    const slow = slowClusterInfo(events);
    daemon = await startDaemon(config(300), { logger, components: [slow.component] });
    client = new ClusterServiceClient(formatHostPort(daemon.address), credentials.createInsecure());
    const inFlight = callInfo(client);
    while (!events.includes("call started")) await sleep(10);

    expect(await daemon.shutdown("SIGTERM")).toEqual({ cutCalls: 1 });
    const cut = await inFlight;
    expect(cut.error?.code).toBeDefined();
    expect([Status.UNAVAILABLE, Status.CANCELLED, Status.INTERNAL]).toContain(cut.error?.code);
    expect(events).toEqual(["call started", "call aborted", "component stopped"]);
    expect(String(slow.abortReasons[0])).toMatch(/shutting down/);
  });

  it("a second stop request cuts at once instead of waiting out the grace", async () => {
    const events: string[] = [];
    const slow = slowClusterInfo(events);
    daemon = await startDaemon(config(600_000), { logger, components: [slow.component] });
    client = new ClusterServiceClient(formatHostPort(daemon.address), credentials.createInsecure());
    const inFlight = callInfo(client);
    while (!events.includes("call started")) await sleep(10);

    const first = daemon.shutdown("SIGTERM");
    await sleep(50);
    const second = daemon.shutdown("SIGINT");
    expect(second).toBe(first);
    expect(await first).toEqual({ cutCalls: 1 });
    expect((await inFlight).error).not.toBeNull();
    expect(events).toContain("call aborted");
  });
});
