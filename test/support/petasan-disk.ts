/**
 * A disk made the way PetaSAN's ManageDisk.add_disk makes one (see the seeds): the image
 * `image-<id>` of the size, its `petasan-metada` record as DiskMeta.write_json writes it (sorted
 * keys, 4-space indent, no sanpath fields) into the xattr `petasan-metada` of the image's header
 * object (`io_ctx.set_xattr(rbd_header.<id>, ...)`; or as rbd image-meta, as newer tools do, with
 * `recordAs: "image-meta"`), then `<root>/Disks/<id>` = "disk" and one empty key
 * `<root>/Disks/<id>/<n>` per path, each created only if absent. No sanpath allocation record,
 * bitmap bit or name key.
 */
import type { ConsulKeys } from "../../src/consul/keys.js";
import type { KvStore } from "../../src/kv/kv-store.js";
import type { AddDiskInput } from "../../src/disks/disk-request.js";
import { DISK_RECORD_METADATA_KEY, type ImageStore } from "../../src/storage/image-store.js";

export interface PetasanPath {
  readonly ip: string;
  readonly subnetMask?: string;
  readonly eth: string;
}

export interface PetasanDisk {
  readonly id: string;
  readonly name: string;
  readonly paths: readonly PetasanPath[];
  readonly pool?: string;
  readonly sizeGib?: number;
  readonly iqnBase?: string;
}

/** The metadata JSON PetaSAN writes for `disk`. */
export function petasanMetadata(disk: PetasanDisk): string {
  const record = {
    acl: "",
    create_date: "2024-03-01",
    description: "",
    disk_name: disk.name,
    id: disk.id,
    iqn: `${disk.iqnBase ?? "iqn.2016-05.com.petasan"}:${disk.id}`,
    password: "",
    paths: disk.paths.map((path) => ({
      eth: path.eth,
      ip: path.ip,
      locked_by: "",
      subnet_mask: path.subnetMask ?? "255.255.255.0",
      vlan_id: "",
    })),
    pool: disk.pool ?? "rbd",
    size: disk.sizeGib ?? 1,
    user: "",
  };
  return JSON.stringify(record, null, 4);
}

/** What makePetasanDisk makes: everything by default. */
export interface PetasanDiskParts {
  image?: boolean;
  metadata?: boolean;
  consulKeys?: boolean;
  /**
   * Where the record goes: "header-xattr" (default), where PetaSAN 1.x's add_disk puts it, or
   * "image-meta", where newer tools (and sanpath) put it.
   */
  recordAs?: "header-xattr" | "image-meta";
}

/** Makes the image (with its metadata) and then the Consul keys, as PetaSAN does. */
export async function makePetasanDisk(
  kv: KvStore,
  keys: ConsulKeys,
  store: ImageStore,
  disk: PetasanDisk,
  what: PetasanDiskParts = {},
): Promise<void> {
  const image = `image-${disk.id}`;
  if (what.image !== false) await store.create(image, (disk.sizeGib ?? 1) * 1024 ** 3);
  if (what.image !== false && what.metadata !== false) {
    if (what.recordAs === "image-meta") {
      await store.setMeta(image, DISK_RECORD_METADATA_KEY, petasanMetadata(disk));
    } else {
      await store.writeHeaderXattr(image, DISK_RECORD_METADATA_KEY, petasanMetadata(disk));
    }
  }
  if (what.consulKeys === false) return;
  if (!(await kv.put(keys.disk(disk.id), "disk", { cas: 0 }))) throw new Error(`disk ${disk.id} exists`);
  for (let index = 1; index <= disk.paths.length; index++) {
    await kv.put(keys.diskPath(disk.id, index), "", { cas: 0 });
  }
}

/** Removes what makePetasanDisk made, as PetaSAN's delete does (keys, then image). */
export async function removePetasanDisk(
  kv: KvStore,
  keys: ConsulKeys,
  store: ImageStore,
  id: string,
): Promise<void> {
  for (const key of await kv.keys(keys.disk(id))) await kv.delete(key);
  await store.remove(`image-${id}`);
}

/** PetaSAN's first disk on the dev settings: the first automatic address of each subnet. */
export const PETASAN_1: PetasanDisk = {
  id: "00001",
  name: "PetaSAN Disk",
  paths: [
    { ip: "198.51.100.10", eth: "eth1" },
    { ip: "203.0.113.10", eth: "eth2" },
  ],
};

/** A second PetaSAN disk, both paths in subnet 1. */
export const PETASAN_2: PetasanDisk = {
  id: "00002",
  name: "vm-store",
  paths: [
    { ip: "198.51.100.11", eth: "eth1" },
    { ip: "198.51.100.12", eth: "eth1" },
  ],
};

/** A sanpath AddDisk request: 1 GiB, two paths over both subnets, unless `extra` says otherwise. */
export function addDiskInput(name: string, extra: Partial<AddDiskInput> = {}): AddDiskInput {
  return { name, sizeGib: 1, pathCount: 2, subnet: 3, manualIps: [], pool: "", ...extra };
}
