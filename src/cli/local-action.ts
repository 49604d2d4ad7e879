import type { Command } from "commander";
import { isSanpathError } from "../errors/sanpath-error.js";
import type { OutputFormat } from "./client.js";
import { describeFailure, EXIT_FAILED, EXIT_OK, EXIT_USAGE, formatFailure, UsageError } from "./errors.js";

/** What a command that talks to no sanpathd gets. */
export interface LocalInput {
  args: readonly (string | string[] | undefined)[];
  options: Record<string, unknown>;
  output: OutputFormat;
  /** Prints `json` with --output json, else `text`. */
  print: (json: unknown, text: () => string) => void;
}

/**
 * Adapts a command body that works on local files only (`sanpath token …`, `sanpath cert …`):
 * no connection, no credentials read. Invalid input (a SanpathError invalid_argument, a UsageError)
 * exits 2, other failures 1, printed like every other failure.
 */
export function localAction(
  body: (input: LocalInput) => Promise<number | undefined>,
): (...commanderArgs: unknown[]) => Promise<void> {
  return async (...commanderArgs) => {
    const command = commanderArgs[commanderArgs.length - 1] as Command;
    const globals = command.optsWithGlobals<Record<string, unknown>>();
    const output: OutputFormat = globals.output === "json" ? "json" : "table";
    const input: LocalInput = {
      args: commanderArgs
        .slice(0, -2)
        .map((value) =>
          typeof value === "string" || Array.isArray(value) ? (value as string | string[]) : undefined,
        ),
      options: command.opts(),
      output,
      print: (json, text) => {
        process.stdout.write(output === "json" ? `${JSON.stringify(json, null, 2)}\n` : `${text()}\n`);
      },
    };
    try {
      process.exitCode = (await body(input)) ?? EXIT_OK;
    } catch (error) {
      const usage =
        error instanceof UsageError || (isSanpathError(error) && error.kind === "invalid_argument");
      const failure = usage
        ? { code: "USAGE", message: error instanceof Error ? error.message : String(error) }
        : describeFailure(error, "");
      process.stderr.write(`${formatFailure(failure, output)}\n`);
      process.exitCode = usage ? EXIT_USAGE : EXIT_FAILED;
    }
  };
}
