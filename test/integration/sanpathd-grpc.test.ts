import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../src/util/project-root.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { bufCurl, runSanpathCli, startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";
import { until } from "../support/until.js";

/** The health status `buf curl` reports for `service` ("" = the server). */
async function healthViaBuf(address: string, service = ""): Promise<string> {
  const result = await bufCurl([
    "-d",
    JSON.stringify({ service }),
    `http://${address}/grpc.health.v1.Health/Check`,
  ]);
  if (result.code !== 0) return `error: ${result.stderr}`;
  const parsed = JSON.parse(result.stdout) as { status?: string };
  return parsed.status ?? "UNKNOWN";
}

/** Reads health over buf every 200 ms until it is `wanted`; fails after `timeoutMs`. */
async function pollHealthViaBuf(address: string, wanted: string, timeoutMs = 10_000): Promise<string> {
  return await until(
    `health ${wanted} over buf`,
    async () => {
      const status = await healthViaBuf(address);
      return status === wanted ? status : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

describe("sanpathd against a real Consul", () => {
  let consulHarness: ConsulHarness | undefined;
  let started: SanpathdProcess | undefined;
  const running = (): { consul: ConsulHarness; daemon: SanpathdProcess } => {
    if (consulHarness === undefined || started === undefined) throw new Error("set-up failed");
    return { consul: consulHarness, daemon: started };
  };
  const token = `token-${randomBytes(12).toString("hex")}`;

  beforeAll(async () => {
    consulHarness = await startConsulHarness("sanpathd-grpc");
    started = await startSanpathd({
      name: "grpc",
      consulAddress: consulHarness.agent.httpAddress,
      config: { consul: { token, root: "SanpathTest" }, logLevel: "debug" },
    });
  });

  afterAll(async () => {
    await started?.stop();
    await consulHarness?.stop();
  });

  it("lists the sanpath.v1 services and their methods through reflection alone", async () => {
    const { daemon } = running();
    const services = await bufCurl(["--list-services", `http://${daemon.address}`]);
    expect(services.code).toBe(0);
    const serviceNames = services.stdout.split("\n");
    for (const name of [
      "sanpath.v1.DiskService",
      "sanpath.v1.AssignmentService",
      "sanpath.v1.NodeService",
      "sanpath.v1.ClusterService",
      "sanpath.v1.EventService",
      "grpc.health.v1.Health",
    ]) {
      expect(serviceNames).toContain(name);
    }

    const methods = await bufCurl(["--list-methods", `http://${daemon.address}`]);
    expect(methods.code).toBe(0);
    const methodNames = methods.stdout.split("\n");
    for (const name of [
      "sanpath.v1.DiskService/AddDisk",
      "sanpath.v1.DiskService/DeleteDisk",
      "sanpath.v1.AssignmentService/WatchReassignment",
      "sanpath.v1.AssignmentService/PlanReassignment",
      "sanpath.v1.NodeService/AcquirePath",
      "sanpath.v1.NodeService/CleanPath",
      "sanpath.v1.ClusterService/GetClusterInfo",
      "sanpath.v1.ClusterService/DrainNode",
      "sanpath.v1.EventService/WatchEvents",
      "grpc.health.v1.Health/Check",
    ]) {
      expect(methodNames).toContain(name);
    }
  });

  it("answers through reflection alone, unary and streaming", async () => {
    const { daemon } = running();
    const unary = await bufCurl([`http://${daemon.address}/sanpath.v1.ClusterService/GetClusterInfo`]);
    expect(unary.code).toBe(0);
    expect(JSON.parse(unary.stdout)).toMatchObject({ consulRoot: "SanpathTest" });

    // A request with a Timestamp-bearing response type resolves through reflection too.
    const stream = await bufCurl([
      "-d",
      JSON.stringify({ id: "job-1", afterSequence: "3" }),
      `http://${daemon.address}/sanpath.v1.AssignmentService/WatchReassignment`,
    ]);
    expect(JSON.parse(stream.stderr)).toMatchObject({ code: "not_found" });
  });

  it("sanpath health exits 0 with every service SERVING; a failing command shows the gRPC code and exits 1", async () => {
    const { daemon } = running();
    const health = await runSanpathCli(["--server", daemon.address, "--output", "json", "health"]);
    expect(health.code).toBe(0);
    const report = JSON.parse(health.stdout) as { services: { service: string; status: string }[] };
    expect(report.services.map((s) => s.service)).toEqual([
      "",
      "sanpath.v1.DiskService",
      "sanpath.v1.AssignmentService",
      "sanpath.v1.NodeService",
      "sanpath.v1.ClusterService",
      "sanpath.v1.EventService",
    ]);
    expect(report.services.every((s) => s.status === "SERVING")).toBe(true);

    const table = await runSanpathCli(["health"], { SANPATH_SERVER: daemon.address });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^SERVICE\s+STATUS\s+REASON\n\(server\)\s+SERVING$/m);

    const info = await runSanpathCli(["cluster", "info", "--server", daemon.address, "--timeout", "5s"]);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/^Consul root:\s+SanpathTest$/m);

    const job = await runSanpathCli(["job", "show", "--server", daemon.address, "--timeout", "5s"]);
    expect(job.code).toBe(1);
    expect(job.stderr).toContain("error: NOT_FOUND: id: no reassignment job is running and none has run yet");
    expect(job.stderr).toContain("reason: JOB_NOT_FOUND");

    const jobJson = await runSanpathCli(["--server", daemon.address, "-o", "json", "job", "show"]);
    expect(jobJson.code).toBe(1);
    expect(JSON.parse(jobJson.stderr)).toEqual({
      error: {
        code: "NOT_FOUND",
        message: "id: no reassignment job is running and none has run yet",
        reason: "JOB_NOT_FOUND",
        field: "id",
      },
    });
  });

  it("logs JSON lines only, with the Consul token redacted and never in clear", () => {
    const { daemon } = running();
    const lines = daemon
      .stdout()
      .split("\n")
      .filter((line) => line !== "");
    expect(lines.length).toBeGreaterThan(3);
    const parsed = daemon.logLines();
    expect(parsed).toHaveLength(lines.length);
    const starting = parsed.find((line) => line.msg === "sanpathd starting") as
      { config: { consul: { token: string; root: string } } } | undefined;
    expect(starting?.config.consul.token).toBe("[redacted]");
    expect(starting?.config.consul.root).toBe("SanpathTest");
    expect(daemon.stdout()).not.toContain(token);
    expect(daemon.stderr()).not.toContain(token);
  });

  it("reports NOT_SERVING when its Consul agent stops and SERVING again when it is back", async () => {
    const { consul, daemon } = running();
    expect(await healthViaBuf(daemon.address)).toBe("SERVING");
    expect(await healthViaBuf(daemon.address, "sanpath.v1.NodeService")).toBe("SERVING");

    await consul.agent.stop();
    expect(await pollHealthViaBuf(daemon.address, "NOT_SERVING")).toBe("NOT_SERVING");
    expect(await healthViaBuf(daemon.address, "sanpath.v1.DiskService")).toBe("NOT_SERVING");

    await consul.restart();
    expect(await pollHealthViaBuf(daemon.address, "SERVING")).toBe("SERVING");
    const messages = daemon.logLines().map((line) => line.msg);
    expect(messages).toContain("consul unreachable");
    expect(messages.lastIndexOf("consul reachable")).toBeGreaterThan(messages.indexOf("consul unreachable"));
  });

  it("on SIGTERM tells open Watch streams NOT_SERVING, ends them, and exits 0", async () => {
    const { daemon } = running();
    const buf = join(projectRoot(), "node_modules", ".bin", "buf");
    const watch = execa(
      buf,
      [
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "-d",
        '{"service":""}',
        `http://${daemon.address}/grpc.health.v1.Health/Watch`,
      ],
      { reject: false, timeout: 30_000, cancelSignal: AbortSignal.timeout(31_000) },
    );
    let seen = "";
    watch.stdout.on("data", (chunk: Buffer) => (seen += chunk.toString()));
    for (let i = 0; i < 100 && !seen.includes("SERVING"); i++) await sleep(50);
    expect(seen).toContain('"status": "SERVING"');

    const stopped = await daemon.stop({ keepDir: true, timeoutMs: 10_000 });
    const watched = await watch;
    try {
      expect(stopped).toMatchObject({ code: 0, signal: null, killed: false });
      expect(watched.stdout).toContain('"status": "NOT_SERVING"');
      expect(watched.exitCode).not.toBe(0);
      const ended = JSON.parse(watched.stderr) as { code: string; message: string };
      expect(ended.code).toBe("unavailable");
      expect(ended.message).toMatch(/shutting down/);
      const stoppedLine = daemon.logLines().find((line) => line.msg === "stopped");
      expect(stoppedLine?.cutCalls).toBe(0);
      expect(daemon.logLines().some((line) => line.msg === "shutting down" && line.why === "SIGTERM")).toBe(
        true,
      );
    } finally {
      await daemon.stop();
    }
  });
});
