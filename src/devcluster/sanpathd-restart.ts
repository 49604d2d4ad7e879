/**
 * A restart of one node's sanpathd alone (its Consul agent and tgtd keep running), as systemd does
 * it on a real node:
 *   - "restart" (the default): SIGUSR2, sanpathd's restart signal (systemd's RestartKillSignal):
 *     the targets, portals and IPs stay up and the session is handed over to the next sanpathd,
 *     which adopts it; no path leaves the node.
 *   - "hand-off": SIGTERM, a plain stop: the paths are taken down and their locks released (the
 *     coordinator places them on other nodes), then sanpathd starts again from a clean node.
 * Made under the state lock, so that the supervisor never acts on the node halfway through.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { StatusResponse } from "../gen/sanpath/v1/node.js";
import { NodeAdmin } from "./admin-client.js";
import { hasFault } from "./dev-cluster-cuts.js";
import { isRunning, signalProcess, waitForExit } from "./detached-process.js";
import { SERVICE_START_MS, type RecordedCluster } from "./recorded-cluster.js";

export type SanpathdStopMode = "restart" | "hand-off";

export interface SanpathdRestart {
  mode: SanpathdStopMode;
  oldPid: number;
  newPid: number;
  /** From the signal to the old daemon's own exit. */
  stoppedAfterMs: number;
  /** From the signal until the new daemon's NodeService answered with a healthy session. */
  servingAfterMs: number;
  /** The new daemon's session. */
  sessionId: string;
}

/**
 * How long the old daemon may take to exit: shutdownGraceMs (3 s in the dev cluster) for calls in
 * flight, then a hand-off's tear-down of every path.
 */
const STOP_MS = 30_000;

export function restartNodeSanpathd(
  cluster: RecordedCluster,
  name: string,
  mode: SanpathdStopMode,
): Promise<SanpathdRestart> {
  return cluster.exclusive(async () => {
    const node = cluster.node(name);
    if (node.condition !== "running")
      throw new Error(`${name} is ${node.condition}: restart the node instead`);
    if (hasFault(node, "sanpathd-frozen"))
      throw new Error(`${name}'s sanpathd is frozen (SIGSTOP): thaw it first (thaw-sanpathd or heal)`);
    const old = node.sanpathd;
    if (old === undefined || !isRunning(old))
      throw new Error(`${name}'s sanpathd is not running: restart the node instead`);
    const started = performance.now();
    signalProcess(old, mode === "restart" ? "SIGUSR2" : "SIGTERM");
    // The PID, not the log's end: the old daemon's crash guard outlives it for a while after a
    // restart (until the new daemon adopts the session).
    if (!(await waitForExit(old, STOP_MS))) {
      signalProcess(old, "SIGKILL");
      throw new Error(`${old.label} (pid ${old.pid}) did not exit within ${STOP_MS} ms; SIGKILLed`);
    }
    const stoppedAfterMs = performance.now() - started;
    await cluster.startNodeSanpathd(node, AbortSignal.timeout(SERVICE_START_MS));
    const status = await waitForHealthySession(cluster, name, SERVICE_START_MS);
    return {
      mode,
      oldPid: old.pid,
      newPid: node.sanpathd?.pid ?? 0,
      stoppedAfterMs,
      servingAfterMs: performance.now() - started,
      sessionId: status.session?.id ?? "",
    };
  });
}

/** Polls NodeService Status over the node's admin socket until its session is healthy and unfenced. */
async function waitForHealthySession(
  cluster: RecordedCluster,
  name: string,
  timeoutMs: number,
): Promise<StatusResponse> {
  const deadline = performance.now() + timeoutMs;
  let last = "no answer";
  const admin = await NodeAdmin.open(cluster.state, name, 2000);
  try {
    while (performance.now() < deadline) {
      try {
        const status = await admin.call<StatusResponse>((md, opts, done) =>
          admin.node.status({ epoch: 0 }, md, opts, done),
        );
        const session = status.session;
        if (session?.healthy === true && !session.fenced && session.id !== "") return status;
        last = session === undefined ? "no session" : `session ${session.id || "-"} not healthy`;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      await sleep(50);
    }
  } finally {
    admin.close();
  }
  throw new Error(`${name}'s new sanpathd had no healthy session after ${timeoutMs} ms (last: ${last})`);
}
