/**
 * A real Prometheus (Debian's package) scraping a dev cluster's nodes from inside the Ceph host's
 * namespace, which sits on the management network beside them; queried with `promtool query
 * instant` in that namespace. Stopped by PID; its folder is removed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import type { DevCluster } from "../../src/devcluster/dev-cluster.js";
import { CEPH_IP, METRICS_PORT } from "../../src/devcluster/layout.js";

const PROMETHEUS_PORT = 9090;

export interface PrometheusServer {
  /** One instant query's result vector: labels and value of each sample. */
  query(expr: string): Promise<{ labels: Record<string, string>; value: number }[]>;
  stop(): Promise<void>;
}

interface InstantSample {
  metric: Record<string, string>;
  value: [number, string];
}

export async function startPrometheus(
  cluster: DevCluster,
  scrapeIntervalSeconds = 1,
): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), `sanpath-prometheus-${process.pid}-`));
  const pki = cluster.state.tls;
  const targets = cluster.layout.nodes.map((node) => `${node.mgmtIp}:${METRICS_PORT}`);
  const config = [
    "global:",
    `  scrape_interval: ${scrapeIntervalSeconds}s`,
    `  evaluation_interval: ${scrapeIntervalSeconds}s`,
    "scrape_configs:",
    "  - job_name: sanpath",
    `    scheme: ${pki === undefined ? "http" : "https"}`,
    ...(pki !== undefined
      ? [
          "    tls_config:",
          `      ca_file: ${pki.ca}`,
          `      cert_file: ${pki.adminCert}`,
          `      key_file: ${pki.adminKey}`,
        ]
      : []),
    "    static_configs:",
    `      - targets: [${targets.map((target) => JSON.stringify(target)).join(", ")}]`,
    "",
  ].join("\n");
  const configFile = join(dir, "prometheus.yml");
  writeFileSync(configFile, config);
  const server = `http://${CEPH_IP}:${PROMETHEUS_PORT}`;
  const child: ChildProcess = spawn(
    "ip",
    [
      "netns",
      "exec",
      cluster.cephNs(),
      "prometheus",
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=${CEPH_IP}:${PROMETHEUS_PORT}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const query = async (expr: string): Promise<{ labels: Record<string, string>; value: number }[]> => {
    const result = await execa(
      "ip",
      ["netns", "exec", cluster.cephNs(), "promtool", "query", "instant", "-o", "json", server, expr],
      { timeout: 10_000, reject: false },
    );
    if (result.exitCode !== 0)
      throw new Error(`promtool query ${expr}: ${result.stderr} (prometheus: ${stderr})`);
    const samples = JSON.parse(result.stdout) as InstantSample[];
    return samples.map((sample) => ({ labels: sample.metric, value: Number(sample.value[1]) }));
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready once it answers a query.
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await query("up");
      return { query, stop };
    } catch (error) {
      if (Date.now() > deadline || child.exitCode !== null) {
        await stop();
        throw new Error(`prometheus did not start: ${stderr}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
