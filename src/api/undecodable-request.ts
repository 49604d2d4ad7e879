import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { invalidField, SanpathError } from "../errors/sanpath-error.js";
import { requestSchemaOf } from "./sanpath-protos.js";
import { findUnsafeIntegerField, type UnsafeIntegerField } from "./unsafe-integer-field.js";

/** A request whose bytes are not a valid protobuf message; its handler never runs. */
export class UndecodableRequest {
  constructor(
    readonly error: unknown,
    readonly bytes: Uint8Array,
  ) {}
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
          return new UndecodableRequest(error, bytes);
        }
      },
    };
  }
  return tolerant;
}

/**
 * INVALID_ARGUMENT naming the method whose request could not be read, or the field when the bytes
 * were fine but a 64-bit integer is beyond what a JavaScript number holds exactly.
 */
export function undecodableError(path: string, request: UndecodableRequest): SanpathError {
  const unsafe = unsafeIntegerField(path, request);
  if (unsafe !== undefined) {
    return invalidField(
      unsafe.field,
      `${unsafe.value} is outside the integers this API takes: at most 2^53 - 1 (${Number.MAX_SAFE_INTEGER}) in magnitude`,
    );
  }
  const detail = request.error instanceof Error ? `: ${request.error.message}` : "";
  return new SanpathError(
    "invalid_argument",
    `request: not a valid protobuf message for ${path.slice(1)}${detail}`,
    { reason: "INVALID_FIELD", field: "request", cause: request.error },
  );
}

function unsafeIntegerField(path: string, request: UndecodableRequest): UnsafeIntegerField | undefined {
  if (!(request.error instanceof Error) || !request.error.message.includes("SAFE_INTEGER")) return undefined;
  try {
    const schema = requestSchemaOf(path);
    return schema === undefined ? undefined : findUnsafeIntegerField(schema, request.bytes);
  } catch {
    return undefined;
  }
}
