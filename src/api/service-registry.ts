import type { Server, UntypedServiceImplementation } from "@grpc/grpc-js";
import { AssignmentServiceService } from "../gen/sanpath/v1/assignment.js";
import { ClusterServiceService } from "../gen/sanpath/v1/cluster.js";
import { DiskServiceService } from "../gen/sanpath/v1/disk.js";
import { EventServiceService } from "../gen/sanpath/v1/event.js";
import { NodeServiceService } from "../gen/sanpath/v1/node.js";
import type { Logger } from "../log/logger.js";
import type { ActiveCalls } from "./active-calls.js";
import type { CallGate } from "./call-gate.js";
import {
  invokeStream,
  invokeUnary,
  serverStream,
  unary,
  type InProcessCall,
  type CallContext,
  type CallObserver,
  type ServerStreamHandler,
  type UnaryHandler,
} from "./call-handlers.js";
import { NotBuiltYetError } from "./grpc-status.js";
import { tolerantDefinition, UndecodableRequest, undecodableError } from "./undecodable-request.js";

/** The sanpath.v1 services, by the key `ServiceRegistry.implement` takes. */
export const SANPATH_SERVICES = {
  disk: { name: "sanpath.v1.DiskService", definition: DiskServiceService },
  assignment: { name: "sanpath.v1.AssignmentService", definition: AssignmentServiceService },
  node: { name: "sanpath.v1.NodeService", definition: NodeServiceService },
  cluster: { name: "sanpath.v1.ClusterService", definition: ClusterServiceService },
  event: { name: "sanpath.v1.EventService", definition: EventServiceService },
} as const;

export type SanpathServiceKey = keyof typeof SANPATH_SERVICES;

export const SANPATH_SERVICE_NAMES: readonly string[] = Object.values(SANPATH_SERVICES).map(
  (service) => service.name,
);

type RequestOf<Method> = Method extends { requestDeserialize: (bytes: Buffer) => infer Request }
  ? Request
  : never;
type ResponseOf<Method> = Method extends { responseSerialize: (value: infer Response) => Buffer }
  ? Response
  : never;

/** The handler type of one generated method definition. */
export type HandlerOf<Method> = Method extends { responseStream: true }
  ? ServerStreamHandler<RequestOf<Method>, ResponseOf<Method>>
  : UnaryHandler<RequestOf<Method>, ResponseOf<Method>>;

/**
 * Handlers of one service, keyed by the generated method names (`addDisk`, `watchReassignment`, …):
 *   const handlers: ServiceHandlers<"disk"> = { addDisk: async (request, context) => ({ disk: … }) };
 */
export type ServiceHandlers<Key extends SanpathServiceKey> = {
  [Method in keyof (typeof SANPATH_SERVICES)[Key]["definition"]]: HandlerOf<
    (typeof SANPATH_SERVICES)[Key]["definition"][Method]
  >;
};

/** The services with their keys typed (Object.entries loses the key type). */
function serviceEntries(): [SanpathServiceKey, (typeof SANPATH_SERVICES)[SanpathServiceKey]][] {
  return Object.entries(SANPATH_SERVICES) as [
    SanpathServiceKey,
    (typeof SANPATH_SERVICES)[SanpathServiceKey],
  ][];
}

type AnyUnary = UnaryHandler<unknown, unknown>;
type AnyStream = ServerStreamHandler<unknown, unknown>;

interface MethodSlot {
  readonly path: string;
  readonly streaming: boolean;
  handler: AnyUnary | AnyStream | undefined;
}

/**
 * Every sanpath.v1 RPC, registered once with grpc-js; each dispatches to the handler set now, or
 * answers UNIMPLEMENTED "… is not built yet". Handlers can be plugged in before or after the server
 * starts, per service and per method:
 *   registry.implement("disk", { addDisk, getDisk });
 */
export class ServiceRegistry {
  private readonly slots = new Map<SanpathServiceKey, Map<string, MethodSlot>>();

  /**
   * `gate` (src/security) authenticates, authorizes and audits every call before its handler;
   * `observe` is told how each call ended (metrics).
   */
  constructor(
    private readonly options: { calls: ActiveCalls; logger: Logger; gate?: CallGate; observe?: CallObserver },
  ) {
    for (const [key, service] of serviceEntries()) {
      const methods = new Map<string, MethodSlot>();
      const definition: Readonly<Record<string, { path: string; responseStream: boolean }>> =
        service.definition;
      for (const [name, method] of Object.entries(definition)) {
        methods.set(name, { path: method.path, streaming: method.responseStream, handler: undefined });
      }
      this.slots.set(key, methods);
    }
  }

  /** Sets (or replaces) the handlers of some or all methods of one service. */
  implement<Key extends SanpathServiceKey>(service: Key, handlers: Partial<ServiceHandlers<Key>>): void {
    const methods = this.methodsOf(service);
    for (const [name, handler] of Object.entries(handlers) as [string, AnyUnary | AnyStream | undefined][]) {
      const slot = methods.get(name);
      if (slot === undefined) throw new Error(`${SANPATH_SERVICES[service].name} has no method ${name}`);
      slot.handler = handler;
    }
  }

  /** Back to UNIMPLEMENTED for the named methods, or for the whole service. */
  unimplement(service: SanpathServiceKey, methodNames?: readonly string[]): void {
    for (const [name, slot] of this.methodsOf(service)) {
      if (methodNames === undefined || methodNames.includes(name)) slot.handler = undefined;
    }
  }

  /**
   * Calls a unary method inside sanpathd for an outside caller (the web console): the same gate
   * (credentials, roles, audit), metrics and shutdown registry as over gRPC. Rejects with an
   * InProcessCallError.
   */
  callInProcess(call: InProcessCall): Promise<unknown> {
    const slot = this.slotOf(call.method, false);
    return invokeUnary(
      (request: unknown, context: CallContext) => {
        const handler = slot.handler as AnyUnary | undefined;
        if (handler === undefined) return Promise.reject(new NotBuiltYetError(slot.path.slice(1)));
        return handler(request, context);
      },
      call,
      this.options,
    );
  }

  /** A server-streaming method called in process (see callInProcess); ends when `call.signal` aborts. */
  streamInProcess(call: InProcessCall): AsyncGenerator<unknown, void, undefined> {
    const slot = this.slotOf(call.method, true);
    return invokeStream(
      (request: unknown, context: CallContext) => {
        const handler = slot.handler as AnyStream | undefined;
        if (handler === undefined) return failingIterable(new NotBuiltYetError(slot.path.slice(1)));
        return handler(request, context);
      },
      call,
      this.options,
    );
  }

  isImplemented(service: SanpathServiceKey, methodName: string): boolean {
    return this.methodsOf(service).get(methodName)?.handler !== undefined;
  }

  addToServer(server: Pick<Server, "addService">): void {
    for (const [key, service] of serviceEntries()) {
      const implementation: UntypedServiceImplementation = {};
      for (const [name, slot] of this.methodsOf(key)) {
        implementation[name] = slot.streaming ? this.streamDispatcher(slot) : this.unaryDispatcher(slot);
      }
      server.addService(tolerantDefinition(service.definition), implementation);
    }
  }

  private unaryDispatcher(slot: MethodSlot): ReturnType<typeof unary<unknown, unknown>> {
    return unary((request: unknown, context: CallContext) => {
      const handler = slot.handler as AnyUnary | undefined;
      if (request instanceof UndecodableRequest) return Promise.reject(undecodableError(slot.path, request));
      if (handler === undefined) return Promise.reject(new NotBuiltYetError(slot.path.slice(1)));
      return handler(request, context);
    }, this.options);
  }

  private streamDispatcher(slot: MethodSlot): ReturnType<typeof serverStream<unknown, unknown>> {
    return serverStream((request: unknown, context: CallContext) => {
      const handler = slot.handler as AnyStream | undefined;
      if (request instanceof UndecodableRequest) return failingIterable(undecodableError(slot.path, request));
      if (handler === undefined) return failingIterable(new NotBuiltYetError(slot.path.slice(1)));
      return handler(request, context);
    }, this.options);
  }

  private slotOf(path: string, streaming: boolean): MethodSlot {
    for (const methods of this.slots.values()) {
      for (const slot of methods.values()) {
        if (slot.path === path && slot.streaming === streaming) return slot;
      }
    }
    throw new Error(`${path} is not a ${streaming ? "server-streaming" : "unary"} sanpath.v1 method`);
  }

  private methodsOf(service: SanpathServiceKey): Map<string, MethodSlot> {
    const methods = this.slots.get(service);
    if (methods === undefined) throw new Error(`unknown service ${service}`);
    return methods;
  }
}

function failingIterable(error: Error): AsyncIterable<never> {
  return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }) };
}
