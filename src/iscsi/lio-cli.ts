/**
 * targetcli and rbd bound to the LIO driver's runner and command timeout, the way every part of
 * the LIO driver runs them (one command per call, so each step has its own exit status).
 */
import type { CommandArg, CommandResult, CommandRunner } from "../exec/command-runner.js";
import type { DriverCallOptions } from "./target-driver.js";

export interface LioCli {
  /** `targetcli PATH COMMAND ARGS...`. */
  targetcli(
    path: string,
    command: string,
    args: readonly CommandArg[],
    options: DriverCallOptions,
  ): Promise<CommandResult>;
  /** `rbd ARGS...`. */
  rbd(args: readonly CommandArg[], options: DriverCallOptions): Promise<CommandResult>;
}

/** targetcli and rbd through `runner`, each call with `timeoutMs` and the call's signal. */
export function boundLioCli(runner: CommandRunner, timeoutMs: number): LioCli {
  const run = (
    file: string,
    args: readonly CommandArg[],
    options: DriverCallOptions,
  ): Promise<CommandResult> =>
    runner.run(file, args, {
      timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  return {
    targetcli: (path, command, args, options) => run("targetcli", [path, command, ...args], options),
    rbd: (args, options) => run("rbd", args, options),
  };
}
