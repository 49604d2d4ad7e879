/**
 * A dev cluster node's tgtd: foreground (`-f`) in the node's namespace with a control port of its
 * own (`-C N`; the control socket /var/run/tgtd/socket.N is a file shared by every namespace, so N
 * is picked among the unused ones). tgtd ignores SIGTERM: it is stopped with SIGKILL by PID (the
 * dev cluster throws its targets away with it) and its socket files are removed. The control port
 * and the readiness check are also the test harness's (test/harness/tgtd.ts).
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CommandRunner } from "../exec/command-runner.js";
import { isRunning, spawnDetached, stopProcess, type ProcessRecord } from "./detached-process.js";

const SOCKET_DIR = "/var/run/tgtd";

export function unusedTgtControlPort(): number {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 22_000); // tgtadm accepts at most 32767
    if (
      !existsSync(join(SOCKET_DIR, `socket.${port}`)) &&
      !existsSync(join(SOCKET_DIR, `socket.${port}.lock`))
    ) {
      return port;
    }
  }
}

/** Starts tgtd and waits until it answers on its control port. */
export async function startTgtd(options: {
  netns: string;
  runner: CommandRunner;
  controlPort: number;
  logFile: string;
  label: string;
  signal: AbortSignal;
  onStarted: (daemon: ProcessRecord) => void;
}): Promise<ProcessRecord> {
  const daemon = spawnDetached({
    netns: options.netns,
    file: "tgtd",
    args: ["-f", "-C", String(options.controlPort)],
    logFile: options.logFile,
    label: options.label,
  });
  options.onStarted(daemon);
  const failed = await waitForTgtdAnswer({
    running: () => isRunning(daemon),
    runner: options.runner,
    controlPort: options.controlPort,
    signal: options.signal,
  });
  if (failed?.exited === true) throw new Error(`${options.label} exited during start-up (${failed.problem})`);
  if (failed !== undefined)
    throw new Error(
      `${options.label} did not answer on control port ${options.controlPort}: ${failed.problem}`,
    );
  return daemon;
}

/**
 * Asks a starting tgtd (`tgtadm --op show --mode system`) every 20 ms for up to 10 s; undefined once
 * it answers, else why not (it exited, or the last problem).
 */
export async function waitForTgtdAnswer(options: {
  running: () => boolean;
  runner: CommandRunner;
  controlPort: number;
  signal?: AbortSignal | undefined;
}): Promise<{ exited: boolean; problem: string } | undefined> {
  const deadline = Date.now() + 10_000;
  let problem = "no answer";
  while (Date.now() < deadline) {
    if (!options.running()) return { exited: true, problem };
    try {
      await options.runner.run(
        "tgtadm",
        ["-C", String(options.controlPort), "--lld", "iscsi", "--op", "show", "--mode", "system"],
        { timeoutMs: 5000, ...(options.signal === undefined ? {} : { signal: options.signal }) },
      );
      return undefined;
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    await sleep(20);
  }
  return { exited: false, problem };
}

export async function stopTgtd(daemon: ProcessRecord | undefined, controlPort: number): Promise<void> {
  if (daemon !== undefined) await stopProcess(daemon, { signal: "SIGKILL" });
  removeTgtdSocket(controlPort);
}

/** The control socket tgtd leaves behind in /var/run/tgtd when it is killed. */
export function removeTgtdSocket(controlPort: number): void {
  rmSync(join(SOCKET_DIR, `socket.${controlPort}`), { force: true });
  rmSync(join(SOCKET_DIR, `socket.${controlPort}.lock`), { force: true });
}
