import type { KvStore } from "../kv/kv-store.js";
import type { CallOptions } from "../util/call-options.js";
import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage, invalidField, SanpathError } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { AllocationKeys } from "./allocation-keys.js";
import { ClusterDiskCensus } from "./cluster-disk-census.js";
import { ClusterSettingsStore } from "./cluster-settings-store.js";
import { DEFAULT_CONFLICT_RETRY, type ConflictRetryPolicy } from "./conflict-retry.js";
import { GIB, toPublicDisk, type Disk, type PublicDisk } from "./disk.js";
import type { DiskContext } from "./disk-context.js";
import { diskImageName, diskIqn } from "./disk-id.js";
import type { DiskImages } from "./disk-images.js";
import { DiskLifeCycle } from "./disk-life-cycle.js";
import { DiskImporter, type ImportReport, type ImportRequest } from "./disk-import.js";
import { DiskLister, type DiskPage, type ListDisksQuery } from "./disk-listing.js";
import { serializeDiskMetadata } from "./disk-metadata.js";
import { DiskReader, loadDisk } from "./disk-reader.js";
import type { AddDiskInput, UpdateDiskInput } from "./disk-request.js";
import { DiskReservations, ReservationOutcomeUnknown, type Reservation } from "./disk-reservations.js";
import { DiskUpdater } from "./disk-update.js";
import { Mutex } from "../util/mutex.js";
import { isMissingPool } from "./pool-name.js";
import { refuseSizeAboveStore } from "./image-size-limit.js";
import { ReservationCleaner } from "./reservation-cleaner.js";

export { GIB } from "./disk.js";
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type DiskPage, type ListDisksQuery } from "./disk-listing.js";
export { UPDATE_LEASE_MS } from "./disk-update.js";

/** Failures of ImageStore.create after which no image of ours can exist. */
const DEFINITE_REFUSALS: ReadonlySet<string> = new Set([
  "already_exists",
  "invalid_argument",
  "failed_precondition",
  "cancelled",
]);

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

/**
 * The disk life cycle over Consul (allocation, keys) and an image store (image + metadata).
 * Every method takes the caller's AbortSignal; no method logs a CHAP secret.
 *
 * AddDisk: reserve (one Consul transaction, CAS on the allocation records; reservations of this
 * process are serialised to keep CAS races between nodes only) → create the image → write its
 * metadata → register (one transaction). Any failure gives everything back (ReservationCleaner).
 * ListDisks is DiskLister's, UpdateDisk DiskUpdater's, Stop/Start/DeleteDisk DiskLifeCycle's,
 * ImportDisks DiskImporter's.
 */
export class DiskService {
  readonly settings: ClusterSettingsStore;
  readonly reservations: DiskReservations;
  readonly cleaner: ReservationCleaner;
  readonly allocationKeys: AllocationKeys;
  private readonly reader: DiskReader;
  private readonly images: DiskImages;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly reserveMutex = new Mutex();
  private readonly lister: DiskLister;
  private readonly updater: DiskUpdater;
  private readonly lifeCycle: DiskLifeCycle;
  private readonly importer: DiskImporter;

  constructor(options: DiskServiceOptions) {
    const { kv, keys } = options;
    const retry = options.retry ?? DEFAULT_CONFLICT_RETRY;
    this.images = options.images;
    this.logger = options.logger;
    this.now = options.now ?? (() => new Date());
    this.allocationKeys = new AllocationKeys(keys);
    this.settings = new ClusterSettingsStore(kv, this.allocationKeys);
    this.reservations = new DiskReservations(
      kv,
      this.allocationKeys,
      this.settings,
      options.nodeName,
      retry,
      this.now,
      new ClusterDiskCensus(kv, keys, this.images),
      this.logger,
    );
    this.reader = new DiskReader(kv, keys, this.allocationKeys, this.images);
    this.cleaner = new ReservationCleaner(this.reservations, this.images, this.logger);
    const context: DiskContext = {
      kv,
      keys,
      allocationKeys: this.allocationKeys,
      images: this.images,
      settings: this.settings,
      reader: this.reader,
      reservations: this.reservations,
      logger: this.logger,
      retry,
      now: this.now,
    };
    this.lister = new DiskLister(context);
    this.updater = new DiskUpdater(context);
    this.lifeCycle = new DiskLifeCycle(context);
    this.importer = new DiskImporter(context, options.nodeName);
  }

  async close(): Promise<void> {
    await this.cleaner.close();
  }

  async addDisk(input: AddDiskInput, options: CallOptions = {}): Promise<PublicDisk> {
    refuseSizeAboveStore(input.sizeGib, this.images);
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
    return DiskReader.toPublic(await loadDisk(this.reader, this.settings, id, options));
  }

  async listDisks(query: ListDisksQuery, options: CallOptions = {}): Promise<DiskPage> {
    return await this.lister.listDisks(query, options);
  }

  async updateDisk(input: UpdateDiskInput, options: CallOptions = {}): Promise<PublicDisk> {
    return await this.updater.updateDisk(input, options);
  }

  async stopDisk(reference: string, options: CallOptions = {}): Promise<PublicDisk> {
    return await this.lifeCycle.stopDisk(reference, options);
  }

  async startDisk(reference: string, options: CallOptions = {}): Promise<PublicDisk> {
    return await this.lifeCycle.startDisk(reference, options);
  }

  /**
   * Deletes a stopped disk whose paths nobody holds; a delete that fails half-way leaves the disk
   * "deleting" and calling it again finishes it (see DiskLifeCycle.deleteDisk).
   */
  async deleteDisk(reference: string, options: CallOptions = {}): Promise<string> {
    return await this.lifeCycle.deleteDisk(reference, options);
  }

  /** Registers the disks of a pool that sanpath has no record of (disk-import.ts). */
  async importDisks(request: ImportRequest, options: CallOptions = {}): Promise<ImportReport> {
    return await this.importer.importDisks(request, options);
  }

  /** Gives back reservations older than `olderThanMs` left by AddDisk calls that never finished. */
  async sweepStaleReservations(olderThanMs: number): Promise<string[]> {
    return await this.cleaner.sweep(olderThanMs, this.now());
  }

  /**
   * Frees the ids and addresses reserved for disks that no longer exist (made by PetaSAN, since
   * deleted): DiskReservations.releaseOrphans over the default pool and every disk's pool.
   */
  async releaseOrphanReservations(options: CallOptions = {}): Promise<{ ids: string[]; ips: string[] }> {
    const stored = await this.settings.read(options);
    return await this.reservations.releaseOrphans(
      stored === undefined ? [] : [stored.settings.defaultPool],
      options,
    );
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
}

/** A missing Ceph pool is the caller's mistake: INVALID_FIELD pool instead of FAILED_PRECONDITION. */
function poolProblem(error: unknown, pool: string): unknown {
  if (isMissingPool(error)) {
    return invalidField("pool", `the Ceph pool "${pool}" does not exist`, error);
  }
  return error;
}
