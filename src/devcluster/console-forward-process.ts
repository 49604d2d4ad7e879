/**
 * Starting and stopping the console forwarder (console-forwarder.ts) of a dev cluster: the built
 * dist/src/devcluster/console-forwarder-main.js, detached in the root namespace, recorded in the
 * state file, stopped by PID.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { projectRoot } from "../util/project-root.js";
import { isRunning, spawnDetached, stopProcess } from "./detached-process.js";
import type { RecordedCluster } from "./recorded-cluster.js";
import { sanpathdFiles } from "./sanpathd-node.js";

export const CONSOLE_FORWARD_LOG = "console-forward.log";
const CONSOLE_FORWARD_HOST = "127.0.0.1";
const LISTEN_WAIT_MS = 10_000;

function forwarderMain(): string {
  const main = join(projectRoot(), "dist", "src", "devcluster", "console-forwarder-main.js");
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first`);
  return main;
}

/** Starts the forwarder on 127.0.0.1:`port` (0: any free port) and waits until it listens. */
export async function startConsoleForward(cluster: RecordedCluster, port: number): Promise<number> {
  const { state } = cluster;
  const portFile = join(state.dir, "console-forward.port");
  rmSync(portFile, { force: true });
  const record = spawnDetached({
    file: process.execPath,
    args: [
      forwarderMain(),
      portFile,
      CONSOLE_FORWARD_HOST,
      String(port),
      ...state.nodes.map((node) => sanpathdFiles(node.dir).consoleSocket),
    ],
    logFile: join(state.dir, CONSOLE_FORWARD_LOG),
    label: "console forwarder",
  });
  state.console = { host: CONSOLE_FORWARD_HOST, process: record };
  await cluster.persist();
  const deadline = Date.now() + LISTEN_WAIT_MS;
  while (Date.now() < deadline) {
    if (existsSync(portFile)) {
      const bound = Number(readFileSync(portFile, "utf8").trim());
      if (Number.isInteger(bound) && bound > 0) {
        state.console.port = bound;
        await cluster.persist();
        return bound;
      }
    }
    if (!isRunning(record)) break;
    await sleep(50);
  }
  throw new Error(
    `the console forwarder did not listen on ${CONSOLE_FORWARD_HOST}:${port} (see ${join(state.dir, CONSOLE_FORWARD_LOG)}; is the port taken? up --console-port)`,
  );
}

/** Stops the recorded forwarder (SIGTERM, then SIGKILL); fine when it is gone already. */
export async function stopConsoleForward(cluster: RecordedCluster): Promise<void> {
  const record = cluster.state.console?.process;
  if (record !== undefined) await stopProcess(record, { graceMs: 2000 });
}

/** The console's URL on the root namespace's loopback; undefined without a forwarder. */
export function consoleUrl(cluster: RecordedCluster): string | undefined {
  const forward = cluster.state.console;
  if (forward?.port === undefined) return undefined;
  // "localhost" is in every node certificate's names (cluster-pki.ts), so TLS checks pass with the CA.
  return `${cluster.state.tls === undefined ? "http" : "https"}://localhost:${forward.port}/`;
}
