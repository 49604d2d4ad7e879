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

/** One call as the RecordingRunner saw it. */
export interface RecordedCall {
  file: string;
  /** The arguments as the process would receive them (secrets revealed: assert on them in tests). */
  args: string[];
  /** `file args...` with secrets masked: what logs and errors would show. */
  command: string;
  options: RunOptions;
}

/** A scripted answer: output and exit code, or an error to throw. */
export type ScriptedAnswer = Partial<CommandResult> | Error;

/** Decides the answer to a call; `undefined` means "not mine" (the next responder is asked). */
export type Responder = (call: RecordedCall) => ScriptedAnswer | undefined;

/**
 * A CommandRunner for unit tests: records every call and answers from scripted responders
 * (the most recently added first); unanswered calls succeed with empty output.
 *
 *   const runner = new RecordingRunner()
 *     .when(/^tgtadm .* --op show --mode target$/, { stdout: "Target 1: iqn...\n" });
 *   await driver.ensureTarget(spec);
 *   expect(runner.commands()).toEqual([...]);
 */
export class RecordingRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  private readonly responders: Responder[] = [];

  /** Answer calls whose masked command matches `pattern` (a RegExp or an exact string). */
  when(pattern: RegExp | string, answer: ScriptedAnswer | ((call: RecordedCall) => ScriptedAnswer)): this {
    return this.respond((call) => {
      const matches = typeof pattern === "string" ? call.command === pattern : pattern.test(call.command);
      if (!matches) return undefined;
      return typeof answer === "function" ? answer(call) : answer;
    });
  }

  respond(responder: Responder): this {
    this.responders.unshift(responder);
    return this;
  }

  /** The masked command lines, in call order. */
  commands(): string[] {
    return this.calls.map((call) => call.command);
  }

  clear(): void {
    this.calls.length = 0;
  }

  run(file: string, args: readonly CommandArg[], options: RunOptions = {}): Promise<CommandResult> {
    const call: RecordedCall = { file, args: revealArgs(args), command: renderCommand(file, args), options };
    this.calls.push(call);
    if (options.signal?.aborted === true) {
      return Promise.reject(
        new CommandFailedError({
          command: call.command,
          failure: "cancelled",
          exitCode: undefined,
          stdout: "",
          stderr: "",
        }),
      );
    }
    let answer: ScriptedAnswer | undefined;
    for (const responder of this.responders) {
      answer = responder(call);
      if (answer !== undefined) break;
    }
    if (answer instanceof Error) return Promise.reject(answer);
    const result: CommandResult = {
      stdout: answer?.stdout ?? "",
      stderr: maskSecrets(answer?.stderr ?? "", args, options.env),
      exitCode: answer?.exitCode ?? 0,
    };
    if (result.exitCode !== 0 && options.acceptExitCodes?.includes(result.exitCode) !== true) {
      return Promise.reject(
        new CommandFailedError({
          command: call.command,
          failure: "exit",
          exitCode: result.exitCode,
          stdout: result.stdout,
          stderr: result.stderr.trim(),
        }),
      );
    }
    return Promise.resolve(result);
  }
}
