import type { SanpathdConfig } from "../config/config.js";
import { ConsulClient } from "../consul/consul-client.js";
import type { PrometheusMetrics } from "../metrics/prometheus-metrics.js";

/** A component's client of the local Consul agent, its requests timed in the daemon's metrics. */
export function consulClientOf(config: SanpathdConfig, metrics: PrometheusMetrics): ConsulClient {
  return new ConsulClient({
    address: config.consul.address,
    token: config.consul.token,
    observe: (operation, result, seconds) => metrics.consulRequestEnded(operation, result, seconds),
  });
}
