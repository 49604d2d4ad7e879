import { readFile, rm } from "node:fs/promises";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { ServiceRegistry } from "../api/service-registry.js";
import type { TlsConfig } from "../config/config.js";
import { formatHostPort, type HostPort } from "../config/host-port.js";
import { closeHttpServer, listenOn } from "../util/http-listener.js";
import type { Logger } from "../log/logger.js";
import type { Credentials } from "../security/authorizer.js";
import type { Caller } from "../security/caller.js";
import { ConsoleApi, toHttpError } from "./console-api.js";
import { defaultAssetDirs, serveAsset, type ConsoleAssetDirs } from "./console-assets.js";
import { sendError, SECURITY_HEADERS } from "./console-http.js";
import { ConsoleSessions } from "./console-sessions.js";

export interface ConsoleServerOptions {
  /** TCP listener (console.listen); undefined with only a socket. */
  readonly listen: HostPort | undefined;
  /** Unix socket listener (console.socket). */
  readonly socket: string | undefined;
  readonly services: ServiceRegistry;
  readonly identify: (credentials: Credentials) => Caller;
  /**
   * HTTPS with this node's certificate; a client certificate of the cluster CA is asked for and,
   * when the browser has one, signs its holder in (a token works too).
   */
  readonly tls: TlsConfig | undefined;
  readonly logger: Logger;
  readonly assets?: ConsoleAssetDirs;
  readonly sessions?: ConsoleSessions;
}

export interface ConsoleServer {
  /** The bound TCP address (the real port when listen had port 0). */
  readonly address: HostPort | undefined;
  readonly socket: string | undefined;
  readonly scheme: "http" | "https";
  /** Ends open event streams and closes the listeners. */
  close(): Promise<void>;
}

/** The web console: its files and its JSON API, on listeners of its own (off the gRPC port). */
export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const { logger, tls } = options;
  const assets = options.assets ?? defaultAssetDirs();
  const api = new ConsoleApi({
    services: options.services,
    identify: options.identify,
    sessions: options.sessions ?? new ConsoleSessions(),
    secure: tls !== undefined,
    logger,
  });
  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    void answer(request, response, api, assets, logger);
  };
  const servers: Server[] = [];
  const make = async (): Promise<Server> => {
    if (tls === undefined) return createHttpServer(handle);
    const [ca, cert, key] = await Promise.all([readFile(tls.ca), readFile(tls.cert), readFile(tls.key)]);
    // A browser without a certificate still connects, and signs in with a token.
    return createHttpsServer({ ca, cert, key, requestCert: true, rejectUnauthorized: false }, handle);
  };
  let address: HostPort | undefined;
  try {
    if (options.listen !== undefined) {
      const server = await make();
      servers.push(server);
      await listenOn(server, `console.listen ${formatHostPort(options.listen)}`, () =>
        server.listen(options.listen?.port, options.listen?.host),
      );
      address = { host: options.listen.host, port: (server.address() as AddressInfo).port };
    }
    if (options.socket !== undefined) {
      const socketPath = options.socket;
      await rm(socketPath, { force: true });
      const server = await make();
      servers.push(server);
      await listenOn(server, `console.socket ${socketPath}`, () => server.listen(socketPath));
    }
  } catch (error) {
    await Promise.all(servers.map(closeHttpServer));
    throw error;
  }
  const scheme = tls === undefined ? "http" : "https";
  logger.info(
    { listen: address === undefined ? undefined : formatHostPort(address), socket: options.socket, scheme },
    "web console listening",
  );
  return {
    address,
    socket: options.socket,
    scheme,
    close: async () => {
      await Promise.all(servers.map(closeHttpServer));
      if (options.socket !== undefined) await rm(options.socket, { force: true });
    },
  };
}

async function answer(
  request: IncomingMessage,
  response: ServerResponse,
  api: ConsoleApi,
  assets: ConsoleAssetDirs,
  logger: Logger,
): Promise<void> {
  const path = (request.url ?? "/").split("?")[0] ?? "/";
  try {
    if (path.startsWith("/api/")) {
      await api.handle(path, request, response);
      return;
    }
    const method = request.method ?? "GET";
    if (method === "GET" || method === "HEAD") {
      if (await serveAsset(path, assets, response, method === "HEAD")) return;
      if (path === "/favicon.ico") {
        response.writeHead(204, SECURITY_HEADERS);
        response.end();
        return;
      }
    }
    response.writeHead(404, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" });
    response.end("not found: the console is at /\n");
  } catch (error) {
    const failure = toHttpError(error);
    if (failure.status >= 500 && failure.code === "INTERNAL")
      logger.error({ err: error, path }, "console request failed");
    if (response.headersSent) {
      response.end();
      return;
    }
    sendError(response, failure);
  }
}
