/**
 * How drivers run external commands (tgtadm, targetcli, ip, arping, rbd).
 *
 * Drivers depend on the `CommandRunner` interface only: production and integration tests use
 * `ExecaCommandRunner` (src/exec/execa-runner.ts), unit tests use `RecordingRunner`
 * (src/exec/recording-runner.ts), which records calls and answers with scripted output.
 *
 * Arguments that carry a secret (a CHAP secret, a key) are wrapped with `secret(value)`: the
 * command still receives the value, but every rendering of the command (errors, logs,
 * recordings) shows `***` instead, and the value is also masked wherever it shows up in stderr.
 */
import { SanpathError, type ErrorKind } from "../errors/sanpath-error.js";

/** An argument whose value never appears in messages or logs. */
export interface SecretArg {
  readonly secret: string;
}

export type CommandArg = string | SecretArg;

export const SECRET_MASK = "***";

/** Marks an argument as secret (see the file header). */
export function secret(value: string): SecretArg {
  return { secret: value };
}

export function isSecretArg(arg: CommandArg): arg is SecretArg {
  return typeof arg !== "string";
}

export interface RunOptions {
  /** Kill the command after this long. Runners always apply one (their default when unset). */
  timeoutMs?: number;
  /** Abort the command (it is killed) when this signal aborts. */
  signal?: AbortSignal;
  /** Written to the command's stdin. */
  input?: string;
  /** Extra environment variables (a way to pass a secret without putting it on the command line). */
  env?: Readonly<Record<string, string>>;
  /**
   * Exit codes that are an answer rather than a failure (e.g. `ip link show dev X` exits 1 when X
   * does not exist). 0 is always accepted.
   */
  acceptExitCodes?: readonly number[];
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface CommandRunner {
  /**
   * Runs `file` with `args` (no shell). Resolves with the output when the command exits 0 or with
   * an accepted exit code; rejects with a `CommandFailedError` otherwise (non-zero exit, not
   * found, timeout, cancelled).
   */
  run(file: string, args: readonly CommandArg[], options?: RunOptions): Promise<CommandResult>;
}

/** `file args...` with secrets masked, for messages and logs. */
export function renderCommand(file: string, args: readonly CommandArg[]): string {
  return [file, ...args.map((arg) => (isSecretArg(arg) ? SECRET_MASK : quoteForDisplay(arg)))].join(" ");
}

/** The values to hand to the process. */
export function revealArgs(args: readonly CommandArg[]): string[] {
  return args.map((arg) => (isSecretArg(arg) ? arg.secret : arg));
}

/** Replaces every secret value that occurs in `text` (e.g. echoed in stderr) with the mask. */
export function maskSecrets(text: string, args: readonly CommandArg[], env?: RunOptions["env"]): string {
  const secrets = args.filter(isSecretArg).map((arg) => arg.secret);
  if (env !== undefined) secrets.push(...Object.values(env));
  let masked = text;
  for (const value of secrets) {
    if (value.length > 0) masked = masked.split(value).join(SECRET_MASK);
  }
  return masked;
}

function quoteForDisplay(arg: string): string {
  return arg === "" || /[\s"'\\$`;&|<>()*?]/.test(arg) ? `'${arg.replace(/'/g, "'\\''")}'` : arg;
}

export type CommandFailure = "exit" | "not_found" | "timeout" | "cancelled" | "spawn";

export interface CommandFailedDetails {
  /** The command with secrets masked. */
  command: string;
  failure: CommandFailure;
  exitCode: number | undefined;
  /** stderr (trimmed, secrets masked). */
  stderr: string;
  stdout: string;
  timeoutMs?: number;
  cause?: unknown;
}

const KIND_BY_FAILURE: Record<CommandFailure, ErrorKind> = {
  exit: "internal",
  not_found: "internal",
  spawn: "internal",
  timeout: "deadline_exceeded",
  cancelled: "cancelled",
};

/**
 * A command did not succeed. `kind` is "internal" for a failed or missing command,
 * "deadline_exceeded" for a timeout and "cancelled" for an abort; the reason is DRIVER_FAILED.
 */
export class CommandFailedError extends SanpathError {
  readonly command: string;
  readonly failure: CommandFailure;
  readonly exitCode: number | undefined;
  readonly stderr: string;
  readonly stdout: string;

  constructor(details: CommandFailedDetails) {
    super(KIND_BY_FAILURE[details.failure], describeFailure(details), {
      reason: "DRIVER_FAILED",
      cause: details.cause,
    });
    this.command = details.command;
    this.failure = details.failure;
    this.exitCode = details.exitCode;
    this.stderr = details.stderr;
    this.stdout = details.stdout;
  }
}

function describeFailure(details: CommandFailedDetails): string {
  const said = details.stderr === "" ? "" : `: ${truncate(details.stderr, 2000)}`;
  switch (details.failure) {
    case "exit":
      return `command failed (exit code ${details.exitCode ?? "?"}): ${details.command}${said}`;
    case "not_found":
      return `command not found: ${details.command}`;
    case "timeout":
      return `command timed out after ${details.timeoutMs ?? "?"} ms: ${details.command}${said}`;
    case "cancelled":
      return `command cancelled: ${details.command}`;
    case "spawn":
      return `command could not be started: ${details.command}${said}`;
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

export function isCommandFailedError(error: unknown): error is CommandFailedError {
  return error instanceof CommandFailedError;
}

/** True when a command exited non-zero with stderr matching `pattern`. */
export function failedWith(error: unknown, pattern: RegExp): error is CommandFailedError {
  return isCommandFailedError(error) && error.failure === "exit" && pattern.test(error.stderr);
}
