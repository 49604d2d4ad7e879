import { invalidField } from "../errors/sanpath-error.js";

/**
 * IPv4 addresses as unsigned 32-bit integers, so ranges can be walked and compared with plain
 * arithmetic. Text forms are strict: four decimal octets 0..255 without leading zeros ("010" is
 * refused, since some tools read it as octal).
 */

const OCTET = "(?:0|[1-9][0-9]{0,2})";
const IPV4_PATTERN = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const MAX_UINT32 = 0xffffffff;

/** An IPv4 network: its address, prefix length, mask and broadcast address, all as uint32. */
export interface Ipv4Network {
  readonly network: number;
  readonly prefixLength: number;
  readonly mask: number;
  readonly broadcast: number;
}

export interface PrefixBounds {
  readonly minPrefix: number;
  readonly maxPrefix: number;
}

/** The address as a uint32, or undefined when the text is not a strict dotted quad. */
export function tryParseIpv4(text: string): number | undefined {
  if (!IPV4_PATTERN.test(text)) return undefined;
  let value = 0;
  for (const part of text.split(".")) {
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

/** The address as a uint32; throws INVALID_FIELD naming `field` when the text is not an IPv4 address. */
export function parseIpv4(text: string, field: string): number {
  const value = tryParseIpv4(text);
  if (value === undefined) {
    throw invalidField(
      field,
      `"${text}" is not an IPv4 address (four decimal numbers 0..255 separated by dots, no leading zeros)`,
    );
  }
  return value;
}

export function isUint32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= MAX_UINT32;
}

export function formatIpv4(value: number): string {
  if (!isUint32(value)) throw new RangeError(`not an IPv4 address value: ${value}`);
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join(".");
}

export function prefixToMask(prefixLength: number): number {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
    throw new RangeError(`not an IPv4 prefix length: ${prefixLength}`);
  }
  // A shift by 32 is a shift by 0 in JavaScript, so /0 needs its own case.
  return prefixLength === 0 ? 0 : (MAX_UINT32 << (32 - prefixLength)) >>> 0;
}

/** The prefix length of a contiguous mask (255.255.255.0 → 24), or undefined for a non-contiguous one. */
export function maskToPrefix(mask: number): number | undefined {
  if (!isUint32(mask)) return undefined;
  const inverted = ~mask >>> 0;
  // A contiguous mask inverted is 2^k - 1: adding one leaves a single bit set.
  if ((inverted & (inverted + 1)) !== 0) return undefined;
  return 32 - Math.log2(inverted + 1);
}

/** The network of `prefixLength` bits that holds `address`. */
export function networkOf(address: number, prefixLength: number): Ipv4Network {
  const mask = prefixToMask(prefixLength);
  const network = (address & mask) >>> 0;
  const broadcast = (network | ~mask) >>> 0;
  return { network, prefixLength, mask, broadcast };
}

/**
 * Parses "198.51.100.0/24". The address must be the network address itself (no host bits set),
 * and the prefix length within `bounds` (default 0..32).
 */
export function parseCidr(
  text: string,
  field: string,
  bounds: PrefixBounds = { minPrefix: 0, maxPrefix: 32 },
): Ipv4Network {
  const slash = text.indexOf("/");
  if (slash < 0) {
    throw invalidField(field, `"${text}" is not a CIDR network (address/prefix, e.g. "198.51.100.0/24")`);
  }
  const address = tryParseIpv4(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (address === undefined || !/^(?:0|[1-9][0-9]?)$/.test(prefixText)) {
    throw invalidField(field, `"${text}" is not a CIDR network (address/prefix, e.g. "198.51.100.0/24")`);
  }
  const prefixLength = Number(prefixText);
  if (prefixLength < bounds.minPrefix || prefixLength > bounds.maxPrefix) {
    throw invalidField(
      field,
      `prefix length /${prefixLength} is outside /${bounds.minPrefix}../${bounds.maxPrefix}`,
    );
  }
  const net = networkOf(address, prefixLength);
  if (net.network !== address) {
    throw invalidField(field, `"${text}" has host bits set; the network address is ${formatCidr(net)}`);
  }
  return net;
}

export function formatCidr(net: Ipv4Network): string {
  return `${formatIpv4(net.network)}/${net.prefixLength}`;
}

export function contains(net: Ipv4Network, address: number): boolean {
  return (address & net.mask) >>> 0 === net.network;
}

export function isNetworkOrBroadcast(net: Ipv4Network, address: number): boolean {
  return address === net.network || address === net.broadcast;
}

export function overlaps(a: Ipv4Network, b: Ipv4Network): boolean {
  return a.network <= b.broadcast && b.network <= a.broadcast;
}

/** Every address from `from` to `to`, both included; nothing when from > to. */
export function* ipv4Range(from: number, to: number): Generator<number, void, undefined> {
  for (let address = from; address <= to; address++) yield address;
}
