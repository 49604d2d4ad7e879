import { basename } from "node:path";
import { execa } from "execa";
import type { Logger } from "../log/logger.js";
import {
  CommandFailedError,
  maskSecrets,
  renderCommand,
  revealArgs,
  type CommandArg,
  type CommandResult,
  type CommandRunner,
  type RunOptions,
} from "./command-runner.js";

export interface ExecaRunnerOptions {
  /**
   * Run every command inside this network namespace (`ip netns exec <netns> file args...`), so
   * that tests and the dev cluster can drive a node's tools from the root process.
   */
  netns?: string;
  /** Timeout for calls that do not set one. */
  defaultTimeoutMs?: number;
  /** Aborting it cancels every running and future command of this runner (daemon shutdown). */
  signal?: AbortSignal;
  /** Each command is logged at debug level, with secrets masked. */
  logger?: Logger;
  /** Told of every command that ended: its program (no arguments), whether it succeeded, seconds. */
  observe?: CommandObserver;
}

export type CommandObserver = (program: string, ok: boolean, seconds: number) => void;

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/** Runs commands with execa: no shell, always a timeout and a cancel signal. */
export class ExecaCommandRunner implements CommandRunner {
  readonly netns: string | undefined;
  private readonly defaultTimeoutMs: number;
  private readonly lifetime: AbortSignal;
  private readonly logger: Logger | undefined;
  private readonly observe: CommandObserver | undefined;

  constructor(options: ExecaRunnerOptions = {}) {
    this.netns = options.netns;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.lifetime = options.signal ?? new AbortController().signal;
    this.logger = options.logger;
    this.observe = options.observe;
  }

  /** A runner with the same settings that runs inside `netns`. */
  inNetns(netns: string): ExecaCommandRunner {
    return new ExecaCommandRunner({
      netns,
      defaultTimeoutMs: this.defaultTimeoutMs,
      signal: this.lifetime,
      ...(this.logger === undefined ? {} : { logger: this.logger }),
      ...(this.observe === undefined ? {} : { observe: this.observe }),
    });
  }

  async run(file: string, args: readonly CommandArg[], options: RunOptions = {}): Promise<CommandResult> {
    const fullFile = this.netns === undefined ? file : "ip";
    const fullArgs: readonly CommandArg[] =
      this.netns === undefined ? args : ["netns", "exec", this.netns, file, ...args];
    const command = renderCommand(fullFile, fullArgs);
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const cancelSignal =
      options.signal === undefined ? this.lifetime : AbortSignal.any([this.lifetime, options.signal]);
    const started = performance.now();

    const result = await execa(fullFile, revealArgs(fullArgs), {
      timeout: timeoutMs,
      cancelSignal,
      forceKillAfterDelay: 2000,
      reject: false,
      stripFinalNewline: false,
      ...(options.input === undefined ? { stdin: "ignore" as const } : { input: options.input }),
      ...(options.env === undefined ? {} : { env: { ...options.env } }),
    });

    const stdout = typeof result.stdout === "string" ? result.stdout : "";
    const stderr = maskSecrets(typeof result.stderr === "string" ? result.stderr : "", args, options.env);
    const exitCode = result.exitCode;
    this.logger?.debug(
      { command, exitCode, durationMs: Math.round(performance.now() - started) },
      "command finished",
    );

    const accepted =
      exitCode !== undefined && (exitCode === 0 || options.acceptExitCodes?.includes(exitCode));
    const ok = !result.failed || (accepted === true && !result.timedOut && !result.isCanceled);
    this.observe?.(basename(file), ok, (performance.now() - started) / 1000);
    if (ok) return { stdout, stderr, exitCode: exitCode ?? 0 };

    const base = { command, exitCode, stdout, stderr: stderr.trim() };
    if (result.timedOut) throw new CommandFailedError({ ...base, failure: "timeout", timeoutMs });
    if (result.isCanceled) throw new CommandFailedError({ ...base, failure: "cancelled" });
    if (result.code === "ENOENT") throw new CommandFailedError({ ...base, failure: "not_found" });
    if (exitCode === undefined) {
      // Killed by a signal or never started: keep the original reason without the command line
      // (execa's own message repeats the arguments, secrets included).
      const reason = result.signal ?? result.originalMessage ?? "unknown";
      throw new CommandFailedError({ ...base, failure: "spawn", stderr: maskSecrets(reason, args) });
    }
    throw new CommandFailedError({ ...base, failure: "exit" });
  }
}
