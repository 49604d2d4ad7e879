import { isIPv4 } from "node:net";

/**
 * The only IPv4 ranges the project ever puts on interfaces it creates (RFC 5737): management
 * 192.0.2.0/24, iSCSI subnet 1 198.51.100.0/24, iSCSI subnet 2 203.0.113.0/24.
 */
export const DOCUMENTATION_RANGES = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"] as const;

const DOCUMENTATION_PREFIXES = ["192.0.2.", "198.51.100.", "203.0.113."] as const;

export function isDocumentationAddress(ip: string): boolean {
  return isIPv4(ip) && DOCUMENTATION_PREFIXES.some((prefix) => ip.startsWith(prefix));
}

/** Splits "198.51.100.11/24" into ip and prefix length; undefined when malformed. */
export function parseCidr(cidr: string): { ip: string; prefixLength: number } | undefined {
  const match = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr);
  if (match === null) return undefined;
  const ip = match[1] ?? "";
  const prefixLength = Number(match[2]);
  if (!isIPv4(ip) || prefixLength < 1 || prefixLength > 32) return undefined;
  return { ip, prefixLength };
}
