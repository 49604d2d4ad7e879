import { errorMessage, invalidField, SanpathError } from "../errors/sanpath-error.js";
import type { PublicDisk } from "./disk.js";
import type { DiskAllocation } from "./disk-allocation.js";
import { diskImageName, isDiskId } from "./disk-id.js";
import { liveStateOf, type DiskKeys } from "./disk-reader.js";

const TOKEN_PREFIX = "after:";

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
