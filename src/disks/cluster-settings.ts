import { invalidField } from "../errors/sanpath-error.js";
import { dataMissing } from "./domain-errors.js";
import { iqnBaseProblem } from "./iscsi-name.js";
import {
  contains,
  formatCidr,
  formatIpv4,
  isNetworkOrBroadcast,
  overlaps,
  parseCidr,
  parseIpv4,
  type Ipv4Network,
} from "./ipv4.js";
import { validatePoolName } from "./pool-name.js";
import { loopbackInterfaceProblem, nonUnicastProblem } from "./unicast-network.js";

export type SubnetNumber = 1 | 2;

/** One iSCSI subnet, validated; addresses are uint32 (see ipv4.ts). */
export interface IscsiSubnet {
  readonly number: SubnetNumber;
  readonly network: Ipv4Network;
  /** Inclusive range of automatic addresses, inside the network, never its network or broadcast address. */
  readonly autoIpFrom: number;
  readonly autoIpTo: number;
  /** Interface name on every node, e.g. "eth1". */
  readonly interface: string;
  /** 0 = no VLAN. */
  readonly vlanId: number;
}

export interface ClusterSettings {
  readonly iqnBase: string;
  readonly defaultPool: string;
  readonly subnet1: IscsiSubnet;
  readonly subnet2: IscsiSubnet | undefined;
}

/** The wire shape of one subnet (proto sanpath.v1.IscsiSubnet). */
export interface IscsiSubnetInput {
  network: string;
  autoIpFrom: string;
  autoIpTo: string;
  interface: string;
  vlanId: number;
}

/** The wire shape of the settings (proto sanpath.v1.ClusterSettings). */
export interface ClusterSettingsInput {
  iqnBase: string;
  defaultPool: string;
  subnet1?: IscsiSubnetInput | undefined;
  subnet2?: IscsiSubnetInput | undefined;
}

/** PetaSAN's pool for disks; used when the settings name none. */
export const DEFAULT_POOL = "rbd";
/**
 * /8 is the widest iSCSI subnet accepted (keeps a full walk of an automatic range bounded at
 * 16 M addresses); /30 the narrowest that has a usable address besides network and broadcast.
 */
export const SUBNET_PREFIX_BOUNDS = { minPrefix: 8, maxPrefix: 30 } as const;
export const MAX_VLAN_ID = 4094;
/** Linux IFNAMSIZ - 1. */
export const MAX_INTERFACE_NAME_LENGTH = 15;

const INTERFACE_NAME_PATTERN = /^[\x21-\x7e]+$/;

/** Why `name` cannot be a Linux interface name, or undefined when it can (the kernel's dev_valid_name). */
export function interfaceNameProblem(name: string): string | undefined {
  if (name.length > MAX_INTERFACE_NAME_LENGTH) {
    return `"${name}" is ${name.length} characters long; an interface name is at most ${MAX_INTERFACE_NAME_LENGTH}`;
  }
  if (!INTERFACE_NAME_PATTERN.test(name) || /[/:]/.test(name) || name === "." || name === "..") {
    return `"${name}" is not a valid interface name: printable ASCII without whitespace, '/' or ':', not "." or ".."`;
  }
  return undefined;
}

function validateVlanId(vlanId: number, field: string): number {
  if (!Number.isInteger(vlanId) || vlanId < 0 || vlanId > MAX_VLAN_ID) {
    throw invalidField(field, `${vlanId} is not a VLAN id: 0 (no VLAN) or 1..${MAX_VLAN_ID}`);
  }
  return vlanId;
}

function requireText(value: string, field: string, what: string): string {
  if (value.length === 0) throw dataMissing(field, what);
  return value;
}

function validateRangeEnd(text: string, network: Ipv4Network, field: string): number {
  const address = parseIpv4(requireText(text, field, "an IPv4 address"), field);
  if (!contains(network, address)) {
    throw invalidField(field, `${text} is outside the subnet ${formatCidr(network)}`);
  }
  if (isNetworkOrBroadcast(network, address)) {
    throw invalidField(field, `${text} is the network or broadcast address of ${formatCidr(network)}`);
  }
  return address;
}

function validateSubnet(input: IscsiSubnetInput, number: SubnetNumber, field: string): IscsiSubnet {
  const network = parseCidr(
    requireText(input.network, `${field}.network`, "a CIDR network"),
    `${field}.network`,
    SUBNET_PREFIX_BOUNDS,
  );
  const unicastProblem = nonUnicastProblem(network);
  if (unicastProblem !== undefined) throw invalidField(`${field}.network`, unicastProblem);
  const autoIpFrom = validateRangeEnd(input.autoIpFrom, network, `${field}.auto_ip_from`);
  const autoIpTo = validateRangeEnd(input.autoIpTo, network, `${field}.auto_ip_to`);
  if (autoIpFrom > autoIpTo) {
    throw invalidField(
      `${field}.auto_ip_to`,
      `${input.autoIpTo} is below auto_ip_from ${input.autoIpFrom}; the range runs from low to high`,
    );
  }
  const interfaceField = `${field}.interface`;
  const interfaceName = requireText(input.interface, interfaceField, "an interface name");
  const interfaceProblem = interfaceNameProblem(interfaceName) ?? loopbackInterfaceProblem(interfaceName);
  if (interfaceProblem !== undefined) throw invalidField(interfaceField, interfaceProblem);
  const vlanId = validateVlanId(input.vlanId, `${field}.vlan_id`);
  if (vlanId !== 0 && interfaceNameProblem(`${interfaceName}.${vlanId}`) !== undefined) {
    throw invalidField(
      interfaceField,
      `the VLAN interface "${interfaceName}.${vlanId}" would be longer than ${MAX_INTERFACE_NAME_LENGTH} characters`,
    );
  }
  return { number, network, autoIpFrom, autoIpTo, interface: interfaceName, vlanId };
}

/**
 * Validates settings in their wire shape; every error names the request field, e.g.
 * "settings.subnet1.auto_ip_from". An empty default pool becomes "rbd".
 */
export function validateClusterSettings(input: ClusterSettingsInput, field = "settings"): ClusterSettings {
  const iqnBaseField = `${field}.iqn_base`;
  const iqnBase = requireText(input.iqnBase, iqnBaseField, "the IQN base");
  const iqnProblem = iqnBaseProblem(iqnBase);
  if (iqnProblem !== undefined) throw invalidField(iqnBaseField, iqnProblem);

  const defaultPool =
    input.defaultPool.length === 0
      ? DEFAULT_POOL
      : validatePoolName(input.defaultPool, `${field}.default_pool`);

  if (input.subnet1 === undefined) throw dataMissing(`${field}.subnet1`, "iSCSI subnet 1");
  const subnet1 = validateSubnet(input.subnet1, 1, `${field}.subnet1`);
  const subnet2 =
    input.subnet2 === undefined ? undefined : validateSubnet(input.subnet2, 2, `${field}.subnet2`);
  if (subnet2 !== undefined && overlaps(subnet1.network, subnet2.network)) {
    throw invalidField(
      `${field}.subnet2.network`,
      `${formatCidr(subnet2.network)} overlaps subnet 1 ${formatCidr(subnet1.network)}; the two iSCSI subnets must be disjoint`,
    );
  }
  return { iqnBase, defaultPool, subnet1, subnet2 };
}

export function subnetToInput(subnet: IscsiSubnet): IscsiSubnetInput {
  return {
    network: formatCidr(subnet.network),
    autoIpFrom: formatIpv4(subnet.autoIpFrom),
    autoIpTo: formatIpv4(subnet.autoIpTo),
    interface: subnet.interface,
    vlanId: subnet.vlanId,
  };
}

/** The wire shape of validated settings (what InitCluster stores and GetClusterSettings returns). */
export function clusterSettingsToInput(settings: ClusterSettings): ClusterSettingsInput {
  return {
    iqnBase: settings.iqnBase,
    defaultPool: settings.defaultPool,
    subnet1: subnetToInput(settings.subnet1),
    subnet2: settings.subnet2 === undefined ? undefined : subnetToInput(settings.subnet2),
  };
}

export function subnetByNumber(settings: ClusterSettings, number: SubnetNumber): IscsiSubnet | undefined {
  return number === 1 ? settings.subnet1 : settings.subnet2;
}

/** The configured subnet whose network holds `address`, if any (subnets never overlap). */
export function subnetContaining(settings: ClusterSettings, address: number): IscsiSubnet | undefined {
  if (contains(settings.subnet1.network, address)) return settings.subnet1;
  if (settings.subnet2 !== undefined && contains(settings.subnet2.network, address)) return settings.subnet2;
  return undefined;
}
