import type { KvStore } from "../kv/kv-store.js";
import type { KvEntry } from "../kv/kv-store.js";
import type { CallOptions } from "../util/call-options.js";
import type { ConsulKeys } from "../consul/keys.js";
import { SanpathError } from "../errors/sanpath-error.js";
import type { AllocationKeys } from "./allocation-keys.js";
import type { ClusterSettingsStore } from "./cluster-settings-store.js";
import type { ClusterSettings } from "./cluster-settings.js";
import { toPublicDisk, type Disk, type DiskLiveState, type PublicDisk } from "./disk.js";
import { parseDiskAllocation, type DiskAllocation } from "./disk-allocation.js";
import { diskImageName } from "./disk-id.js";
import type { DiskImages } from "./disk-images.js";
import { parseDiskMetadata } from "./disk-metadata.js";
import { parseDiskRef } from "./disk-name.js";
import { diskStatus } from "./disk-status.js";

/** A disk's Consul keys: the disk key (Flags 1 = stopped) and its path keys by index. */
export interface DiskKeys {
  readonly disk: KvEntry;
  readonly paths: ReadonlyMap<number, KvEntry>;
}

/** A disk as read: its metadata, its keys and its allocation record. */
export interface LoadedDisk {
  readonly disk: Disk;
  /** Metadata fields sanpath does not model, written back unchanged. */
  readonly preserved: Readonly<Record<string, unknown>>;
  readonly keys: DiskKeys;
  /** Undefined for a disk sanpath did not make (e.g. made by PetaSAN). */
  readonly record: { readonly allocation: DiskAllocation; readonly entry: KvEntry } | undefined;
}

export function diskNotFound(reference: string, detail = ""): SanpathError {
  return new SanpathError("not_found", `disk: no disk ${reference}${detail}`, {
    reason: "DISK_NOT_FOUND",
    field: "disk",
  });
}

/** Whether the path key is locked, and by whom (the lock value is the holder's node name). */
export function pathHolder(entry: KvEntry | undefined): string | undefined {
  if (entry?.session === undefined) return undefined;
  return entry.value !== "" ? entry.value : `session ${entry.session}`;
}

/** Status and holders from the disk's keys, for `pathCount` paths. */
export function liveStateOf(keys: DiskKeys, pathCount: number): DiskLiveState {
  const holders: (string | undefined)[] = [];
  for (let index = 1; index <= pathCount; index++) holders.push(pathHolder(keys.paths.get(index)));
  return { status: diskStatus(keys.disk.flags === 1, holders), holders };
}

/** Groups the entries under `<root>/Disks/` by disk id. */
export function groupDiskKeys(keys: ConsulKeys, entries: readonly KvEntry[]): Map<string, DiskKeys> {
  const disks = new Map<string, KvEntry>();
  const paths = new Map<string, Map<number, KvEntry>>();
  for (const entry of entries) {
    const id = keys.parseDisk(entry.key);
    if (id !== undefined) {
      disks.set(id, entry);
      continue;
    }
    const path = keys.parseDiskPath(entry.key);
    if (path === undefined) continue;
    let byIndex = paths.get(path.diskId);
    if (byIndex === undefined) {
      byIndex = new Map();
      paths.set(path.diskId, byIndex);
    }
    byIndex.set(path.index, entry);
  }
  const grouped = new Map<string, DiskKeys>();
  for (const [id, disk] of disks) grouped.set(id, { disk, paths: paths.get(id) ?? new Map() });
  return grouped;
}

/** Reads disks: by id or name, with metadata, keys and allocation record. */
export class DiskReader {
  constructor(
    private readonly kv: KvStore,
    private readonly keys: ConsulKeys,
    private readonly allocationKeys: AllocationKeys,
    private readonly images: DiskImages,
  ) {}

  /** The id a request's `disk` field names: an id as given, a name through its reservation. */
  async resolve(reference: string, options: CallOptions = {}): Promise<string> {
    const ref = parseDiskRef(reference, "disk");
    if (ref.kind === "id") return ref.id;
    const entry = await this.kv.get(this.allocationKeys.diskName(ref.name), options);
    if (entry === undefined) throw diskNotFound(`named "${ref.name}"`);
    return entry.value;
  }

  async readKeys(id: string, options: CallOptions = {}): Promise<DiskKeys> {
    const entries = await this.kv.list(this.keys.disk(id), options);
    const keys = groupDiskKeys(this.keys, entries).get(id);
    if (keys === undefined) throw diskNotFound(id);
    return keys;
  }

  async readRecord(id: string, options: CallOptions = {}): Promise<LoadedDisk["record"]> {
    const entry = await this.kv.get(this.allocationKeys.record(id), options);
    return entry === undefined
      ? undefined
      : { allocation: parseDiskAllocation(entry.value, entry.key), entry };
  }

  /**
   * The disk's metadata from its image. A missing image, missing metadata or a record that does not
   * parse is DATA_LOSS / METADATA_UNREADABLE; Ceph unreachable is UNAVAILABLE.
   */
  async readMetadata(
    id: string,
    pool: string,
    settings: ClusterSettings | undefined,
    options: CallOptions = {},
  ): Promise<{ disk: Disk; preserved: Readonly<Record<string, unknown>> }> {
    const image = diskImageName(id);
    let text: string | undefined;
    try {
      text = await this.images.forPool(pool).readMetadata(image, options);
    } catch (error) {
      if (error instanceof SanpathError && error.kind === "not_found") {
        throw new SanpathError("data_loss", `disk ${id}: its image ${pool}/${image} is missing`, {
          reason: "METADATA_UNREADABLE",
          cause: error,
        });
      }
      throw error;
    }
    if (text === undefined) {
      throw new SanpathError("data_loss", `disk ${id}: image ${pool}/${image} has no disk metadata`, {
        reason: "METADATA_UNREADABLE",
      });
    }
    return parseDiskMetadata(text, {
      image: `${pool}/${image}`,
      pool,
      ...(settings === undefined ? {} : { settings }),
    });
  }

  /** Everything about one disk; NOT_FOUND when it has no disk key. */
  async load(
    id: string,
    defaultPool: () => Promise<string>,
    settings: ClusterSettings | undefined,
    options: CallOptions = {},
  ): Promise<LoadedDisk> {
    const [keys, record] = await Promise.all([this.readKeys(id, options), this.readRecord(id, options)]);
    const pool = record?.allocation.pool ?? (await defaultPool());
    const { disk, preserved } = await this.readMetadata(id, pool, settings, options);
    return { disk, preserved, keys, record };
  }

  static toPublic(loaded: Pick<LoadedDisk, "disk" | "keys">): PublicDisk {
    return toPublicDisk(loaded.disk, liveStateOf(loaded.keys, loaded.disk.paths.length));
  }
}

/**
 * Everything about one disk (DiskReader.load) with the stored cluster settings: the default pool
 * for a disk without allocation record, and the settings its metadata is parsed with.
 */
export async function loadDisk(
  reader: DiskReader,
  settings: ClusterSettingsStore,
  id: string,
  options: CallOptions,
): Promise<LoadedDisk> {
  const stored = await settings.read(options);
  return await reader.load(
    id,
    () => {
      if (stored === undefined) return Promise.reject(new SanpathError("failed_precondition", "no settings"));
      return Promise.resolve(stored.settings.defaultPool);
    },
    stored?.settings,
    options,
  );
}
