import { EventLoopStalls } from "./event-loop-stalls.js";
import { RaftLeaderChanges } from "./raft-leader-changes.js";
import { hostname } from "node:os";
import type { Server } from "@grpc/grpc-js";
import { ActiveCalls, shuttingDownError } from "../api/active-calls.js";
import { SANPATH_SERVICE_NAMES, ServiceRegistry } from "../api/service-registry.js";
import type { SanpathdConfig } from "../config/config.js";
import { formatHostPort, isWildcardHost, parseHostPort, type HostPort } from "../config/host-port.js";
import { packageVersion } from "../config/package-version.js";
import { startConsoleServer, type ConsoleServer } from "../console/console-server.js";
import { startMetricsServer, type MetricsServer } from "../metrics/metrics-server.js";
import { PrometheusMetrics } from "../metrics/prometheus-metrics.js";
import { errorMessage } from "../errors/sanpath-error.js";
import { SwitchableEventLog } from "../events/event-log.js";
import type { Logger } from "../log/logger.js";
import { startDaemonSecurity } from "../security/daemon-security.js";
import type { DaemonComponent, DaemonContext, RunningComponent, StopMode } from "./component.js";
import { bindServer, bindUnixSocket, createGrpcServer } from "./grpc-server.js";
import { HealthReporter } from "./health.js";
import { addReflection } from "./reflection.js";

/** Health condition of every service: every component has started. */
const STARTED_CONDITION = "started";

/** How long cut handlers get to return after their abort, before components stop. */
const HANDLER_SETTLE_MS = 1000;

/** A running sanpathd: its gRPC server, services, health and components. */
export interface Daemon {
  /** The bound address (the real port when listen had port 0). */
  readonly address: HostPort;
  readonly advertiseAddress: string;
  readonly services: ServiceRegistry;
  readonly health: HealthReporter;
  readonly calls: ActiveCalls;
  readonly metrics: PrometheusMetrics;
  /** Where GET /metrics is served (metrics.listen); undefined when it is not. */
  readonly metricsAddress: HostPort | undefined;
  /** Where the web console is served (console.listen); undefined when it is not. */
  readonly consoleAddress: HostPort | undefined;
  /**
   * Two-phase shutdown: health NOT_SERVING and open streams ended; then the server stops taking
   * calls and waits up to config.shutdownGraceMs for the ones in flight before cutting connections;
   * then components stop in reverse order. Calling it again (a second signal) cuts at once.
   */
  shutdown(why: string, mode?: StopMode): Promise<ShutdownReport>;
}

export interface ShutdownReport {
  /** Calls still running when the grace period ended (0 = clean). */
  cutCalls: number;
}

export interface StartDaemonOptions {
  logger: Logger;
  /** Started in order once the server is bound (see src/server/components.ts). */
  components: readonly DaemonComponent[];
}

export async function startDaemon(config: SanpathdConfig, options: StartDaemonOptions): Promise<Daemon> {
  const { logger } = options;
  const calls = new ActiveCalls();
  const security = await startDaemonSecurity(config, logger);
  const metrics = new PrometheusMetrics({ version: packageVersion(), node: config.nodeName });
  const services = new ServiceRegistry({
    calls,
    logger,
    gate: security.gate,
    observe: (method, code, seconds) => metrics.grpcCallEnded(method, code, seconds),
  });
  const health = new HealthReporter(SANPATH_SERVICE_NAMES, logger);
  const stalls = new EventLoopStalls({ logger });
  stalls.start();
  const server = createGrpcServer();
  services.addToServer(server);
  health.addToServer(server, calls);
  await addReflection(server);

  const address = await bindServer(server, config.listen, security.serverCredentials).catch(
    async (error: unknown) => {
      await security.stop();
      throw error;
    },
  );
  const advertiseAddress = config.advertiseAddress ?? defaultAdvertiseAddress(address);
  if (config.adminSocket !== undefined) {
    try {
      await bindUnixSocket(server, config.adminSocket, security.serverCredentials);
    } catch (error) {
      server.forceShutdown();
      await security.stop();
      throw error;
    }
  }
  logger.info(
    { listen: formatHostPort(address), advertiseAddress, adminSocket: config.adminSocket },
    "gRPC server listening",
  );

  const events = new SwitchableEventLog();
  const context: DaemonContext = {
    config,
    logger,
    services,
    health,
    advertiseAddress,
    metrics,
    events,
    peerLease: { current: undefined },
    consulLeader: new RaftLeaderChanges(),
  };
  const running: { name: string; component: RunningComponent }[] = [];
  let metricsServer: MetricsServer | undefined;
  let consoleServer: ConsoleServer | undefined;
  // Nothing is SERVING before every component has plugged its handlers in (UNIMPLEMENTED meanwhile).
  health.setCondition(STARTED_CONDITION, false);
  try {
    for (const component of options.components) {
      running.push({ name: component.name, component: await component.start(context) });
      logger.debug({ component: component.name }, "component started");
    }
    const metricsListen =
      config.metrics.listen === undefined ? undefined : parseHostPort(config.metrics.listen);
    if (metricsListen !== undefined) {
      metricsServer = await startMetricsServer({ listen: metricsListen, metrics, tls: config.tls, logger });
    }
    if (config.console.listen !== undefined || config.console.socket !== undefined) {
      consoleServer = await startConsoleServer({
        listen: config.console.listen === undefined ? undefined : parseHostPort(config.console.listen),
        socket: config.console.socket,
        services,
        identify: (credentials) => security.identify(credentials),
        tls: config.tls,
        logger,
      });
    }
    health.setCondition(STARTED_CONDITION, true);
  } catch (error) {
    server.forceShutdown();
    await metricsServer?.close();
    await consoleServer?.close();
    await stopComponents(running, logger, "hand-off");
    await security.stop();
    throw error;
  }

  let shutdown: Promise<ShutdownReport> | undefined;
  let cutNow: (() => void) | undefined;
  return {
    address,
    advertiseAddress,
    services,
    health,
    calls,
    metrics,
    metricsAddress: metricsServer?.address,
    consoleAddress: consoleServer?.address,
    shutdown(why, mode = "hand-off") {
      if (shutdown !== undefined) {
        logger.warn({ why }, "second stop request: cutting connections now");
        cutNow?.();
        return shutdown;
      }
      shutdown = (async () => {
        logger.info(
          { why, mode, graceMs: config.shutdownGraceMs, openCalls: calls.count() },
          mode === "restart" ? "restarting: paths stay up for the next sanpathd" : "shutting down",
        );
        health.shutdown();
        calls.endStreams();
        const closed = closeServer(server, calls, config.shutdownGraceMs, (cut) => (cutNow = cut));
        const cutCalls = await closed;
        await consoleServer?.close();
        if (cutCalls > 0) {
          logger.warn({ cutCalls }, "grace period over: calls in flight were cut");
          // Give aborted handlers a moment to return before the components they use stop.
          if (!(await calls.whenIdle(HANDLER_SETTLE_MS))) {
            logger.warn({ stillRunning: calls.count() }, "handlers ignored their abort signal");
          }
        }
        await stopComponents(running, logger, mode);
        await metricsServer?.close();
        await security.stop();
        stalls.stop();
        logger.info({ cutCalls }, "stopped");
        return { cutCalls };
      })();
      return shutdown;
    },
  };
}

/** tryShutdown, and forceShutdown when the grace is over or `cut` is called; resolves to calls cut. */
function closeServer(
  server: Server,
  calls: ActiveCalls,
  graceMs: number,
  exposeCut: (cut: () => void) => void,
): Promise<number> {
  return new Promise((resolve) => {
    let done = false;
    const cut = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const remaining = calls.count();
      calls.abortAll(shuttingDownError());
      server.forceShutdown();
      resolve(remaining);
    };
    const timer = setTimeout(cut, graceMs);
    exposeCut(cut);
    server.tryShutdown(() => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(0);
    });
  });
}

async function stopComponents(
  running: readonly { name: string; component: RunningComponent }[],
  logger: Logger,
  mode: StopMode,
): Promise<void> {
  for (const { name, component } of [...running].reverse()) {
    try {
      await component.stop(mode);
    } catch (error) {
      logger.error({ component: name, err: errorMessage(error) }, "component failed to stop");
    }
  }
}

/** A wildcard bind is advertised under the host name; anything else as bound. */
function defaultAdvertiseAddress(bound: HostPort): string {
  return formatHostPort(isWildcardHost(bound.host) ? { host: hostname(), port: bound.port } : bound);
}
