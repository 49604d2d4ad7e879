import type { KvStore } from "../kv/kv-store.js";
import type { KvEntry, KvOperation } from "../kv/kv-store.js";
import { TransactionConflictError } from "../kv/transaction-conflict.js";
import type { CallOptions } from "../util/call-options.js";
import { randomUUID } from "node:crypto";
import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage, invalidField, SanpathError } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { AllocationDraft } from "./allocation-draft.js";
import { AllocationKeys } from "./allocation-keys.js";
import { ClusterSettingsStore, type StoredSettings } from "./cluster-settings-store.js";
import { DEFAULT_CONFLICT_RETRY, retryOnConflict, type ConflictRetryPolicy } from "./conflict-retry.js";
import { toPublicDisk, type Disk, type PublicDisk } from "./disk.js";
import { parseDiskAllocation, serializeDiskAllocation, type DiskAllocation } from "./disk-allocation.js";
import { diskImageName, diskIqn } from "./disk-id.js";
import type { DiskImages } from "./disk-images.js";
import { serializeDiskMetadata } from "./disk-metadata.js";
import { diskNameKey } from "./disk-name.js";
import {
  DiskReader,
  diskNotFound,
  groupDiskKeys,
  pathHolder,
  type DiskKeys,
  type LoadedDisk,
} from "./disk-reader.js";
import {
  applyDiskUpdate,
  validateUpdateDisk,
  type AddDiskInput,
  type UpdateDiskInput,
} from "./disk-request.js";
import {
  diskNameExists,
  DiskReservations,
  ReservationOutcomeUnknown,
  type Reservation,
} from "./disk-reservations.js";
import { listErrors, mapConcurrently, pageToken, parsePageToken, unreadableDisk } from "./disk-listing.js";
import { Mutex } from "../util/mutex.js";
import { ReservationCleaner } from "./reservation-cleaner.js";

export const GIB = 1024 ** 3;
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** How long an UpdateDisk holds its disk at most (a crashed update frees it after this). */
export const UPDATE_LEASE_MS = 120_000;
/** Failures of ImageStore.create after which no image of ours can exist. */
const DEFINITE_REFUSALS: ReadonlySet<string> = new Set([
  "already_exists",
  "invalid_argument",
  "failed_precondition",
  "cancelled",
]);
/** Metadata reads of one ListDisks page in flight at once. */
const LIST_READ_CONCURRENCY = 16;

export interface DiskServiceOptions {
  kv: KvStore;
  keys: ConsulKeys;
  images: DiskImages;
  /** This node's name: recorded in reservations it makes. */
  nodeName: string;
  logger: Logger;
  retry?: ConflictRetryPolicy;
  now?: () => Date;
}

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
 * The disk life cycle over Consul (allocation, keys) and an image store (image + metadata).
 * Every method takes the caller's AbortSignal; no method logs a CHAP secret.
 *
 * AddDisk: reserve (one Consul transaction, CAS on the allocation records; reservations of this
 * process are serialised to keep CAS races between nodes only) → create the image → write its
 * metadata → register (one transaction). Any failure gives everything back (ReservationCleaner).
 */
export class DiskService {
  readonly settings: ClusterSettingsStore;
  readonly reservations: DiskReservations;
  readonly cleaner: ReservationCleaner;
  readonly allocationKeys: AllocationKeys;
  private readonly reader: DiskReader;
  private readonly kv: KvStore;
  private readonly keys: ConsulKeys;
  private readonly images: DiskImages;
  private readonly logger: Logger;
  private readonly retry: ConflictRetryPolicy;
  private readonly now: () => Date;
  private readonly reserveMutex = new Mutex();

  constructor(options: DiskServiceOptions) {
    this.kv = options.kv;
    this.keys = options.keys;
    this.images = options.images;
    this.logger = options.logger;
    this.retry = options.retry ?? DEFAULT_CONFLICT_RETRY;
    this.now = options.now ?? (() => new Date());
    this.allocationKeys = new AllocationKeys(this.keys);
    this.settings = new ClusterSettingsStore(this.kv, this.allocationKeys);
    this.reservations = new DiskReservations(
      this.kv,
      this.allocationKeys,
      this.settings,
      options.nodeName,
      this.retry,
      this.now,
    );
    this.reader = new DiskReader(this.kv, this.keys, this.allocationKeys, this.images);
    this.cleaner = new ReservationCleaner(this.reservations, this.images, this.logger);
  }

  async close(): Promise<void> {
    await this.cleaner.close();
  }

  async addDisk(input: AddDiskInput, options: CallOptions = {}): Promise<PublicDisk> {
    const reservation = await this.reserveMutex
      .run(() => this.reservations.reserve(input, options))
      .catch(async (error: unknown) => {
        if (!(error instanceof ReservationOutcomeUnknown)) throw error;
        await this.cleaner.giveBack(error.allocation, false).catch(() => undefined);
        throw error.cause;
      });
    const { allocation, spec, paths, settings } = reservation;
    const disk: Disk = {
      id: allocation.id,
      name: spec.name,
      sizeGib: spec.sizeGib,
      createTime: allocation.createTime,
      iqn: diskIqn(settings.iqnBase, allocation.id),
      pool: spec.pool,
      acl: spec.acl,
      chap: spec.chap,
      paths,
    };
    const image = diskImageName(allocation.id);
    const store = this.images.forPool(spec.pool);
    let imageMayExist = false;
    try {
      try {
        imageMayExist = true;
        await store.create(image, spec.sizeGib * GIB, options);
      } catch (error) {
        // A refusal made no image (and one that was there before is somebody else's: never remove
        // it); only a failure of unknown outcome (unreachable, timed out) may have left one.
        if (error instanceof SanpathError && DEFINITE_REFUSALS.has(error.kind)) imageMayExist = false;
        throw poolProblem(error, spec.pool);
      }
      await store.writeMetadata(image, serializeDiskMetadata(disk), options);
      await this.reservations.register(reservation, options);
    } catch (error) {
      if ((await this.undoAddDisk(reservation, imageMayExist, error)) !== "registered") throw error;
    }
    this.logger.info(
      { diskId: disk.id, name: disk.name, pool: disk.pool, paths: paths.length },
      "disk added",
    );
    return toPublicDisk(disk, { status: "starting", holders: [] });
  }

  async getDisk(reference: string, options: CallOptions = {}): Promise<PublicDisk> {
    const id = await this.reader.resolve(reference, options);
    return DiskReader.toPublic(await this.load(id, options));
  }

  async listDisks(query: ListDisksQuery, options: CallOptions = {}): Promise<DiskPage> {
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
        this.kv.list(this.allocationKeys.records(), options),
        this.kv.list(this.keys.disks(), options),
        this.settings.read(options),
      ]),
    );
    const disksById = groupDiskKeys(this.keys, diskEntries);
    const records = new Map<string, DiskAllocation>();
    for (const entry of recordEntries) {
      const id = this.allocationKeys.parseDiskIdUnder(this.allocationKeys.records(), entry.key);
      if (id === undefined) continue;
      try {
        records.set(id, parseDiskAllocation(entry.value, entry.key));
      } catch (error) {
        this.logger.warn({ diskId: id, err: errorMessage(error) }, "unreadable disk allocation record");
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
      const keys = disksById.get(id);
      if (keys === undefined) throw new Error("a listed disk has keys");
      return unreadableDisk(id, records.get(id), keys);
    });
    const last = page[page.length - 1];
    return { disks, nextPageToken: more && last !== undefined ? pageToken(last) : "" };
  }

  async updateDisk(input: UpdateDiskInput, options: CallOptions = {}): Promise<PublicDisk> {
    const id = await this.reader.resolve(input.disk, options);
    const loaded = await this.load(id, options);
    const record = activeRecord(loaded, id);
    const lease = record.allocation.lease;
    if (lease !== undefined && lease.until.getTime() > this.now().getTime()) {
      throw new SanpathError(
        "aborted",
        `disk ${id} is being changed by another request until ${lease.until.toISOString()}; try again`,
        { reason: "CAS_CONFLICT" },
      );
    }
    const update = validateUpdateDisk(input, loaded.disk);
    const next = applyDiskUpdate(loaded.disk, update);
    const renamed = diskNameKey(next.name) !== diskNameKey(loaded.disk.name);
    const leased: DiskAllocation = {
      ...record.allocation,
      name: next.name,
      lease: { token: randomUUID(), until: new Date(this.now().getTime() + UPDATE_LEASE_MS) },
    };
    const oldNameEntry = renamed
      ? await this.kv.get(this.allocationKeys.diskName(loaded.disk.name), options)
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
        await this.images.forPool(loaded.disk.pool).grow(diskImageName(id), next.sizeGib * GIB, options);
      }
      await this.images
        .forPool(loaded.disk.pool)
        .writeMetadata(diskImageName(id), serializeDiskMetadata(next, loaded.preserved), options);
    } catch (error) {
      await this.revertUpdate(record.allocation, leaseIndex, next.name, loaded.disk.name).catch(
        (revertError: unknown) => {
          this.logger.warn(
            { diskId: id, err: errorMessage(revertError) },
            "could not revert a failed disk update",
          );
        },
      );
      throw error;
    }
    const finished: DiskAllocation = { ...leased, lease: undefined };
    await this.kv
      .transaction(
        [{ verb: "cas", key: record.entry.key, value: serializeDiskAllocation(finished), index: leaseIndex }],
        options,
      )
      .catch((error: unknown) => {
        this.logger.warn(
          { diskId: id, err: errorMessage(error) },
          "disk update lease not cleared; it expires",
        );
      });
    this.logger.info(
      {
        diskId: id,
        renamed,
        grown: next.sizeGib > loaded.disk.sizeGib,
        chap: update.chap.kind,
        acl: update.acl !== undefined,
      },
      "disk updated",
    );
    return DiskReader.toPublic({ disk: next, keys: await this.reader.readKeys(id, options) });
  }

  async stopDisk(reference: string, options: CallOptions = {}): Promise<PublicDisk> {
    const id = await this.reader.resolve(reference, options);
    await retryOnConflict(`StopDisk ${id}`, this.retry, options.signal, async () => {
      const keys = await this.reader.readKeys(id, options);
      if (keys.disk.flags === 1) return;
      await this.kv.transaction(
        [{ verb: "cas", key: keys.disk.key, value: keys.disk.value, flags: 1, index: keys.disk.modifyIndex }],
        options,
      );
    });
    this.logger.info({ diskId: id }, "disk stopped");
    return await this.viewAfterChange(id, options);
  }

  async startDisk(reference: string, options: CallOptions = {}): Promise<PublicDisk> {
    const id = await this.reader.resolve(reference, options);
    await retryOnConflict(`StartDisk ${id}`, this.retry, options.signal, async () => {
      const [keys, record] = await Promise.all([
        this.reader.readKeys(id, options),
        this.reader.readRecord(id, options),
      ]);
      if (record?.allocation.state === "deleting") throw beingDeleted(id);
      if (keys.disk.flags === 0) return;
      const operations: KvOperation[] = [
        { verb: "cas", key: keys.disk.key, value: keys.disk.value, flags: 0, index: keys.disk.modifyIndex },
      ];
      if (record !== undefined) {
        operations.push({ verb: "check-index", key: record.entry.key, index: record.entry.modifyIndex });
      }
      await this.kv.transaction(operations, options);
    });
    this.logger.info({ diskId: id }, "disk started");
    return await this.viewAfterChange(id, options);
  }

  /**
   * Deletes a stopped disk whose paths nobody holds: marks its record "deleting" (StartDisk then
   * refuses), removes the image, then frees id, addresses, name and keys in one transaction. A
   * delete that fails half-way leaves the disk "deleting"; calling it again finishes it.
   */
  async deleteDisk(reference: string, options: CallOptions = {}): Promise<string> {
    const id = await this.reader.resolve(reference, options);
    const { allocation, index } = await retryOnConflict(
      `DeleteDisk ${id}`,
      this.retry,
      options.signal,
      async () => {
        const [keys, record] = await Promise.all([
          this.reader.readKeys(id, options),
          this.reader.readRecord(id, options),
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
        const { results } = await this.kv.transaction(
          [
            {
              verb: "cas",
              key: this.allocationKeys.record(id),
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
      await this.images.forPool(allocation.pool).remove(diskImageName(id), options);
    } catch (error) {
      if (!(error instanceof SanpathError && error.kind === "not_found")) throw error;
    }
    await retryOnConflict(`DeleteDisk ${id}`, this.retry, options.signal, async () => {
      const [draft, nameEntry] = await Promise.all([
        AllocationDraft.read(this.kv, this.allocationKeys, options),
        this.kv.get(this.allocationKeys.diskName(allocation.name), options),
      ]);
      await this.kv.transaction(
        [
          { verb: "delete-cas", key: this.allocationKeys.record(id), index },
          ...this.reservations.freeOperations(allocation, draft, nameEntry),
        ],
        options,
      );
    });
    this.logger.info({ diskId: id, name: allocation.name }, "disk deleted");
    return id;
  }

  /** Gives back reservations older than `olderThanMs` left by AddDisk calls that never finished. */
  async sweepStaleReservations(olderThanMs: number): Promise<string[]> {
    return await this.cleaner.sweep(olderThanMs, this.now());
  }

  /**
   * The disk after a change that took effect: with its metadata when it can be read, else what
   * Consul knows (as ListDisks shows it), so that stopping a disk with broken metadata still answers.
   */
  private async viewAfterChange(id: string, options: CallOptions): Promise<PublicDisk> {
    try {
      return DiskReader.toPublic(await this.load(id, options));
    } catch (error) {
      if (!(error instanceof SanpathError && error.kind === "data_loss")) throw error;
      const [keys, record] = await Promise.all([
        this.reader.readKeys(id, options),
        this.reader.readRecord(id, options),
      ]);
      return unreadableDisk(id, record?.allocation, keys);
    }
  }

  private async load(id: string, options: CallOptions): Promise<LoadedDisk> {
    const stored = await this.settings.read(options);
    return await this.reader.load(
      id,
      () => {
        if (stored === undefined)
          return Promise.reject(new SanpathError("failed_precondition", "no settings"));
        return Promise.resolve(stored.settings.defaultPool);
      },
      stored?.settings,
      options,
    );
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
      const { disk, preserved } = await this.reader.readMetadata(id, pool, stored?.settings, options);
      return { disk, preserved, keys, record: undefined };
    } catch (error) {
      if (error instanceof SanpathError && error.kind === "data_loss") {
        this.logger.warn({ diskId: id, err: error.message }, "disk metadata unreadable; listed without it");
        return undefined;
      }
      throw new SanpathError("unavailable", `listing the disks failed: ${errorMessage(error)}`, {
        reason: "DISK_LIST_ERROR",
        cause: error,
      });
    }
  }

  private async undoAddDisk(
    reservation: Reservation,
    imageMayExist: boolean,
    cause: unknown,
  ): Promise<string> {
    const { allocation } = reservation;
    try {
      const outcome = await this.cleaner.giveBack(allocation, imageMayExist);
      this.logger.info(
        { diskId: allocation.id, outcome, err: errorMessage(cause) },
        "AddDisk failed; undone",
      );
      return outcome;
    } catch {
      return "pending";
    }
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
      operations.push({ verb: "cas", key: this.allocationKeys.diskName(newName), value: next.id, index: 0 });
      if (oldNameEntry?.value === next.id) {
        operations.push({ verb: "delete-cas", key: oldNameEntry.key, index: oldNameEntry.modifyIndex });
      }
    }
    try {
      const { results } = await this.kv.transaction(operations, options);
      const index = results[0]?.modifyIndex;
      if (index === undefined) throw new Error("consul returned no entry for the disk record");
      return index;
    } catch (error) {
      if (error instanceof TransactionConflictError && renamed && error.opIndex === 1) {
        const owner = await this.kv.get(this.allocationKeys.diskName(newName), options);
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
    const signal = AbortSignal.timeout(10_000);
    const operations: KvOperation[] = [
      {
        verb: "cas",
        key: this.allocationKeys.record(before.id),
        value: serializeDiskAllocation({ ...before, lease: undefined }),
        index: leaseIndex,
      },
    ];
    if (diskNameKey(newName) !== diskNameKey(oldName)) {
      const newEntry = await this.kv.get(this.allocationKeys.diskName(newName), { signal });
      if (newEntry?.value === before.id) {
        operations.push({ verb: "delete-cas", key: newEntry.key, index: newEntry.modifyIndex });
      }
      operations.push({
        verb: "cas",
        key: this.allocationKeys.diskName(oldName),
        value: before.id,
        index: 0,
      });
    }
    await this.kv.transaction(operations, { signal });
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
}

function poolProblem(error: unknown, pool: string): unknown {
  if (
    error instanceof SanpathError &&
    error.kind === "failed_precondition" &&
    error.reason === undefined &&
    /pool .*does not exist/i.test(error.message)
  ) {
    return invalidField("pool", `the Ceph pool "${pool}" does not exist`, error);
  }
  return error;
}

function beingDeleted(id: string): SanpathError {
  return diskNotFound(id, " (it is being deleted; run delete again to finish)");
}

/** The record of a disk that may change; NOT_FOUND for one being deleted or not made by sanpath. */
function activeRecord(loaded: LoadedDisk, id: string): NonNullable<LoadedDisk["record"]> {
  const { record } = loaded;
  if (record === undefined) {
    throw diskNotFound(
      id,
      " made by sanpath (it has no allocation record: sanpath can show it but not change it)",
    );
  }
  if (record.allocation.state === "deleting") throw beingDeleted(id);
  return record;
}

/** FAILED_PRECONDITION / DISK_NOT_STOPPED unless the disk is stopped and no node holds a path. */
function refuseUnlessStopped(id: string, keys: DiskKeys): void {
  if (keys.disk.flags !== 1) {
    throw new SanpathError(
      "failed_precondition",
      `disk ${id} is running; stop it first (sanpath disk stop ${id}) and wait until its paths are given up`,
      { reason: "DISK_NOT_STOPPED" },
    );
  }
  for (const [index, entry] of [...keys.paths].sort(([a], [b]) => a - b)) {
    const holder = pathHolder(entry);
    if (holder !== undefined) {
      throw new SanpathError(
        "failed_precondition",
        `disk ${id} is stopping: node ${holder} still serves path ${index}; try again once it has given the path up`,
        { reason: "DISK_NOT_STOPPED" },
      );
    }
  }
}
