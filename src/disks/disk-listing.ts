import type { CallOptions } from "../util/call-options.js";
import { errorMessage, invalidField, SanpathError } from "../errors/sanpath-error.js";
import type { StoredSettings } from "./cluster-settings-store.js";
import type { PublicDisk } from "./disk.js";
import { parseDiskAllocation, type DiskAllocation } from "./disk-allocation.js";
import type { DiskContext } from "./disk-context.js";
import { diskImageName, isDiskId } from "./disk-id.js";
import { DiskReader, groupDiskKeys, liveStateOf, type DiskKeys, type LoadedDisk } from "./disk-reader.js";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** Metadata reads of one ListDisks page in flight at once. */
const LIST_READ_CONCURRENCY = 16;
const TOKEN_PREFIX = "after:";

export interface ListDisksQuery {
  nameFilter: string;
  pageSize: number;
  pageToken: string;
}

export interface DiskPage {
  disks: PublicDisk[];
  nextPageToken: string;
}

/**
 * ListDisks: every disk key in Consul, in id order, a page at a time. A disk whose metadata cannot
 * be read is listed with what Consul knows (unreadableDisk); Consul or Ceph unreachable fails the
 * whole list (UNAVAILABLE / DISK_LIST_ERROR).
 */
export class DiskLister {
  constructor(
    private readonly context: Pick<
      DiskContext,
      "kv" | "keys" | "allocationKeys" | "settings" | "reader" | "logger"
    >,
  ) {}

  async listDisks(query: ListDisksQuery, options: CallOptions = {}): Promise<DiskPage> {
    const { kv, keys, allocationKeys, settings, logger } = this.context;
    const pageSize = query.pageSize === 0 ? DEFAULT_PAGE_SIZE : query.pageSize;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      throw invalidField(
        "page_size",
        `${query.pageSize} is not a page size: 1..${MAX_PAGE_SIZE} (0 = ${DEFAULT_PAGE_SIZE})`,
      );
    }
    const after = query.pageToken === "" ? undefined : parsePageToken(query.pageToken);
    const filter = query.nameFilter.toLowerCase();
    const [recordEntries, diskEntries, stored] = await listErrors("listing the disks in Consul", () =>
      Promise.all([
        kv.list(allocationKeys.records(), options),
        kv.list(keys.disks(), options),
        settings.read(options),
      ]),
    );
    const disksById = groupDiskKeys(keys, diskEntries);
    const records = new Map<string, DiskAllocation>();
    for (const entry of recordEntries) {
      const id = allocationKeys.parseDiskIdUnder(allocationKeys.records(), entry.key);
      if (id === undefined) continue;
      try {
        records.set(id, parseDiskAllocation(entry.value, entry.key));
      } catch (error) {
        logger.warn({ diskId: id, err: errorMessage(error) }, "unreadable disk allocation record");
      }
    }
    const load = (id: string): Promise<LoadedDisk | undefined> =>
      this.tryLoadForList(id, disksById, records, stored, options);
    const ids = [...disksById.keys()].filter((id) => after === undefined || id > after).sort();
    const matching: string[] = [];
    const preloaded = new Map<string, LoadedDisk>();
    for (const id of ids) {
      if (matching.length > pageSize) break;
      let name = records.get(id)?.name;
      if (name === undefined && filter !== "") {
        // A disk sanpath did not make has no record: its name is in its metadata only.
        const loaded = await load(id);
        if (loaded !== undefined) preloaded.set(id, loaded);
        name = loaded?.disk.name;
      }
      if (filter === "" || (name ?? "").toLowerCase().includes(filter)) matching.push(id);
    }
    const page = matching.slice(0, pageSize);
    const more = matching.length > pageSize;
    const disks = await mapConcurrently(page, LIST_READ_CONCURRENCY, async (id) => {
      const loaded = preloaded.get(id) ?? (await load(id));
      if (loaded !== undefined) return DiskReader.toPublic(loaded);
      const diskKeys = disksById.get(id);
      if (diskKeys === undefined) throw new Error("a listed disk has keys");
      return unreadableDisk(id, records.get(id), diskKeys);
    });
    const last = page[page.length - 1];
    return { disks, nextPageToken: more && last !== undefined ? pageToken(last) : "" };
  }

  /** A listed disk with its metadata; undefined when that is unreadable (DATA_LOSS). */
  private async tryLoadForList(
    id: string,
    disksById: ReadonlyMap<string, DiskKeys>,
    records: ReadonlyMap<string, DiskAllocation>,
    stored: StoredSettings | undefined,
    options: CallOptions,
  ): Promise<LoadedDisk | undefined> {
    const keys = disksById.get(id);
    const pool = records.get(id)?.pool ?? stored?.settings.defaultPool;
    if (keys === undefined || pool === undefined) return undefined;
    try {
      const { disk, preserved } = await this.context.reader.readMetadata(id, pool, stored?.settings, options);
      return { disk, preserved, keys, record: undefined };
    } catch (error) {
      if (error instanceof SanpathError && error.kind === "data_loss") {
        this.context.logger.warn(
          { diskId: id, err: error.message },
          "disk metadata unreadable; listed without it",
        );
        return undefined;
      }
      throw new SanpathError("unavailable", `listing the disks failed: ${errorMessage(error)}`, {
        reason: "DISK_LIST_ERROR",
        cause: error,
      });
    }
  }
}

/** An opaque page token: the last id of the page, so the next page starts after it. */
export function pageToken(lastId: string): string {
  return Buffer.from(`${TOKEN_PREFIX}${lastId}`, "utf8").toString("base64url");
}

export function parsePageToken(token: string): string {
  const text = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, "base64url").toString("utf8") : "";
  const id = text.startsWith(TOKEN_PREFIX) ? text.slice(TOKEN_PREFIX.length) : "";
  if (!isDiskId(id)) {
    throw invalidField(
      "page_token",
      "is not a token of this API: pass next_page_token of the previous answer",
    );
  }
  return id;
}

/** Runs a read of the disk list; its failure is UNAVAILABLE / DISK_LIST_ERROR (PetaSAN's list error). */
export async function listErrors<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof SanpathError && error.kind !== "unavailable") throw error;
    throw new SanpathError("unavailable", `${what} failed: ${errorMessage(error)}`, {
      reason: "DISK_LIST_ERROR",
      cause: error,
    });
  }
}

/** `map` with at most `concurrency` calls in flight; results in input order. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  map: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const at = next++;
      results[at] = await map(items[at] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/**
 * A listed disk whose metadata cannot be read: what Consul knows (id, name and pool from its
 * allocation record, path holders, status); size 0 and an empty IQN mark it. GetDisk says why.
 */
export function unreadableDisk(
  id: string,
  allocation: DiskAllocation | undefined,
  keys: DiskKeys,
): PublicDisk {
  const ips = allocation?.ips ?? [];
  const pathCount = Math.max(ips.length, ...[...keys.paths.keys()], 0);
  const live = liveStateOf(keys, pathCount);
  return {
    id,
    name: allocation?.name ?? "",
    sizeGib: 0,
    createTime: allocation?.createTime ?? new Date(0),
    iqn: "",
    pool: allocation?.pool ?? "",
    image: diskImageName(id),
    acl: { allInitiators: true, initiatorIqns: [] },
    chapEnabled: false,
    chapUser: "",
    paths: Array.from({ length: pathCount }, (_, position) => ({
      index: position + 1,
      ip: ips[position] ?? "",
      prefixLength: 0,
      interface: "",
      vlanId: 0,
      subnet: 1 as const,
      node: live.holders[position] ?? "",
    })),
    status: live.status,
  };
}
