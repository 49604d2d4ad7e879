/**
 * A cold start of one node's sanpathd: kill -9 (a crash: its crash guard tears the paths down at
 * once, its Consul agent and tgtd live on), then a new sanpathd at once, as systemd's
 * Restart=always would start it. The new daemon finds no hand-over, sweeps the node clean, takes a
 * new session and retires the old one's locks; the coordinator places the paths again. Made under
 * the state lock, like every change of the dev cluster (the supervisor never acts halfway through).
 */
import { performance } from "node:perf_hooks";
import type { DevCluster } from "./dev-cluster.js";
import { isRunning, stopProcess } from "./detached-process.js";
import { RecordedCluster, SERVICE_START_MS } from "./recorded-cluster.js";

export interface SanpathdColdStart {
  oldPid: number;
  newPid: number;
  /** Wall-clock ms (performance.timeOrigin + now) of the SIGKILL. */
  killedAt: number;
  /** From the SIGKILL until the new daemon's NodeService answered SERVING (a confirmed session). */
  servingAfterMs: number;
}

export function coldStartSanpathd(cluster: DevCluster, name: string): Promise<SanpathdColdStart> {
  // Over the same state object as the DevCluster's own: what it records, the cluster sees.
  const recorded = new RecordedCluster(cluster.state);
  return recorded.exclusive(async () => {
    const node = recorded.node(name);
    if (node.condition !== "running" || (node.faults ?? []).length > 0)
      throw new Error(`${name} is ${node.condition} with faults [${(node.faults ?? []).join(", ")}]`);
    const old = node.sanpathd;
    if (old === undefined || !isRunning(old)) throw new Error(`${name}'s sanpathd is not running`);
    const started = performance.now();
    await stopProcess(old, { signal: "SIGKILL" });
    await recorded.startNodeSanpathd(node, AbortSignal.timeout(SERVICE_START_MS));
    return {
      oldPid: old.pid,
      newPid: node.sanpathd?.pid ?? 0,
      killedAt: performance.timeOrigin + started,
      servingAfterMs: performance.now() - started,
    };
  });
}
