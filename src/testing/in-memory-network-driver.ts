/**
 * A NetworkDriver over an in-memory "kernel", with the observable semantics of IpDriver
 * (src/net/ip-driver.ts), checked by the same contract suite (test/contract/network-driver.contract.ts):
 *
 * - The driver answers listings from what it believes the node holds (read at first use, updated
 *   by its own changes, read again on `{ fresh: true }`); changes made behind its back with
 *   `external` show only after a fresh read or when one of its own changes finds them.
 * - addAddress: idempotent; refused with FAILED_PRECONDITION / IP_USED_ALREADY (field "ip") when
 *   the IP is on another device or with another prefix; creates `<if>.<vlan>` when missing; fails
 *   like `ip` (a CommandFailedError, DRIVER_FAILED) on a device that does not exist.
 * - removeAddress: from whichever device holds it, verified gone (an address pinned with
 *   `external.pin` stays, and the removal fails with DRIVER_FAILED as the real one would).
 * - announce / sendGratuitousArp never reject: `{ sent: false, reason }` for an IP on no
 *   interface, a device that does not exist, an injected failure, or a driver closed. ARPs sent
 *   are recorded in `arps`. close() ends announcements still under way (e.g. hung by a fault).
 * - Faults and the call record: `faults` (see DriverFaults); a hung call ends when its signal aborts.
 */
import { SanpathError } from "../errors/sanpath-error.js";
import { CommandFailedError } from "../exec/command-runner.js";
import {
  deviceName,
  validateAddressSpec,
  validateDevice,
  validateIp,
  type AddressRef,
  type AddressSpec,
  type ArpAnnouncement,
  type ArpResult,
  type ConfiguredAddress,
  type NetworkCallOptions,
  type NetworkDriver,
} from "../net/network-driver.js";
import type { AddressChange } from "../net/address-watch.js";
import { DriverFaults } from "./driver-faults.js";

export type NetworkMethod =
  "addAddress" | "removeAddress" | "hasAddress" | "listAddresses" | "sendGratuitousArp" | "announce";

export interface InMemoryNetworkDriverOptions {
  /** The node's devices (default ["eth1"]); VLAN devices on them are created by addAddress. */
  interfaces?: readonly string[];
  /** Addresses on the node at the start (e.g. the interfaces' own); their devices are added. */
  addresses?: readonly ConfiguredAddress[];
}

export interface SentArp {
  ip: string;
  device: string;
}

export class InMemoryNetworkDriver implements NetworkDriver {
  readonly faults = new DriverFaults<NetworkMethod>(abortReason);
  /** Gratuitous ARPs sent, in order. */
  readonly arps: SentArp[] = [];
  /** The node as it really is. */
  private kernelAddressList: ConfiguredAddress[] = [];
  private readonly changeListeners = new Set<(change: AddressChange) => void>();
  private readonly devices: Set<string>;
  private readonly pinned = new Set<string>();
  /** What the driver believes; undefined = read the kernel at next use. */
  private believed: ConfiguredAddress[] | undefined;
  private readonly lifetime = new AbortController();
  private readonly announcements = new Set<Promise<ArpResult>>();

  constructor(options: InMemoryNetworkDriverOptions = {}) {
    this.kernel = (options.addresses ?? []).map((address) => ({ ...address }));
    this.devices = new Set([...(options.interfaces ?? ["eth1"]), ...this.kernel.map((a) => a.interface)]);
  }

  /** Changes behind the driver's back (an administrator, another process, a reboot). */
  readonly external = {
    addAddress: (address: ConfiguredAddress): void => {
      this.devices.add(address.interface);
      if (!this.kernel.some((known) => sameAddress(known, address)))
        this.kernel = [...this.kernel, { ...address }];
    },
    /** Removes the IP from every device (even a pinned one). */
    removeAddress: (ip: string): void => {
      this.kernel = this.kernel.filter((address) => address.ip !== ip);
    },
    addDevice: (name: string): void => {
      this.devices.add(name);
    },
    /** The device goes, with its addresses. */
    removeDevice: (name: string): void => {
      this.devices.delete(name);
      this.kernel = this.kernel.filter((address) => address.interface !== name);
    },
    /** The IP cannot be removed by the driver (its removal fails verification) until unpinned. */
    pin: (ip: string): void => {
      this.pinned.add(ip);
    },
    unpin: (ip: string): void => {
      this.pinned.delete(ip);
    },
  };

  /** The node's addresses as they really are (not as the driver believes). */
  /** Calls `listener` after every change of the kernel's addresses; returns the unsubscribe. */
  onAddressChange(listener: (change: AddressChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private get kernel(): ConfiguredAddress[] {
    return this.kernelAddressList;
  }

  private set kernel(next: ConfiguredAddress[]) {
    const before = this.kernelAddressList;
    this.kernelAddressList = next;
    const changes: AddressChange[] = [
      ...before
        .filter((old) => !next.some((address) => sameAddress(address, old)))
        .map((old): AddressChange => ({ kind: "deleted", ip: old.ip })),
      ...next
        .filter((address) => !before.some((old) => sameAddress(address, old)))
        .map((address): AddressChange => ({ kind: "added", ip: address.ip })),
    ];
    for (const change of changes) for (const listener of [...this.changeListeners]) listener(change);
  }

  kernelAddresses(): ConfiguredAddress[] {
    return this.kernel.map((address) => ({ ...address }));
  }

  hasDevice(name: string): boolean {
    return this.devices.has(name);
  }

  async addAddress(spec: AddressSpec, options: NetworkCallOptions = {}): Promise<void> {
    validateAddressSpec(spec);
    await this.faults.enter("addAddress", [spec], options.signal);
    const device = deviceName(spec.interface, spec.vlanId);
    const conflict = (addresses: readonly ConfiguredAddress[]): ConfiguredAddress | undefined =>
      addresses.find(
        (address) =>
          address.ip === spec.ip &&
          (address.interface !== device || address.prefixLength !== spec.prefixLength),
      );
    // Believed elsewhere: made sure from the kernel before refusing.
    let elsewhere = conflict(this.read(options));
    if (elsewhere !== undefined && options.fresh !== true) elsewhere = conflict(this.read({ fresh: true }));
    if (elsewhere !== undefined) {
      throw new SanpathError(
        "failed_precondition",
        `${spec.ip} is already on ${elsewhere.interface} as /${elsewhere.prefixLength}, not on ${device} as /${spec.prefixLength}`,
        { reason: "IP_USED_ALREADY", field: "ip" },
      );
    }
    if (spec.vlanId !== undefined && !this.devices.has(device)) {
      if (!this.devices.has(spec.interface)) {
        this.believed = undefined;
        throw commandFailed(
          `ip link add link ${spec.interface} name ${device} type vlan id ${spec.vlanId}`,
          `Cannot find device "${spec.interface}"`,
        );
      }
      this.devices.add(device);
    }
    if (!this.devices.has(device)) {
      this.believed = undefined;
      throw commandFailed(
        `ip addr add ${spec.ip}/${spec.prefixLength} dev ${device}`,
        `Cannot find device "${device}"`,
      );
    }
    const added = { ip: spec.ip, prefixLength: spec.prefixLength, interface: device };
    if (!this.kernel.some((address) => sameAddress(address, added))) this.kernel = [...this.kernel, added];
    this.remember(added);
  }

  async removeAddress(ref: AddressRef, options: NetworkCallOptions = {}): Promise<void> {
    validateIp(ref.ip);
    if (ref.interface !== undefined) validateDevice(ref.interface, ref.vlanId);
    await this.faults.enter("removeAddress", [ref], options.signal);
    // Round one deletes the holders the driver knows of, round two those the kernel still shows.
    let holders = this.read({}).filter((address) => address.ip === ref.ip);
    for (let round = 1; ; round++) {
      for (const holder of holders) {
        if (!this.pinned.has(holder.ip)) this.kernel = this.kernel.filter((a) => !sameAddress(a, holder));
        this.forget(holder);
      }
      const left = this.kernel.filter((address) => address.ip === ref.ip);
      for (const address of left) this.remember(address);
      if (left.length === 0) return;
      if (round === 2) {
        throw new SanpathError("internal", `${ref.ip} is still on the node after it was deleted`, {
          reason: "DRIVER_FAILED",
        });
      }
      holders = left;
    }
  }

  async hasAddress(ip: string, options: NetworkCallOptions = {}): Promise<boolean> {
    validateIp(ip);
    await this.faults.enter("hasAddress", [ip], options.signal);
    return this.read(options).some((address) => address.ip === ip);
  }

  async listAddresses(options: NetworkCallOptions = {}): Promise<ConfiguredAddress[]> {
    await this.faults.enter("listAddresses", [], options.signal);
    return this.read(options).map((address) => ({ ...address }));
  }

  async sendGratuitousArp(
    ref: AddressSpec | AddressRef,
    options: NetworkCallOptions = {},
  ): Promise<ArpResult> {
    validateArpRef(ref);
    return this.arp("sendGratuitousArp", ref, options);
  }

  announce(ref: AddressSpec | AddressRef, options: NetworkCallOptions = {}): ArpAnnouncement {
    validateArpRef(ref);
    return { finished: this.arp("announce", ref, options) };
  }

  async close(): Promise<void> {
    this.lifetime.abort();
    await Promise.all([...this.announcements]);
  }

  // ---- internals -------------------------------------------------------------------------------

  private arp(
    method: "announce" | "sendGratuitousArp",
    ref: AddressSpec | AddressRef,
    options: NetworkCallOptions,
  ): Promise<ArpResult> {
    const signal =
      options.signal === undefined
        ? this.lifetime.signal
        : AbortSignal.any([this.lifetime.signal, options.signal]);
    const finished = this.runArp(method, ref, signal);
    this.announcements.add(finished);
    void finished.finally(() => this.announcements.delete(finished));
    return finished;
  }

  private async runArp(
    method: "announce" | "sendGratuitousArp",
    ref: AddressSpec | AddressRef,
    signal: AbortSignal,
  ): Promise<ArpResult> {
    try {
      await this.faults.enter(method, [{ ...ref }], signal);
      const device =
        ref.interface === undefined
          ? this.read({}).find((address) => address.ip === ref.ip)?.interface
          : deviceName(ref.interface, ref.vlanId);
      if (device === undefined) return { sent: false, reason: `${ref.ip} is not on any interface` };
      if (!this.devices.has(device)) return { sent: false, reason: `arping: interface ${device} not found` };
      this.arps.push({ ip: ref.ip, device });
      return { sent: true };
    } catch (error) {
      return { sent: false, reason: error instanceof Error ? error.message : String(error) };
    }
  }

  private read(options: NetworkCallOptions): ConfiguredAddress[] {
    if (options.fresh === true || this.believed === undefined) {
      this.believed = this.kernel.map((address) => ({ ...address }));
    }
    return this.believed;
  }

  private remember(address: ConfiguredAddress): void {
    if (this.believed === undefined || this.believed.some((known) => sameAddress(known, address))) return;
    this.believed.push({ ...address });
  }

  private forget(address: ConfiguredAddress): void {
    if (this.believed === undefined) return;
    this.believed = this.believed.filter((known) => !sameAddress(known, address));
  }
}

function validateArpRef(ref: AddressSpec | AddressRef): void {
  validateIp(ref.ip);
  if (ref.interface !== undefined) validateDevice(ref.interface, ref.vlanId);
}

function sameAddress(left: ConfiguredAddress, right: ConfiguredAddress): boolean {
  return (
    left.ip === right.ip && left.prefixLength === right.prefixLength && left.interface === right.interface
  );
}

/** As IpDriver: the signal's reason when it is an Error, else "cancelled". */
function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new SanpathError("cancelled", "the caller stopped waiting for the network driver");
}

function commandFailed(command: string, stderr: string): CommandFailedError {
  return new CommandFailedError({ command, failure: "exit", exitCode: 1, stdout: "", stderr });
}
