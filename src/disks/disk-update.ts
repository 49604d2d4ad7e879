import { randomUUID } from "node:crypto";
import type { KvEntry, KvOperation } from "../kv/kv-store.js";
import { TransactionConflictError } from "../kv/transaction-conflict.js";
import type { CallOptions } from "../util/call-options.js";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import { GIB, type PublicDisk } from "./disk.js";
import { serializeDiskAllocation, type DiskAllocation } from "./disk-allocation.js";
import type { DiskContext } from "./disk-context.js";
import { diskImageName } from "./disk-id.js";
import { serializeDiskMetadata } from "./disk-metadata.js";
import { diskNameKey } from "./disk-name.js";
import { activeRecord } from "./disk-preconditions.js";
import { DiskReader, loadDisk } from "./disk-reader.js";
import { applyDiskUpdate, validateUpdateDisk, type UpdateDiskInput } from "./disk-request.js";
import { diskNameExists } from "./disk-reservations.js";
import { refuseSizeAboveStore } from "./image-size-limit.js";
import { DISK_RECORD_METADATA_KEY } from "../storage/image-store.js";

/** How long an UpdateDisk holds its disk at most (a crashed update frees it after this). */
export const UPDATE_LEASE_MS = 120_000;

/**
 * UpdateDisk: takes a lease on the disk's allocation record (and moves the name reservation) in one
 * transaction, grows the image and rewrites its metadata, then clears the lease. A failure of the
 * image step puts record and name back as they were.
 */
export class DiskUpdater {
  constructor(
    private readonly context: Pick<
      DiskContext,
      "kv" | "allocationKeys" | "images" | "settings" | "reader" | "reservations" | "logger" | "now"
    >,
  ) {}

  async updateDisk(input: UpdateDiskInput, options: CallOptions = {}): Promise<PublicDisk> {
    const { kv, allocationKeys, images, settings, reader, reservations, logger, now } = this.context;
    const id = await reader.resolve(input.disk, options);
    const loaded = await loadDisk(reader, settings, id, options);
    const record = activeRecord(loaded, id);
    const lease = record.allocation.lease;
    if (lease !== undefined && lease.until.getTime() > now().getTime()) {
      throw new SanpathError(
        "aborted",
        `disk ${id} is being changed by another request until ${lease.until.toISOString()}; try again`,
        { reason: "CAS_CONFLICT" },
      );
    }
    const update = validateUpdateDisk(input, loaded.disk);
    refuseSizeAboveStore(update.sizeGib, images);
    const next = applyDiskUpdate(loaded.disk, update);
    const renamed = diskNameKey(next.name) !== diskNameKey(loaded.disk.name);
    if (renamed) {
      // sanpath's own disks are caught by the name key in swapRecord; this finds the others.
      const holder = await reservations.diskNamedLike(next.name, [loaded.disk.pool], options);
      if (holder !== undefined && holder !== id) throw diskNameExists(next.name, holder);
    }
    const leased: DiskAllocation = {
      ...record.allocation,
      name: next.name,
      lease: { token: randomUUID(), until: new Date(now().getTime() + UPDATE_LEASE_MS) },
    };
    const oldNameEntry = renamed
      ? await kv.get(allocationKeys.diskName(loaded.disk.name), options)
      : undefined;
    const leaseIndex = await this.swapRecord(
      record.entry,
      leased,
      loaded.disk.name,
      next.name,
      oldNameEntry,
      options,
    );
    try {
      if (next.sizeGib > loaded.disk.sizeGib) {
        await images.forPool(loaded.disk.pool).grow(diskImageName(id), next.sizeGib * GIB, options);
      }
      const store = images.forPool(loaded.disk.pool);
      const metadata = serializeDiskMetadata(next, loaded.preserved);
      await store.writeMetadata(diskImageName(id), metadata, options);
      // A disk PetaSAN 1.x made keeps its record in the header xattr, which PetaSAN reads: keep it in step.
      if ((await store.readHeaderXattr(diskImageName(id), DISK_RECORD_METADATA_KEY, options)) !== undefined) {
        await store.writeHeaderXattr(diskImageName(id), DISK_RECORD_METADATA_KEY, metadata, options);
      }
    } catch (error) {
      await this.revertUpdate(record.allocation, leaseIndex, next.name, loaded.disk.name).catch(
        (revertError: unknown) => {
          logger.warn(
            { diskId: id, err: errorMessage(revertError) },
            "could not revert a failed disk update",
          );
        },
      );
      throw error;
    }
    const finished: DiskAllocation = { ...leased, lease: undefined };
    await kv
      .transaction(
        [{ verb: "cas", key: record.entry.key, value: serializeDiskAllocation(finished), index: leaseIndex }],
        options,
      )
      .catch((error: unknown) => {
        logger.warn({ diskId: id, err: errorMessage(error) }, "disk update lease not cleared; it expires");
      });
    logger.info(
      {
        diskId: id,
        renamed,
        grown: next.sizeGib > loaded.disk.sizeGib,
        chap: update.chap.kind,
        acl: update.acl !== undefined,
      },
      "disk updated",
    );
    return DiskReader.toPublic({ disk: next, keys: await reader.readKeys(id, options) });
  }

  /** Rewrites the record (name and lease) and moves the name reservation, in one transaction. */
  private async swapRecord(
    recordEntry: KvEntry,
    next: DiskAllocation,
    oldName: string,
    newName: string,
    oldNameEntry: KvEntry | undefined,
    options: CallOptions,
  ): Promise<number> {
    const { kv, allocationKeys } = this.context;
    const operations: KvOperation[] = [
      {
        verb: "cas",
        key: recordEntry.key,
        value: serializeDiskAllocation(next),
        index: recordEntry.modifyIndex,
      },
    ];
    const renamed = diskNameKey(oldName) !== diskNameKey(newName);
    if (renamed) {
      operations.push({ verb: "cas", key: allocationKeys.diskName(newName), value: next.id, index: 0 });
      if (oldNameEntry?.value === next.id) {
        operations.push({ verb: "delete-cas", key: oldNameEntry.key, index: oldNameEntry.modifyIndex });
      }
    }
    try {
      const { results } = await kv.transaction(operations, options);
      const index = results[0]?.modifyIndex;
      if (index === undefined) throw new Error("consul returned no entry for the disk record");
      return index;
    } catch (error) {
      if (error instanceof TransactionConflictError && renamed && error.opIndex === 1) {
        const owner = await kv.get(allocationKeys.diskName(newName), options);
        throw diskNameExists(newName, owner?.value ?? "?");
      }
      if (error instanceof TransactionConflictError) {
        throw new SanpathError("aborted", `disk ${next.id} changed while it was being updated; try again`, {
          reason: "CAS_CONFLICT",
          cause: error,
        });
      }
      throw error;
    }
  }

  private async revertUpdate(
    before: DiskAllocation,
    leaseIndex: number,
    newName: string,
    oldName: string,
  ): Promise<void> {
    const { kv, allocationKeys } = this.context;
    const signal = AbortSignal.timeout(10_000);
    const operations: KvOperation[] = [
      {
        verb: "cas",
        key: allocationKeys.record(before.id),
        value: serializeDiskAllocation({ ...before, lease: undefined }),
        index: leaseIndex,
      },
    ];
    if (diskNameKey(newName) !== diskNameKey(oldName)) {
      const newEntry = await kv.get(allocationKeys.diskName(newName), { signal });
      if (newEntry?.value === before.id) {
        operations.push({ verb: "delete-cas", key: newEntry.key, index: newEntry.modifyIndex });
      }
      operations.push({
        verb: "cas",
        key: allocationKeys.diskName(oldName),
        value: before.id,
        index: 0,
      });
    }
    await kv.transaction(operations, { signal });
  }
}
