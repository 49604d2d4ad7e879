/**
 * A dev cluster node's Prometheus endpoint as an operator reads it: `curl` from the Ceph host's
 * namespace (on the management network, where the endpoints listen) with the admin client
 * certificate when TLS is on, what `deploy/dev-cluster status` prints; and the samples of one
 * metric in the text format.
 *
 *   const text = await scrapeNodeMetrics(cluster, "node1");
 *   metricSamples(text, "sanpath_consul_request_duration_seconds_count")
 *     // [{ labels: { operation: "kv.get", result: "ok" }, value: 1234 }, …]
 */
import { execa } from "execa";
import type { DevCluster } from "./dev-cluster.js";
import { METRICS_PORT } from "./layout.js";

export interface MetricSample {
  labels: Record<string, string>;
  value: number;
}

export async function scrapeNodeMetrics(
  cluster: DevCluster,
  node: string,
  timeoutMs = 10_000,
): Promise<string> {
  const layout = cluster.layout.nodes.find((candidate) => candidate.name === node);
  if (layout === undefined) throw new Error(`the dev cluster has no node named "${node}"`);
  const tls = cluster.state.tls;
  const url = `${tls === undefined ? "http" : "https"}://${layout.mgmtIp}:${METRICS_PORT}/metrics`;
  const credentials =
    tls === undefined ? [] : ["--cacert", tls.ca, "--cert", tls.adminCert, "--key", tls.adminKey];
  const result = await execa(
    "ip",
    [
      "netns",
      "exec",
      cluster.cephNs(),
      "curl",
      "-sS",
      "--fail",
      "--max-time",
      String(timeoutMs / 1000),
      ...credentials,
      url,
    ],
    { timeout: timeoutMs + 2000 },
  );
  return result.stdout;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of `metric` in a Prometheus text exposition. */
export function metricSamples(text: string, metric: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (match?.[1] !== metric) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? "").matchAll(LABEL)) {
      const [, name, value] = label;
      if (name !== undefined && value !== undefined) labels[name] = value.replace(/\\(.)/g, "$1");
    }
    samples.push({ labels, value: Number(match[3]) });
  }
  return samples;
}
