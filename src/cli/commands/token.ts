import { writeFile } from "node:fs/promises";
import { Option, type Command } from "commander";
import {
  addToTokenFile,
  formatTokenFile,
  generateToken,
  readTokenFile,
  tokenEntry,
} from "../../security/token-file.js";
import { ROLES } from "../../security/roles.js";
import { writeFileAtomically } from "../../util/atomic-file.js";
import { UsageError } from "../errors.js";
import { localAction } from "../local-action.js";
import { renderTable } from "../table.js";

/** `sanpath token …`: API tokens and the server's token file (digests only). */
export function registerTokenCommands(program: Command): void {
  const token = program
    .command("token")
    .description("API tokens: make one, list or revoke the entries of a server's token file");

  token
    .command("create")
    .description(
      "make a new random token for a name and a role; print it once with the line for the server's " +
        "token file, or add that line yourself with --write",
    )
    .requiredOption("--name <name>", "who the token is for (shown in the audit log)")
    .addOption(new Option("--role <role>", "what it may do").choices([...ROLES]).makeOptionMandatory())
    .option("--write <token-file>", "add the entry to this token file (auth.tokenFile; made if missing)")
    .option("--save <path>", "write the token to this file (mode 0600) instead of printing it")
    .addHelpText(
      "after",
      `
Roles: viewer (reads), disk-admin (disk writes), path-admin (reassignment, cordon, drain),
admin (everything an operator can do), node (a cluster member: NodeService only).
The server's token file keeps SHA-256 digests, never tokens; sanpathd re-reads it within 2 s.

Examples:
  $ sanpath token create --name alice --role viewer --write /etc/sanpath/tokens.json
  $ sanpath token create --name node-1 --role node --write tokens.json --save node-1.token
  $ SANPATH_TOKEN_FILE=alice.token sanpath disk list`,
    )
    .action(
      localAction(async ({ options, print }) => {
        const name = String(options.name);
        const role = String(options.role);
        const secret = generateToken();
        const entry = tokenEntry(name, role, secret);
        const tokenFile = typeof options.write === "string" ? options.write : undefined;
        const savePath = typeof options.save === "string" ? options.save : undefined;
        if (tokenFile !== undefined) await addToTokenFile(tokenFile, entry);
        if (savePath !== undefined)
          await writeFile(savePath, `${secret}\n`, { mode: 0o600, flag: "wx" }).catch((error: unknown) => {
            throw new UsageError(
              `--save ${savePath}: cannot write (${(error as NodeJS.ErrnoException).code ?? "error"}; an existing file is never replaced)`,
            );
          });
        print(
          {
            name,
            role,
            sha256: entry.sha256,
            ...(savePath === undefined ? { token: secret } : { savedTo: savePath }),
            ...(tokenFile === undefined ? {} : { tokenFile }),
          },
          () => {
            const lines: string[] = [];
            if (savePath === undefined) {
              lines.push(
                `New token for ${name} (role ${role}). It is shown this once and cannot be recovered:`,
                "",
                `  ${secret}`,
                "",
              );
            } else {
              lines.push(`New token for ${name} (role ${role}) written to ${savePath} (mode 0600).`, "");
            }
            if (tokenFile === undefined) {
              lines.push(
                "Add this entry to the server's token file (auth.tokenFile):",
                `  ${JSON.stringify(entry)}`,
              );
            } else {
              lines.push(`Added to ${tokenFile}; sanpathd re-reads it within 2 s.`);
            }
            return lines.join("\n");
          },
        );
        return undefined;
      }),
    );

  token
    .command("list")
    .description("the names and roles in a token file")
    .argument("<token-file>", "the server's token file (auth.tokenFile)")
    .action(
      localAction(async ({ args, print }) => {
        const [file] = args;
        if (typeof file !== "string") throw new UsageError("name the token file");
        const entries = await readTokenFile(file);
        print(
          entries.map(({ name, role }) => ({ name, role })),
          () =>
            renderTable(
              [
                { header: "name", value: (row: { name: string }) => row.name },
                { header: "role", value: (row: { role: string }) => row.role },
              ],
              entries,
              "(no tokens)",
            ),
        );
        return undefined;
      }),
    );

  token
    .command("revoke")
    .description("remove a name's entry from a token file (its token stops working within 2 s)")
    .argument("<token-file>", "the server's token file (auth.tokenFile)")
    .requiredOption("--name <name>", "whose token to revoke")
    .action(
      localAction(async ({ args, options, print }) => {
        const [file] = args;
        if (typeof file !== "string") throw new UsageError("name the token file");
        const name = String(options.name);
        const entries = await readTokenFile(file);
        const kept = entries.filter((entry) => entry.name !== name);
        if (kept.length === entries.length) throw new UsageError(`${file} has no token named ${name}`);
        await writeFileAtomically(file, formatTokenFile(kept));
        print({ revoked: name, tokenFile: file }, () => `Revoked ${name}'s token in ${file}.`);
        return undefined;
      }),
    );
}
