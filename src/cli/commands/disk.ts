import { readFile } from "node:fs/promises";
import { Option, type Command } from "commander";
import {
  AddDiskResponse,
  DeleteDiskResponse,
  Disk,
  GetDiskResponse,
  ImportDisksResponse,
  ListDisksResponse,
  StartDiskResponse,
  StopDiskResponse,
  UpdateDiskResponse,
  type AddDiskRequest,
  type UpdateDiskRequest,
} from "../../gen/sanpath/v1/disk.js";
import type { Acl, Chap } from "../../gen/sanpath/v1/disk.js";
import { SubnetChoice } from "../../gen/sanpath/v1/common.js";
import { action, type ActionInput } from "../action.js";
import type { CliSession } from "../client.js";
import { UsageError } from "../errors.js";
import { renderDisk, renderDiskList, renderImport } from "./disk-render.js";
import { parseSizeGib } from "./disk-size.js";

/** Where `--chap-user` finds the secret when no --chap-secret-file is given. */
export const CHAP_SECRET_ENV = "SANPATH_CHAP_SECRET";
/** The largest page ListDisks serves; `disk list` walks every page. */
const LIST_PAGE_SIZE = 1000;

const SUBNET_CHOICES: Readonly<Record<string, SubnetChoice>> = {
  "1": SubnetChoice.SUBNET_CHOICE_SUBNET1,
  "2": SubnetChoice.SUBNET_CHOICE_SUBNET2,
  both: SubnetChoice.SUBNET_CHOICE_BOTH,
};

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function text(options: Record<string, unknown>, name: string): string | undefined {
  const value = options[name];
  return typeof value === "string" ? value : undefined;
}

function list(options: Record<string, unknown>, name: string): string[] {
  const value = options[name];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

function diskArgument(input: ActionInput): string {
  const [disk] = input.args;
  if (typeof disk !== "string") throw new UsageError("name the disk: its id (00001) or its name");
  return disk;
}

function positiveInteger(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value))
    throw new UsageError(`${option} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/**
 * The CHAP secret from --chap-secret-file (one trailing newline dropped) or $SANPATH_CHAP_SECRET.
 * Never from the command line itself: it would show in `ps` and shell history.
 */
async function readChapSecret(options: Record<string, unknown>): Promise<string | undefined> {
  const file = text(options, "chapSecretFile");
  if (file !== undefined) {
    try {
      return (await readFile(file, "utf8")).replace(/\r?\n$/, "");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
      throw new UsageError(`cannot read --chap-secret-file ${file} (${code})`);
    }
  }
  const fromEnv = process.env[CHAP_SECRET_ENV];
  return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
}

async function chapFrom(options: Record<string, unknown>): Promise<Chap | undefined> {
  const user = text(options, "chapUser");
  const secret = await readChapSecret(options);
  if (user === undefined) {
    if (text(options, "chapSecretFile") !== undefined) {
      throw new UsageError("--chap-secret-file needs --chap-user");
    }
    return undefined;
  }
  if (secret === undefined) {
    throw new UsageError(`--chap-user needs a secret: --chap-secret-file FILE or $${CHAP_SECRET_ENV}`);
  }
  return { user, secret };
}

function printDisk(session: CliSession, disk: Disk | undefined): void {
  if (disk === undefined) throw new Error("the server sent no disk");
  session.print(Disk.toJSON(disk), () => renderDisk(disk));
}

const EXAMPLES_ADD = `
The size is whole GiB: 100G, 1T (= 1024G), 1.5T, or a bare number of GiB (512).
Addresses are automatic (the first free block of the chosen subnet's range) unless --ip gives
one per path (1 or 2 paths). CHAP secrets (12..16 characters) are read from a file or from
$${CHAP_SECRET_ENV}, never from the command line, and are never printed.

Examples:
  $ sanpath disk add backup --size 100G
  $ sanpath disk add db01 --size 1T --paths 4 --subnet both
  $ sanpath disk add web --size 50G --paths 2 --subnet both --ip 198.51.100.20 --ip 203.0.113.20
  $ sanpath disk add vault --size 10G --acl iqn.1993-08.org.debian:01:abc \\
        --chap-user vault --chap-secret-file /root/vault.secret
  $ SANPATH_CHAP_SECRET=$(cat /root/s) sanpath disk add vault2 --size 10G --chap-user vault2`;

/** `sanpath disk …`: add, list, show, edit, stop, start, delete, import. */
export function registerDiskCommands(program: Command): void {
  const disk = program
    .command("disk")
    .description("disks: RBD images with their iSCSI paths (DISK is an id like 00001 or a name)");

  disk
    .command("add")
    .description("add a disk: reserve an id and path addresses, create the image, register its paths")
    .argument("<name>", "1..64 letters, digits, '.', '_', '-', spaces; unique without regard to case")
    .requiredOption("--size <size>", "size: 100G, 1T, 512 (GiB)")
    .option("--paths <count>", "number of iSCSI paths, 1..8", "2")
    .addOption(
      new Option("--subnet <subnet>", "iSCSI subnet of the paths").choices(["1", "2", "both"]).default("1"),
    )
    .option("--ip <address>", "a manual path address, once per path (1 or 2 paths)", collect)
    .option("--acl <iqn>", "an initiator allowed to log in (repeat for more); default: all", collect)
    .option(
      "--chap-user <user>",
      "one-way CHAP user (the secret from --chap-secret-file or $SANPATH_CHAP_SECRET)",
    )
    .option("--chap-secret-file <file>", "file holding the CHAP secret (12..16 characters)")
    .option("--pool <pool>", "Ceph pool (default: the cluster's default pool)")
    .addHelpText("after", EXAMPLES_ADD)
    .action(
      action(async (session, input) => {
        const [name] = input.args;
        const { options } = input;
        const acls = list(options, "acl");
        const request: AddDiskRequest = {
          name: typeof name === "string" ? name : "",
          sizeGib: parseSizeGib(text(options, "size") ?? ""),
          pathCount: positiveInteger(text(options, "paths"), "--paths", 2),
          subnet: SUBNET_CHOICES[text(options, "subnet") ?? "1"] ?? SubnetChoice.SUBNET_CHOICE_SUBNET1,
          manualIps: list(options, "ip"),
          acl: acls.length === 0 ? undefined : { allInitiators: false, initiatorIqns: acls },
          chap: await chapFrom(options),
          pool: text(options, "pool") ?? "",
        };
        const response = await session.unary<AddDiskResponse>((metadata, callOptions, done) =>
          session.disk.addDisk(request, metadata, callOptions, done),
        );
        printDisk(session, response.disk);
        return undefined;
      }),
    );

  disk
    .command("list")
    .description("list disks by id: status, size and the node serving each path")
    .option("--name <text>", "only disks whose name contains this text (any case)")
    .addHelpText(
      "after",
      `
PATHS shows each path as ip@node (the node serving it), or the ip alone while nobody does.

Examples:
  $ sanpath disk list
  $ sanpath disk list --name backup
  $ sanpath disk list --output json`,
    )
    .action(
      action(async (session, { options }) => {
        const disks: Disk[] = [];
        let pageToken = "";
        do {
          const page = await session.unary<ListDisksResponse>((metadata, callOptions, done) =>
            session.disk.listDisks(
              { nameFilter: text(options, "name") ?? "", pageSize: LIST_PAGE_SIZE, pageToken },
              metadata,
              callOptions,
              done,
            ),
          );
          disks.push(...page.disks);
          pageToken = page.nextPageToken;
        } while (pageToken !== "");
        session.print({ disks: disks.map((item) => Disk.toJSON(item)) }, () => renderDiskList(disks));
        return undefined;
      }),
    );

  disk
    .command("show")
    .description("show one disk: its settings, status and paths with the node serving each")
    .argument("<disk>", "id (00001) or name")
    .addHelpText(
      "after",
      "\nExamples:\n  $ sanpath disk show 00001\n  $ sanpath disk show backup --output json",
    )
    .action(
      action(async (session, input) => {
        const reference = diskArgument(input);
        const response = await session.unary<GetDiskResponse>((metadata, callOptions, done) =>
          session.disk.getDisk({ disk: reference }, metadata, callOptions, done),
        );
        printDisk(session, response.disk);
        return undefined;
      }),
    );

  disk
    .command("edit")
    .description("rename, grow, change the ACL or CHAP of a disk (a disk never shrinks)")
    .argument("<disk>", "id (00001) or name")
    .option("--name <name>", "new name")
    .option("--size <size>", "new size, not smaller than now: 200G, 2T")
    .option("--acl <iqn>", "replace the ACL by these initiators (repeat for more)", collect)
    .option("--acl-all", "let any initiator log in")
    .option("--chap-user <user>", "set one-way CHAP (secret from --chap-secret-file or $SANPATH_CHAP_SECRET)")
    .option("--chap-secret-file <file>", "file holding the new CHAP secret")
    .option("--no-chap", "remove CHAP")
    .addHelpText(
      "after",
      `
Examples:
  $ sanpath disk edit backup --size 200G
  $ sanpath disk edit 00001 --name backup-old --acl-all
  $ sanpath disk edit db01 --acl iqn.1993-08.org.debian:01:abc --acl iqn.1993-08.org.debian:01:def
  $ sanpath disk edit vault --chap-user vault --chap-secret-file /root/new.secret
  $ sanpath disk edit vault --no-chap`,
    )
    .action(
      action(async (session, input) => {
        const reference = diskArgument(input);
        const { options } = input;
        const acls = list(options, "acl");
        if (acls.length > 0 && options.aclAll === true)
          throw new UsageError("give --acl or --acl-all, not both");
        const chap = await chapFrom(options);
        const clearChap = options.chap === false;
        if (chap !== undefined && clearChap) throw new UsageError("give --chap-user or --no-chap, not both");
        let acl: Acl | undefined;
        if (options.aclAll === true) acl = { allInitiators: true, initiatorIqns: [] };
        else if (acls.length > 0) acl = { allInitiators: false, initiatorIqns: acls };
        const size = text(options, "size");
        const request: UpdateDiskRequest = {
          disk: reference,
          name: text(options, "name"),
          sizeGib: size === undefined ? undefined : parseSizeGib(size),
          acl,
          chap,
          clearChap,
        };
        if (
          request.name === undefined &&
          request.sizeGib === undefined &&
          acl === undefined &&
          chap === undefined &&
          !clearChap
        ) {
          throw new UsageError(
            "nothing to change: give --name, --size, --acl, --acl-all, --chap-user or --no-chap",
          );
        }
        const response = await session.unary<UpdateDiskResponse>((metadata, callOptions, done) =>
          session.disk.updateDisk(request, metadata, callOptions, done),
        );
        printDisk(session, response.disk);
        return undefined;
      }),
    );

  disk
    .command("stop")
    .description("stop a disk: the nodes serving its paths give them up")
    .argument("<disk>", "id (00001) or name")
    .addHelpText(
      "after",
      "\nThe disk is STOPPING until no node serves a path, then STOPPED.\n\nExample:\n  $ sanpath disk stop backup",
    )
    .action(
      action(async (session, input) => {
        const reference = diskArgument(input);
        const response = await session.unary<StopDiskResponse>((metadata, callOptions, done) =>
          session.disk.stopDisk({ disk: reference }, metadata, callOptions, done),
        );
        printDisk(session, response.disk);
        return undefined;
      }),
    );

  disk
    .command("start")
    .description("start a disk: the coordinator places its paths on nodes")
    .argument("<disk>", "id (00001) or name")
    .addHelpText(
      "after",
      "\nThe disk is STARTING until every path is served, then STARTED.\n\nExample:\n  $ sanpath disk start backup",
    )
    .action(
      action(async (session, input) => {
        const reference = diskArgument(input);
        const response = await session.unary<StartDiskResponse>((metadata, callOptions, done) =>
          session.disk.startDisk({ disk: reference }, metadata, callOptions, done),
        );
        printDisk(session, response.disk);
        return undefined;
      }),
    );

  disk
    .command("delete")
    .description("delete a stopped disk: its image (and data), keys and reservations")
    .argument("<disk>", "id (00001) or name")
    .option("-y, --yes", "really delete: the image and its data are gone for good")
    .addHelpText(
      "after",
      `
Only a stopped disk whose paths no node serves any more can be deleted.

Example:
  $ sanpath disk stop backup && sanpath disk delete backup --yes`,
    )
    .action(
      action(async (session, input) => {
        const reference = diskArgument(input);
        if (input.options.yes !== true) {
          throw new UsageError(
            `deleting ${reference} removes its image and data for good; add --yes to go ahead`,
          );
        }
        const response = await session.unary<DeleteDiskResponse>((metadata, callOptions, done) =>
          session.disk.deleteDisk({ disk: reference }, metadata, callOptions, done),
        );
        session.print(DeleteDiskResponse.toJSON(response), () => `deleted disk ${response.id}`);
        return undefined;
      }),
    );

  disk
    .command("import")
    .description("register disks of a pool that sanpath has no record of (made by PetaSAN, or restored)")
    .option("--pool <pool>", "the Ceph pool to scan (default: the cluster's default pool)")
    .option("--dry-run", "only show what would be imported; change nothing")
    .addHelpText(
      "after",
      `
Every image image-<id> of the pool with a disk record (PetaSAN's petasan-metada) that sanpath
has no record of is registered: its id, addresses and name are reserved, and its Consul keys are
created where missing. Images are not touched, and no path lock changes: a disk PetaSAN serves
goes on being served. A disk that had no disk key is imported stopped; start it with
\`sanpath disk start\`. A broken record, a name another disk has or an address another disk
uses is reported (with the field) and skipped. Running it again changes nothing.

Examples:
  $ sanpath disk import --dry-run
  $ sanpath disk import
  $ sanpath disk import --pool ssd --output json`,
    )
    .action(
      action(async (session, { options }) => {
        const response = await session.unary<ImportDisksResponse>((metadata, callOptions, done) =>
          session.disk.importDisks(
            { pool: text(options, "pool") ?? "", dryRun: options.dryRun === true },
            metadata,
            callOptions,
            done,
          ),
        );
        session.print(ImportDisksResponse.toJSON(response), () => renderImport(response));
        return undefined;
      }),
    );
}
