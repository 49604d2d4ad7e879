import type { SanpathdConfig } from "./config.js";
import { formatHostPort, parseHostPort } from "./host-port.js";

/**
 * Where the lease worker listens (lease.listen), by default beside the gRPC server: listen's host and
 * the next port, or any free port when listen's port is 0 (or `anyPort`: the next one was taken).
 */
export function leaseListenOf(
  config: Pick<SanpathdConfig, "listen" | "lease">,
  { anyPort = false }: { anyPort?: boolean } = {},
): string {
  if (config.lease.listen !== undefined) return config.lease.listen;
  const main = parseHostPort(config.listen);
  if (main === undefined) throw new Error(`listen ${config.listen} is not host:port`);
  return formatHostPort({ host: main.host, port: anyPort || main.port === 0 ? 0 : main.port + 1 });
}

/** The address other nodes renew at: the advertised host and the lease worker's bound port. */
export function leaseAdvertiseAddress(advertiseAddress: string, leasePort: number): string {
  const advertised = parseHostPort(advertiseAddress);
  if (advertised === undefined) throw new Error(`advertise address ${advertiseAddress} is not host:port`);
  return formatHostPort({ host: advertised.host, port: leasePort });
}
