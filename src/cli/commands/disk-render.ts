import type { Disk, DiskPath } from "../../gen/sanpath/v1/disk.js";
import { DiskStatus } from "../../gen/sanpath/v1/disk.js";
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
