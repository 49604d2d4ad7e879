import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";

export interface DaemonExit {
  exitCode: number | undefined;
  signal: string | undefined;
}

export interface SpawnDaemonOptions {
  /** stdout and stderr are appended to this file (discarded when unset). */
  logFile?: string;
  env?: Readonly<Record<string, string>>;
  /**
   * Safety net: the daemon is killed after this long even if nobody stops it (a test that
   * crashed must not leave daemons behind). Default 15 minutes.
   */
  maxLifetimeMs?: number;
}

export interface StopOptions {
  /** First signal; default SIGTERM. */
  signal?: NodeJS.Signals;
  /** How long to wait for the exit before SIGKILL; default 3000 ms. */
  graceMs?: number;
}

/** A long-running child process, stopped by PID. */
export interface DaemonHandle {
  readonly pid: number;
  /** `file args...` as started. */
  readonly command: string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<DaemonExit>;
  isRunning(): boolean;
  /** Sends `signal` to the PID, waits `graceMs`, then SIGKILL; resolves once it has exited. */
  stop(options?: StopOptions): Promise<DaemonExit>;
}

const DEFAULT_MAX_LIFETIME_MS = 15 * 60_000;

/** Starts `file args` as a child process that outlives the call (see DaemonHandle). */
export function spawnDaemon(
  file: string,
  args: readonly string[],
  options: SpawnDaemonOptions = {},
): DaemonHandle {
  const lifetime = new AbortController();
  const output = options.logFile === undefined ? "ignore" : { file: options.logFile, append: true };
  const subprocess = execa(file, args, {
    stdin: "ignore",
    stdout: output,
    stderr: output,
    reject: false,
    timeout: options.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS,
    cancelSignal: lifetime.signal,
    forceKillAfterDelay: 2000,
    env: { ...options.env },
  });
  const startedPid = subprocess.pid;
  if (startedPid === undefined) throw new Error(`could not start ${file} (no pid)`);
  const pid: number = startedPid;

  let running = true;
  // The process's own exit, not the end of its output: a child it leaves behind (sanpathd's crash
  // guard after a restart) may hold the output pipe open for a while.
  const exited = new Promise<DaemonExit>((resolve) => {
    subprocess.once("exit", (exitCode, signal) => {
      running = false;
      process.removeListener("exit", killOnExit);
      resolve({ exitCode: exitCode ?? undefined, signal: signal ?? undefined });
    });
    subprocess.once("error", () => {
      running = false;
      process.removeListener("exit", killOnExit);
      resolve({ exitCode: undefined, signal: undefined });
    });
  });
  subprocess.catch(() => undefined);
  function killOnExit(): void {
    if (running) signalPid(pid, "SIGKILL");
  }
  process.once("exit", killOnExit);

  return {
    pid,
    command: [file, ...args].join(" "),
    exited,
    isRunning: () => running,
    async stop(stopOptions: StopOptions = {}) {
      if (!running) return exited;
      signalPid(pid, stopOptions.signal ?? "SIGTERM");
      const outcome = await Promise.race([
        exited.then(() => "exited" as const),
        sleep(stopOptions.graceMs ?? 3000).then(() => "timeout" as const),
      ]);
      if (outcome === "timeout") signalPid(pid, "SIGKILL");
      const exit = await exited;
      lifetime.abort();
      return exit;
    },
  };
}

/** Sends a signal to a PID; a process that is already gone is not an error. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
