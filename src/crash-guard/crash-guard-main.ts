#!/usr/bin/env node
/**
 * The crash guard process (crash-guard.ts explains the design).
 *
 *   crash-guard-main.js --journal FILE [--handover FILE] [--target-driver tgt|lio]
 *                       [--tgt-control-port N] [--tgt-state-file FILE] [--log-level L]
 *                       [--lease-file FILE]
 *     Guard mode (what sanpathd starts): waits for its stdin to close. After a "clean-exit" line it
 *     just exits. After a "restart-exit" line (sanpathd left its paths up and handed its session
 *     over) it waits until the next sanpathd claims the hand-over, or claims it itself once its time
 *     is up and tears down. Without either line (a crash), it tears down every path the journal
 *     lists at once, logs one JSON line of it, exits.
 *     Meanwhile, "lease-until <ms>" lines (ms on CLOCK_MONOTONIC) set the deadline of sanpathd's
 *     lease (a value not newer than the newest is ignored, a malformed line is logged and ignored):
 *     when CLOCK_MONOTONIC reaches the newest with no newer line (sanpathd frozen), the guard tears
 *     down every path the journal lists, logs one JSON line of it, and keeps running; a newer line
 *     arms it again. restart-exit, clean-exit and the pipe's close end the lease timer.
 *     With --lease-file (lease-file.ts: deadlines written by sanpathd's lease worker thread, which
 *     its main thread's stalls do not hold up), the guard reads that file when the lease timer
 *     expires, before tearing down: a deadline there later than CLOCK_MONOTONIC now moves the
 *     timer to it (read again when that one is reached) instead of tearing down; a missing,
 *     malformed or not later one changes nothing. The file never arms the timer by itself, and
 *     is not read once the timer has ended.
 *
 *   crash-guard-main.js --now (--config FILE | --journal FILE ...)
 *     Tears down at once and exits (systemd ExecStopPost), unless a restart's hand-over is still
 *     within its time (the guard of the stopped daemon watches it). With --config, the files and
 *     the target driver come from sanpathd's configuration (file, then SANPATH_* variables).
 *
 * Exit 0 = nothing left up (or a clean stop), 1 = an IP could not be removed, 2 = bad arguments.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../config/load-config.js";
import { errorMessage } from "../errors/sanpath-error.js";
import { ExecaCommandRunner } from "../exec/execa-runner.js";
import { LioDriver } from "../iscsi/lio-driver.js";
import type { TargetDriver } from "../iscsi/target-driver.js";
import { TgtDriver } from "../iscsi/tgt-driver.js";
import { createLogger, type Logger, type LogLevel } from "../log/logger.js";
import { IpDriver } from "../net/ip-driver.js";
import { setTimeout as sleep } from "node:timers/promises";
import { SessionHandoverFile } from "../files/session-handover-file.js";
import type { SessionHandover } from "../kv/session-handover.js";
import type { CrashGuardTarget } from "./crash-guard.js";
import { tearDownJournalledPaths } from "./crash-guard-teardown.js";
import { PathSetup } from "../node/path-setup.js";
import { monotonicNowMs } from "../util/monotonic-clock.js";
import { GuardInput, type ParentSaid } from "./guard-input.js";
import { readLeaseFile } from "./lease-file.js";
import { LeaseTimer, type LeaseExpiry, type LeaseOffer } from "./lease-timer.js";

interface GuardSettings {
  journalFile: string;
  handoverFile: string;
  target: CrashGuardTarget;
  logLevel: LogLevel;
  now: boolean;
  /** Read when the lease timer expires (--lease-file); none when undefined. */
  leaseFile: string | undefined;
}

const LOG_LEVELS: readonly string[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

class UsageError extends Error {}

async function readSettings(argv: readonly string[]): Promise<GuardSettings> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      journal: { type: "string" },
      handover: { type: "string" },
      config: { type: "string" },
      "target-driver": { type: "string" },
      "tgt-control-port": { type: "string" },
      "tgt-state-file": { type: "string" },
      "log-level": { type: "string" },
      "lease-file": { type: "string" },
      now: { type: "boolean", default: false },
    },
    strict: true,
  });
  const level = values["log-level"];
  if (level !== undefined && !LOG_LEVELS.includes(level))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join("|")}`);
  const leaseFile = values["lease-file"];
  if (leaseFile === "") throw new UsageError("--lease-file must not be empty");
  if (values.config !== undefined) {
    const config = await loadConfig({ configFile: values.config, env: process.env, flags: {} });
    const { NODE_STATE_FILES } = await stateFileNames();
    const logLevel = level ?? config.logLevel;
    return {
      journalFile: join(config.dataDir, NODE_STATE_FILES.journal),
      handoverFile: join(config.dataDir, NODE_STATE_FILES.handover),
      target: {
        driver: config.target.driver,
        tgtControlPort: config.target.tgtControlPort,
        tgtStateFile: join(config.dataDir, NODE_STATE_FILES.tgtPortals),
      },
      logLevel: logLevel as LogLevel,
      now: values.now,
      leaseFile,
    };
  }
  const logLevel = level ?? "info";
  const journalFile = values.journal;
  if (journalFile === undefined || journalFile === "")
    throw new UsageError("--journal or --config is required");
  const driver = values["target-driver"] ?? "tgt";
  if (driver !== "tgt" && driver !== "lio") throw new UsageError("--target-driver must be tgt or lio");
  const port = Number(values["tgt-control-port"] ?? "0");
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError("--tgt-control-port must be an integer in 0..65535");
  return {
    journalFile,
    handoverFile: values.handover ?? (await besideJournal(journalFile, "handover")),
    target: {
      driver,
      tgtControlPort: port,
      tgtStateFile: values["tgt-state-file"] ?? (await besideJournal(journalFile, "tgtPortals")),
    },
    logLevel: logLevel as LogLevel,
    now: values.now,
    leaseFile,
  };
}

/** The state file named `file` in sanpathd's data folder, which holds the journal. */
async function besideJournal(journalFile: string, file: "handover" | "tgtPortals"): Promise<string> {
  return join(journalFile, "..", (await stateFileNames()).NODE_STATE_FILES[file]);
}

/** Loaded only when needed: the server module pulls in the whole daemon (slow for the guard's start). */
function stateFileNames(): Promise<typeof import("../server/node-component.js")> {
  return import("../server/node-component.js");
}

function pathSetup(target: CrashGuardTarget, logger: Logger): PathSetup {
  const runner = new ExecaCommandRunner({ logger });
  const driver: TargetDriver =
    target.driver === "lio"
      ? new LioDriver({ runner, logger })
      : new TgtDriver({
          runner,
          logger,
          stateFile: target.tgtStateFile,
          ...(target.tgtControlPort === 0 ? {} : { controlPort: target.tgtControlPort }),
        });
  return new PathSetup(driver, new IpDriver({ runner, logger }), logger);
}

async function tearDown(
  settings: GuardSettings,
  logger: Logger,
  why: string,
  details: Record<string, unknown> = {},
): Promise<number> {
  const report = await tearDownJournalledPaths({
    journalFile: settings.journalFile,
    setup: pathSetup(settings.target, logger),
    logger,
  });
  const level = report.removed.length > 0 || report.failed.length > 0 ? "warn" : "info";
  logger[level]({ why, ...details, journal: settings.journalFile, ...report }, "crash guard tear-down");
  return report.failed.length > 0 ? 1 : 0;
}

/** Resolves when stdin closes: how sanpathd said it stopped (nothing said: it crashed). */
function parentGone(input: GuardInput): Promise<ParentSaid> {
  return new Promise((resolve) => {
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk: string) => {
      input.push(chunk);
    });
    let ended = false;
    const done = (): void => {
      if (ended) return;
      ended = true;
      resolve(input.end());
    };
    process.stdin.once("end", done);
    process.stdin.once("close", done);
    process.stdin.once("error", done);
  });
}

async function main(): Promise<number> {
  // A closed log pipe must not stop the tear-down.
  process.stdout.on("error", () => undefined);
  let settings: GuardSettings;
  try {
    settings = await readSettings(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`crash-guard: ${errorMessage(error)}\n`);
    return 2;
  }
  const logger = createLogger({
    level: settings.logLevel,
    base: { component: "crash-guard", pid: process.pid },
  });
  const handover = new SessionHandoverFile(settings.handoverFile);
  if (settings.now) {
    const pending = await handover.peek().catch(() => undefined);
    if (pending !== undefined && pending.remainingMs > 0) {
      logger.info(
        { session: pending.sessionId, remainingMs: Math.round(pending.remainingMs) },
        "a restart's hand-over is pending: the next sanpathd adopts it, or the stopped one's guard tears down",
      );
      return 0;
    }
    if (pending !== undefined) await handover.claim().catch(() => undefined);
    return tearDown(settings, logger, "requested (--now)");
  }
  // Only the pipe tells whether sanpathd stopped cleanly: a stop signal sent to the whole group
  // (systemd's control-group kill) must not end the guard before sanpathd has finished.
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2"] as const) {
    process.on(signal, () => {
      logger.debug({ signal }, "crash guard ignores the signal; waiting for sanpathd");
    });
  }
  logger.debug({ journal: settings.journalFile, parent: process.ppid }, "crash guard armed");
  // Lease tear-downs run one after the other, and the one the pipe's close asks for after them.
  let tearingDown: Promise<void> = Promise.resolve();
  const lease = new LeaseTimer({
    now: monotonicNowMs,
    schedule: (callback, delayMs) => {
      const timer = setTimeout(callback, delayMs);
      return () => {
        clearTimeout(timer);
      };
    },
    onExpired: (expiry) => {
      tearingDown = tearingDown
        .then(() => leaseExpired(settings, logger, lease, expiry))
        .catch((error: unknown) => {
          logger.error({ err: errorMessage(error) }, "crash guard: the lease tear-down failed");
        });
    },
  });
  const input = new GuardInput({
    lease,
    onLease: (offer) => {
      logLease(logger, offer);
    },
    onIgnored: ({ line, problem }) => {
      logger.warn({ line, problem }, "crash guard ignores a line from sanpathd");
    },
  });
  const said = await parentGone(input);
  await tearingDown;
  if (said === "clean") {
    logger.debug("sanpathd stopped cleanly; crash guard exits");
    return 0;
  }
  if (said === "restart") {
    if ((await awaitAdoption(handover)) === "adopted") {
      logger.info("the next sanpathd took the session over; crash guard exits");
      return 0;
    }
    return tearDown(settings, logger, "sanpathd restarted but no successor took its session over in time");
  }
  return tearDown(settings, logger, "sanpathd exited without a clean stop");
}

/**
 * The lease timer expired: unless the lease file holds a deadline still ahead (sanpathd's worker
 * renewed the lease while its main thread was stalled), which the timer then waits for instead,
 * a tear-down.
 */
async function leaseExpired(
  settings: GuardSettings,
  logger: Logger,
  lease: LeaseTimer,
  expiry: LeaseExpiry,
): Promise<void> {
  if (settings.leaseFile !== undefined) {
    const fileMs = await readLeaseFile(settings.leaseFile);
    const now = monotonicNowMs();
    if (fileMs !== undefined && fileMs > now) {
      const details = {
        leaseFileMs: fileMs,
        inMs: Math.round(fileMs - now),
        expiredMs: Math.round(expiry.deadlineMs),
      };
      if (lease.extend(fileMs)) logger.debug(details, "lease timer moved by the lease file");
      // A newer line re-armed the timer, or the timer ended, while the file was read: the lease
      // still holds, so no tear-down either way.
      else
        logger.debug(
          details,
          "the lease file holds a later deadline; the lease timer was re-armed or ended meanwhile",
        );
      return;
    }
    logger.debug(
      { leaseFileMs: fileMs ?? null, expiredMs: Math.round(expiry.deadlineMs) },
      "the lease file holds no later deadline",
    );
  }
  await leaseTearDown(settings, logger, expiry);
}

/**
 * sanpathd's lease ran out and no newer deadline came (it is frozen, or stuck): its paths go down as
 * in a crash, and the guard stays for the pipe (sanpathd may resume: it then fences and
 * reconciles, and its next lease-until line arms the timer again).
 */
async function leaseTearDown(settings: GuardSettings, logger: Logger, expiry: LeaseExpiry): Promise<void> {
  const late = Math.round(expiry.lateMs);
  const deadline = Math.round(expiry.deadlineMs);
  await tearDown(
    settings,
    logger,
    `lease expired: sanpathd did not renew by ${deadline} ms (CLOCK_MONOTONIC); ${late} ms late`,
    { leaseUntilMs: deadline, lateMs: late, ...(expiry.extended ? { fromLeaseFile: true } : {}) },
  );
}

function logLease(logger: Logger, offer: LeaseOffer): void {
  if (offer.kind === "armed" && offer.afterExpiry)
    logger.info(
      { leaseUntilMs: Math.round(offer.deadlineMs), inMs: Math.round(offer.deadlineMs - monotonicNowMs()) },
      "sanpathd renewed its lease after it expired; the lease timer is armed again",
    );
  else if (offer.kind === "armed") logger.trace({ leaseUntilMs: offer.deadlineMs }, "lease timer armed");
  else if (offer.kind === "stale")
    logger.debug({ newestMs: offer.newestMs }, "lease-until not newer than the newest; ignored");
  else logger.debug("lease-until after sanpathd said it stopped; ignored");
}

/**
 * Until the successor claims the hand-over ("adopted"), or its time is up and the guard claimed it
 * ("expired"). A record that cannot be read counts as expired.
 */
async function awaitAdoption(handover: SessionHandover): Promise<"adopted" | "expired"> {
  for (;;) {
    let pending;
    try {
      pending = await handover.peek();
    } catch {
      pending = { sessionId: "", remainingMs: 0 };
    }
    if (pending === undefined) return "adopted";
    if (pending.remainingMs <= 0) {
      const claimed = await handover.claim().catch(() => pending);
      return claimed === undefined ? "adopted" : "expired";
    }
    await sleep(Math.min(ADOPTION_POLL_MS, Math.max(1, pending.remainingMs)));
  }
}

const ADOPTION_POLL_MS = 50;

main().then(
  (code) => {
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`crash-guard: ${errorMessage(error)}\n`);
    process.exit(1);
  },
);
