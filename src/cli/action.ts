import type { Command } from "commander";
import { CliSession, type GlobalOptions } from "./client.js";
import { describeFailure, EXIT_FAILED, EXIT_OK, EXIT_USAGE, formatFailure, UsageError } from "./errors.js";
import { resolveGlobalOptions } from "./global-options.js";
import { loadClientAuth, type ClientAuth } from "../security/client-credentials.js";

/** What a command's action gets besides the session. */
export interface ActionInput {
  /** Declared arguments in order (.argument()): a string, a string[] for variadic ones, undefined when left out. */
  args: readonly (string | string[] | undefined)[];
  /** This command's own options (commander's camelCase names). */
  options: Record<string, unknown>;
}

/** A command body: returns an exit code (default 0) or throws (a gRPC error, a UsageError, …). */
export type CommandBody = (session: CliSession, input: ActionInput) => Promise<number | undefined>;

/**
 * Adapts a command body to commander: resolves the global options, opens a session, prints a
 * failure with its gRPC code, reason and field on stderr, sets the exit code, closes the session.
 *   group.command("info").action(action(async (session) => { … }));
 */
export function action(body: CommandBody): (...commanderArgs: unknown[]) => Promise<void> {
  return async (...commanderArgs) => {
    const command = commanderArgs[commanderArgs.length - 1] as Command;
    const globals = command.optsWithGlobals<Record<string, unknown>>();
    let options: GlobalOptions;
    let auth: ClientAuth;
    try {
      options = resolveGlobalOptions(globals);
      auth = await loadClientAuth(options.credentials).catch((error: unknown) => {
        throw new UsageError(error instanceof Error ? error.message : String(error), { cause: error });
      });
    } catch (error) {
      process.stderr.write(
        `${formatFailure(describeFailure(error, ""), globals.output === "json" ? "json" : "table")}\n`,
      );
      process.exitCode = EXIT_USAGE;
      return;
    }
    const session = new CliSession(options, process.stdout, auth);
    try {
      const args = commanderArgs.slice(0, -2).map(asArgument);
      process.exitCode = (await body(session, { args, options: command.opts() })) ?? EXIT_OK;
    } catch (error) {
      process.stderr.write(`${formatFailure(describeFailure(error, options.server), options.output)}\n`);
      process.exitCode = error instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
    } finally {
      session.close();
    }
  };
}

function asArgument(value: unknown): string | string[] | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === "string");
  return undefined;
}
