import { chmod, lstat, rm } from "node:fs/promises";
import { connect } from "node:net";
import { Server, ServerCredentials, type ServerOptions } from "@grpc/grpc-js";
import { parseHostPort, type HostPort } from "../config/host-port.js";

/** 4 MiB: the largest request message the server accepts. */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

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
  // No sanpath request comes near this; a bigger one is refused with RESOURCE_EXHAUSTED unread.
  "grpc.max_receive_message_length": MAX_REQUEST_BYTES,
};

export function createGrpcServer(): Server {
  return new Server(SERVER_OPTIONS);
}

/** Binds `listen` (host:port, port 0 = any), plaintext unless TLS credentials are given; resolves to the bound address. */
export async function bindServer(
  server: Server,
  listen: string,
  credentials: ServerCredentials = ServerCredentials.createInsecure(),
): Promise<HostPort> {
  const wanted = parseHostPort(listen);
  if (wanted === undefined) throw new Error(`cannot bind ${listen}: not host:port`);
  const port = await new Promise<number>((resolvePort, reject) => {
    server.bindAsync(listen, credentials, (error, boundPort) => {
      if (error === null) resolvePort(boundPort);
      else reject(error);
    });
  });
  return { host: wanted.host, port };
}

/**
 * Also binds the unix socket at `path` (absolute), with the same credentials as the TCP listener
 * (TLS when it is on: clients name the server "localhost", the default authority of a unix:
 * target). The socket file is made 0600, so only its owner (root) may connect at all. A socket
 * file left by a process that is gone (kill -9) is replaced; one that still accepts connections
 * belongs to a live server and is refused.
 */
export async function bindUnixSocket(
  server: Server,
  path: string,
  credentials: ServerCredentials = ServerCredentials.createInsecure(),
): Promise<void> {
  const existing = await lstat(path).catch(() => undefined);
  if (existing !== undefined) {
    if (!existing.isSocket())
      throw new Error(`cannot bind unix socket ${path}: a file that is not a socket is there`);
    if (await acceptsConnections(path))
      throw new Error(`cannot bind unix socket ${path}: another server listens there`);
    await rm(path, { force: true });
  }
  await new Promise<void>((resolveBound, reject) => {
    server.bindAsync(`unix://${path}`, credentials, (error) => {
      if (error === null) resolveBound();
      else reject(error);
    });
  });
  await chmod(path, 0o600);
}

function acceptsConnections(path: string): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const socket = connect(path);
    const done = (answer: boolean): void => {
      socket.destroy();
      resolveAnswer(answer);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
