import { invalidField, SanpathError } from "../errors/sanpath-error.js";
import { subnetContaining, type ClusterSettings, type IscsiSubnet } from "./cluster-settings.js";
import { ALL_INITIATORS, type ChapCredentials, type Disk, type DiskAcl, type DiskPath } from "./disk.js";
import { validateDiskName } from "./disk-name.js";
import { dataMissing, wrongData, wrongSubnet } from "./domain-errors.js";
import { pathAddressIn } from "./ip-allocation.js";
import { contains, formatCidr, isNetworkOrBroadcast, parseIpv4 } from "./ipv4.js";
import { validateIscsiName } from "./iscsi-name.js";
import { validatePoolName } from "./pool-name.js";
import { parseSubnetChoice, subnetsOfChoice, type SubnetChoice } from "./subnet-choice.js";

/** 1 PiB in GiB. */
export const MAX_DISK_SIZE_GIB = 1_048_576;
export const MAX_PATH_COUNT = 8;
/** PetaSAN's form: manual addresses only for one or two paths. */
export const MAX_MANUAL_IPS = 2;
export const MAX_ACL_INITIATORS = 256;
export const MAX_CHAP_USER_LENGTH = 64;
/** Microsoft's initiator refuses secrets outside 12..16 characters; so do several arrays. */
export const MIN_CHAP_SECRET_LENGTH = 12;
export const MAX_CHAP_SECRET_LENGTH = 16;

const PRINTABLE_NO_SPACE = /^[\x21-\x7e]+$/;

/** Wire shapes (proto sanpath.v1.Acl, Chap, AddDiskRequest, UpdateDiskRequest). */
export interface AclInput {
  allInitiators: boolean;
  initiatorIqns: string[];
}

export interface ChapInput {
  user: string;
  secret: string;
}

export interface AddDiskInput {
  name: string;
  sizeGib: number;
  pathCount: number;
  /** The proto SubnetChoice value: 0 unspecified, 1, 2, 3 = both. */
  subnet: number;
  manualIps: string[];
  acl?: AclInput | undefined;
  chap?: ChapInput | undefined;
  pool: string;
}

export interface UpdateDiskInput {
  disk: string;
  name?: string | undefined;
  sizeGib?: number | undefined;
  acl?: AclInput | undefined;
  chap?: ChapInput | undefined;
  clearChap: boolean;
}

/** A validated AddDisk request. Manual paths are resolved; automatic ones are allocated later. */
export interface AddDiskSpec {
  readonly name: string;
  readonly sizeGib: number;
  readonly pathCount: number;
  readonly subnet: SubnetChoice;
  /** Undefined: automatic addresses. */
  readonly manualPaths: readonly DiskPath[] | undefined;
  readonly acl: DiskAcl;
  readonly chap: ChapCredentials | undefined;
  readonly pool: string;
}

export type ChapChange =
  | { readonly kind: "keep" }
  | { readonly kind: "set"; readonly credentials: ChapCredentials }
  | { readonly kind: "clear" };

/** A validated UpdateDisk request; undefined members stay as they are. */
export interface DiskUpdate {
  readonly name: string | undefined;
  readonly sizeGib: number | undefined;
  readonly acl: DiskAcl | undefined;
  readonly chap: ChapChange;
}

function validateSizeGib(sizeGib: number, field: string): number {
  if (!Number.isSafeInteger(sizeGib) || sizeGib < 1) {
    throw invalidField(field, `${sizeGib} is not a size: a positive whole number of GiB`);
  }
  if (sizeGib > MAX_DISK_SIZE_GIB) {
    throw invalidField(field, `${sizeGib} GiB is above the largest disk, ${MAX_DISK_SIZE_GIB} GiB (1 PiB)`);
  }
  return sizeGib;
}

function validatePathCount(pathCount: number, field: string): number {
  if (pathCount === 0) throw dataMissing(field, "the path count");
  if (!Number.isInteger(pathCount) || pathCount < 1 || pathCount > MAX_PATH_COUNT) {
    throw invalidField(field, `${pathCount} paths: a disk has 1..${MAX_PATH_COUNT} paths`);
  }
  return pathCount;
}

/** An empty list, or an unset ACL, means all initiators (as the proto documents). */
export function validateAcl(input: AclInput | undefined, field = "acl"): DiskAcl {
  if (input === undefined) return ALL_INITIATORS;
  const iqns = input.initiatorIqns;
  if (input.allInitiators && iqns.length > 0) {
    throw wrongData(field, "all_initiators is set and initiator_iqns lists names; give one or the other");
  }
  if (iqns.length === 0) return ALL_INITIATORS;
  if (iqns.length > MAX_ACL_INITIATORS) {
    throw invalidField(
      `${field}.initiator_iqns`,
      `lists ${iqns.length} initiators; at most ${MAX_ACL_INITIATORS}`,
    );
  }
  const seen = new Map<string, number>();
  iqns.forEach((iqn, position) => {
    const itemField = `${field}.initiator_iqns[${position}]`;
    validateIscsiName(iqn, itemField);
    // eui./naa. hex digits may come in either case; the same initiator must not be listed twice.
    const key = iqn.toLowerCase();
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      throw invalidField(itemField, `repeats ${field}.initiator_iqns[${earlier}]`);
    }
    seen.set(key, position);
  });
  return { kind: "initiators", initiatorIqns: [...iqns] };
}

/**
 * One-way CHAP: user 1..64 printable ASCII characters without spaces; secret 12..16 of the same.
 * Messages never repeat the secret.
 */
export function validateChap(input: ChapInput | undefined, field = "chap"): ChapCredentials | undefined {
  if (input === undefined) return undefined;
  const { user, secret } = input;
  if (user.length === 0) throw dataMissing(`${field}.user`, "the CHAP user (with a secret)");
  if (secret.length === 0) throw dataMissing(`${field}.secret`, "the CHAP secret (with a user)");
  if (user.length > MAX_CHAP_USER_LENGTH || !PRINTABLE_NO_SPACE.test(user)) {
    throw invalidField(
      `${field}.user`,
      `must be 1..${MAX_CHAP_USER_LENGTH} printable ASCII characters without spaces`,
    );
  }
  if (!PRINTABLE_NO_SPACE.test(secret)) {
    throw invalidField(`${field}.secret`, "must be printable ASCII characters without spaces");
  }
  if (secret.length < MIN_CHAP_SECRET_LENGTH || secret.length > MAX_CHAP_SECRET_LENGTH) {
    throw invalidField(
      `${field}.secret`,
      `is ${secret.length} characters long; initiators require ${MIN_CHAP_SECRET_LENGTH}..${MAX_CHAP_SECRET_LENGTH}`,
    );
  }
  return { user, secret };
}

function requireUsableAddress(subnet: IscsiSubnet, address: number, text: string, field: string): void {
  if (isNetworkOrBroadcast(subnet.network, address)) {
    throw invalidField(
      field,
      `${text} is the network or broadcast address of subnet ${subnet.number} ${formatCidr(subnet.network)}`,
    );
  }
}

/**
 * Manual addresses, PetaSAN's rules: only with 1 or 2 paths, one per path. With one subnet,
 * each must lie in that subnet's network. With both subnets there must be exactly two, one in each
 * subnet, in either order; path 1 gets the first address given. An address may lie outside the
 * automatic range (that is what manual addresses are for), but never on the network or
 * broadcast address. Whether an address is used already is checked by ensureManualIpsUnused.
 */
function resolveManualPaths(
  manualIps: readonly string[],
  pathCount: number,
  choice: SubnetChoice,
  settings: ClusterSettings,
): DiskPath[] {
  const field = "manual_ips";
  if (pathCount > MAX_MANUAL_IPS) {
    throw wrongData(
      field,
      `manual addresses are possible for 1 or 2 paths only; leave manual_ips empty for ${pathCount} automatic paths`,
    );
  }
  if (manualIps.length !== pathCount) {
    throw wrongData(
      field,
      `gives ${manualIps.length} address(es) for ${pathCount} path(s); give one per path`,
    );
  }
  if (choice === "both" && pathCount !== 2) {
    throw wrongData(field, "with both subnets, manual addresses need 2 paths: one address in each subnet");
  }
  const addresses = manualIps.map((text, position) => parseIpv4(text, `${field}[${position}]`));
  addresses.forEach((address, position) => {
    const earlier = addresses.indexOf(address);
    if (earlier < position) throw invalidField(`${field}[${position}]`, `repeats ${field}[${earlier}]`);
  });

  const subnets = addresses.map((address, position) => {
    const itemField = `${field}[${position}]`;
    const text = manualIps[position] ?? "";
    if (choice !== "both") {
      const [subnet] = subnetsOfChoice(settings, choice, "subnet");
      if (subnet === undefined) throw new Error("a single-subnet choice names one subnet");
      if (!contains(subnet.network, address)) {
        throw wrongSubnet(
          itemField,
          `${text} is not in subnet ${subnet.number} ${formatCidr(subnet.network)}`,
        );
      }
      return subnet;
    }
    const subnet = subnetContaining(settings, address);
    if (subnet === undefined) {
      throw wrongSubnet(itemField, `${text} is in neither iSCSI subnet 1 nor subnet 2`);
    }
    return subnet;
  });
  if (choice === "both" && subnets[0]?.number === subnets[1]?.number) {
    throw wrongSubnet(
      `${field}[1]`,
      `is in subnet ${subnets[1]?.number} like ${field}[0]; with both subnets, one address must be in subnet 1 and the other in subnet 2`,
    );
  }
  return addresses.map((address, position) => {
    const subnet = subnets[position];
    if (subnet === undefined) throw new Error("every manual address has a subnet");
    requireUsableAddress(subnet, address, manualIps[position] ?? "", `${field}[${position}]`);
    return { index: position + 1, ...pathAddressIn(subnet, address) };
  });
}

/**
 * Validates and normalizes an AddDisk request against the cluster settings. Every failure is a
 * SanpathError naming the request field. Name uniqueness and used addresses are not checked here:
 * they need the cluster's state.
 */
export function validateAddDisk(input: AddDiskInput, settings: ClusterSettings): AddDiskSpec {
  const name = validateDiskName(input.name, "name");
  if (input.sizeGib === 0) throw dataMissing("size_gib", "the size in GiB");
  const sizeGib = validateSizeGib(input.sizeGib, "size_gib");
  const pathCount = validatePathCount(input.pathCount, "path_count");
  const subnet = parseSubnetChoice(input.subnet, settings, "subnet");
  const pool = input.pool.length === 0 ? settings.defaultPool : validatePoolName(input.pool, "pool");
  const manualPaths =
    input.manualIps.length === 0
      ? undefined
      : resolveManualPaths(input.manualIps, pathCount, subnet, settings);
  const acl = validateAcl(input.acl, "acl");
  const chap = validateChap(input.chap, "chap");
  return { name, sizeGib, pathCount, subnet, manualPaths, acl, chap, pool };
}

/** Throws ALREADY_EXISTS / IP_USED_ALREADY naming `manual_ips[i]` for the first manual address in use. */
export function ensureManualIpsUnused(paths: readonly DiskPath[], isUsed: (ip: string) => boolean): void {
  for (const path of paths) {
    if (isUsed(path.ip)) {
      const field = `manual_ips[${path.index - 1}]`;
      throw new SanpathError("already_exists", `${field}: ${path.ip} is used by another disk`, {
        reason: "IP_USED_ALREADY",
        field,
      });
    }
  }
}

/**
 * Validates an UpdateDisk request against the disk as it is. A smaller size is SHRINK_REFUSED;
 * setting and clearing CHAP at once is WRONG_DATA. A request that changes nothing is valid.
 * The `disk` reference itself is read with parseDiskRef.
 */
export function validateUpdateDisk(input: UpdateDiskInput, current: Disk): DiskUpdate {
  const name = input.name === undefined ? undefined : validateDiskName(input.name, "name");
  let sizeGib: number | undefined;
  if (input.sizeGib !== undefined) {
    sizeGib = validateSizeGib(input.sizeGib, "size_gib");
    if (sizeGib < current.sizeGib) {
      throw new SanpathError(
        "invalid_argument",
        `size_gib: ${sizeGib} GiB is below the disk's ${current.sizeGib} GiB; a disk can only grow`,
        { reason: "SHRINK_REFUSED", field: "size_gib" },
      );
    }
  }
  const acl = input.acl === undefined ? undefined : validateAcl(input.acl, "acl");
  if (input.clearChap && input.chap !== undefined) {
    throw wrongData(
      "clear_chap",
      "clear_chap is set together with new chap credentials; give one or the other",
    );
  }
  const credentials = validateChap(input.chap, "chap");
  const chap: ChapChange = input.clearChap
    ? { kind: "clear" }
    : credentials === undefined
      ? { kind: "keep" }
      : { kind: "set", credentials };
  return { name, sizeGib, acl, chap };
}

/** The disk after `update`. */
export function applyDiskUpdate(disk: Disk, update: DiskUpdate): Disk {
  return {
    ...disk,
    name: update.name ?? disk.name,
    sizeGib: update.sizeGib ?? disk.sizeGib,
    acl: update.acl ?? disk.acl,
    chap:
      update.chap.kind === "keep"
        ? disk.chap
        : update.chap.kind === "clear"
          ? undefined
          : update.chap.credentials,
  };
}
