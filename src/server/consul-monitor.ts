import type { DaemonComponent, RunningComponent } from "./component.js";
import { probeConsul } from "./consul-probe.js";

export const CONSUL_CONDITION = "consul";

export interface ConsulMonitorOptions {
  intervalMs?: number;
  timeoutMs?: number;
}

/**
 * Probes the local Consul agent every 500 ms and sets the health condition "consul" for every
 * service: NOT_SERVING until the agent answers with a leader, SERVING after, NOT_SERVING again
 * when it stops answering. Logs each change once. Tells the daemon's Consul clients of a new raft
 * leader (RaftLeaderChanges).
 */
export function consulMonitor(options: ConsulMonitorOptions = {}): DaemonComponent {
  const intervalMs = options.intervalMs ?? 500;
  const timeoutMs = options.timeoutMs ?? Math.min(800, intervalMs);
  return {
    name: "consul-monitor",
    start({ config, logger, health, consulLeader }): Promise<RunningComponent> {
      const stopped = new AbortController();
      let reachable: boolean | undefined;
      let timer: NodeJS.Timeout | undefined;
      const probe = async (): Promise<void> => {
        const result = await probeConsul({
          address: config.consul.address,
          token: config.consul.token,
          timeoutMs,
          signal: stopped.signal,
        });
        if (stopped.signal.aborted) return;
        if (result.reachable) {
          const abandoned = consulLeader.observe(result.leader);
          if (abandoned !== undefined)
            logger.info(
              { leader: result.leader, abandoned },
              "consul raft leader changed: requests that may wait on the old leader are sent again",
            );
        }
        if (result.reachable !== reachable) {
          reachable = result.reachable;
          health.setCondition(CONSUL_CONDITION, result.reachable);
          if (result.reachable)
            logger.info({ consul: config.consul.address, leader: result.leader }, "consul reachable");
          else logger.warn({ consul: config.consul.address, problem: result.problem }, "consul unreachable");
        }
        timer = setTimeout(() => void probe(), intervalMs);
      };
      health.setCondition(CONSUL_CONDITION, false);
      void probe();
      return Promise.resolve({
        stop() {
          stopped.abort();
          clearTimeout(timer);
          return Promise.resolve();
        },
      });
    },
  };
}
