import type { ConsulKeys } from "../consul/keys.js";
import { SanpathError } from "../errors/sanpath-error.js";
import type { KvStore } from "../kv/kv-store.js";
import type { ImageStore } from "../storage/image-store.js";
import type { CallOptions } from "../util/call-options.js";
import { diskIdFromImageName } from "./disk-id.js";
import type { DiskImages } from "./disk-images.js";
import { mapConcurrently } from "./disk-listing.js";
import { diskNameKey } from "./disk-name.js";
import { isMissingPool } from "./pool-name.js";
import { diskUsageFromMetadata, type DiskUsage } from "./disk-usage.js";

/** Metadata reads of one census in flight at once. */
const METADATA_READ_CONCURRENCY = 16;
/** A cached metadata record older than this is read again, whatever the stamps say. */
const CACHE_MAX_AGE_MS = 5 * 60_000;

/** Every id, name and path address that disks in the cluster use, whoever made them. */
export interface ClusterDisks {
  readonly ids: ReadonlySet<string>;
  /** Address → the id of a disk using it. */
  readonly ips: ReadonlyMap<string, string>;
  /** Lower-cased name (diskNameKey) → the id of a disk so named. */
  readonly names: ReadonlyMap<string, string>;
}

interface CachedUsage {
  readonly pool: string;
  /** The ModifyIndex of the disk key of the image's id when read ("none": no key). */
  readonly stamp: string;
  readonly readAt: number;
  readonly usage: DiskUsage;
}

interface ImageToRead {
  readonly cacheKey: string;
  readonly pool: string;
  readonly store: ImageStore;
  readonly image: string;
  readonly stamp: string;
}

/**
 * Finds what the disks of the cluster use, from what exists rather than from sanpath's own
 * reservation records: the disk and path keys under `<root>/Disks/` (an id with any key is used)
 * and the images named `image-<id>` (PetaSAN's naming) in the pools scanned, with the id, name and
 * path addresses of their `petasan-metada` record. PetaSAN decides from the same two sources.
 *
 * Cost: each census lists the disk keys (one Consul read) and the images of each pool (one RBD
 * directory read per pool); metadata is read only for images not seen before or whose disk key
 * changed since (PetaSAN creates, deletes, stops and edits disks through that key, so a recreated
 * or edited disk gets a new stamp), and every record is read again after CACHE_MAX_AGE_MS. An
 * image without metadata yet (one being made) is never cached: it is read again next time. Reading
 * every image's metadata on every AddDisk, as PetaSAN does, would make AddDisk linear in the number
 * of disks in Ceph calls.
 *
 * What no census can see: a disk PetaSAN is creating right now whose metadata is not written yet
 * (its id is seen from the image, its addresses are not), and images in pools not scanned (the
 * default pool and the requested one; the image store cannot list pools).
 */
export class ClusterDiskCensus {
  private readonly cache = new Map<string, CachedUsage>();

  constructor(
    private readonly kv: KvStore,
    private readonly keys: ConsulKeys,
    private readonly images: DiskImages,
    private readonly now: () => number = Date.now,
  ) {}

  async read(pools: readonly string[], options: CallOptions = {}): Promise<ClusterDisks> {
    const stores = new Map<ImageStore, string>();
    for (const pool of pools) {
      const store = this.images.forPool(pool);
      if (!stores.has(store)) stores.set(store, pool);
    }
    const [entries, listings] = await Promise.all([
      this.kv.list(this.keys.disks(), options),
      Promise.all(
        [...stores].map(async ([store, pool]) => ({ store, pool, names: await listImages(store, options) })),
      ),
    ]);
    const ids = new Set<string>();
    const stamps = new Map<string, string>();
    for (const entry of entries) {
      const id = this.keys.parseDisk(entry.key);
      if (id !== undefined) stamps.set(id, String(entry.modifyIndex));
      const used = id ?? this.keys.parseDiskPath(entry.key)?.diskId;
      if (used !== undefined) ids.add(used);
    }
    const usages: DiskUsage[] = [];
    const toRead: ImageToRead[] = [];
    const seen = new Set<string>();
    const now = this.now();
    for (const { store, pool, names } of listings) {
      for (const image of names) {
        const id = diskIdFromImageName(image);
        if (id === undefined) continue;
        ids.add(id);
        const cacheKey = `${pool}/${image}`;
        seen.add(cacheKey);
        const stamp = stamps.get(id) ?? "none";
        const cached = this.cache.get(cacheKey);
        if (cached !== undefined && cached.stamp === stamp && now - cached.readAt < CACHE_MAX_AGE_MS) {
          usages.push(cached.usage);
        } else {
          toRead.push({ cacheKey, pool, store, image, stamp });
        }
      }
    }
    const read = await mapConcurrently(toRead, METADATA_READ_CONCURRENCY, (item) =>
      this.readUsage(item, now, options),
    );
    for (const usage of read) if (usage !== undefined) usages.push(usage);
    const scanned = new Set(stores.values());
    for (const [cacheKey, cached] of this.cache) {
      if (scanned.has(cached.pool) && !seen.has(cacheKey)) this.cache.delete(cacheKey);
    }
    return summarise(ids, usages);
  }

  private async readUsage(
    item: ImageToRead,
    now: number,
    options: CallOptions,
  ): Promise<DiskUsage | undefined> {
    let text: string | undefined;
    try {
      text = await item.store.readMetadata(item.image, options);
    } catch (error) {
      // Removed since the listing: it holds nothing any more.
      if (error instanceof SanpathError && error.kind === "not_found") return undefined;
      throw error;
    }
    if (text === undefined) return undefined;
    const usage = diskUsageFromMetadata(item.image, text);
    this.cache.set(item.cacheKey, { pool: item.pool, stamp: item.stamp, readAt: now, usage });
    return usage;
  }
}

/** The images of a store; none in a pool that does not exist (AddDisk reports that pool itself). */
async function listImages(store: ImageStore, options: CallOptions): Promise<string[]> {
  try {
    return await store.list(options);
  } catch (error) {
    if (isMissingPool(error)) return [];
    throw error;
  }
}

function summarise(ids: Set<string>, usages: readonly DiskUsage[]): ClusterDisks {
  const ips = new Map<string, string>();
  const names = new Map<string, string>();
  for (const usage of usages) {
    const [owner] = usage.ids;
    if (owner === undefined) continue;
    for (const id of usage.ids) ids.add(id);
    for (const ip of usage.ips) if (!ips.has(ip)) ips.set(ip, owner);
    if (usage.name !== "" && !names.has(diskNameKey(usage.name))) names.set(diskNameKey(usage.name), owner);
  }
  return { ids, ips, names };
}
