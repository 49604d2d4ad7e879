import type { PublicDisk } from "../disks/disk.js";
import type { DiskStatus as DomainDiskStatus } from "../disks/disk-status.js";
import type { DiskService } from "../disks/disk-service.js";
import type { AddDiskRequest, Disk, ImportedDisk, UpdateDiskRequest } from "../gen/sanpath/v1/disk.js";
import { DiskStatus, ImportOutcome } from "../gen/sanpath/v1/disk.js";
import type {
  ImportedDisk as DomainImportedDisk,
  ImportOutcome as DomainImportOutcome,
} from "../disks/disk-import.js";
import type { AddDiskInput, UpdateDiskInput } from "../disks/disk-request.js";
import type { ServiceHandlers } from "./service-registry.js";

const STATUS: Readonly<Record<DomainDiskStatus, DiskStatus>> = {
  starting: DiskStatus.DISK_STATUS_STARTING,
  started: DiskStatus.DISK_STATUS_STARTED,
  stopped: DiskStatus.DISK_STATUS_STOPPED,
  stopping: DiskStatus.DISK_STATUS_STOPPING,
};

/** The proto Disk of a domain disk. It has no field for a CHAP secret: none can leak. */
export function toProtoDisk(disk: PublicDisk): Disk {
  return {
    id: disk.id,
    name: disk.name,
    sizeGib: disk.sizeGib,
    createTime: disk.createTime,
    iqn: disk.iqn,
    pool: disk.pool,
    acl: { allInitiators: disk.acl.allInitiators, initiatorIqns: [...disk.acl.initiatorIqns] },
    chapEnabled: disk.chapEnabled,
    chapUser: disk.chapUser,
    paths: disk.paths.map((path) => ({
      index: path.index,
      ip: path.ip,
      prefixLength: path.prefixLength,
      interface: path.interface,
      vlanId: path.vlanId,
      subnet: path.subnet,
      node: path.node,
    })),
    status: disk.status === undefined ? DiskStatus.DISK_STATUS_UNSPECIFIED : STATUS[disk.status],
    image: disk.image,
  };
}

const IMPORT_OUTCOME: Readonly<Record<DomainImportOutcome, ImportOutcome>> = {
  imported: ImportOutcome.IMPORT_OUTCOME_IMPORTED,
  "would-import": ImportOutcome.IMPORT_OUTCOME_WOULD_IMPORT,
  "already-registered": ImportOutcome.IMPORT_OUTCOME_ALREADY_REGISTERED,
  skipped: ImportOutcome.IMPORT_OUTCOME_SKIPPED,
};

function toProtoImportedDisk(row: DomainImportedDisk): ImportedDisk {
  return {
    id: row.id,
    name: row.name,
    pool: row.pool,
    ips: [...row.ips],
    sizeGib: row.sizeGib,
    outcome: IMPORT_OUTCOME[row.outcome],
    added: [...row.added],
    detail: row.detail,
    field: row.field,
    running: row.running,
  };
}

export function toAddDiskInput(request: AddDiskRequest): AddDiskInput {
  return {
    name: request.name,
    sizeGib: request.sizeGib,
    pathCount: request.pathCount,
    subnet: request.subnet,
    manualIps: request.manualIps,
    acl: request.acl,
    chap: request.chap,
    pool: request.pool,
  };
}

export function toUpdateDiskInput(request: UpdateDiskRequest): UpdateDiskInput {
  return {
    disk: request.disk,
    name: request.name,
    sizeGib: request.sizeGib,
    acl: request.acl,
    chap: request.chap,
    clearChap: request.clearChap,
  };
}

/** DiskService over gRPC: proto ↔ domain only; failures map through grpc-status.ts. */
export function diskHandlers(service: DiskService): ServiceHandlers<"disk"> {
  return {
    addDisk: async (request, { signal }) => ({
      disk: toProtoDisk(await service.addDisk(toAddDiskInput(request), { signal })),
    }),
    getDisk: async (request, { signal }) => ({
      disk: toProtoDisk(await service.getDisk(request.disk, { signal })),
    }),
    listDisks: async (request, { signal }) => {
      const page = await service.listDisks(
        { nameFilter: request.nameFilter, pageSize: request.pageSize, pageToken: request.pageToken },
        { signal },
      );
      return { disks: page.disks.map(toProtoDisk), nextPageToken: page.nextPageToken };
    },
    updateDisk: async (request, { signal }) => ({
      disk: toProtoDisk(await service.updateDisk(toUpdateDiskInput(request), { signal })),
    }),
    stopDisk: async (request, { signal }) => ({
      disk: toProtoDisk(await service.stopDisk(request.disk, { signal })),
    }),
    startDisk: async (request, { signal }) => ({
      disk: toProtoDisk(await service.startDisk(request.disk, { signal })),
    }),
    deleteDisk: async (request, { signal }) => ({ id: await service.deleteDisk(request.disk, { signal }) }),
    importDisks: async (request, { signal }) => {
      const report = await service.importDisks({ pool: request.pool, dryRun: request.dryRun }, { signal });
      return { pool: report.pool, dryRun: report.dryRun, disks: report.disks.map(toProtoImportedDisk) };
    },
  };
}
