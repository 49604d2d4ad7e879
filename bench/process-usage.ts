/**
 * Memory and CPU of a process from /proc: resident memory (VmRSS of /proc/<pid>/status) and CPU
 * time (utime + stime of /proc/<pid>/stat, in clock ticks). Two readings give the CPU used in
 * between as a percentage of one core.
 *
 *   const ticks = await clockTicksPerSecond();
 *   const before = readProcessUsage(pid); … const after = readProcessUsage(pid);
 *   cpuPercent(before, after, ticks)   // 12.5 = an eighth of one core
 */
import { readFileSync, readdirSync } from "node:fs";
import { execa } from "execa";

export interface ProcessUsage {
  pid: number;
  rssKib: number;
  /** utime + stime, clock ticks. */
  cpuTicks: number;
  /** Wall-clock ms of the reading. */
  at: number;
}

/** The kernel's clock ticks per second (`getconf CLK_TCK`), the unit of /proc/<pid>/stat times. */
export async function clockTicksPerSecond(): Promise<number> {
  const { stdout } = await execa("getconf", ["CLK_TCK"]);
  const ticks = Number(stdout.trim());
  if (!Number.isInteger(ticks) || ticks <= 0) throw new Error(`getconf CLK_TCK said "${stdout}"`);
  return ticks;
}

/** The process's memory and CPU time now; undefined when it is gone. */
export function readProcessUsage(pid: number): ProcessUsage | undefined {
  let status: string;
  let stat: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  // "pid (comm) state …": comm may hold spaces and parentheses; fields follow the last ")".
  // After it, utime and stime are the 12th and 13th fields (fields 14 and 15 of the whole line).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (Number.isNaN(utime) || Number.isNaN(stime)) return undefined;
  return { pid, rssKib: rss === undefined ? 0 : Number(rss), cpuTicks: utime + stime, at: Date.now() };
}

/** CPU used between two readings of one process, in % of one core. */
export function cpuPercent(before: ProcessUsage, after: ProcessUsage, ticksPerSecond: number): number {
  const seconds = (after.at - before.at) / 1000;
  if (seconds <= 0) return Number.NaN;
  return ((after.cpuTicks - before.cpuTicks) / ticksPerSecond / seconds) * 100;
}

/** The direct children of a process (every thread's children file). */
export function childPids(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const children = new Set<number>();
  for (const task of tasks) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/))
        if (child !== "") children.add(Number(child));
    } catch {
      // the thread ended meanwhile
    }
  }
  return [...children];
}

/** A process's command line, its arguments joined by spaces; "" when it is gone. */
export function processCommandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

export function mib(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}
