import { randomUUID } from "node:crypto";
import { invalidField, SanpathError } from "../errors/sanpath-error.js";
import type { KvEntry, KvOperation } from "../kv/kv-store.js";
import type { CallOptions } from "../util/call-options.js";
import { AllocationDraft } from "./allocation-draft.js";
import { retryOnConflict } from "./conflict-retry.js";
import type { Disk } from "./disk.js";
import { parseDiskAllocation, serializeDiskAllocation, type DiskAllocation } from "./disk-allocation.js";
import type { DiskContext } from "./disk-context.js";
import { diskIdFromImageName } from "./disk-id.js";
import { groupDiskKeys, type DiskKeys } from "./disk-reader.js";
import { mapConcurrently } from "./disk-listing.js";
import { checkImportCandidate, isImportProblem, type ImportCandidate } from "./import-candidate.js";
import { isMissingPool, validatePoolName } from "./pool-name.js";

/** Metadata reads of one import in flight at once. */
const METADATA_READ_CONCURRENCY = 16;

export type ImportOutcome = "imported" | "would-import" | "already-registered" | "skipped";

/** What the import did (or, in a dry run, would do) with one image of the pool. */
export interface ImportedDisk {
  readonly id: string;
  readonly name: string;
  readonly pool: string;
  readonly ips: readonly string[];
  readonly sizeGib: number;
  readonly outcome: ImportOutcome;
  /** What was (would be) added: "reservations", "name", "disk key (stopped)", "path keys 1,2". */
  readonly added: readonly string[];
  /** Skipped: why, naming the field and the rule. Otherwise a note, or "". */
  readonly detail: string;
  /** The field a skipped disk's record is wrong in ("" otherwise). */
  readonly field: string;
  /** Its disk key exists and says running: PetaSAN (or sanpath) serves it, and keeps doing so. */
  readonly running: boolean;
}

export interface ImportReport {
  readonly pool: string;
  readonly dryRun: boolean;
  /** One row per `image-<id>` image of the pool, by id. */
  readonly disks: readonly ImportedDisk[];
}

export interface ImportRequest {
  /** "" = the cluster's default pool. */
  readonly pool: string;
  readonly dryRun: boolean;
}

/** Who already uses what: the registered and pending disks, and the records of this pool. */
interface Claims {
  /** Address → ids of the disks that claim it. */
  readonly ips: Map<string, Set<string>>;
}

/**
 * `sanpath disk import`: registers disks that exist in a pool but not in sanpath's records —
 * made by PetaSAN, or images restored from a backup — as if sanpath had made them, without
 * touching their images or any path lock.
 *
 * For each image `image-<id>` of the pool: its disk record (image-meta or PetaSAN's header xattr)
 * is checked (import-candidate.ts); a broken record, a name another disk has, or an address another
 * disk uses is reported and skipped, never half imported. A disk with an allocation record is
 * already registered and left alone (so a second import changes nothing). Otherwise one Consul
 * transaction per disk takes its id and addresses in the reservation bitmaps, its name key and an
 * allocation record, and creates its disk key and path keys only where they are missing: a new
 * disk key says stopped (Flags 1), so an import never starts serving a disk by itself
 * (`sanpath disk start`). Existing keys are only checked, never written: a disk PetaSAN serves keeps
 * its locks and goes on being served. Every write is guarded (CAS, check-not-exists on a pending
 * AddDisk reservation of the id), and a lost race is retried from a fresh read.
 */
export class DiskImporter {
  constructor(
    private readonly context: Pick<
      DiskContext,
      "kv" | "keys" | "allocationKeys" | "images" | "settings" | "logger" | "retry" | "now"
    >,
    private readonly nodeName: string,
  ) {}

  async importDisks(request: ImportRequest, options: CallOptions = {}): Promise<ImportReport> {
    const stored = await this.context.settings.require(options);
    const pool = request.pool === "" ? stored.settings.defaultPool : validatePoolName(request.pool, "pool");
    const store = this.context.images.forPool(pool);
    let images: string[];
    try {
      images = await store.list(options);
    } catch (error) {
      if (isMissingPool(error)) {
        throw invalidField("pool", `the Ceph pool "${pool}" does not exist`, error);
      }
      throw error;
    }
    const diskImages = images.filter((image) => diskIdFromImageName(image) !== undefined).sort();
    const checked = await mapConcurrently(diskImages, METADATA_READ_CONCURRENCY, async (image) => {
      const text = await store.readMetadata(image, options).catch((error: unknown) => {
        if (error instanceof SanpathError && error.kind === "not_found") return null;
        throw error;
      });
      return text === null ? undefined : checkImportCandidate(image, pool, text, stored.settings);
    });

    const rows: ImportedDisk[] = [];
    const candidates: ImportCandidate[] = [];
    for (const result of checked) {
      if (result === undefined) continue; // removed since the listing
      if (isImportProblem(result)) {
        rows.push(skipped(result.id, result.name, pool, [], 0, result.field, result.problem, false));
      } else {
        candidates.push(result);
      }
    }
    const claims = await this.readClaims(candidates, options);
    for (const candidate of candidates) {
      rows.push(await this.importOne(candidate.disk, claims, stored.index, request.dryRun, options));
    }
    rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const count = (outcome: ImportOutcome): number => rows.filter((row) => row.outcome === outcome).length;
    this.context.logger.info(
      {
        pool,
        dryRun: request.dryRun,
        imported: count("imported"),
        wouldImport: count("would-import"),
        alreadyRegistered: count("already-registered"),
        skipped: count("skipped"),
      },
      "disk import",
    );
    return { pool, dryRun: request.dryRun, disks: rows };
  }

  /** Every address claimed by a registered or pending disk (any pool) or a record found here. */
  private async readClaims(candidates: readonly ImportCandidate[], options: CallOptions): Promise<Claims> {
    const { kv, allocationKeys } = this.context;
    const [records, pendings] = await Promise.all([
      kv.list(allocationKeys.records(), options),
      kv.list(allocationKeys.pendings(), options),
    ]);
    const ips = new Map<string, Set<string>>();
    const claim = (ip: string, id: string): void => {
      const owners = ips.get(ip) ?? new Set<string>();
      owners.add(id);
      ips.set(ip, owners);
    };
    for (const entry of [...records, ...pendings]) {
      const allocation = parseDiskAllocation(entry.value, entry.key);
      for (const ip of allocation.ips) claim(ip, allocation.id);
    }
    for (const { disk } of candidates) for (const path of disk.paths) claim(path.ip, disk.id);
    return { ips };
  }

  private async importOne(
    disk: Disk,
    claims: Claims,
    settingsIndex: number,
    dryRun: boolean,
    options: CallOptions,
  ): Promise<ImportedDisk> {
    const { kv, keys, allocationKeys, logger, retry } = this.context;
    const ips = disk.paths.map((path) => path.ip);
    return await retryOnConflict(`import of disk ${disk.id}`, retry, options.signal, async () => {
      const [draft, record, pending, nameEntry, keyEntries] = await Promise.all([
        AllocationDraft.read(kv, allocationKeys, options),
        kv.get(allocationKeys.record(disk.id), options),
        kv.get(allocationKeys.pending(disk.id), options),
        kv.get(allocationKeys.diskName(disk.name), options),
        kv.list(keys.disk(disk.id), options),
      ]);
      const diskKeys = groupDiskKeys(keys, keyEntries).get(disk.id);
      const running = diskKeys !== undefined && diskKeys.disk.flags !== 1;
      const row = (outcome: ImportOutcome, added: string[], detail: string, field = ""): ImportedDisk => ({
        id: disk.id,
        name: disk.name,
        pool: disk.pool,
        ips,
        sizeGib: disk.sizeGib,
        outcome,
        added,
        detail,
        field,
        running,
      });
      const clash = addressClash(disk, claims);
      if (record !== undefined) {
        const registered = parseDiskAllocation(record.value, record.key);
        const notes = [
          registeredNote(registered, disk),
          clash === undefined ? "" : `${clash.field}: ${clash.rule}`,
        ];
        return row("already-registered", [], notes.filter((note) => note !== "").join("; "));
      }
      if (pending !== undefined) {
        return row(
          "skipped",
          [],
          "sanpath is making this disk right now (an AddDisk reservation of its id is pending)",
          "id",
        );
      }
      if (clash !== undefined) return row("skipped", [], clash.rule, clash.field);
      if (nameEntry !== undefined && nameEntry.value !== disk.id) {
        return row(
          "skipped",
          [],
          `a disk named "${disk.name}" exists already (disk ${nameEntry.value}; names are unique without regard to case)`,
          "disk_name",
        );
      }
      const { operations, added } = this.registration(disk, draft, nameEntry, diskKeys, settingsIndex);
      if (dryRun) return row("would-import", added, "");
      await kv.transaction(operations, options);
      logger.info(
        { diskId: disk.id, name: disk.name, pool: disk.pool, ips, added, running },
        "disk imported",
      );
      return row("imported", added, "");
    });
  }

  /** The transaction that registers `disk`, and what it adds, in words. */
  private registration(
    disk: Disk,
    draft: AllocationDraft,
    nameEntry: KvEntry | undefined,
    diskKeys: DiskKeys | undefined,
    settingsIndex: number,
  ): { operations: KvOperation[]; added: string[] } {
    const { keys, allocationKeys } = this.context;
    const added: string[] = [];
    const missingBits = !draft.isIdUsed(disk.id) || disk.paths.some((path) => !draft.isIpUsed(path.ip));
    draft.takeId(disk.id);
    for (const path of disk.paths) draft.takeIp(path.ip);
    if (missingBits) added.push("reservations");
    const allocation: DiskAllocation = {
      id: disk.id,
      name: disk.name,
      pool: disk.pool,
      ips: disk.paths.map((path) => path.ip),
      node: this.nodeName,
      token: randomUUID(),
      createTime: disk.createTime,
      state: "active",
    };
    const operations: KvOperation[] = [
      ...draft.writeOperations(),
      { verb: "check-not-exists", key: allocationKeys.pending(disk.id) },
      {
        verb: "cas",
        key: allocationKeys.record(disk.id),
        value: serializeDiskAllocation(allocation),
        index: 0,
      },
    ];
    // The addresses were checked against these settings: a change of them since fails the import.
    operations.unshift({ verb: "check-index", key: keys.settings(), index: settingsIndex });
    if (nameEntry === undefined) {
      operations.push({ verb: "cas", key: allocationKeys.diskName(disk.name), value: disk.id, index: 0 });
      added.push("name");
    } else {
      operations.push({ verb: "check-index", key: nameEntry.key, index: nameEntry.modifyIndex });
    }
    if (diskKeys === undefined) {
      operations.push({ verb: "cas", key: keys.disk(disk.id), value: "disk", flags: 1, index: 0 });
      added.push("disk key (stopped)");
    } else {
      operations.push({ verb: "check-index", key: diskKeys.disk.key, index: diskKeys.disk.modifyIndex });
    }
    const missingPaths = disk.paths.filter((path) => diskKeys?.paths.get(path.index) === undefined);
    for (const path of missingPaths) {
      operations.push({ verb: "cas", key: keys.diskPath(disk.id, path.index), value: "", index: 0 });
    }
    if (missingPaths.length > 0) added.push(`path keys ${missingPaths.map((path) => path.index).join(",")}`);
    return { operations, added };
  }
}

/** The first address of `disk` that another disk claims too. */
function addressClash(disk: Disk, claims: Claims): { field: string; rule: string } | undefined {
  for (const [position, path] of disk.paths.entries()) {
    const others = [...(claims.ips.get(path.ip) ?? [])].filter((id) => id !== disk.id).sort();
    if (others.length > 0) {
      return {
        field: `paths[${position}].ip`,
        rule: `${path.ip} is an address of disk ${others.join(", ")} too: two disks claim it; change one of them first`,
      };
    }
  }
  return undefined;
}

function skipped(
  id: string,
  name: string,
  pool: string,
  ips: readonly string[],
  sizeGib: number,
  field: string,
  detail: string,
  running: boolean,
): ImportedDisk {
  return { id, name, pool, ips, sizeGib, outcome: "skipped", added: [], detail, field, running };
}

/** A note when the registered record and the image's record disagree ("" when they agree). */
function registeredNote(registered: DiskAllocation, disk: Disk): string {
  const recorded = registered.ips.join(",");
  const found = disk.paths.map((path) => path.ip).join(",");
  if (registered.name === disk.name && recorded === found) return "";
  return `its allocation record says "${registered.name}" ${recorded}; the image's record says "${disk.name}" ${found}`;
}
