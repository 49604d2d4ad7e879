/**
 * An exclusive lock on a dev cluster's state, across processes: the supervisor (supervisor.ts)
 * and whoever changes the cluster's nodes (a `deploy/dev-cluster` command, a test's DevCluster)
 * read, act on and write the state file under it, so that neither restarts or records a daemon
 * in the middle of the other's change (a node being killed, a tgtd being restarted by hand).
 *
 * The lock is the file <dir>/state.lock naming its holder (PID and start time): made complete
 * under a temporary name and hard-linked into place, so it exists only with its content. A lock
 * whose holder is gone (a crashed command) is broken by the next taker.
 */
import { linkSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { processStartTime } from "./detached-process.js";

const LOCK_FILE = "state.lock";

export interface StateLock {
  release(): void;
}

interface Holder {
  pid: number;
  startTime: string;
}

/** Takes the lock if it is free now; undefined when another living process holds it. */
export function tryLockState(dir: string): StateLock | undefined {
  const path = join(dir, LOCK_FILE);
  const self: Holder = { pid: process.pid, startTime: processStartTime(process.pid) ?? "" };
  const draft = join(dir, `${LOCK_FILE}.${process.pid}.${Math.random().toString(36).slice(2)}`);
  writeFileSync(draft, JSON.stringify(self));
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(draft, path);
        return { release: () => releaseIfOurs(path, self) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const holder = readHolder(path);
      if (holder === undefined || processStartTime(holder.pid) === holder.startTime) return undefined;
      rmSync(path, { force: true });
    }
    return undefined;
  } finally {
    rmSync(draft, { force: true });
  }
}

/** Waits for the lock (polling every 50 ms); throws after `timeoutMs`. */
export async function lockState(dir: string, timeoutMs: number): Promise<StateLock> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lock = tryLockState(dir);
    if (lock !== undefined) return lock;
    if (Date.now() >= deadline) {
      const holder = readHolder(join(dir, LOCK_FILE));
      throw new Error(
        `the dev cluster in ${dir} stayed locked for ${timeoutMs} ms (by pid ${holder?.pid ?? "?"})`,
      );
    }
    await sleep(50);
  }
}

function readHolder(path: string): Holder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<Holder>;
    return typeof parsed.pid === "number" && typeof parsed.startTime === "string"
      ? { pid: parsed.pid, startTime: parsed.startTime }
      : undefined;
  } catch {
    return undefined;
  }
}

function releaseIfOurs(path: string, self: Holder): void {
  const holder = readHolder(path);
  if (holder?.pid === self.pid && holder.startTime === self.startTime) rmSync(path, { force: true });
}
