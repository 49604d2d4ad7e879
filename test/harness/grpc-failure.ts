import type { ServiceError } from "@grpc/grpc-js";

/** A gRPC failure as tests assert it. */
export interface GrpcFailure {
  code: number;
  reason: string | undefined;
  details: string;
}

/** The code, sanpath-reason and details of a gRPC error; rethrows anything that is not one. */
export function grpcFailure(error: unknown): GrpcFailure {
  const serviceError = error as Partial<ServiceError>;
  if (typeof serviceError.code !== "number") throw error;
  const reason = serviceError.metadata?.get("sanpath-reason")[0];
  return {
    code: serviceError.code,
    reason: typeof reason === "string" ? reason : undefined,
    details: serviceError.details ?? "",
  };
}
