/**
 * What the stateful core tells the metrics about, as it happens (the Prometheus adapter is
 * prometheus-metrics.ts; gauges such as paths served are read from status at scrape time and need
 * nothing here). Every method is cheap and never throws.
 */
export interface MetricsRecorder {
  /** A reassignment job's move ended; `phasesMs`: how long each of its steps took. */
  moveEnded(result: MoveResult, phasesMs: Readonly<Record<string, number>>, totalMs: number): void;
  /**
   * A free path is served again, `freeForMs` after the coordinator first saw it free. `cause`:
   * why it was free.
   */
  pathPlaced(cause: PlacementCause, freeForMs: number): void;
}

export type MoveResult = "succeeded" | "failed";

/**
 * "failover": the node that held it last has lost its session (a node lost); "handed-off": that
 * node is alive and let it go (stopped disk started again, degraded node, restart with hand-off);
 * "new": never served (a new disk); "move-failed": a job's move left it free.
 */
export type PlacementCause = "failover" | "handed-off" | "new" | "move-failed";

/** Records nothing: tests, tools, and daemons without metrics. */
export const NO_METRICS: MetricsRecorder = {
  moveEnded: () => undefined,
  pathPlaced: () => undefined,
};
