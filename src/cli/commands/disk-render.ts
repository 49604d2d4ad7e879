import type { Disk, DiskPath, ImportDisksResponse, ImportedDisk } from "../../gen/sanpath/v1/disk.js";
import { DiskStatus, ImportOutcome } from "../../gen/sanpath/v1/disk.js";
import { renderFields, renderTable } from "../table.js";
import { formatSizeGib } from "./disk-size.js";

const STATUS_NAME: Readonly<Record<number, string>> = {
  [DiskStatus.DISK_STATUS_STARTING]: "starting",
  [DiskStatus.DISK_STATUS_STARTED]: "started",
  [DiskStatus.DISK_STATUS_STOPPED]: "stopped",
  [DiskStatus.DISK_STATUS_STOPPING]: "stopping",
};

export function statusName(status: DiskStatus): string {
  return STATUS_NAME[status] ?? "unknown";
}

function pathSummary(path: DiskPath): string {
  return path.node === "" ? path.ip : `${path.ip}@${path.node}`;
}

/** One line per disk: id, name, size, status, paths (ip@node), pool. */
export function renderDiskList(disks: readonly Disk[]): string {
  return renderTable(
    [
      { header: "id", value: (disk: Disk) => disk.id },
      { header: "name", value: (disk: Disk) => disk.name },
      {
        header: "size",
        value: (disk: Disk) => (disk.sizeGib === 0 ? "?" : formatSizeGib(disk.sizeGib)),
        align: "right",
      },
      { header: "status", value: (disk: Disk) => statusName(disk.status) },
      { header: "paths", value: (disk: Disk) => disk.paths.map(pathSummary).join(", ") },
      { header: "pool", value: (disk: Disk) => disk.pool },
    ],
    disks,
    "(no disks)",
  );
}

/** Every field of one disk, then its paths. The CHAP secret is never part of a Disk. */
export function renderDisk(disk: Disk): string {
  const acl =
    disk.acl === undefined || disk.acl.allInitiators || disk.acl.initiatorIqns.length === 0
      ? "all initiators"
      : disk.acl.initiatorIqns.join(", ");
  const fields: [string, string][] = [
    ["ID", disk.id],
    ["Name", disk.name],
    ["Status", statusName(disk.status)],
    [
      "Size",
      disk.sizeGib === 0
        ? "unknown (metadata unreadable)"
        : `${formatSizeGib(disk.sizeGib)} (${disk.sizeGib} GiB)`,
    ],
    ["IQN", disk.iqn],
    ["Pool / image", `${disk.pool}/${disk.image}`],
    ["Created", disk.createTime?.toISOString() ?? ""],
    ["ACL", acl],
    ["CHAP", disk.chapEnabled ? `one-way, user ${disk.chapUser} (secret set)` : "off"],
  ];
  const paths = renderTable(
    [
      { header: "path", value: (path: DiskPath) => String(path.index), align: "right" },
      { header: "ip", value: (path: DiskPath) => `${path.ip}/${path.prefixLength}` },
      {
        header: "interface",
        value: (path: DiskPath) => (path.vlanId === 0 ? path.interface : `${path.interface}.${path.vlanId}`),
      },
      { header: "subnet", value: (path: DiskPath) => String(path.subnet) },
      { header: "node", value: (path: DiskPath) => (path.node === "" ? "-" : path.node) },
    ],
    disk.paths,
    "(no paths)",
  );
  return `${renderFields(fields)}\n\n${paths}`;
}

const IMPORT_OUTCOME_NAME: Readonly<Record<number, string>> = {
  [ImportOutcome.IMPORT_OUTCOME_IMPORTED]: "imported",
  [ImportOutcome.IMPORT_OUTCOME_WOULD_IMPORT]: "would import",
  [ImportOutcome.IMPORT_OUTCOME_ALREADY_REGISTERED]: "already registered",
  [ImportOutcome.IMPORT_OUTCOME_SKIPPED]: "skipped",
};

function importDetail(row: ImportedDisk): string {
  if (row.outcome === ImportOutcome.IMPORT_OUTCOME_SKIPPED)
    return row.field === "" ? row.detail : `${row.field}: ${row.detail}`;
  const added = row.added.length === 0 ? "" : `added ${row.added.join(", ")}`;
  return [added, row.detail].filter((part) => part !== "").join("; ");
}

/** `disk import`: one line per image of the pool, then a count of each outcome. */
export function renderImport(response: ImportDisksResponse): string {
  const table = renderTable(
    [
      { header: "id", value: (row: ImportedDisk) => row.id },
      { header: "name", value: (row: ImportedDisk) => row.name },
      { header: "paths", value: (row: ImportedDisk) => row.ips.join(", ") },
      { header: "served", value: (row: ImportedDisk) => (row.running ? "yes" : "no") },
      { header: "result", value: (row: ImportedDisk) => IMPORT_OUTCOME_NAME[row.outcome] ?? "unknown" },
      { header: "detail", value: importDetail },
    ],
    response.disks,
    `(no disk images in pool ${response.pool})`,
  );
  const counts = new Map<string, number>();
  for (const row of response.disks) {
    const name = IMPORT_OUTCOME_NAME[row.outcome] ?? "unknown";
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const summary = [...counts].map(([name, count]) => `${count} ${name}`).join(", ");
  const tail = response.dryRun
    ? "dry run: nothing was changed"
    : "imported disks that had no disk key are stopped: `sanpath disk start <disk>` serves them";
  return `pool ${response.pool}\n${table}\n\n${summary === "" ? "nothing found" : summary}; ${tail}`;
}
