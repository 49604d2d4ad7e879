/**
 * Daemons of a dev cluster: started detached (their own process group, output to a log file), so
 * they outlive the `deploy/dev-cluster up` command that started them; stopped later, from any
 * process, by PID.
 *
 * A PID alone is not an identity (the number is reused once the process is gone), so every record
 * keeps the process's start time from /proc/<pid>/stat: a signal is only sent when the process
 * with that PID is still the one that was started.
 *
 * Why node:child_process and not execa here: execa ties a child to the parent's lifetime (timeout,
 * cancel signal, cleanup at exit), which is exactly what a detached daemon must not have. Short
 * commands of the dev cluster still go through the CommandRunner (execa, with timeouts).
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** A started daemon as the state file records it. */
export interface ProcessRecord {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot). */
  readonly startTime: string;
  /** What it is, for messages ("consul node1"). */
  readonly label: string;
}

export interface DetachedSpawn {
  /** `ip netns exec <netns>` first; undefined = the root namespace. */
  netns?: string;
  file: string;
  args: readonly string[];
  /** stdout and stderr are appended here. */
  logFile: string;
  env?: Readonly<Record<string, string>>;
  label: string;
}

/** Starts a daemon detached from this process; returns its record once /proc knows it. */
export function spawnDetached(options: DetachedSpawn): ProcessRecord {
  const [file, args] =
    options.netns === undefined
      ? [options.file, [...options.args]]
      : ["ip", ["netns", "exec", options.netns, options.file, ...options.args]];
  const log = openSync(options.logFile, "a");
  try {
    const child = spawn(file, args, {
      detached: true,
      stdio: ["ignore", log, log],
      env: { ...process.env, ...options.env },
    });
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${options.label} did not start (${file} ${args.join(" ")})`);
    const startTime = processStartTime(pid);
    if (startTime === undefined) throw new Error(`${options.label} exited at once; see ${options.logFile}`);
    return { pid, startTime, label: options.label };
  } finally {
    closeSync(log);
  }
}

/** The start time of `pid` from /proc, undefined when there is no such process (or a zombie). */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses; fields follow the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  return fields[19];
}

/**
 * The recorded process's state letter from /proc/<pid>/stat (R running, S sleeping, T stopped by a
 * signal, …); undefined when it is not the recorded process any more (gone, a zombie, PID reused).
 */
export function processState(record: ProcessRecord): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${record.pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[19] !== record.startTime || fields[0] === "Z" || fields[0] === "X") return undefined;
  return fields[0];
}

/** The recorded process still runs (same PID, same start time). */
export function isRunning(record: ProcessRecord): boolean {
  return processStartTime(record.pid) === record.startTime;
}

/** Signals the recorded process if it is still the one recorded; false when it was gone. */
export function signalProcess(record: ProcessRecord, signal: NodeJS.Signals): boolean {
  if (!isRunning(record)) return false;
  try {
    process.kill(record.pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  }
}

/**
 * Stops the recorded process: `signal` (default SIGTERM), then SIGKILL after `graceMs`; resolves
 * once it is gone. A process that is not there any more is fine.
 */
export async function stopProcess(
  record: ProcessRecord,
  options: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<void> {
  if (!signalProcess(record, options.signal ?? "SIGTERM")) return;
  if (await waitForExit(record, options.graceMs ?? 3000)) return;
  signalProcess(record, "SIGKILL");
  if (!(await waitForExit(record, 5000))) {
    throw new Error(`${record.label} (pid ${record.pid}) is still running after SIGKILL`);
  }
}

/** Polls until the recorded process is gone; false when it still runs after `timeoutMs`. */
export async function waitForExit(record: ProcessRecord, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(record)) {
    if (Date.now() >= deadline) return false;
    await sleep(10);
  }
  return true;
}

/** PIDs of every living descendant of `pids` (children, their children, …), from /proc. */
export function descendantPids(pids: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [...pids];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/**
 * SIGKILLs the recorded processes and all their descendants at once (a power-off: nobody gets to
 * react to the others dying, e.g. a crash guard to the death of its sanpathd); resolves once the
 * recorded ones are gone.
 */
export async function killTrees(records: readonly ProcessRecord[]): Promise<void> {
  const alive = records.filter(isRunning);
  const descendants = descendantPids(alive.map((record) => record.pid));
  for (const record of alive) signalProcess(record, "SIGKILL");
  for (const pid of descendants) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  for (const record of alive) {
    if (!(await waitForExit(record, 5000))) {
      throw new Error(`${record.label} (pid ${record.pid}) is still running after SIGKILL`);
    }
  }
}
