import { once } from "node:events";
import type { Server } from "node:http";
import { errorMessage } from "../errors/sanpath-error.js";

/**
 * Starts `server` listening (`listen` calls server.listen) and resolves once it does; a failure
 * (port taken, socket path not writable) rejects naming `what`, e.g. "metrics.listen 0.0.0.0:9410".
 */
export async function listenOn(server: Server, what: string, listen: () => void): Promise<void> {
  listen();
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([error]: unknown[]) => {
      throw new Error(`${what}: ${errorMessage(error)}`, { cause: error });
    }),
  ]);
}

/** Stops taking connections and cuts the open ones (keep-alive, event streams); resolves when closed. */
export function closeHttpServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
