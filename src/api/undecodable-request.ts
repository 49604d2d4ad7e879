import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { SanpathError } from "../errors/sanpath-error.js";

/** A request whose bytes are not a valid protobuf message; its handler never runs. */
export class UndecodableRequest {
  constructor(readonly error: unknown) {}
}

/**
 * The definition with a request decoder that never throws: grpc-js answers a throwing decoder with
 * INTERNAL "Error deserializing request"; this keeps the bytes' failure as an UndecodableRequest,
 * which the dispatcher refuses with INVALID_ARGUMENT after the gate has let the caller in.
 */
export function tolerantDefinition(definition: ServiceDefinition): ServiceDefinition {
  const tolerant: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition) as [string, MethodDefinition<unknown, unknown>][]) {
    tolerant[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return method.requestDeserialize(bytes);
        } catch (error) {
          return new UndecodableRequest(error);
        }
      },
    };
  }
  return tolerant;
}

/** INVALID_ARGUMENT naming the method whose request could not be read. */
export function undecodableError(path: string, request: UndecodableRequest): SanpathError {
  const detail = request.error instanceof Error ? `: ${request.error.message}` : "";
  return new SanpathError(
    "invalid_argument",
    `request: not a valid protobuf message for ${path.slice(1)}${detail}`,
    { reason: "INVALID_FIELD", field: "request", cause: request.error },
  );
}
