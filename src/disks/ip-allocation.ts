import { SanpathError } from "../errors/sanpath-error.js";
import type { ClusterSettings, IscsiSubnet } from "./cluster-settings.js";
import type { DiskPath, PathAddress } from "./disk.js";
import { formatIpv4 } from "./ipv4.js";
import { subnetsOfChoice, type SubnetChoice } from "./subnet-choice.js";

export function pathAddressIn(subnet: IscsiSubnet, address: number): PathAddress {
  return {
    ip: formatIpv4(address),
    prefixLength: subnet.network.prefixLength,
    interface: subnet.interface,
    vlanId: subnet.vlanId,
    subnet: subnet.number,
  };
}

function outOfRange(count: number, subnets: readonly IscsiSubnet[]): SanpathError {
  const ranges = subnets
    .map((s) => `subnet ${s.number} ${formatIpv4(s.autoIpFrom)}..${formatIpv4(s.autoIpTo)}`)
    .join(" and ");
  const shape =
    subnets.length === 2 ? "lockstep steps with both addresses free" : "consecutive free addresses";
  const steps = subnets.length === 2 ? Math.ceil(count / 2) : count;
  return new SanpathError(
    "resource_exhausted",
    `no block of ${steps} ${shape} is left in the automatic range of ${ranges} for ${count} path(s)`,
    { reason: "IP_OUT_OF_RANGE" },
  );
}

/** The first block of `count` consecutive unused addresses of one range (a used address restarts the block). */
function allocateInOne(
  subnet: IscsiSubnet,
  count: number,
  isUsed: (address: number) => boolean,
): PathAddress[] {
  let blockStart = subnet.autoIpFrom;
  for (let address = subnet.autoIpFrom; address <= subnet.autoIpTo; address++) {
    if (isUsed(address)) {
      blockStart = address + 1;
    } else if (address - blockStart + 1 === count) {
      const block: PathAddress[] = [];
      for (let taken = blockStart; taken <= address; taken++) block.push(pathAddressIn(subnet, taken));
      return block;
    }
  }
  throw outOfRange(count, [subnet]);
}

/**
 * Both ranges walked in lockstep (step k is from1+k and from2+k) until the shorter one ends. A step
 * counts only when both of its addresses are unused, even when the last step needs one of them;
 * an unusable step restarts the block. Paths alternate subnet 1, subnet 2, subnet 1, ...
 */
function allocateInBoth(
  first: IscsiSubnet,
  second: IscsiSubnet,
  count: number,
  isUsed: (address: number) => boolean,
): PathAddress[] {
  const steps = Math.min(first.autoIpTo - first.autoIpFrom, second.autoIpTo - second.autoIpFrom) + 1;
  const stepsNeeded = Math.ceil(count / 2);
  let blockStart = 0;
  for (let step = 0; step < steps; step++) {
    const usable = !isUsed(first.autoIpFrom + step) && !isUsed(second.autoIpFrom + step);
    if (!usable) {
      blockStart = step + 1;
    } else if (step - blockStart + 1 === stepsNeeded) {
      const block: PathAddress[] = [];
      for (let taken = blockStart; block.length < count; taken++) {
        block.push(pathAddressIn(first, first.autoIpFrom + taken));
        if (block.length < count) block.push(pathAddressIn(second, second.autoIpFrom + taken));
      }
      return block;
    }
  }
  throw outOfRange(count, [first, second]);
}

/**
 * Automatic addresses for `count` paths with PetaSAN's semantics: the first block of `count`
 * consecutive unused addresses of the chosen subnet's automatic range; with both subnets, the
 * first run of ceil(count/2) consecutive lockstep steps, alternating subnet 1 and subnet 2.
 * One pass over the range, O(range) calls of `isUsed` (meant to be a set lookup).
 * Throws RESOURCE_EXHAUSTED / IP_OUT_OF_RANGE when no such block exists.
 */
export function allocateAutomaticIps(
  settings: ClusterSettings,
  choice: SubnetChoice,
  count: number,
  isUsed: (ip: string) => boolean,
): DiskPath[] {
  return allocateAutomaticAddresses(settings, choice, count, (address) => isUsed(formatIpv4(address)));
}

/** allocateAutomaticIps with addresses as uint32: no text per address walked (see ipv4.ts). */
export function allocateAutomaticAddresses(
  settings: ClusterSettings,
  choice: SubnetChoice,
  count: number,
  isAddressUsed: (address: number) => boolean,
): DiskPath[] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`not a path count: ${count}`);
  const subnets = subnetsOfChoice(settings, choice, "subnet");
  const [first, second] = subnets;
  if (first === undefined) throw new Error("a subnet choice always names at least one subnet");
  const addresses =
    second === undefined
      ? allocateInOne(first, count, isAddressUsed)
      : allocateInBoth(first, second, count, isAddressUsed);
  return addresses.map((address, position) => ({ index: position + 1, ...address }));
}
