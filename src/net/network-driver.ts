/**
 * Path IPs on a node's interfaces, as the node agent needs them: add (on a VLAN sub-interface
 * when the path has a VLAN), remove and verify, list, and announce with a gratuitous ARP.
 * Implementations: `NetlinkNetworkDriver` (rtnetlink + AF_PACKET in process, the net addon,
 * src/net/netlink-network-driver.ts) and `IpDriver` (iproute2 + arping, src/net/ip-driver.ts), the
 * fallback without the addon. Every method is idempotent: adding an address that is there, or
 * removing one that is not, is a no-op.
 */
import { isIPv4 } from "node:net";
import { invalidField } from "../errors/sanpath-error.js";

export interface AddressSpec {
  ip: string;
  prefixLength: number;
  /** The physical interface, e.g. "eth1". */
  interface: string;
  /** The address goes on `<interface>.<vlanId>` (created when missing). */
  vlanId?: number | undefined;
}

export interface AddressRef {
  ip: string;
  /** Where the address is expected; when omitted it is removed from whichever interface has it. */
  interface?: string | undefined;
  vlanId?: number | undefined;
}

export interface ConfiguredAddress {
  ip: string;
  prefixLength: number;
  /** The device that holds it ("eth1", "eth1.20"). */
  interface: string;
}

export interface ArpResult {
  sent: boolean;
  /** Why not, when `sent` is false (arping missing or failed). */
  reason?: string;
}

export interface NetworkCallOptions {
  signal?: AbortSignal;
  /**
   * Listings: read the kernel now instead of answering from what the driver believes is configured
   * (reconcile's periodic authoritative read, start-up sweeps).
   */
  fresh?: boolean;
}

/** A gratuitous ARP under way: `finished` settles (never rejects) when arping has exited. */
export interface ArpAnnouncement {
  readonly finished: Promise<ArpResult>;
}

export interface NetworkDriver {
  addAddress(spec: AddressSpec, options?: NetworkCallOptions): Promise<void>;
  /** Removes the address and verifies it is gone (rejects if it is still there). */
  removeAddress(ref: AddressRef, options?: NetworkCallOptions): Promise<void>;
  hasAddress(ip: string, options?: NetworkCallOptions): Promise<boolean>;
  /** IPv4 addresses of every interface except loopback. */
  listAddresses(options?: NetworkCallOptions): Promise<ConfiguredAddress[]>;
  /**
   * Tells the segment that `ip` now lives here. Never rejects: a missing or failing arping is
   * reported in the result (and logged), it must not fail a path acquisition.
   */
  sendGratuitousArp(ref: AddressSpec | AddressRef, options?: NetworkCallOptions): Promise<ArpResult>;
  /**
   * Starts the gratuitous ARP and returns at once: the ARP leaves as soon as arping runs, while
   * arping itself lingers for an interval before it exits. The outcome is logged when it is known.
   */
  announce(ref: AddressSpec | AddressRef, options?: NetworkCallOptions): ArpAnnouncement;
  /** Stops announcements still under way (their arping is killed) and waits until they exited. */
  close(): Promise<void>;
}

const IFNAME_RULE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

/** The device that carries an address: the interface, or its VLAN sub-interface. */
export function deviceName(iface: string, vlanId?: number): string {
  return vlanId === undefined ? iface : `${iface}.${vlanId}`;
}

export function validateAddressSpec(spec: AddressSpec): void {
  validateIp(spec.ip);
  if (!Number.isInteger(spec.prefixLength) || spec.prefixLength < 1 || spec.prefixLength > 32) {
    throw invalidField("prefixLength", "an integer in 1..32");
  }
  validateDevice(spec.interface, spec.vlanId);
}

export function validateIp(ip: string): void {
  if (!isIPv4(ip)) throw invalidField("ip", "an IPv4 address");
}

export function validateDevice(iface: string, vlanId: number | undefined): void {
  if (!IFNAME_RULE.test(iface)) throw invalidField("interface", "an interface name of at most 15 characters");
  if (vlanId !== undefined) {
    if (!Number.isInteger(vlanId) || vlanId < 1 || vlanId > 4094) {
      throw invalidField("vlanId", "an integer in 1..4094");
    }
    if (deviceName(iface, vlanId).length > 15) {
      throw invalidField(
        "vlanId",
        `"${deviceName(iface, vlanId)}" is longer than the 15 characters Linux allows`,
      );
    }
  }
}
