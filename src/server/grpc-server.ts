import { Server, ServerCredentials, type ServerOptions } from "@grpc/grpc-js";
import { parseHostPort, type HostPort } from "../config/host-port.js";

/**
 * Keepalive: ping a quiet connection every 30 s and drop it when a ping goes unanswered for 10 s
 * (a dead peer is noticed within ~40 s, not after the kernel's TCP timeout); pings are allowed
 * without calls in flight (long-lived watch streams); idle connections close after 10 minutes.
 */
export const SERVER_OPTIONS: ServerOptions = {
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.max_connection_idle_ms": 10 * 60_000,
};

export function createGrpcServer(): Server {
  return new Server(SERVER_OPTIONS);
}

/** Binds `listen` (host:port, port 0 = any) without TLS; resolves to the bound address. */
export async function bindServer(server: Server, listen: string): Promise<HostPort> {
  const wanted = parseHostPort(listen);
  if (wanted === undefined) throw new Error(`cannot bind ${listen}: not host:port`);
  const port = await new Promise<number>((resolvePort, reject) => {
    server.bindAsync(listen, ServerCredentials.createInsecure(), (error, boundPort) => {
      if (error === null) resolvePort(boundPort);
      else reject(error);
    });
  });
  return { host: wanted.host, port };
}
