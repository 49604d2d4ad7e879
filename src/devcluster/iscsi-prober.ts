/**
 * Per-path outages as the client sees them: a prober process in the client namespace
 * (iscsi-probe-main.ts) keeps one iSCSI session per path and sends READ CAPACITY every few ms; an
 * outage is the time between two answers (a gap longer than max(100 ms, 2 intervals) is reported
 * as it closes).
 *
 *   const prober = await startIscsiProber(cluster, paths);   // resolves once every path answered
 *   … move paths, kill a node …
 *   const report = await prober.stop();     // report.outages, report.paths (longest gap, last answer)
 */
import { join } from "node:path";
import { createInterface } from "node:readline";
import { execa } from "execa";
import { projectRoot } from "../util/project-root.js";
import type { PathView } from "./client-reads.js";
import { CLIENT_INITIATOR } from "./client-reads.js";
import type { DevCluster } from "./dev-cluster.js";

export interface ProbeOutage {
  ip: string;
  /** Wall-clock ms of the last answer before it. */
  from: number;
  /** Wall-clock ms of the first answer after it. */
  to: number;
  durationMs: number;
}

export interface PathProbeSummary {
  ip: string;
  /** The longest time between two answers while watched. */
  maxGapMs: number;
  /** Wall-clock ms of the last answer (undefined: it never answered). */
  lastOk: number | undefined;
  /** Answers: READ CAPACITY commands, and logins of new sessions (each with its first command). */
  reads: number;
  /** Commands that failed on the session in use (an error, a timeout, the connection closed). */
  failedReads: number;
  /** Commands still unanswered when the prober replaced their stuck session (slow, not refused). */
  abandoned: number;
  failedLogins: number;
}

export interface ProberReport {
  /** Gaps of more than max(100 ms, 2 intervals) between two answers. */
  outages: ProbeOutage[];
  paths: PathProbeSummary[];
  /** Paths that had not answered for more than a second when the prober stopped. */
  stillDown: PathProbeSummary[];
  probes: number;
  failures: number;
}

export interface IscsiProber {
  /** Outages seen so far. */
  outages(): readonly ProbeOutage[];
  stop(): Promise<ProberReport>;
}

export interface ProberOptions {
  /** Pause between two READ CAPACITY of one path while it answers; default 20 ms. */
  intervalMs?: number;
  /** How long every path may take to answer a first time; default 30 s. */
  readyTimeoutMs?: number;
}

export async function startIscsiProber(
  cluster: DevCluster,
  paths: readonly Pick<PathView, "ip" | "iqn">[],
  options: ProberOptions = {},
): Promise<IscsiProber> {
  const main = join(projectRoot(), "dist", "src", "devcluster", "iscsi-probe-main.js");
  const lifetime = new AbortController();
  const child = execa("ip", ["netns", "exec", cluster.clientNs(), process.execPath, main], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
    buffer: false,
    reject: false,
    timeout: 60 * 60_000,
    cancelSignal: lifetime.signal,
  });
  const outages: ProbeOutage[] = [];
  const summaries: PathProbeSummary[] = [];
  const ready = new Set<string>();
  let stopped: { probes: number; failures: number } | undefined;
  let onChange: (() => void) | undefined;
  const lines = createInterface({ input: child.stdout });
  lines.on("line", (line) => {
    const event = JSON.parse(line) as Record<string, unknown>;
    const ip = String(event.ip);
    if (event.type === "ready") ready.add(ip);
    if (event.type === "gap") {
      const from = Number(event.from);
      const to = Number(event.to);
      outages.push({ ip, from, to, durationMs: to - from });
    }
    if (event.type === "path") {
      summaries.push({
        ip,
        maxGapMs: Number(event.maxGapMs),
        lastOk: typeof event.lastOk === "number" ? event.lastOk : undefined,
        reads: Number(event.reads ?? 0),
        failedReads: Number(event.failedReads ?? 0),
        abandoned: Number(event.abandoned ?? 0),
        failedLogins: Number(event.failedLogins ?? 0),
      });
    }
    if (event.type === "stopped")
      stopped = { probes: Number(event.probes), failures: Number(event.failures) };
    onChange?.();
  });
  const until = (done: () => boolean, timeoutMs: number, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        onChange = undefined;
        reject(new Error(`iSCSI prober: ${what} not within ${timeoutMs} ms`));
      }, timeoutMs);
      onChange = () => {
        if (!done()) return;
        clearTimeout(timer);
        onChange = undefined;
        resolve();
      };
      onChange();
    });
  child.stdin.write(
    `${JSON.stringify({
      watch: paths.map((path) => ({ ip: path.ip, iqn: path.iqn })),
      intervalMs: options.intervalMs ?? 20,
      initiator: CLIENT_INITIATOR,
    })}\n`,
  );
  try {
    await until(
      () => ready.size === new Set(paths.map((path) => path.ip)).size,
      options.readyTimeoutMs ?? 30_000,
      "every path answering",
    );
  } catch (error) {
    lifetime.abort();
    await child;
    throw error;
  }
  let stopping: Promise<ProberReport> | undefined;
  return {
    outages: () => outages,
    stop() {
      stopping ??= (async () => {
        const stoppedAt = performance.timeOrigin + performance.now();
        child.stdin.write(`${JSON.stringify({ stop: true })}\n`);
        try {
          await until(() => stopped !== undefined, 10_000, "stop");
        } finally {
          lifetime.abort();
          await child;
        }
        return {
          outages,
          paths: summaries,
          stillDown: summaries.filter((path) => path.lastOk === undefined || stoppedAt - path.lastOk > 1000),
          probes: stopped?.probes ?? 0,
          failures: stopped?.failures ?? 0,
        };
      })();
      return stopping;
    },
  };
}
