import type { LeaseGrant, LeaseRenewal } from "../assignment/node-rpc.js";
import { ActiveCalls } from "../api/active-calls.js";
import { renewLeaseHandler } from "../api/renew-lease-handler.js";
import { ServiceRegistry } from "../api/service-registry.js";
import type { SanpathdConfig } from "../config/config.js";
import type { Logger } from "../log/logger.js";
import { startDaemonSecurity } from "../security/daemon-security.js";
import { bindServer, createGrpcServer } from "../server/grpc-server.js";

export interface LeaseListenerOptions {
  /** host:port (port 0: any). */
  readonly listen: string;
  /** TLS, tokens and roles as sanpathd's main port has them. */
  readonly config: SanpathdConfig;
  readonly logger: Logger;
  readonly answer: (renewal: LeaseRenewal) => Promise<LeaseGrant>;
}

export interface LeaseListener {
  /** The bound port (the real one when listen had port 0). */
  readonly port: number;
  /** Stops taking renews and cuts the connections. */
  close(): Promise<void>;
}

/**
 * The lease worker's own gRPC listener: NodeService with RenewLease only (every other method
 * answers UNIMPLEMENTED), behind the same security gate as the main port (mutual TLS, the caller's
 * role, a node renewing only its own lease). It runs on the worker's event loop, so a renew is
 * answered while the main thread is busy.
 */
export async function startLeaseListener(options: LeaseListenerOptions): Promise<LeaseListener> {
  const security = await startDaemonSecurity(options.config, options.logger);
  const calls = new ActiveCalls();
  const services = new ServiceRegistry({ calls, logger: options.logger, gate: security.gate });
  services.implement("node", { renewLease: renewLeaseHandler(options.answer) });
  const server = createGrpcServer();
  services.addToServer(server);
  let port: number;
  try {
    ({ port } = await bindServer(server, options.listen, security.serverCredentials));
  } catch (error) {
    server.forceShutdown();
    await security.stop();
    throw error;
  }
  return {
    port,
    async close() {
      server.forceShutdown();
      await security.stop();
    },
  };
}
