import { Option, type Command } from "commander";
import { ExecaCommandRunner } from "../../exec/execa-runner.js";
import {
  issueClientCertificate,
  issueClusterCa,
  issueNodeCertificate,
  type IssuedFiles,
} from "../../security/cluster-certificates.js";
import { OPERATOR_ROLES } from "../../security/roles.js";
import { UsageError } from "../errors.js";
import { localAction, type LocalInput } from "../local-action.js";

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function days(options: Record<string, unknown>, fallback: number): number {
  const value = options.days;
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 36_500)
    throw new UsageError(`--days must be a whole number from 1 to 36500 (got ${JSON.stringify(value)})`);
  return Number(value);
}

function nameArgument(input: LocalInput): string {
  const [name] = input.args;
  if (typeof name !== "string") throw new UsageError("give the certificate's name");
  return name;
}

function printIssued(input: LocalInput, what: string, files: IssuedFiles, next: string[]): void {
  input.print({ cert: files.cert, key: files.key }, () =>
    [`${what}:`, `  certificate  ${files.cert}`, `  key          ${files.key} (mode 0600)`, "", ...next].join(
      "\n",
    ),
  );
}

/** `sanpath cert …`: the cluster CA and the certificates of nodes and operators (openssl). */
export function registerCertCommands(program: Command): void {
  const cert = program
    .command("cert")
    .description(
      "TLS: make the cluster CA, node certificates (OU=node) and operator certificates (OU=<role>)",
    )
    .addHelpText(
      "after",
      `
Every file goes in --dir, next to ca.crt and ca.key. A certificate from another CA is refused
at the TLS handshake. Needs the openssl command (Debian package openssl).

Examples:
  $ sanpath cert ca --dir /etc/sanpath/pki
  $ sanpath cert node node-1 --dir /etc/sanpath/pki --ip 192.0.2.11 --dns node-1
  $ sanpath cert client alice --role admin --dir /etc/sanpath/pki
  $ sanpath --ca pki/ca.crt --cert pki/alice.crt --key pki/alice.key disk list`,
    );
  const runner = new ExecaCommandRunner();

  cert
    .command("ca")
    .description("make the cluster CA: ca.crt (give it to every node and client) and ca.key (keep it safe)")
    .requiredOption("--dir <dir>", "folder for the CA's files")
    .option("--days <n>", "validity in days (default 3650)")
    .option("--force", "replace an existing CA (every certificate it signed stops working)")
    .action(
      localAction(async (input) => {
        const files = await issueClusterCa(runner, {
          dir: String(input.options.dir),
          days: days(input.options, 3650),
          force: input.options.force === true,
        });
        printIssued(input, "Cluster CA", files, [
          "Next: a certificate per node (sanpath cert node) and per operator (sanpath cert client).",
        ]);
        return undefined;
      }),
    );

  cert
    .command("node")
    .description("make a node certificate (CN=<node name>, OU=node: a cluster member; TLS server and client)")
    .argument("<node-name>", "the node's name (sanpathd nodeName)")
    .requiredOption("--dir <dir>", "folder of ca.crt and ca.key")
    .option("--ip <address>", "an address clients and nodes reach it at (repeat)", collect)
    .option("--dns <name>", "a DNS name it is reached at (repeat)", collect)
    .option("--days <n>", "validity in days (default 825)")
    .option("--force", "replace existing files")
    .action(
      localAction(async (input) => {
        const name = nameArgument(input);
        const files = await issueNodeCertificate(runner, {
          dir: String(input.options.dir),
          name,
          ips: (input.options.ip as string[] | undefined) ?? [],
          dnsNames: (input.options.dns as string[] | undefined) ?? [],
          days: days(input.options, 825),
          force: input.options.force === true,
        });
        printIssued(input, `Node certificate of ${name}`, files, [
          "sanpathd config on that node:",
          `  "tls": { "ca": ".../ca.crt", "cert": ".../${name}.crt", "key": ".../${name}.key", "requireClientCert": true }`,
        ]);
        return undefined;
      }),
    );

  cert
    .command("client")
    .description("make an operator's client certificate (CN=<name>, OU=<role>)")
    .argument("<name>", "who it is for (shown in the audit log)")
    .addOption(
      new Option("--role <role>", "what it may do").choices([...OPERATOR_ROLES]).makeOptionMandatory(),
    )
    .requiredOption("--dir <dir>", "folder of ca.crt and ca.key")
    .option("--days <n>", "validity in days (default 365)")
    .option("--force", "replace existing files")
    .action(
      localAction(async (input) => {
        const name = nameArgument(input);
        const files = await issueClientCertificate(runner, {
          dir: String(input.options.dir),
          name,
          role: String(input.options.role),
          days: days(input.options, 365),
          force: input.options.force === true,
        });
        printIssued(input, `Client certificate of ${name}`, files, [
          `Use it: sanpath --ca .../ca.crt --cert ${files.cert} --key ${files.key} …`,
          "  (or $SANPATH_CA, $SANPATH_CERT, $SANPATH_KEY)",
        ]);
        return undefined;
      }),
    );
}
