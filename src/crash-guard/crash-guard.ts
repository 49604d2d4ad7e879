/**
 * The crash guard: a small process sanpathd starts beside itself (same network namespace, a child)
 * that removes the node's path IPs when sanpathd dies without stopping cleanly (kill -9, OOM) and is
 * not restarted. Without it the IPs stay up after the session expires, and once another node takes
 * the path (after 2×TTL + lock-delay) the IP would be up on two nodes.
 *
 * sanpathd holds the write end of the guard's stdin. A graceful stop writes CLEAN_EXIT_LINE when the
 * node agent has torn everything down, then closes the pipe: the guard exits. When the pipe closes
 * without that line (the kernel closes it when sanpathd dies, however it dies), the guard tears down
 * every path of the journal at once (crash-guard-teardown.ts) and exits.
 *
 * A frozen sanpathd (SIGSTOP) keeps the pipe open but cannot act, while tgtd keeps serving its
 * paths. So sanpathd also tells the guard, on every lease renewal a majority granted, the instant
 * by which its paths must be down unless it renews again (leaseUntil(): a line `lease-until <ms>`,
 * LEASE_UNTIL_PREFIX, ms on CLOCK_MONOTONIC, util/monotonic-clock.ts, the same clock in every
 * process of the machine). The guard keeps one timer for the newest such deadline (lease-timer.ts;
 * the lines: guard-input.ts); reached without a newer one, it tears down every path of the journal
 * as above and keeps running: a newer line arms it again. Without lease-until lines the guard waits
 * for the pipe alone.
 *
 * The lines come from sanpathd's main thread, whose event loop may stall (up to about a second
 * under load) while a worker thread keeps the lease renewed. So the guard may also be given a
 * lease file (CrashGuardOptions.leaseFile, `--lease-file`; lease-file.ts), where that worker
 * writes the same deadlines. When the lease timer expires, the guard first reads the file: a
 * deadline there later than CLOCK_MONOTONIC now moves the timer to it (and the file is read
 * again when that one is reached); a missing, malformed or not later one changes nothing, the
 * guard tears down. The file never arms the timer (only a lease-until line does), and is not read
 * once the timer has ended (restart-exit, clean-exit, the pipe's close).
 *
 * The guard is detached (its own process group: a Ctrl-C of sanpathd's terminal does not reach it)
 * and unref'd (it never keeps sanpathd alive); it ignores SIGTERM/SIGINT/SIGHUP, because the pipe
 * alone tells whether sanpathd stopped cleanly.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TargetDriverKind } from "../config/config.js";
import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { NewestValueWriter } from "../util/newest-value-writer.js";
import { projectRoot } from "../util/project-root.js";

/** What sanpathd writes to the guard's stdin when it stopped cleanly. */
export const CLEAN_EXIT_LINE = "clean-exit";
/**
 * What sanpathd writes when it stopped to restart, leaving its paths up and its session handed over
 * (src/kv/session-handover.ts): the guard then waits for the next daemon to adopt the session, and
 * tears the paths down itself if nobody has when the hand-over's time is up.
 */
export const RESTART_EXIT_LINE = "restart-exit";
/**
 * The prefix of what sanpathd writes on every lease renewal a majority granted:
 * `lease-until <ms>\n`, ms a CLOCK_MONOTONIC reading in milliseconds (a non-negative decimal) by
 * which the paths must be down unless a newer line comes. The guard ignores a value not newer than
 * the newest it has, and tears down when the newest is reached (lease-timer.ts), unless the lease
 * file (if it has one) then holds a later deadline: it waits for that one instead.
 */
export const LEASE_UNTIL_PREFIX = "lease-until";

/** The line for a deadline (whole ms, rounded down: never later than sanpathd's own deadline). */
export function leaseUntilLine(monotonicMs: number): string {
  return `${LEASE_UNTIL_PREFIX} ${Math.max(0, Math.floor(monotonicMs))}\n`;
}

export interface CrashGuardTarget {
  driver: TargetDriverKind;
  /** tgtd's control port; 0 = tgt's default. */
  tgtControlPort: number;
  /** The tgt driver's portal pairings file. */
  tgtStateFile: string;
}

export interface CrashGuardOptions {
  journalFile: string;
  /** Where a restarting sanpathd leaves its session (SessionHandoverFile). */
  handoverFile: string;
  target: CrashGuardTarget;
  logLevel: string;
  logger: Logger;
  /**
   * The lease file (lease-file.ts) the guard reads when its lease timer expires; none when
   * undefined. Whoever writes it opens it (LeaseFileWriter.open truncates) before the first
   * lease-until line.
   */
  leaseFile?: string;
}

export interface CrashGuard {
  /** PID of the guard process; undefined when it could not be started. */
  readonly pid: number | undefined;
  /**
   * Tells the guard that sanpathd stopped cleanly (call after the node agent tore its paths down)
   * and waits (bounded) for it to exit. Idempotent.
   */
  disarm(): Promise<void>;
  /**
   * Tells the guard that sanpathd stopped to restart with its session handed over: the guard stays
   * until the next daemon adopts it, or tears down when its time is up. Does not wait.
   */
  handOver(): Promise<void>;
  /**
   * Tells the guard the CLOCK_MONOTONIC instant (ms, monotonicNowMs) by which the paths must be
   * torn down unless this is called again with a later one (a `lease-until` line). Never throws,
   * never waits; ignored once the pipe is ending or broken, and for a value that is not a finite
   * number. While a line is still buffered (the guard is not reading) only the newest value is kept
   * and written once the pipe takes it.
   */
  leaseUntil(monotonicMs: number): void;
}

/** The guard's command-line arguments (crash-guard-main.ts) for these settings. */
export function crashGuardArgs(
  options: Pick<CrashGuardOptions, "journalFile" | "handoverFile" | "target" | "logLevel" | "leaseFile">,
): string[] {
  const leaseFile = options.leaseFile === undefined ? [] : ["--lease-file", options.leaseFile];
  return [
    "--journal",
    options.journalFile,
    "--handover",
    options.handoverFile,
    "--target-driver",
    options.target.driver,
    "--tgt-control-port",
    String(options.target.tgtControlPort),
    "--tgt-state-file",
    options.target.tgtStateFile,
    "--log-level",
    options.logLevel,
    ...leaseFile,
  ];
}

/** dist/src/crash-guard/crash-guard-main.js (beside this file when it runs from dist/, else in the build). */
export function crashGuardEntry(): string | undefined {
  const sibling = fileURLToPath(new URL("./crash-guard-main.js", import.meta.url));
  if (existsSync(sibling)) return sibling;
  const built = join(projectRoot(), "dist", "src", "crash-guard", "crash-guard-main.js");
  return existsSync(built) ? built : undefined;
}

const DISARM_WAIT_MS = 3000;

/** What sanpathd runs with when the guard could not be started: nothing to tell. */
const NO_CRASH_GUARD: CrashGuard = {
  pid: undefined,
  disarm: () => Promise.resolve(),
  handOver: () => Promise.resolve(),
  leaseUntil: () => undefined,
};

/** Starts the guard. A guard that cannot start is logged (an error) and sanpathd runs without it. */
export function startCrashGuard(options: CrashGuardOptions): CrashGuard {
  const { logger } = options;
  const entry = crashGuardEntry();
  if (entry === undefined) {
    logger.error("crash guard not started: crash-guard-main.js is not built");
    return NO_CRASH_GUARD;
  }
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [entry, ...crashGuardArgs(options)], {
      detached: true,
      stdio: ["pipe", "inherit", "inherit"],
    });
  } catch (error) {
    logger.error({ err: errorMessage(error) }, "crash guard not started");
    return NO_CRASH_GUARD;
  }
  let disarmed: Promise<void> | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      if (disarmed === undefined)
        logger.error({ code, signal }, "crash guard exited: path IPs now outlive a crash of sanpathd");
      resolve();
    });
    child.once("error", (error) => {
      logger.error({ err: errorMessage(error) }, "crash guard failed");
      resolve();
    });
  });
  const stdin = child.stdin;
  stdin?.on("error", (error) => {
    logger.warn({ err: errorMessage(error) }, "crash guard pipe failed");
  });
  child.unref();
  unrefPipe(stdin);
  const lease = stdin === null ? undefined : new LeaseLineWriter(stdin);
  logger.debug({ pid: child.pid }, "crash guard started");
  return {
    pid: child.pid,
    disarm() {
      disarmed ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.ref();
          stdin?.end(`${CLEAN_EXIT_LINE}\n`);
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, DISARM_WAIT_MS)));
          await Promise.race([exited, late]);
          clearTimeout(timer);
          child.unref();
        }
      })();
      return disarmed;
    },
    handOver() {
      disarmed ??= new Promise<void>((resolve) => {
        if (stdin === null || stdin.writableEnded) {
          resolve();
          return;
        }
        stdin.end(`${RESTART_EXIT_LINE}\n`, () => resolve());
      });
      return disarmed;
    },
    leaseUntil(monotonicMs) {
      if (disarmed === undefined) lease?.write(monotonicMs);
    },
  };
}

/** What LeaseLineWriter needs of the pipe (a Writable: the guard's stdin). */
export interface LeasePipe {
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
  write(chunk: string, callback: (error?: Error | null) => void): boolean;
}

/**
 * Writes lease-until lines to the guard's pipe, at most one at a time: while a line has not been
 * taken by the pipe (the guard is not reading, the pipe buffer is full), later values replace each
 * other and only the newest is written when it has been (NewestValueWriter). A write that fails
 * breaks the pipe for good: nothing more is written. A value for a pipe that has ended is dropped.
 * Never throws.
 */
export class LeaseLineWriter {
  private readonly writer: NewestValueWriter<number>;

  constructor(pipe: LeasePipe) {
    this.writer = new NewestValueWriter<number>((value, done) => {
      if (pipe.writableEnded || pipe.destroyed) done();
      else pipe.write(leaseUntilLine(value), done);
    }, "stop");
  }

  write(monotonicMs: number): void {
    if (Number.isFinite(monotonicMs)) this.writer.write(monotonicMs);
  }
}

/** The pipe's handle must not keep sanpathd's event loop alive either. */
function unrefPipe(stream: ChildProcess["stdin"]): void {
  const handle = stream as (NodeJS.WritableStream & { unref?: () => void }) | null;
  handle?.unref?.();
}
