import type { ConsulKeys } from "../consul/keys.js";
import { formatIpv4, tryParseIpv4 } from "./ipv4.js";

/** Addresses per IP block record: a /20, 4096 bits = 512 bytes at most. */
export const IP_BLOCK_SIZE = 4096;

/** The first address of the block holding `address`. */
export function ipBlockBase(address: number): number {
  return address - (address % IP_BLOCK_SIZE);
}

/**
 * The Consul keys of disk allocation, besides the disk and path keys of ConsulKeys:
 *
 *   <root>/Allocations/DiskIdBitmap          used disk ids: bit n-1 = disk number n (Bitmap text)
 *   <root>/Allocations/IpBlocks/<a.b.c.d>    used path addresses of one 4096-address block starting
 *                                            at a.b.c.d: bit k = a.b.c.d + k (Bitmap text)
 *   <root>/Allocations/DiskNames/<name>      name reservation (lower case, percent-encoded) → disk id
 *   <root>/Allocations/Pending/<id>          a reservation whose disk is being made (DiskAllocation)
 *   <root>/Allocations/DiskIds/<id>          the allocation record of a registered disk (DiskAllocation)
 *
 * Addresses are recorded by their own value, not by subnet, so a change of the automatic range
 * never loses track of an address a disk uses.
 */
export class AllocationKeys {
  constructor(readonly keys: ConsulKeys) {}

  get root(): string {
    return this.keys.root;
  }

  /** Prefix of every allocation key. */
  all(): string {
    return `${this.keys.root}/Allocations/`;
  }

  diskIdBitmap(): string {
    return `${this.keys.root}/Allocations/DiskIdBitmap`;
  }

  ipBlocks(): string {
    return `${this.keys.root}/Allocations/IpBlocks/`;
  }

  ipBlock(base: number): string {
    if (base % IP_BLOCK_SIZE !== 0) throw new RangeError(`${formatIpv4(base)} does not start an IP block`);
    return `${this.ipBlocks()}${formatIpv4(base)}`;
  }

  /** The first address of an IP block key; undefined for any other key. */
  parseIpBlock(key: string): number | undefined {
    if (!key.startsWith(this.ipBlocks())) return undefined;
    const base = tryParseIpv4(key.slice(this.ipBlocks().length));
    return base !== undefined && base % IP_BLOCK_SIZE === 0 ? base : undefined;
  }

  diskName(name: string): string {
    return this.keys.diskName(name);
  }

  pendings(): string {
    return `${this.keys.root}/Allocations/Pending/`;
  }

  pending(diskId: string): string {
    return `${this.pendings()}${this.keys.disk(diskId).slice(this.keys.disks().length)}`;
  }

  records(): string {
    return this.keys.allocatedDiskIds();
  }

  record(diskId: string): string {
    return this.keys.allocatedDiskId(diskId);
  }

  /** The disk id of a pending or record key; undefined for any other key. */
  parseDiskIdUnder(prefix: string, key: string): string | undefined {
    if (!key.startsWith(prefix)) return undefined;
    const rest = key.slice(prefix.length);
    return /^[0-9]{5}$/.test(rest) ? rest : undefined;
  }
}
