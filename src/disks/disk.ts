import type { SubnetNumber } from "./cluster-settings.js";
import { diskImageName } from "./disk-id.js";
import type { DiskStatus } from "./disk-status.js";

/** Where a path's portal lives: its address and the interface it goes on. */
export interface PathAddress {
  readonly ip: string;
  readonly prefixLength: number;
  readonly interface: string;
  /** 0 = no VLAN. */
  readonly vlanId: number;
  readonly subnet: SubnetNumber;
}

export interface DiskPath extends PathAddress {
  /** 1-based; path n of disk d is locked at `<root>/Disks/<d>/<n>`. */
  readonly index: number;
}

/** Who may log in: anybody, or the listed initiator names only. */
export type DiskAcl =
  { readonly kind: "all" } | { readonly kind: "initiators"; readonly initiatorIqns: readonly string[] };

export const ALL_INITIATORS: DiskAcl = { kind: "all" };

/** One-way CHAP. The secret is write-only towards clients: see toPublicDisk. */
export interface ChapCredentials {
  readonly user: string;
  readonly secret: string;
}

/** Bytes in a GiB: the image of a disk of `sizeGib` has `sizeGib * GIB` bytes. */
export const GIB = 1024 ** 3;

/** A disk as stored in its image metadata. */
export interface Disk {
  /** 5 digits, e.g. "00001". */
  readonly id: string;
  readonly name: string;
  readonly sizeGib: number;
  readonly createTime: Date;
  readonly iqn: string;
  readonly pool: string;
  readonly acl: DiskAcl;
  readonly chap: ChapCredentials | undefined;
  readonly paths: readonly DiskPath[];
}

export interface PublicDiskPath extends DiskPath {
  /** The node holding the path's lock; "" when nobody serves it. */
  readonly node: string;
}

/** What clients may see of a disk: the proto Disk message's content, without the CHAP secret. */
export interface PublicDisk {
  readonly id: string;
  readonly name: string;
  readonly sizeGib: number;
  readonly createTime: Date;
  readonly iqn: string;
  readonly pool: string;
  readonly image: string;
  readonly acl: { readonly allInitiators: boolean; readonly initiatorIqns: readonly string[] };
  readonly chapEnabled: boolean;
  readonly chapUser: string;
  readonly paths: readonly PublicDiskPath[];
  readonly status: DiskStatus | undefined;
}

/** What is known live about a disk beyond its metadata: its status and each path's holder. */
export interface DiskLiveState {
  readonly status: DiskStatus;
  /** `holders[i]` holds path i+1; undefined or "" when nobody does. */
  readonly holders: readonly (string | undefined)[];
}

export function toPublicDisk(disk: Disk, live?: DiskLiveState): PublicDisk {
  return {
    id: disk.id,
    name: disk.name,
    sizeGib: disk.sizeGib,
    createTime: disk.createTime,
    iqn: disk.iqn,
    pool: disk.pool,
    image: diskImageName(disk.id),
    acl:
      disk.acl.kind === "all"
        ? { allInitiators: true, initiatorIqns: [] }
        : { allInitiators: false, initiatorIqns: [...disk.acl.initiatorIqns] },
    chapEnabled: disk.chap !== undefined,
    chapUser: disk.chap?.user ?? "",
    paths: disk.paths.map((path) => ({
      index: path.index,
      ip: path.ip,
      prefixLength: path.prefixLength,
      interface: path.interface,
      vlanId: path.vlanId,
      subnet: path.subnet,
      node: live?.holders[path.index - 1] ?? "",
    })),
    status: live?.status,
  };
}
