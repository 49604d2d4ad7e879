/**
 * Reach a TCP endpoint inside a network namespace from the root namespace without any address or
 * interface in the root namespace:
 *
 *   root ns: 127.0.0.1:<free port>  ──pipe──▶  unix socket (a file: visible in every namespace)
 *   netns:   bridge process (`ip netns exec NS node -e …`) accepts on the unix socket and
 *            connects to host:port inside the namespace
 *
 *   const forward = await startPortForward({ netns: "sp-1-ab12-infra", host: "127.0.0.1", port: 8500 });
 *   new ConsulClient({ address: forward.address });      // "127.0.0.1:41234"
 *   await forward.stop();                                  // by PID; the socket file is removed
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { invalidField } from "../errors/sanpath-error.js";
import { spawnDaemon, type DaemonHandle } from "./daemon.js";

export interface PortForwardOptions {
  /** The namespace in which `host:port` is reachable. */
  netns: string;
  host: string;
  port: number;
  /** Folder for the unix socket (it must exist); a new temp dir, removed by stop(), by default. */
  dir?: string;
  /** The bridge process's stdout and stderr. */
  logFile?: string;
  readyTimeoutMs?: number;
}

export interface PortForward {
  /** "127.0.0.1:<port>" in the root namespace. */
  readonly address: string;
  readonly port: number;
  readonly socketPath: string;
  /** PID of the bridge process inside the namespace. */
  readonly pid: number;
  /** Closes the listener and open connections, stops the bridge by PID, removes the socket. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The bridge, run by `node -e` inside the namespace (argv: socket path, host, port). Plain
 * JavaScript in a string, so it runs the same from the TypeScript sources and from dist/.
 */
const BRIDGE_SCRIPT = `
const net = require("node:net");
const fs = require("node:fs");
const [path, host, port] = process.argv.slice(1);
try { fs.unlinkSync(path); } catch {}
const server = net.createServer((client) => {
  const upstream = net.connect(Number(port), host);
  const end = () => { client.destroy(); upstream.destroy(); };
  client.on("error", end); upstream.on("error", end);
  client.on("close", end); upstream.on("close", end);
  client.pipe(upstream); upstream.pipe(client);
});
server.on("error", (error) => { process.stderr.write(String(error) + "\\n"); process.exit(1); });
server.listen(path, () => process.stdout.write("ready\\n"));
const stop = () => { try { fs.unlinkSync(path); } catch {} process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
`;

export async function startPortForward(options: PortForwardOptions): Promise<PortForward> {
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65_535) {
    throw invalidField("port", "must be a whole number in 1..65535");
  }
  const ownDir = options.dir === undefined ? mkdtempSync(join(tmpdir(), "sanpath-fwd-")) : undefined;
  const socketPath = join(ownDir ?? options.dir ?? "", `fwd-${options.port}-${process.pid}.sock`);
  let bridge: DaemonHandle | undefined;
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => {
        if (server === undefined) resolve();
        else server.close(() => resolve());
      });
      await bridge?.stop({ graceMs: 1000 });
      rmSync(socketPath, { force: true });
      if (ownDir !== undefined) rmSync(ownDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    bridge = spawnDaemon(
      "ip",
      [
        "netns",
        "exec",
        options.netns,
        process.execPath,
        "-e",
        BRIDGE_SCRIPT,
        socketPath,
        options.host,
        String(options.port),
      ],
      options.logFile === undefined ? {} : { logFile: options.logFile },
    );
    await waitForSocket(socketPath, bridge, options.readyTimeoutMs ?? 10_000);
    const listener = createServer((client) => {
      const upstream = connect(socketPath);
      sockets.add(client);
      sockets.add(upstream);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on("error", end);
      upstream.on("error", end);
      client.on("close", end);
      upstream.on("close", end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    server = listener;
    const port = await new Promise<number>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(0, "127.0.0.1", () => {
        const address = listener.address();
        if (address === null || typeof address === "string") reject(new Error("no TCP address"));
        else resolve(address.port);
      });
    });
    const pid = bridge.pid;
    return { address: `127.0.0.1:${port}`, port, socketPath, pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Resolves once the bridge accepts connections on the socket. */
async function waitForSocket(path: string, bridge: DaemonHandle, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!bridge.isRunning())
      throw new Error(`the port-forward bridge exited (${bridge.command.slice(0, 60)}…)`);
    if (await accepts(path)) return;
    await sleep(25);
  }
  throw new Error(`the port-forward bridge did not listen on ${path} within ${timeoutMs} ms`);
}

function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
