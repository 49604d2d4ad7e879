import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, closeSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePorts } from "../util/free-port.js";
import { consulBinary } from "./consul-binary.js";

export interface DevAgentOptions {
  /** Folder for the agent's log (agent.log). Data stays in memory (-dev). */
  dir: string;
  nodeName?: string;
  bindHost?: string;
  /** Use this HTTP port instead of a free one (a restarted agent keeps its address). */
  httpPort?: number;
  /** How long to wait until KV and sessions work. */
  readyTimeoutMs?: number;
}

/** A `consul agent -dev` child process: a single-node server, in memory, on free ports. */
export interface DevAgent {
  readonly pid: number;
  readonly host: string;
  readonly httpPort: number;
  /** "host:port" of the HTTP API. */
  readonly httpAddress: string;
  readonly nodeName: string;
  /** Stops the agent by PID (SIGTERM, then SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

export async function startDevAgent(options: DevAgentOptions): Promise<DevAgent> {
  const host = options.bindHost ?? "127.0.0.1";
  const nodeName = options.nodeName ?? `sanpath-dev-${process.pid}`;
  const [httpFree, serverPort, serfLan, serfWan] = await freePorts(4, host);
  const httpPort = options.httpPort ?? httpFree;
  if (httpPort === undefined || serverPort === undefined || serfLan === undefined || serfWan === undefined) {
    throw new Error("could not find free ports for the consul dev agent");
  }
  mkdirSync(options.dir, { recursive: true });
  const logFd = openSync(join(options.dir, "agent.log"), "a");
  const args = [
    "agent",
    "-dev",
    "-bind",
    host,
    "-client",
    host,
    "-http-port",
    String(httpPort),
    "-server-port",
    String(serverPort),
    "-serf-lan-port",
    String(serfLan),
    "-serf-wan-port",
    String(serfWan),
    "-dns-port",
    "-1",
    "-grpc-port",
    "-1",
    "-node",
    nodeName,
    "-disable-host-node-id",
    "-log-level",
    "warn",
  ];
  let child: ChildProcess;
  try {
    child = spawn(consulBinary(), args, { stdio: ["ignore", logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error("consul dev agent did not start (no pid)");
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true;
      resolve();
    });
  });
  const killOnExit = (): void => {
    if (!exited) child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);

  const agent: DevAgent = {
    pid,
    host,
    httpPort,
    httpAddress: `${host}:${httpPort}`,
    nodeName,
    async stop(graceMs = 5000) {
      process.removeListener("exit", killOnExit);
      if (exited) return;
      child.kill("SIGTERM");
      const timer = sleep(graceMs).then(() => "timeout" as const);
      if ((await Promise.race([exitedPromise.then(() => "exited" as const), timer])) === "timeout") {
        child.kill("SIGKILL");
        await exitedPromise;
      }
    },
  };

  try {
    await waitUntilReady(
      `http://${host}:${httpPort}`,
      nodeName,
      options.readyTimeoutMs ?? 20_000,
      () => exited,
    );
  } catch (error) {
    await agent.stop(1000);
    throw error;
  }
  return agent;
}

/** Ready = a raft leader exists and this node is in the catalog (sessions need it). */
async function waitUntilReady(
  base: string,
  nodeName: string,
  timeoutMs: number,
  hasExited: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = "no answer yet";
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error(`consul dev agent exited during start-up (${lastProblem})`);
    try {
      const leader = await fetch(`${base}/v1/status/leader`, { signal: AbortSignal.timeout(1000) });
      const leaderText = (await leader.text()).trim();
      if (leader.ok && leaderText !== '""' && leaderText !== "") {
        const node = await fetch(`${base}/v1/health/node/${encodeURIComponent(nodeName)}`, {
          signal: AbortSignal.timeout(1000),
        });
        const body = (await node.text()).trim();
        if (node.ok && body !== "null" && body.includes("serfHealth")) return;
        lastProblem = "node not yet in the catalog";
      } else {
        lastProblem = "no raft leader yet";
      }
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    await sleep(50);
  }
  throw new Error(`consul dev agent at ${base} not ready after ${timeoutMs} ms: ${lastProblem}`);
}
