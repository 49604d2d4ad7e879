import { randomUUID } from "node:crypto";
import type { KvOperation } from "../kv/kv-store.js";
import type { CallOptions } from "../util/call-options.js";
import { SanpathError } from "../errors/sanpath-error.js";
import { AllocationDraft } from "./allocation-draft.js";
import { retryOnConflict } from "./conflict-retry.js";
import type { PublicDisk } from "./disk.js";
import { serializeDiskAllocation, type DiskAllocation } from "./disk-allocation.js";
import type { DiskContext } from "./disk-context.js";
import { diskImageName } from "./disk-id.js";
import { unreadableDisk } from "./disk-listing.js";
import { beingDeleted, refuseUnlessStopped } from "./disk-preconditions.js";
import { DiskReader, loadDisk, type LoadedDisk } from "./disk-reader.js";

/** StopDisk, StartDisk and DeleteDisk: the disk key's Flags (1 = stopped) and the delete that needs them. */
export class DiskLifeCycle {
  constructor(
    private readonly context: Pick<
      DiskContext,
      "kv" | "allocationKeys" | "images" | "settings" | "reader" | "reservations" | "logger" | "retry"
    >,
  ) {}

  async stopDisk(reference: string, options: CallOptions = {}): Promise<PublicDisk> {
    const { kv, reader, logger, retry } = this.context;
    const id = await reader.resolve(reference, options);
    await retryOnConflict(`StopDisk ${id}`, retry, options.signal, async () => {
      const keys = await reader.readKeys(id, options);
      if (keys.disk.flags === 1) return;
      await kv.transaction(
        [{ verb: "cas", key: keys.disk.key, value: keys.disk.value, flags: 1, index: keys.disk.modifyIndex }],
        options,
      );
    });
    logger.info({ diskId: id }, "disk stopped");
    return await this.viewAfterChange(id, options);
  }

  async startDisk(reference: string, options: CallOptions = {}): Promise<PublicDisk> {
    const { kv, reader, logger, retry } = this.context;
    const id = await reader.resolve(reference, options);
    await retryOnConflict(`StartDisk ${id}`, retry, options.signal, async () => {
      const [keys, record] = await Promise.all([
        reader.readKeys(id, options),
        reader.readRecord(id, options),
      ]);
      if (record?.allocation.state === "deleting") throw beingDeleted(id);
      if (keys.disk.flags === 0) return;
      const operations: KvOperation[] = [
        { verb: "cas", key: keys.disk.key, value: keys.disk.value, flags: 0, index: keys.disk.modifyIndex },
      ];
      if (record !== undefined) {
        operations.push({ verb: "check-index", key: record.entry.key, index: record.entry.modifyIndex });
      }
      await kv.transaction(operations, options);
    });
    logger.info({ diskId: id }, "disk started");
    return await this.viewAfterChange(id, options);
  }

  /**
   * Deletes a stopped disk whose paths nobody holds: marks its record "deleting" (StartDisk then
   * refuses), removes the image, then frees id, addresses, name and keys in one transaction. A
   * delete that fails half-way leaves the disk "deleting"; calling it again finishes it.
   */
  async deleteDisk(reference: string, options: CallOptions = {}): Promise<string> {
    const { kv, allocationKeys, images, reader, reservations, logger, retry } = this.context;
    const id = await reader.resolve(reference, options);
    const { allocation, index } = await retryOnConflict(
      `DeleteDisk ${id}`,
      retry,
      options.signal,
      async () => {
        const [keys, record] = await Promise.all([
          reader.readKeys(id, options),
          reader.readRecord(id, options),
        ]);
        refuseUnlessStopped(id, keys);
        const current = record ?? {
          allocation: await this.recordFromMetadata(id, options),
          entry: undefined,
        };
        if (current.allocation.state === "deleting" && current.entry !== undefined) {
          return { allocation: current.allocation, index: current.entry.modifyIndex };
        }
        const deleting: DiskAllocation = { ...current.allocation, state: "deleting", lease: undefined };
        const { results } = await kv.transaction(
          [
            {
              verb: "cas",
              key: allocationKeys.record(id),
              value: serializeDiskAllocation(deleting),
              index: current.entry?.modifyIndex ?? 0,
            },
            { verb: "check-index", key: keys.disk.key, index: keys.disk.modifyIndex },
            ...[...keys.paths.values()].map((entry): KvOperation => ({
              verb: "check-index",
              key: entry.key,
              index: entry.modifyIndex,
            })),
          ],
          options,
        );
        const recordIndex = results[0]?.modifyIndex;
        if (recordIndex === undefined) throw new Error("consul returned no entry for the disk record");
        return { allocation: deleting, index: recordIndex };
      },
    );
    try {
      await images.forPool(allocation.pool).remove(diskImageName(id), options);
    } catch (error) {
      if (!(error instanceof SanpathError && error.kind === "not_found")) throw error;
    }
    await retryOnConflict(`DeleteDisk ${id}`, retry, options.signal, async () => {
      const [draft, nameEntry] = await Promise.all([
        AllocationDraft.read(kv, allocationKeys, options),
        kv.get(allocationKeys.diskName(allocation.name), options),
      ]);
      await kv.transaction(
        [
          { verb: "delete-cas", key: allocationKeys.record(id), index },
          ...reservations.freeOperations(allocation, draft, nameEntry),
        ],
        options,
      );
    });
    logger.info({ diskId: id, name: allocation.name }, "disk deleted");
    return id;
  }

  /**
   * The disk after a change that took effect: with its metadata when it can be read, else what
   * Consul knows (as ListDisks shows it), so that stopping a disk with broken metadata still answers.
   */
  private async viewAfterChange(id: string, options: CallOptions): Promise<PublicDisk> {
    const { reader } = this.context;
    try {
      return DiskReader.toPublic(await this.load(id, options));
    } catch (error) {
      if (!(error instanceof SanpathError && error.kind === "data_loss")) throw error;
      const [keys, record] = await Promise.all([
        reader.readKeys(id, options),
        reader.readRecord(id, options),
      ]);
      return unreadableDisk(id, record?.allocation, keys);
    }
  }

  /** An allocation record for a disk that has none (made by PetaSAN), from its metadata. */
  private async recordFromMetadata(id: string, options: CallOptions): Promise<DiskAllocation> {
    const loaded = await this.load(id, options);
    return {
      id,
      name: loaded.disk.name,
      pool: loaded.disk.pool,
      ips: loaded.disk.paths.map((path) => path.ip),
      node: "",
      token: randomUUID(),
      createTime: loaded.disk.createTime,
      state: "active",
    };
  }

  private async load(id: string, options: CallOptions): Promise<LoadedDisk> {
    return await loadDisk(this.context.reader, this.context.settings, id, options);
  }
}
