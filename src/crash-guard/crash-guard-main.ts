#!/usr/bin/env node
/**
 * The crash guard process (crash-guard.ts explains the design).
 *
 *   crash-guard-main.js --journal FILE [--target-driver tgt|lio] [--tgt-control-port N]
 *                       [--tgt-state-file FILE] [--log-level L]
 *     Guard mode (what sanpathd starts): waits for its stdin to close; without a "clean-exit" line
 *     first, tears down every path the journal lists, logs one JSON line of it, exits.
 *
 *   crash-guard-main.js --now (--config FILE | --journal FILE ...)
 *     Tears down at once and exits (systemd ExecStopPost). With --config, the files and the target
 *     driver come from sanpathd's configuration (file, then SANPATH_* variables).
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
import { CLEAN_EXIT_LINE, type CrashGuardTarget } from "./crash-guard.js";
import { tearDownJournalledPaths } from "./crash-guard-teardown.js";
import { PathSetup } from "../node/path-setup.js";

interface GuardSettings {
  journalFile: string;
  target: CrashGuardTarget;
  logLevel: LogLevel;
  now: boolean;
}

const LOG_LEVELS: readonly string[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

class UsageError extends Error {}

async function readSettings(argv: readonly string[]): Promise<GuardSettings> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      journal: { type: "string" },
      config: { type: "string" },
      "target-driver": { type: "string" },
      "tgt-control-port": { type: "string" },
      "tgt-state-file": { type: "string" },
      "log-level": { type: "string" },
      now: { type: "boolean", default: false },
    },
    strict: true,
  });
  const level = values["log-level"];
  if (level !== undefined && !LOG_LEVELS.includes(level))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join("|")}`);
  if (values.config !== undefined) {
    const config = await loadConfig({ configFile: values.config, env: process.env, flags: {} });
    const { NODE_STATE_FILES } = await stateFileNames();
    const logLevel = level ?? config.logLevel;
    return {
      journalFile: join(config.dataDir, NODE_STATE_FILES.journal),
      target: {
        driver: config.target.driver,
        tgtControlPort: config.target.tgtControlPort,
        tgtStateFile: join(config.dataDir, NODE_STATE_FILES.tgtPortals),
      },
      logLevel: logLevel as LogLevel,
      now: values.now,
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
    target: {
      driver,
      tgtControlPort: port,
      tgtStateFile:
        values["tgt-state-file"] ??
        join(journalFile, "..", (await stateFileNames()).NODE_STATE_FILES.tgtPortals),
    },
    logLevel: logLevel as LogLevel,
    now: values.now,
  };
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

async function tearDown(settings: GuardSettings, logger: Logger, why: string): Promise<number> {
  const report = await tearDownJournalledPaths({
    journalFile: settings.journalFile,
    setup: pathSetup(settings.target, logger),
    logger,
  });
  const level = report.removed.length > 0 || report.failed.length > 0 ? "warn" : "info";
  logger[level]({ why, journal: settings.journalFile, ...report }, "crash guard tear-down");
  return report.failed.length > 0 ? 1 : 0;
}

/** Resolves when stdin closes: true when sanpathd wrote the clean-exit line first. */
function parentGone(): Promise<boolean> {
  return new Promise((resolve) => {
    let received = "";
    let clean = false;
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk: string) => {
      received = (received + chunk).slice(-256);
      if (received.split("\n").includes(CLEAN_EXIT_LINE)) clean = true;
    });
    const done = (): void => {
      resolve(clean);
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
  if (settings.now) return tearDown(settings, logger, "requested (--now)");
  // Only the pipe tells whether sanpathd stopped cleanly: a stop signal sent to the whole group
  // (systemd's control-group kill) must not end the guard before sanpathd has finished.
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.on(signal, () => {
      logger.debug({ signal }, "crash guard ignores the signal; waiting for sanpathd");
    });
  }
  logger.debug({ journal: settings.journalFile, parent: process.ppid }, "crash guard armed");
  if (await parentGone()) {
    logger.debug("sanpathd stopped cleanly; crash guard exits");
    return 0;
  }
  return tearDown(settings, logger, "sanpathd exited without a clean stop");
}

main().then(
  (code) => {
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`crash-guard: ${errorMessage(error)}\n`);
    process.exit(1);
  },
);
