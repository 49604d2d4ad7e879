/**
 * The metrics listener of a real sanpathd (metrics.listen) against a real Consul agent: GET /metrics
 * in Prometheus text format that `promtool check metrics` accepts, with the node's own series and
 * the calls it served; over TLS only for clients with a certificate of the cluster CA.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterServiceClient } from "../../src/gen/sanpath/v1/cluster.js";
import { cleanUpAll } from "../support/clean-up.js";
import { until } from "../support/until.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { runSanpathCli, startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";

interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
}

function get(url: string, options: RequestOptions = {}, method = "GET"): Promise<HttpAnswer> {
  const send = url.startsWith("https:") ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(url, { ...options, method, timeout: 5000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          contentType: response.headers["content-type"] ?? "",
          body,
        }),
      );
    });
    request.on("timeout", () => request.destroy(new Error("timeout")));
    request.on("error", reject);
    request.end();
  });
}

/** The address the daemon's "metrics listening" log line gives. */
async function metricsAddress(daemon: SanpathdProcess): Promise<string> {
  return await until(
    "metrics listening",
    () => {
      const line = daemon.logLines().find((entry) => entry.msg === "metrics listening");
      return typeof line?.listen === "string" ? line.listen : undefined;
    },
    15_000,
  );
}

/** `promtool check metrics` on the text: its exit code and what it said. */
function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile("promtool", ["check", "metrics"], { timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(text);
  });
}

describe("the metrics listener of sanpathd", () => {
  let consul: ConsulHarness;
  let daemon: SanpathdProcess;
  let url: string;

  beforeAll(async () => {
    consul = await startConsulHarness("metrics-server");
    daemon = await startSanpathd({
      name: "metrics-server",
      consulAddress: consul.agent.httpAddress,
      config: { consul: { root: `Metrics-${process.pid}` }, metrics: { listen: "127.0.0.1:0" } },
    });
    url = `http://${await metricsAddress(daemon)}/metrics`;
  });
  afterAll(async () => {
    await cleanUpAll(
      () => daemon.stop(),
      () => consul.stop(),
    );
  });

  it("serves the node's metrics in the Prometheus text format, which promtool accepts", async () => {
    const answer = await get(url);
    expect(answer.status).toBe(200);
    expect(answer.contentType).toContain("text/plain; version=0.0.4");
    expect(answer.body).toMatch(/^sanpath_build_info\{version="[^"]+",node="metrics-server-\d+"\} 1$/m);
    expect(answer.body).toMatch(/^sanpath_node_state\{state="(serving|starting|fenced|degraded)"\} 1$/m);
    expect(answer.body).toMatch(/^sanpath_session_fence_deadline_seconds \d+/m);
    expect(answer.body).toMatch(
      /^sanpath_consul_request_duration_seconds_count\{operation="[^"]+",result="ok"\} [1-9]/m,
    );
    expect(answer.body).toContain("process_resident_memory_bytes");
    // promtool lints prom-client's own nodejs_active_*_total gauges (a name it dislikes, not ours to
    // change); every sanpath_ metric must pass, and nothing else may be wrong.
    const checked = await promtoolCheck(answer.body);
    const complaints = checked.output.split("\n").filter((line) => line.trim() !== "");
    expect(complaints.filter((line) => !/^nodejs_active_\w+_total non-counter metrics/.test(line))).toEqual(
      [],
    );
    expect(checked.code === 0 || complaints.length > 0).toBe(true);
    const ours = answer.body
      .split("\n")
      .filter(
        (line) =>
          line.startsWith("sanpath_") ||
          line.startsWith("# HELP sanpath_") ||
          line.startsWith("# TYPE sanpath_"),
      )
      .join("\n");
    expect(await promtoolCheck(`${ours}\n`)).toEqual({ code: 0, output: "" });
  });

  it("counts the gRPC calls it served, by method and code", async () => {
    const client = new ClusterServiceClient(daemon.address, credentials.createInsecure());
    try {
      await new Promise<void>((resolve) => {
        client.getLeader({}, () => resolve());
      });
    } finally {
      client.close();
    }
    const { body } = await get(url);
    expect(body).toMatch(
      /^sanpath_grpc_server_handled_total\{method="\/sanpath\.v1\.ClusterService\/GetLeader",code="[A-Z_]+"\} [1-9]/m,
    );
    expect(body).toMatch(
      /^sanpath_grpc_server_handling_seconds_count\{method="\/sanpath\.v1\.ClusterService\/GetLeader"\} [1-9]/m,
    );
  });

  it("answers other paths 404 and other methods 405", async () => {
    expect((await get(url.replace("/metrics", "/"))).status).toBe(404);
    expect((await get(url, {}, "POST")).status).toBe(405);
    const head = await get(url, {}, "HEAD");
    expect({ status: head.status, body: head.body }).toEqual({ status: 200, body: "" });
  });
});

describe("the metrics listener under mutual TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), `sanpath-metrics-tls-${process.pid}-`));
  const pki = join(dir, "pki");
  let consul: ConsulHarness;
  let daemon: SanpathdProcess;
  let url: string;

  beforeAll(async () => {
    for (const args of [
      ["cert", "ca", "--dir", pki],
      ["cert", "node", "metrics-node", "--dir", pki, "--ip", "127.0.0.1", "--dns", "localhost"],
      ["cert", "client", "prometheus", "--role", "viewer", "--dir", pki],
    ]) {
      const result = await runSanpathCli(args);
      if (result.code !== 0) throw new Error(`sanpath ${args.join(" ")}: ${result.stderr}`);
    }
    consul = await startConsulHarness("metrics-tls");
    daemon = await startSanpathd({
      name: "metrics-tls",
      consulAddress: consul.agent.httpAddress,
      config: { consul: { root: `MetricsTls-${process.pid}` }, metrics: { listen: "127.0.0.1:0" } },
      env: {
        SANPATH_TLS_CA: join(pki, "ca.crt"),
        SANPATH_TLS_CERT: join(pki, "metrics-node.crt"),
        SANPATH_TLS_KEY: join(pki, "metrics-node.key"),
      },
      waitFor: "listening",
    });
    url = `https://${await metricsAddress(daemon)}/metrics`;
  });
  afterAll(async () => {
    await cleanUpAll(
      () => daemon.stop(),
      () => consul.stop(),
      () => rmSync(dir, { recursive: true, force: true }),
    );
  });

  it("serves HTTPS to a client with a certificate of the cluster CA, and nothing to others", async () => {
    const ca = await readFile(join(pki, "ca.crt"));
    const answer = await get(url, {
      ca,
      cert: await readFile(join(pki, "prometheus.crt")),
      key: await readFile(join(pki, "prometheus.key")),
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toContain("sanpath_build_info");
    // No client certificate: the handshake fails, no answer.
    await expect(get(url, { ca })).rejects.toThrow();
    // Plain HTTP on the TLS port gets no metrics either.
    await expect(get(url.replace("https:", "http:"))).rejects.toThrow();
  });
});
