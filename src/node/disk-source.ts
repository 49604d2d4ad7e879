import type { CallOptions } from "../util/call-options.js";
import type { KvStore } from "../kv/kv-store.js";
import type { ConsulKeys } from "../consul/keys.js";
import { AllocationKeys } from "../disks/allocation-keys.js";
import { ClusterSettingsStore } from "../disks/cluster-settings-store.js";
import type { Disk } from "../disks/disk.js";
import { parseDiskAllocation } from "../disks/disk-allocation.js";
import { diskImageName } from "../disks/disk-id.js";
import { diskImagesOver } from "../disks/disk-images.js";
import { parseDiskMetadata } from "../disks/disk-metadata.js";
import { SanpathError } from "../errors/sanpath-error.js";
import type { LunBacking } from "../iscsi/target-driver.js";
import type { Logger } from "../log/logger.js";
import type { ImageStore } from "../storage/image-store.js";
import { diskNotFound } from "./node-errors.js";

/** Whether a disk's paths may be served, from its Consul key `<root>/Disks/<id>` (Flags 1 = stopped). */
export type DiskRunState = "running" | "stopped" | "missing";

export function runStateOf(entry: { flags: number } | undefined): DiskRunState {
  if (entry === undefined) return "missing";
  return entry.flags === 1 ? "stopped" : "running";
}

/** What the node needs to serve a disk's paths. */
export interface DiskView {
  readonly disk: Disk;
  readonly runState: DiskRunState;
  /** How the LUN is backed by the disk's image. */
  readonly backing: LunBacking;
}

export interface DiskSourceOptions {
  kv: KvStore;
  keys: ConsulKeys;
  /** Opens the image store on first use (an unreachable Ceph must not stop the node agent). */
  openImageStore: () => Promise<ImageStore>;
  /** Pool of disks without an allocation record (made by PetaSAN). */
  defaultPool: string;
  /** ceph.conf and client id for tgt's rbd backing when the store does not name them. */
  cephConf: string;
  cephUser: string;
  logger?: Logger;
}

/** Reads disks for the node agent: run state from Consul, metadata from the disk's image. */
export class DiskSource {
  private store: Promise<ImageStore> | undefined;
  private readonly allocationKeys: AllocationKeys;
  private readonly settings: ClusterSettingsStore;

  constructor(private readonly options: DiskSourceOptions) {
    this.allocationKeys = new AllocationKeys(options.keys);
    this.settings = new ClusterSettingsStore(options.kv, this.allocationKeys);
  }

  async runState(diskId: string, options: CallOptions = {}): Promise<DiskRunState> {
    return runStateOf(await this.options.kv.get(this.options.keys.disk(diskId), options));
  }

  /** The disk with its run state; NOT_FOUND when its Consul key is missing. */
  async read(diskId: string, options: CallOptions = {}): Promise<DiskView> {
    const { kv, keys } = this.options;
    const [diskEntry, recordEntry] = await Promise.all([
      kv.get(keys.disk(diskId), options),
      kv.get(this.allocationKeys.record(diskId), options),
    ]);
    const runState = runStateOf(diskEntry);
    if (runState === "missing") throw diskNotFound(diskId);
    let pool = this.options.defaultPool;
    if (recordEntry !== undefined) {
      try {
        pool = parseDiskAllocation(recordEntry.value, recordEntry.key).pool;
      } catch (error) {
        this.options.logger?.warn({ diskId, err: error }, "allocation record unreadable: default pool used");
      }
    }
    const store = diskImagesOver(await this.imageStore()).forPool(pool);
    const image = diskImageName(diskId);
    const text = await store.readMetadata(
      image,
      options.signal === undefined ? {} : { signal: options.signal },
    );
    if (text === undefined) {
      throw new SanpathError("data_loss", `disk ${diskId}: image ${pool}/${image} has no disk metadata`, {
        reason: "METADATA_UNREADABLE",
      });
    }
    const disk = await this.parse(text, `${pool}/${image}`, pool, options);
    return { disk, runState, backing: this.lunBacking(store, image) };
  }

  /**
   * Every path address the cluster has handed out, from the disks' allocation records: IP →
   * disk id and path index. Used to find path IPs left on this node that it does not serve.
   */
  async allocatedPathIps(options: CallOptions = {}): Promise<Map<string, { diskId: string; index: number }>> {
    const entries = await this.options.kv.list(this.allocationKeys.records(), options);
    const ips = new Map<string, { diskId: string; index: number }>();
    for (const entry of entries) {
      try {
        const allocation = parseDiskAllocation(entry.value, entry.key);
        allocation.ips.forEach((ip, position) => ips.set(ip, { diskId: allocation.id, index: position + 1 }));
      } catch {
        // An unreadable record names no address we could act on.
      }
    }
    return ips;
  }

  async close(): Promise<void> {
    const store = this.store;
    this.store = undefined;
    if (store !== undefined) await (await store.catch(() => undefined))?.close();
  }

  private imageStore(): Promise<ImageStore> {
    if (this.store === undefined) {
      const opening = this.options.openImageStore();
      this.store = opening;
      // A failed open is retried by the next call.
      opening.catch(() => {
        if (this.store === opening) this.store = undefined;
      });
    }
    return this.store;
  }

  private async parse(text: string, image: string, pool: string, options: CallOptions): Promise<Disk> {
    try {
      return parseDiskMetadata(text, { image, pool }).disk;
    } catch (error) {
      // Records written by PetaSAN carry no subnet per path: the cluster settings tell it.
      if (!(error instanceof SanpathError) || error.field?.endsWith(".subnet") !== true) throw error;
      const stored = await this.settings.read(options);
      if (stored === undefined) throw error;
      return parseDiskMetadata(text, { image, pool, settings: stored.settings }).disk;
    }
  }

  private lunBacking(store: ImageStore, image: string): LunBacking {
    const backing = store.backingFor(image);
    if (backing.kind === "file") return { kind: "file", path: backing.path };
    return {
      kind: "rbd",
      pool: backing.pool,
      image: backing.image,
      cephConf: backing.confPath ?? this.options.cephConf,
      cephUser: backing.userId === "" ? this.options.cephUser : backing.userId,
    };
  }
}
