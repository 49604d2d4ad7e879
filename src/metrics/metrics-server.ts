import { readFile } from "node:fs/promises";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TlsConfig } from "../config/config.js";
import { formatHostPort, type HostPort } from "../config/host-port.js";
import { closeHttpServer, listenOn } from "../util/http-listener.js";
import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import type { PrometheusMetrics } from "./prometheus-metrics.js";

export interface MetricsServerOptions {
  listen: HostPort;
  metrics: PrometheusMetrics;
  /**
   * HTTPS with this node's certificate, and (when requireClientCert) only for clients with a
   * certificate of the cluster CA (`sanpath cert client --role viewer` for Prometheus).
   */
  tls: TlsConfig | undefined;
  logger: Logger;
}

export interface MetricsServer {
  /** The bound address (the real port when listen had port 0). */
  readonly address: HostPort;
  readonly scheme: "http" | "https";
  close(): Promise<void>;
}

/** Serves GET /metrics (Prometheus text format) on a listener of its own, off the gRPC port. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { metrics, logger, tls } = options;
  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    void answer(request, response, metrics, logger);
  };
  let server: Server;
  if (tls === undefined) {
    server = createHttpServer(handle);
  } else {
    const [ca, cert, key] = await Promise.all([readFile(tls.ca), readFile(tls.cert), readFile(tls.key)]);
    server = createHttpsServer(
      { ca, cert, key, requestCert: tls.requireClientCert, rejectUnauthorized: tls.requireClientCert },
      handle,
    );
  }
  await listenOn(server, `metrics.listen ${formatHostPort(options.listen)}`, () =>
    server.listen(options.listen.port, options.listen.host),
  );
  const bound = server.address() as AddressInfo;
  const address = { host: options.listen.host, port: bound.port };
  const scheme = tls === undefined ? "http" : "https";
  logger.info({ listen: formatHostPort(address), scheme }, "metrics listening");
  return {
    address,
    scheme,
    close: () => closeHttpServer(server),
  };
}

async function answer(
  request: IncomingMessage,
  response: ServerResponse,
  metrics: PrometheusMetrics,
  logger: Logger,
): Promise<void> {
  const path = (request.url ?? "/").split("?")[0];
  if (path !== "/metrics") {
    response.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    response.end("sanpathd serves its metrics at /metrics\n");
    return;
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    response.end("GET /metrics\n");
    return;
  }
  try {
    const { contentType, body } = await metrics.render();
    response.writeHead(200, { "content-type": contentType });
    response.end(request.method === "HEAD" ? undefined : body);
  } catch (error) {
    logger.warn({ err: errorMessage(error) }, "metrics scrape failed");
    response.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
    response.end("collecting the metrics failed; see the sanpathd log\n");
  }
}
