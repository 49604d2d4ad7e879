/**
 * The dev cluster's way into the web console from the root namespace, which has no route to the
 * nodes' management addresses: a TCP listener on loopback that pipes each connection to the first
 * node whose console unix socket (console.socket, in the state folder) answers. TLS stays end to
 * end between the browser and sanpathd; a dead node is skipped on the next connection.
 */
import { once } from "node:events";
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export interface ConsoleForwarderOptions {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** Tried in order for each connection. */
  readonly sockets: readonly string[];
  readonly log?: (line: string) => void;
}

export interface ConsoleForwarder {
  readonly port: number;
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 2000;

export async function startConsoleForwarder(options: ConsoleForwarderOptions): Promise<ConsoleForwarder> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    open.add(client);
    client.once("close", () => open.delete(client));
    client.pause();
    void connectFirst(options.sockets).then(
      (upstream) => {
        if (upstream === undefined) {
          options.log?.(`no node console answers (${options.sockets.join(", ")}): connection closed`);
          client.destroy();
          return;
        }
        open.add(upstream);
        upstream.once("close", () => open.delete(upstream));
        client.pipe(upstream);
        upstream.pipe(client);
        client.on("error", () => upstream.destroy());
        upstream.on("error", () => client.destroy());
        client.once("close", () => upstream.destroy());
        upstream.once("close", () => client.destroy());
        client.resume();
      },
      () => client.destroy(),
    );
  });
  server.listen(options.port, options.host);
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([error]: unknown[]) => {
      throw error;
    }),
  ]);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function connectFirst(paths: readonly string[]): Promise<Socket | undefined> {
  for (const path of paths) {
    const socket = await connect(path);
    if (socket !== undefined) return socket;
  }
  return undefined;
}

function connect(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, CONNECT_TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(undefined);
    });
  });
}
