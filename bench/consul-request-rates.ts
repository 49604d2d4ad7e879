/**
 * Consul requests a node's sanpathd made, by operation, from its Prometheus counter
 * sanpath_consul_request_duration_seconds_count (every result counted: ok, rejected, error,
 * cancelled); two scrapes give the rate in between. An operation is a read when it changes nothing
 * in Consul (KV reads and blocking watches, status, agent and session look-ups); everything else
 * (KV writes, transactions, session create / renew / destroy, lock acquire / release) is a write.
 */
import { CONSUL_READ_OPERATIONS } from "../src/consul/consul-client.js";
import { metricSamples } from "../src/devcluster/node-metrics.js";

export const CONSUL_REQUESTS_METRIC = "sanpath_consul_request_duration_seconds_count";

export function isConsulRead(operation: string): boolean {
  return (
    CONSUL_READ_OPERATIONS.has(operation) ||
    operation.startsWith("health.") ||
    operation.startsWith("catalog.")
  );
}

/** Requests per operation so far (all results together), from one scrape. */
export function consulRequestCounts(metricsText: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const sample of metricSamples(metricsText, CONSUL_REQUESTS_METRIC)) {
    const operation = sample.labels.operation ?? "?";
    counts.set(operation, (counts.get(operation) ?? 0) + sample.value);
  }
  return counts;
}

export interface OperationRate {
  operation: string;
  read: boolean;
  perSecond: number;
}

/** Requests per second of each operation between two scrapes `seconds` apart, most frequent first. */
export function consulRequestRates(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
  seconds: number,
): OperationRate[] {
  return [...after]
    .map(([operation, count]) => ({
      operation,
      read: isConsulRead(operation),
      perSecond: (count - (before.get(operation) ?? 0)) / seconds,
    }))
    .filter((rate) => rate.perSecond > 0)
    .sort((a, b) => b.perSecond - a.perSecond);
}

/** "reads 12.3/s (kv.get 10.1, …), writes 4.0/s (session.renew 4.0)". */
export function describeRates(rates: readonly OperationRate[]): string {
  const part = (read: boolean): string => {
    const chosen = rates.filter((rate) => rate.read === read);
    const total = chosen.reduce((sum, rate) => sum + rate.perSecond, 0);
    const each = chosen.map((rate) => `${rate.operation} ${rate.perSecond.toFixed(2)}`).join(", ");
    return `${read ? "reads" : "writes"} ${total.toFixed(2)}/s${each === "" ? "" : ` (${each})`}`;
  };
  return `${part(true)}; ${part(false)}`;
}
