import type { RaftLeaderChanges } from "./raft-leader-changes.js";
import type { ServiceRegistry } from "../api/service-registry.js";
import type { SanpathdConfig } from "../config/config.js";
import type { SwitchableEventLog } from "../events/event-log.js";
import type { Logger } from "../log/logger.js";
import type { PeerLease } from "../node/peer-lease-port.js";
import type { PrometheusMetrics } from "../metrics/prometheus-metrics.js";
import type { HealthReporter } from "./health.js";

/** What a component gets from the daemon when it starts. */
export interface DaemonContext {
  readonly config: SanpathdConfig;
  readonly logger: Logger;
  /** Plug RPC handlers in: `services.implement("disk", { addDisk, … })`. */
  readonly services: ServiceRegistry;
  /** Report readiness: `health.setCondition("session", ok, ["sanpath.v1.NodeService"])`. */
  readonly health: HealthReporter;
  /** host:port other nodes reach this daemon at. */
  readonly advertiseAddress: string;
  /** Prometheus metrics: components tell it where to read their state, and adapters report to it. */
  readonly metrics: PrometheusMetrics;
  /**
   * The event history: components record to it (and pass it to the core); the events component
   * attaches the Consul store when it starts, and until then nothing is recorded.
   */
  readonly events: SwitchableEventLog;
  /**
   * This node's peer lease (liveness.mode peer-lease): set by the node agent's component when it
   * starts, read by the coordinator's (expiry proofs before placing a dead node's paths).
   */
  readonly peerLease: { current: PeerLease | undefined };
  /** Raft leader changes, seen by the Consul monitor; the components' Consul clients listen to it. */
  readonly consulLeader: RaftLeaderChanges;
}

/**
 * How sanpathd stops: "hand-off" (a stop: the node's paths go to other nodes) or "restart" (a new
 * sanpathd follows at once: what serves paths stays up and is handed over to it).
 */
export type StopMode = "hand-off" | "restart";

/** A running part of sanpathd; stopped after the gRPC server has closed, in reverse start order. */
export interface RunningComponent {
  stop(mode: StopMode): Promise<void>;
}

/**
 * A part of sanpathd with a life cycle (Consul monitor, node agent, coordinator, …). Started in
 * order after the gRPC server is bound; a failing start stops sanpathd.
 */
export interface DaemonComponent {
  readonly name: string;
  start(context: DaemonContext): Promise<RunningComponent>;
}
