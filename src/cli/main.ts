#!/usr/bin/env node
/**
 * sanpath: the command line for a sanpath cluster. Talks gRPC to any sanpathd (--server,
 * $SANPATH_SERVER, default 127.0.0.1:7410). Tables for people, --output json for scripts.
 * Commands live in src/cli/commands/, one file per group.
 */
import { Command, CommanderError, Option } from "commander";
import { packageVersion } from "../config/package-version.js";
import { COMMAND_GROUPS } from "./commands/index.js";
import { EXIT_USAGE } from "./errors.js";
import { DEFAULT_SERVER, DEFAULT_TIMEOUT } from "./global-options.js";

function buildProgram(): Command {
  const program = new Command("sanpath")
    .description("Manage the iSCSI paths of disks in a sanpath (PetaSAN-style) Ceph + Consul SAN.")
    .version(packageVersion(), "-V, --version")
    .addOption(
      new Option(
        "-s, --server <host:port>",
        "the sanpathd to talk to (any node), or unix:///path of its admin socket",
      )
        .env("SANPATH_SERVER")
        .default(DEFAULT_SERVER),
    )
    .addOption(
      new Option("-o, --output <format>", "table for people, json for scripts")
        .choices(["table", "json"])
        .default("table"),
    )
    .addOption(
      new Option("-t, --timeout <duration>", "deadline of each call: 500ms, 10s, 2m, 1h").default(
        DEFAULT_TIMEOUT,
      ),
    )
    .addOption(
      new Option(
        "--token-file <path>",
        "file holding your API token (or put the token in $SANPATH_TOKEN)",
      ).env("SANPATH_TOKEN_FILE"),
    )
    .addOption(new Option("--ca <path>", "PEM of the cluster CA: talk TLS to sanpathd").env("SANPATH_CA"))
    .addOption(new Option("--cert <path>", "PEM client certificate (mutual TLS)").env("SANPATH_CERT"))
    .addOption(new Option("--key <path>", "PEM key of --cert").env("SANPATH_KEY"))
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      "after",
      `
Global options go before or after the command. Failures print the gRPC code, the reason and
the field at fault, and exit 1; command-line mistakes exit 2.

Examples:
  Start a development node and talk to it:
    $ sanpathd --dev --listen 127.0.0.1:7410
    $ sanpath health
    $ sanpath cluster info
  With authentication (the token is never a command-line value) and TLS:
    $ SANPATH_TOKEN_FILE=~/.sanpath/token sanpath disk list
    $ sanpath --ca ca.crt --cert alice.crt --key alice.key --server 192.0.2.11:7410 disk list
  Another node, JSON for a script, a shorter deadline:
    $ sanpath --server 192.0.2.11:7410 --output json --timeout 3s cluster info
    $ SANPATH_SERVER=192.0.2.11:7410 sanpath health`,
    );
  for (const register of COMMAND_GROUPS) register(program);
  return program;
}

/**
 * A reader that went away (`sanpath --help | head`) ends the output, as SIGPIPE ends a C
 * program: exit quietly instead of an unhandled EPIPE stack trace.
 */
function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

async function main(): Promise<void> {
  exitQuietlyOnClosedPipe(process.stdout);
  // grpc-js sets the TLS server name to the IP of --server, which Node reports as deprecated
  // (DEP0123) on every TLS run; the certificate is still checked against the IP.
  process.noDeprecation = true;
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    // Commander printed help, the version or the usage mistake already.
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    throw error;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`sanpath: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
