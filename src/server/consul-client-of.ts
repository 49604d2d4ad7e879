import type { SanpathdConfig } from "../config/config.js";
import { ConsulClient } from "../consul/consul-client.js";
import type { PrometheusMetrics } from "../metrics/prometheus-metrics.js";
import type { RaftLeaderChanges } from "./raft-leader-changes.js";

/**
 * A component's client of the local Consul agent, its requests timed in the daemon's metrics; at
 * a raft leader change its idempotent requests in flight end (and are retried by their callers).
 */
export function consulClientOf(context: {
  readonly config: SanpathdConfig;
  readonly metrics: PrometheusMetrics;
  readonly consulLeader: RaftLeaderChanges;
}): ConsulClient {
  const { config, metrics, consulLeader } = context;
  let unsubscribe = (): void => undefined;
  const client = new ConsulClient({
    address: config.consul.address,
    token: config.consul.token,
    observe: (operation, result, seconds) => metrics.consulRequestEnded(operation, result, seconds),
    onClose: () => unsubscribe(),
  });
  unsubscribe = consulLeader.subscribe((leader, previous) =>
    client.abandonIdempotentRequests(`the raft leader changed from ${previous} to ${leader}`),
  );
  return client;
}
