import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

export type ServingStatusName = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

/** A grpc.health.v1.Health client: Check only, with a deadline on every call. */
export class HealthClient {
  private readonly client: Client;

  constructor(address: string, client?: Client) {
    this.client = client ?? new Client(address, credentials.createInsecure());
  }

  /** The status of `service` ("" = the whole server). Rejects with the gRPC error (e.g. NOT_FOUND). */
  check(service: string, deadline: Date): Promise<ServingStatusName> {
    const method = healthService.Check;
    if (method === undefined) return Promise.reject(new Error("grpc-health-check has no Check method"));
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<object, object>(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        { service },
        new Metadata(),
        { deadline },
        (error: ServiceError | null, response?: object) => {
          if (error !== null) reject(error);
          else resolve(statusOf(response));
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

function statusOf(response: object | undefined): ServingStatusName {
  const status = response !== undefined && "status" in response ? response.status : undefined;
  return status === "SERVING" || status === "NOT_SERVING" || status === "SERVICE_UNKNOWN"
    ? status
    : "UNKNOWN";
}
