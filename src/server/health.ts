import type { Server, ServerWritableStream, UntypedServiceImplementation } from "@grpc/grpc-js";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import type { ActiveCalls } from "../api/active-calls.js";
import { toGrpcFailure, toServiceErrorObject } from "../api/grpc-status.js";
import type { Logger } from "../log/logger.js";

export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";

interface Condition {
  ok: boolean;
  /** Undefined: every service and the overall status "" depend on it. */
  services: ReadonlySet<string> | undefined;
}

/**
 * grpc.health.v1 for the whole server ("") and each service. A service is SERVING when every
 * condition it depends on is ok (e.g. "consul" for all, later "session" for NodeService) and the
 * daemon is not shutting down; "" depends on the conditions set for every service.
 */
export class HealthReporter {
  private readonly implementation: HealthImplementation;
  private readonly conditions = new Map<string, Condition>();
  private readonly current = new Map<string, ServingStatus>();
  private shuttingDown = false;

  constructor(
    private readonly serviceNames: readonly string[],
    private readonly logger: Logger,
  ) {
    const initial: Record<string, ServingStatus> = { "": "NOT_SERVING" };
    for (const name of serviceNames) initial[name] = "NOT_SERVING";
    for (const [name, status] of Object.entries(initial)) this.current.set(name, status);
    this.implementation = new HealthImplementation(initial);
  }

  /** Sets a readiness condition, for every service or only the named ones. */
  setCondition(name: string, ok: boolean, services?: readonly string[]): void {
    this.conditions.set(name, { ok, services: services === undefined ? undefined : new Set(services) });
    this.publish();
  }

  status(service = ""): ServingStatus | undefined {
    return this.current.get(service);
  }

  /** NOT_SERVING everywhere, for good: the first phase of shutdown. */
  shutdown(): void {
    this.shuttingDown = true;
    this.publish();
  }

  /**
   * Adds grpc.health.v1.Health. Watch streams are registered in `calls`, so shutdown ends them
   * (after they were told NOT_SERVING).
   */
  addToServer(server: Pick<Server, "addService">, calls: ActiveCalls): void {
    this.implementation.addToServer({
      addService: (service, implementation) => {
        const tracked: UntypedServiceImplementation = { ...implementation };
        const watch = implementation.watch as
          ((call: ServerWritableStream<unknown, unknown>) => void) | undefined;
        if (watch !== undefined) tracked.watch = trackedWatch(watch, calls);
        server.addService(service, tracked);
      },
    });
  }

  private publish(): void {
    this.set("", this.allOk(undefined));
    for (const name of this.serviceNames) this.set(name, this.allOk(name));
  }

  private allOk(service: string | undefined): boolean {
    if (this.shuttingDown) return false;
    for (const condition of this.conditions.values()) {
      const applies =
        condition.services === undefined || (service !== undefined && condition.services.has(service));
      if (applies && !condition.ok) return false;
    }
    return true;
  }

  private set(service: string, serving: boolean): void {
    const status: ServingStatus = serving ? "SERVING" : "NOT_SERVING";
    if (this.current.get(service) === status) return;
    this.current.set(service, status);
    this.implementation.setStatus(service, status);
    this.logger.info({ service: service === "" ? "(overall)" : service, status }, "health changed");
  }
}

function trackedWatch(
  watch: (call: ServerWritableStream<unknown, unknown>) => void,
  calls: ActiveCalls,
): (call: ServerWritableStream<unknown, unknown>) => void {
  return (call) => {
    const unregister = calls.register({
      kind: "server-stream",
      method: call.getPath(),
      abort: (reason) => {
        if (call.cancelled || call.writableEnded) return;
        call.emit("error", toServiceErrorObject(toGrpcFailure(reason)));
        // The health library forgets a watcher only on "cancelled"; the call is over either way.
        call.emit("cancelled", "ended by sanpathd");
      },
    });
    call.once("finish", unregister);
    call.once("cancelled", unregister);
    watch(call);
  };
}
