/**
 * What the dev cluster benchmarks (reassignment, failover, ssh-vs-grpc) share: a throw-away dev
 * cluster taken down on any way out, percentiles, the machine line, and where sanpathd's time went
 * (its debug log's "command finished" lines, grouped by command).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { cpus, release, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { REBALANCE, startJob, waitForJob, withAdmin } from "../src/devcluster/cluster-ops.js";
import { DevCluster, type DevClusterUpOptions } from "../src/devcluster/dev-cluster.js";
import { placedPaths } from "../src/devcluster/path-reads.js";
import type { Reassignment } from "../src/gen/sanpath/v1/assignment.js";
import { uniquePrefix } from "../src/netns/topology.js";

export async function startBenchCluster(
  name: string,
  options: Omit<DevClusterUpOptions, "dir" | "prefix" | "keepAfterExit"> = {},
): Promise<DevCluster> {
  const cluster = await DevCluster.up({
    dir: mkdtempSync(join(tmpdir(), `sp-bench-${name}-`)),
    prefix: uniquePrefix(),
    keepAfterExit: false,
    progress: (line) => process.stderr.write(`  ${line}\n`),
    ...options,
  });
  const stop = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: taking the dev cluster down\n`);
    void cluster.down().finally(() => process.exit(130));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await cluster.initCluster();
  } catch (error) {
    await cluster.down();
    throw error;
  }
  return cluster;
}

/** The p-th percentile (0..100) by nearest rank; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

export function ms(value: number): string {
  return Number.isNaN(value) ? "-" : `${Math.round(value)} ms`;
}

export function summary(values: readonly number[]): string {
  return `n=${values.length} p50 ${ms(percentile(values, 50))}, p99 ${ms(percentile(values, 99))}, max ${ms(Math.max(...values))}`;
}

export function machineLine(): string {
  const cpu = cpus();
  return [
    new Date().toISOString(),
    `${cpu.length} × ${cpu[0]?.model.trim() ?? "unknown CPU"}`,
    `${Math.round(totalmem() / 2 ** 30)} GiB RAM`,
    `Linux ${release()}`,
    `Node ${process.version}`,
  ].join(", ");
}

interface CommandLine {
  time: string;
  msg: string;
  command?: string;
  durationMs?: number;
  audit?: { method?: string; durationMs?: number };
}

/** Groups a command line into what it does: "tgtadm new portal", "ip addr add", "arping". */
export function commandKind(command: string): string {
  const words = command.split(" ");
  const file = words[0] ?? "";
  if (file === "tgtadm" || file.startsWith("tgtd-socket:")) {
    const op = words[words.indexOf("--op") + 1] ?? "?";
    const mode = words[words.indexOf("--mode") + 1] ?? "?";
    return `${file === "tgtadm" ? "tgtadm" : "tgtd socket"} ${op} ${mode}`;
  }
  if (file === "ip")
    return [
      "ip",
      ...words
        .slice(1)
        .filter((word) => !word.startsWith("-"))
        .slice(0, 2),
    ].join(" ");
  return file;
}

/**
 * Time spent by every node's sanpathd between `from` and `to` (wall-clock ms): NodeService calls
 * it served (audit lines), external commands it ran (debug "command finished" lines) and requests
 * to tgtd over its control socket (debug "tgtd request finished" lines); per kind,
 * count, p50, p99 and the total. Needs logLevel "debug".
 */
export function commandTimes(cluster: DevCluster, from: number, to: number): string[] {
  const byKind = new Map<string, number[]>();
  for (const node of cluster.state.nodes) {
    let text: string;
    try {
      text = readFileSync(join(node.dir, "sanpathd.log"), "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const command = line.includes('"command finished"') || line.includes('"tgtd request finished"');
      const nodeCall = line.includes('"/sanpath.v1.NodeService/');
      if (!command && !nodeCall) continue;
      const entry = JSON.parse(line) as CommandLine;
      const at = Date.parse(entry.time);
      if (at < from || at > to) continue;
      if (command && entry.command !== undefined && entry.durationMs !== undefined) {
        const kind = commandKind(entry.command);
        byKind.set(kind, [...(byKind.get(kind) ?? []), entry.durationMs]);
      }
      const method = entry.audit?.method;
      if (nodeCall && method !== undefined && entry.audit?.durationMs !== undefined) {
        const kind = `rpc ${method.split("/").pop() ?? method}`;
        byKind.set(kind, [...(byKind.get(kind) ?? []), entry.audit.durationMs]);
      }
    }
  }
  return [...byKind]
    .map(([kind, durations]) => ({
      kind,
      durations,
      total: durations.reduce((sum, value) => sum + value, 0),
    }))
    .sort((a, b) => b.total - a.total)
    .map(
      ({ kind, durations, total }) =>
        `${kind.padEnd(28)} ${String(durations.length).padStart(5)} × p50 ${ms(percentile(durations, 50)).padStart(8)}  p99 ${ms(percentile(durations, 99)).padStart(8)}  total ${(total / 1000).toFixed(1)} s`,
    );
}

/** Copies every node's sanpathd log into `dir` (to look into a run after the cluster is gone). */
export function saveLogs(cluster: DevCluster, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const node of cluster.state.nodes) {
    cpSync(join(node.dir, "sanpathd.log"), join(dir, `${node.name}-sanpathd.log`));
  }
}

/** The bench process's own memory: "rss 123.4 MiB, heap 45.6 / 78.9 MiB". */
export function benchMemoryLine(): string {
  const usage = process.memoryUsage();
  const mebibytes = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
  return `rss ${mebibytes(usage.rss)} MiB, heap used ${mebibytes(usage.heapUsed)} of ${mebibytes(usage.heapTotal)} MiB, external ${mebibytes(usage.external)} MiB`;
}

/** A rebalance (the average planner) once every path is placed; waits for the job to finish. */
export async function rebalanceCluster(cluster: DevCluster, timeoutMs: number): Promise<Reassignment> {
  await placedPaths(cluster, timeoutMs);
  const job = await withAdmin(cluster, (admin) => startJob(admin, REBALANCE));
  return waitForJob(cluster, job.id, timeoutMs);
}

/**
 * Every node's sanpathd log lines written between `from` and `to` (wall-clock ms), parsed; lines
 * that are not JSON (a crash's stack trace) are left out.
 */
export function sanpathdLogEntries(
  cluster: DevCluster,
  from: number,
  to: number,
): Map<string, { time: number; msg: string; line: string }[]> {
  const entries = new Map<string, { time: number; msg: string; line: string }[]>();
  for (const node of cluster.state.nodes) {
    const kept: { time: number; msg: string; line: string }[] = [];
    let text = "";
    try {
      text = readFileSync(join(node.dir, "sanpathd.log"), "utf8");
    } catch {
      // no log yet
    }
    for (const line of text.split("\n")) {
      if (!line.startsWith("{")) continue;
      let entry: { time?: unknown; msg?: unknown };
      try {
        entry = JSON.parse(line) as { time?: unknown; msg?: unknown };
      } catch {
        continue;
      }
      const time = typeof entry.time === "string" ? Date.parse(entry.time) : Number(entry.time);
      if (!(time >= from && time <= to)) continue;
      kept.push({ time, msg: typeof entry.msg === "string" ? entry.msg : "", line });
    }
    entries.set(node.name, kept);
  }
  return entries;
}
