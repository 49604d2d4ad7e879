import type { KvStore } from "../kv/kv-store.js";
import type { KvOperation } from "../kv/kv-store.js";
import type { CallOptions } from "../util/call-options.js";
import { SanpathError } from "../errors/sanpath-error.js";
import { AllocationKeys, IP_BLOCK_SIZE, ipBlockBase } from "./allocation-keys.js";
import { Bitmap } from "../util/bitmap.js";
import { formatDiskId, MAX_DISK_NUMBER } from "./disk-id.js";
import { formatIpv4, tryParseIpv4 } from "./ipv4.js";

/** A bitmap record as read, with the ModifyIndex its write must be checked against (0 = absent). */
interface VersionedBitmap {
  readonly key: string;
  readonly bitmap: Bitmap;
  readonly index: number;
  changed: boolean;
}

/**
 * The allocation state (used disk ids, used path addresses) as read at one moment, changed in
 * memory, then written back in one transaction whose CAS operations fail if anybody wrote any of
 * those records in between. Reading it costs two Consul reads whatever the number of disks: the id
 * bitmap (at most 12.5 KB) and the IP blocks (512 bytes per 4096 addresses that hold a used one).
 */
export class AllocationDraft {
  private constructor(
    private readonly keys: AllocationKeys,
    private readonly ids: VersionedBitmap,
    private readonly blocks: Map<number, VersionedBitmap>,
  ) {}

  static async read(kv: KvStore, keys: AllocationKeys, options: CallOptions = {}): Promise<AllocationDraft> {
    const [idEntry, blockEntries] = await Promise.all([
      kv.get(keys.diskIdBitmap(), options),
      kv.list(keys.ipBlocks(), options),
    ]);
    const ids: VersionedBitmap = {
      key: keys.diskIdBitmap(),
      bitmap:
        idEntry === undefined
          ? new Bitmap(MAX_DISK_NUMBER)
          : Bitmap.decode(idEntry.value, MAX_DISK_NUMBER, `disk id record ${idEntry.key}`),
      index: idEntry?.modifyIndex ?? 0,
      changed: false,
    };
    const blocks = new Map<number, VersionedBitmap>();
    for (const entry of blockEntries) {
      const base = keys.parseIpBlock(entry.key);
      if (base === undefined) continue;
      blocks.set(base, {
        key: entry.key,
        bitmap: Bitmap.decode(entry.value, IP_BLOCK_SIZE, `IP block record ${entry.key}`),
        index: entry.modifyIndex,
        changed: false,
      });
    }
    return new AllocationDraft(keys, ids, blocks);
  }

  /** How many disk ids are taken. */
  usedIdCount(): number {
    return this.ids.bitmap.count();
  }

  isIdUsed(id: string): boolean {
    return this.ids.bitmap.has(Number(id) - 1);
  }

  /** The lowest free disk id ("00001" first); RESOURCE_EXHAUSTED when all 99,999 are taken. */
  firstFreeId(): string {
    const bit = this.ids.bitmap.firstAbsent();
    if (bit === undefined) {
      throw new SanpathError(
        "resource_exhausted",
        `every disk id 00001..${MAX_DISK_NUMBER} is in use; delete a disk to free one`,
      );
    }
    return formatDiskId(bit + 1);
  }

  takeId(id: string): void {
    this.ids.bitmap.add(Number(id) - 1);
    this.ids.changed = true;
  }

  releaseId(id: string): void {
    if (!this.isIdUsed(id)) return;
    this.ids.bitmap.delete(Number(id) - 1);
    this.ids.changed = true;
  }

  isIpUsed(ip: string): boolean {
    return this.isAddressUsed(addressOf(ip));
  }

  /** isIpUsed for an address as a uint32. */
  isAddressUsed(address: number): boolean {
    const block = this.blocks.get(ipBlockBase(address));
    return block !== undefined && block.bitmap.has(address - ipBlockBase(address));
  }

  takeIp(ip: string): void {
    const address = addressOf(ip);
    const base = ipBlockBase(address);
    let block = this.blocks.get(base);
    if (block === undefined) {
      block = { key: this.keys.ipBlock(base), bitmap: new Bitmap(IP_BLOCK_SIZE), index: 0, changed: false };
      this.blocks.set(base, block);
    }
    block.bitmap.add(address - base);
    block.changed = true;
  }

  releaseIp(ip: string): void {
    const address = addressOf(ip);
    const base = ipBlockBase(address);
    const block = this.blocks.get(base);
    if (block === undefined || !block.bitmap.has(address - base)) return;
    block.bitmap.delete(address - base);
    block.changed = true;
  }

  /** Every used disk id, ascending. */
  *usedIds(): Generator<string, void, undefined> {
    for (const bit of this.ids.bitmap.members()) yield formatDiskId(bit + 1);
  }

  /** Every used address, ascending (for checks and tests). */
  *usedIps(): Generator<string, void, undefined> {
    for (const base of [...this.blocks.keys()].sort((a, b) => a - b)) {
      const block = this.blocks.get(base);
      if (block === undefined) continue;
      for (const offset of block.bitmap.members()) yield formatIpv4(base + offset);
    }
  }

  /** Whether some used address lies in first..last (inclusive). */
  anyIpUsedIn(first: number, last: number): boolean {
    for (const [base, block] of this.blocks) {
      if (base + IP_BLOCK_SIZE - 1 < first || base > last) continue;
      for (const offset of block.bitmap.members()) {
        const address = base + offset;
        if (address >= first && address <= last) return true;
      }
    }
    return false;
  }

  /**
   * The operations that write the changed records back: each guarded by the index it was read at
   * (an absent record is created only if still absent), an emptied record deleted.
   */
  writeOperations(): KvOperation[] {
    const operations: KvOperation[] = [];
    for (const record of [this.ids, ...this.blocks.values()]) {
      if (!record.changed) continue;
      if (record.bitmap.isEmpty()) {
        if (record.index > 0) operations.push({ verb: "delete-cas", key: record.key, index: record.index });
        else operations.push({ verb: "check-not-exists", key: record.key });
      } else {
        operations.push({ verb: "cas", key: record.key, value: record.bitmap.encode(), index: record.index });
      }
    }
    return operations;
  }

  /**
   * A check that fails if anybody changed the id record since it was read: every AddDisk and
   * DeleteDisk writes it, so this orders a settings change after any allocation.
   */
  idGuard(): KvOperation {
    return this.ids.index > 0
      ? { verb: "check-index", key: this.ids.key, index: this.ids.index }
      : { verb: "check-not-exists", key: this.ids.key };
  }
}

function addressOf(ip: string): number {
  const address = tryParseIpv4(ip);
  if (address === undefined) throw new RangeError(`not an IPv4 address: ${ip}`);
  return address;
}
