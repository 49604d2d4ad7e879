import type { KvStore } from "../kv/kv-store.js";
import type { KvEntry, KvOperation } from "../kv/kv-store.js";
import { TransactionConflictError } from "../kv/transaction-conflict.js";
import type { CallOptions } from "../util/call-options.js";
import { randomUUID } from "node:crypto";
import type { ConsulKeys } from "../consul/keys.js";
import { SanpathError } from "../errors/sanpath-error.js";
import { AllocationDraft } from "./allocation-draft.js";
import type { AllocationKeys } from "./allocation-keys.js";
import type { ClusterDiskCensus, ClusterDisks } from "./cluster-disk-census.js";
import type { ClusterSettings } from "./cluster-settings.js";
import type { ClusterSettingsStore } from "./cluster-settings-store.js";
import { retryOnConflict, type ConflictRetryPolicy } from "./conflict-retry.js";
import type { DiskPath } from "./disk.js";
import { parseDiskAllocation, serializeDiskAllocation, type DiskAllocation } from "./disk-allocation.js";
import type { Logger } from "../log/logger.js";
import { diskNameKey, diskNameProblem } from "./disk-name.js";
import {
  ensureManualIpsUnused,
  validateAddDisk,
  type AddDiskInput,
  type AddDiskSpec,
} from "./disk-request.js";
import { allocateAutomaticAddresses } from "./ip-allocation.js";

/** An id, addresses and a name held for a disk being made. */
export interface Reservation {
  readonly allocation: DiskAllocation;
  readonly spec: AddDiskSpec;
  readonly paths: readonly DiskPath[];
  readonly settings: ClusterSettings;
  /** ModifyIndex of the pending record: registration fails if anybody touched it since. */
  readonly pendingIndex: number;
}

/** What became of a reservation that was to be given back. */
export type ReleaseOutcome =
  /** Id, addresses, name and keys are free again. */
  | "released"
  /** It was registered after all (a registration whose answer was lost): the disk exists. */
  | "registered"
  /** Somebody else gave it back already (a sweep). */
  | "gone";

export function diskNameExists(name: string, ownerId: string): SanpathError {
  return new SanpathError(
    "already_exists",
    `name: a disk named "${name}" exists already (disk ${ownerId}; names are unique without regard to case)`,
    { reason: "DISK_NAME_EXISTS", field: "name" },
  );
}

function diskExists(id: string, what: string): SanpathError {
  return new SanpathError(
    "already_exists",
    `disk ${id} exists already (${what}) although the disk id record marks it free; ` +
      "the allocation records and the disks disagree",
    { reason: "DISK_EXISTS" },
  );
}

/**
 * The reserving transaction failed without a refusal (Consul unreachable, answer lost): it may have
 * been committed. The caller gives `allocation` back (a no-op when it was not) and reports `cause`.
 */
export class ReservationOutcomeUnknown extends Error {
  override readonly name = "ReservationOutcomeUnknown";

  constructor(
    readonly allocation: DiskAllocation,
    override readonly cause: unknown,
  ) {
    super(`reservation of disk ${allocation.id}: outcome unknown`, { cause });
  }
}

type OperationRole = "settings" | "allocation" | "name" | "pending" | "disk" | "record";

/**
 * Reservation of disk ids, path addresses and names, and their registration or release. Every
 * change is one Consul transaction guarded by check-and-set on the records it read:
 *
 * reserve:   check-index settings; cas id bitmap; cas each IP block touched; cas name key (absent);
 *            cas pending record (absent); check-not-exists disk key; check-not-exists disk record
 *            (the bitmaps' writes also reserve whatever existing disks use that they missed: see
 *            reserve)
 * register:  check-index pending; delete pending; cas disk record (absent); cas disk key (absent,
 *            "disk", Flags 0); cas each path key (absent, "")
 * release:   check-index pending; delete pending; cas id bitmap and IP blocks without its bits
 *            (delete-cas when emptied); delete-cas name key (if still its own); delete disk key and
 *            path keys
 */
export class DiskReservations {
  private readonly keys: ConsulKeys;

  constructor(
    private readonly kv: KvStore,
    readonly allocationKeys: AllocationKeys,
    private readonly settingsStore: ClusterSettingsStore,
    private readonly nodeName: string,
    private readonly retry: ConflictRetryPolicy,
    private readonly now: () => Date,
    private readonly census: ClusterDiskCensus,
    private readonly logger: Logger,
  ) {
    this.keys = allocationKeys.keys;
  }

  /**
   * The id of a disk with an image in `pools` named like `name`, whatever made it (a PetaSAN disk
   * has no sanpath name key); undefined when there is none.
   */
  async diskNamedLike(
    name: string,
    pools: readonly string[],
    options: CallOptions = {},
  ): Promise<string | undefined> {
    return (await this.census.read(pools, options)).names.get(diskNameKey(name));
  }

  /**
   * Validates the request against the settings and reserves the lowest free id, the addresses and
   * the name. Nothing is reserved when it fails.
   *
   * The bitmaps are checked against what exists (ClusterDiskCensus: disk keys, images and their
   * metadata, whoever made them) before anything is chosen: an id or address that a disk uses and
   * the bitmaps miss (a disk made by PetaSAN) is taken into the same transaction, so it is reserved
   * for everybody before any of it can be handed out, and a name some disk carries is refused. The
   * census is read after the bitmaps: a disk given back in between (image removed first, then its
   * bits) is either still in the bitmaps as read, or its bits' records changed and the CAS fails;
   * so a census never brings back the bits of a disk already gone.
   */
  async reserve(input: AddDiskInput, options: CallOptions = {}): Promise<Reservation> {
    return await retryOnConflict("AddDisk reservation", this.retry, options.signal, async () => {
      const nameKey =
        input.name !== "" && diskNameProblem(input.name) === undefined
          ? this.allocationKeys.diskName(input.name)
          : undefined;
      const [stored, draft, nameEntry] = await Promise.all([
        this.settingsStore.require(options),
        AllocationDraft.read(this.kv, this.allocationKeys, options),
        nameKey === undefined ? Promise.resolve(undefined) : this.kv.get(nameKey, options),
      ]);
      const spec = validateAddDisk(input, stored.settings);
      if (nameEntry !== undefined) throw diskNameExists(spec.name, nameEntry.value);
      const existing = await this.census.read([stored.settings.defaultPool, spec.pool], options);
      const namedLikeIt = existing.names.get(diskNameKey(spec.name));
      if (namedLikeIt !== undefined) throw diskNameExists(spec.name, namedLikeIt);
      this.reserveExisting(draft, existing);
      const id = draft.firstFreeId();
      let paths: readonly DiskPath[];
      if (spec.manualPaths !== undefined) {
        ensureManualIpsUnused(spec.manualPaths, (ip) => draft.isIpUsed(ip));
        paths = spec.manualPaths;
      } else {
        paths = allocateAutomaticAddresses(stored.settings, spec.subnet, spec.pathCount, (address) =>
          draft.isAddressUsed(address),
        );
      }
      draft.takeId(id);
      for (const path of paths) draft.takeIp(path.ip);
      const allocation: DiskAllocation = {
        id,
        name: spec.name,
        pool: spec.pool,
        ips: paths.map((path) => path.ip),
        node: this.nodeName,
        token: randomUUID(),
        createTime: this.now(),
        state: "pending",
      };
      const operations: KvOperation[] = [];
      const roles: OperationRole[] = [];
      const add = (role: OperationRole, operation: KvOperation): void => {
        operations.push(operation);
        roles.push(role);
      };
      add("settings", { verb: "check-index", key: this.keys.settings(), index: stored.index });
      for (const operation of draft.writeOperations()) add("allocation", operation);
      add("name", { verb: "cas", key: this.allocationKeys.diskName(spec.name), value: id, index: 0 });
      const pendingAt = operations.length;
      add("pending", {
        verb: "cas",
        key: this.allocationKeys.pending(id),
        value: serializeDiskAllocation(allocation),
        index: 0,
      });
      add("disk", { verb: "check-not-exists", key: this.keys.disk(id) });
      add("record", { verb: "check-not-exists", key: this.allocationKeys.record(id) });
      try {
        const { results } = await this.kv.transaction(operations, options);
        const pendingIndex = results[pendingAt]?.modifyIndex;
        if (pendingIndex === undefined) throw new Error("consul returned no entry for the pending record");
        return { allocation, spec, paths, settings: stored.settings, pendingIndex };
      } catch (error) {
        if (!(error instanceof TransactionConflictError))
          throw new ReservationOutcomeUnknown(allocation, error);
        const role = roles[error.opIndex];
        if (role === "name") {
          const owner = await this.kv.get(this.allocationKeys.diskName(spec.name), options);
          if (owner !== undefined) throw diskNameExists(spec.name, owner.value);
        }
        if (role === "disk") throw diskExists(id, `key ${this.keys.disk(id)} is there`);
        if (role === "record" || role === "pending") {
          throw diskExists(id, `an allocation record of ${id} is there`);
        }
        throw error;
      }
    });
  }

  /**
   * Frees the ids and addresses the bitmaps hold for nobody: no allocation record, no pending
   * reservation, and no disk that exists (census of `pools` plus the pools of every record). They
   * are what AddDisk reserved for disks made outside sanpath (PetaSAN's) that have been deleted
   * since. The bitmaps are read first: anything reserved before that read has its pending record
   * or allocation record (written in the same transaction) by the time those are read (pending
   * records before allocation records: a registration moves one to the other atomically), and
   * anything reserved or released after it fails the CAS, and the pass starts over.
   */
  async releaseOrphans(
    pools: readonly string[],
    options: CallOptions = {},
  ): Promise<{ ids: string[]; ips: string[] }> {
    return await retryOnConflict("release of orphan reservations", this.retry, options.signal, async () => {
      const draft = await AllocationDraft.read(this.kv, this.allocationKeys, options);
      const pendings = await this.listPending(options);
      const records = (await this.kv.list(this.allocationKeys.records(), options)).map((entry) =>
        parseDiskAllocation(entry.value, entry.key),
      );
      const owned = [...pendings, ...records];
      const scanned = [...new Set([...pools, ...owned.map((allocation) => allocation.pool)])];
      const existing = await this.census.read(scanned, options);
      const ownedIds = new Set([...owned.map((allocation) => allocation.id), ...existing.ids]);
      const ownedIps = new Set([...owned.flatMap((allocation) => allocation.ips), ...existing.ips.keys()]);
      const ids = [...draft.usedIds()].filter((id) => !ownedIds.has(id));
      const ips = [...draft.usedIps()].filter((ip) => !ownedIps.has(ip));
      if (ids.length === 0 && ips.length === 0) return { ids, ips };
      for (const id of ids) draft.releaseId(id);
      for (const ip of ips) draft.releaseIp(ip);
      await this.kv.transaction(draft.writeOperations(), options);
      this.logger.info(
        { ids: ids.slice(0, 20), ips: ips.slice(0, 20), idCount: ids.length, ipCount: ips.length },
        "reservations of disks that no longer exist released (made outside sanpath, since deleted)",
      );
      return { ids, ips };
    });
  }

  /** Takes into `draft` every id and address that existing disks use and it misses. */
  private reserveExisting(draft: AllocationDraft, existing: ClusterDisks): void {
    const ids = [...existing.ids].filter((id) => !draft.isIdUsed(id));
    const ips = [...existing.ips.keys()].filter((ip) => !draft.isIpUsed(ip));
    for (const id of ids) draft.takeId(id);
    for (const ip of ips) draft.takeIp(ip);
    if (ids.length > 0 || ips.length > 0) {
      this.logger.info(
        { ids: ids.slice(0, 20), ips: ips.slice(0, 20), idCount: ids.length, ipCount: ips.length },
        "disks exist that the allocation records missed (made outside sanpath): reserving what they use",
      );
    }
  }

  /** Makes the reserved disk known: its disk key (running), path keys and allocation record. */
  async register(reservation: Reservation, options: CallOptions = {}): Promise<DiskAllocation> {
    const { allocation } = reservation;
    const active: DiskAllocation = { ...allocation, state: "active" };
    const operations: KvOperation[] = [
      {
        verb: "check-index",
        key: this.allocationKeys.pending(allocation.id),
        index: reservation.pendingIndex,
      },
      { verb: "delete", key: this.allocationKeys.pending(allocation.id) },
      {
        verb: "cas",
        key: this.allocationKeys.record(allocation.id),
        value: serializeDiskAllocation(active),
        index: 0,
      },
      { verb: "cas", key: this.keys.disk(allocation.id), value: "disk", flags: 0, index: 0 },
      ...reservation.paths.map((path): KvOperation => ({
        verb: "cas",
        key: this.keys.diskPath(allocation.id, path.index),
        value: "",
        index: 0,
      })),
    ];
    await this.kv.transaction(operations, options);
    return active;
  }

  /** The pending reservation of `id` as stored, with its index; undefined when there is none. */
  async readPending(
    id: string,
    options: CallOptions = {},
  ): Promise<{ allocation: DiskAllocation; entry: KvEntry } | undefined> {
    const entry = await this.kv.get(this.allocationKeys.pending(id), options);
    if (entry === undefined) return undefined;
    return { allocation: parseDiskAllocation(entry.value, entry.key), entry };
  }

  /** Every pending reservation (made by AddDisk calls in flight, or left by a crash). */
  async listPending(options: CallOptions = {}): Promise<DiskAllocation[]> {
    const entries = await this.kv.list(this.allocationKeys.pendings(), options);
    return entries.map((entry) => parseDiskAllocation(entry.value, entry.key));
  }

  /**
   * Step 1 of giving a reservation back: rewrites its pending record, so that a registration still
   * in flight (one whose answer was lost) fails its check instead of registering a disk whose image
   * is about to be removed. Returns the new index, or the outcome when there is nothing to give back.
   */
  async claimForRelease(
    allocation: DiskAllocation,
    options: CallOptions = {},
  ): Promise<{ pendingIndex: number } | { outcome: Exclude<ReleaseOutcome, "released"> }> {
    const [pending, record] = await Promise.all([
      this.readPending(allocation.id, options),
      this.kv.get(this.allocationKeys.record(allocation.id), options),
    ]);
    if (record !== undefined && parseDiskAllocation(record.value, record.key).token === allocation.token) {
      return { outcome: "registered" };
    }
    if (pending?.allocation.token !== allocation.token) return { outcome: "gone" };
    const { results } = await this.kv.transaction(
      [
        {
          verb: "cas",
          key: pending.entry.key,
          value: serializeDiskAllocation(pending.allocation),
          index: pending.entry.modifyIndex,
        },
      ],
      options,
    );
    const pendingIndex = results[0]?.modifyIndex;
    if (pendingIndex === undefined) throw new Error("consul returned no entry for the pending record");
    return { pendingIndex };
  }

  /**
   * Step 2: frees the id, the addresses and the name, and deletes the pending record and any disk or
   * path key of the id, in one transaction guarded by the pending record's index.
   */
  async release(
    allocation: DiskAllocation,
    pendingIndex: number,
    options: CallOptions = {},
  ): Promise<ReleaseOutcome> {
    return await retryOnConflict(`release of disk ${allocation.id}`, this.retry, options.signal, async () => {
      const nameKey = this.allocationKeys.diskName(allocation.name);
      const [draft, nameEntry] = await Promise.all([
        AllocationDraft.read(this.kv, this.allocationKeys, options),
        this.kv.get(nameKey, options),
      ]);
      const operations: KvOperation[] = [
        { verb: "check-index", key: this.allocationKeys.pending(allocation.id), index: pendingIndex },
        { verb: "delete", key: this.allocationKeys.pending(allocation.id) },
        ...this.freeOperations(allocation, draft, nameEntry),
      ];
      try {
        await this.kv.transaction(operations, options);
        return "released";
      } catch (error) {
        if (error instanceof TransactionConflictError && error.opIndex === 0) {
          const claimed = await this.claimForRelease(allocation, options);
          if ("outcome" in claimed) return claimed.outcome;
          pendingIndex = claimed.pendingIndex;
        }
        throw error;
      }
    });
  }

  /**
   * Operations that free what `allocation` holds: its bits in `draft`, its name key when the key
   * still names this disk, and the disk and path keys of its id.
   */
  freeOperations(
    allocation: DiskAllocation,
    draft: AllocationDraft,
    nameEntry: KvEntry | undefined,
  ): KvOperation[] {
    draft.releaseId(allocation.id);
    for (const ip of allocation.ips) draft.releaseIp(ip);
    return [
      ...draft.writeOperations(),
      ...(nameEntry !== undefined && nameEntry.value === allocation.id
        ? [{ verb: "delete-cas", key: nameEntry.key, index: nameEntry.modifyIndex } as const]
        : []),
      { verb: "delete-tree", key: this.keys.diskPaths(allocation.id) },
      { verb: "delete", key: this.keys.disk(allocation.id) },
    ];
  }
}
