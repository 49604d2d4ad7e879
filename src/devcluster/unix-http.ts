import { request } from "node:http";

export interface UnixHttpResponse {
  status: number;
  body: string;
}

/**
 * One HTTP request over a unix socket (a dev cluster node's Consul agent listens on one, so the
 * root namespace reaches it without a route into the node's namespace).
 */
export function unixHttp(
  socketPath: string,
  method: "GET" | "PUT",
  path: string,
  options: { timeoutMs: number; body?: string; signal?: AbortSignal },
): Promise<UnixHttpResponse> {
  return new Promise((resolve, reject) => {
    const signal =
      options.signal === undefined
        ? AbortSignal.timeout(options.timeoutMs)
        : AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]);
    const req = request({ socketPath, method, path, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("error", (error) =>
      reject(new Error(`${method} ${path} on ${socketPath}: ${error.message}`, { cause: error })),
    );
    req.end(options.body);
  });
}

/** GET and parse JSON; rejects on a status other than 200. */
export async function unixGetJson(socketPath: string, path: string, timeoutMs = 2000): Promise<unknown> {
  const response = await unixHttp(socketPath, "GET", path, { timeoutMs });
  if (response.status !== 200) {
    throw new Error(`GET ${path} on ${socketPath}: HTTP ${response.status} ${response.body.trim()}`);
  }
  return JSON.parse(response.body) as unknown;
}
