/**
 * NetworkDriver over the kernel's own interfaces, in this process: rtnetlink for the addresses and
 * an AF_PACKET socket for the gratuitous ARP (the sanpath_net addon, native/net.ts), each call on
 * a thread of the addon. A path move starts no process (issue #18); IpDriver (src/net/ip-driver.ts)
 * is the fallback when the addon cannot be loaded (src/net/create-network-driver.ts).
 *
 * The semantics are IpDriver's (the same contract suite, test/contract/network-driver.contract.ts):
 *
 * - The driver keeps the node's IPv4 addresses in memory (dumped at first use, updated after every
 *   change it makes, dumped again on `{ fresh: true }` and whenever the kernel answers otherwise
 *   than expected), so that adding or removing a path IP is one kernel request.
 * - addAddress: refused (FAILED_PRECONDITION, IP_USED_ALREADY) when the address is on another
 *   device or with another prefix (after a fresh dump confirms it); RTM_NEWADDR otherwise, also
 *   when it is believed there already (the kernel's EEXIST is then the confirmation, and an address
 *   removed behind the driver's back comes back). Any other refusal (no such device, ...) is tried
 *   once more after a fresh dump, then fails with DRIVER_FAILED. A VLAN device is created when
 *   missing with `ip link add link eth1 name eth1.20 type vlan id 20` and brought up with
 *   `ip link set` (processes: once per device, rarely), and left in place when its address goes.
 * - removeAddress: RTM_DELADDR from every device known to hold the IP, then a fresh dump: fails
 *   (DRIVER_FAILED) if the IP is still there after a second round. Removals asked for while one
 *   round runs go together into the next (one send for all their deletions, one dump): under a
 *   drain, many cleans share one round; each caller gets the kernel's answer for its own IP. A
 *   caller's signal only stops it waiting; close() never cuts a removal short.
 * - announce: one unsolicited ARP request, as `arping -U -c 1 -I DEV IP` sends it, in the
 *   background (the caller does not wait). sendGratuitousArp waits until the frame is queued on the
 *   device and returns the outcome. Never throws: a failure is reported and logged. close() waits
 *   for the announcements under way; after it, announcements are not sent.
 */
import {
  openNetChannel,
  type AddressOutcome,
  type KernelAddress,
  type NativeAddressChange,
  type NativeNetBinding,
  type NetChannel,
} from "../../native/net.js";
import { SanpathError } from "../errors/sanpath-error.js";
import type { CommandRunner } from "../exec/command-runner.js";
import type { Logger } from "../log/logger.js";
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
} from "./network-driver.js";

export interface NetlinkNetworkDriverOptions {
  /** The addon (native/net.ts loadNetBinding(), or a fake in unit tests). */
  addon: NativeNetBinding;
  /**
   * Runs `ip link` for VLAN devices, the only processes this driver starts; it must act in the
   * driver's namespace (with `netns`, e.g. a topology's runner for that host).
   */
  runner: CommandRunner;
  /** A namespace under /run/netns to act in (tests); omitted: the process's own (sanpathd). */
  netns?: string;
  /** Per kernel call and per `ip link`; default 10 s. */
  timeoutMs?: number;
  /** Per gratuitous ARP; default 5 s. */
  arpTimeoutMs?: number;
  logger?: Logger;
}

/** Removals one round takes at most (the rest wait for the next one). */
const MAX_REMOVALS_PER_ROUND = 64;

/** A removal waiting for its turn in a shared round. */
interface Removal {
  readonly ip: string;
  readonly holders: readonly ConfiguredAddress[];
  readonly resolve: (left: ConfiguredAddress[]) => void;
  readonly reject: (error: unknown) => void;
}

export class NetlinkNetworkDriver implements NetworkDriver {
  private readonly kernel: NetChannel;
  private readonly arp: NetChannel;
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;
  /** The node's IPv4 addresses as this driver believes them to be; undefined = dump first. */
  private known: ConfiguredAddress[] | undefined;
  private loading: Promise<ConfiguredAddress[]> | undefined;
  private readonly vlanDevicesUp = new Set<string>();
  private readonly lifetime = new AbortController();
  private readonly announcements = new Set<Promise<ArpResult>>();
  private readonly removals: Removal[] = [];
  private removing: Promise<void> | undefined;

  constructor(options: NetlinkNetworkDriverOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const netns = options.netns === undefined ? {} : { netns: options.netns };
    this.kernel = openNetChannel({ ...netns, timeoutMs: this.timeoutMs }, options.addon);
    this.arp = openNetChannel({ ...netns, timeoutMs: options.arpTimeoutMs ?? 5000 }, options.addon);
    this.runner = options.runner;
    this.logger = options.logger;
  }

  async addAddress(spec: AddressSpec, options: NetworkCallOptions = {}): Promise<void> {
    validateAddressSpec(spec);
    const device = deviceName(spec.interface, spec.vlanId);
    for (let attempt = 1; ; attempt++) {
      const holders = (await this.addresses(options)).filter((address) => address.ip === spec.ip);
      const [elsewhere] = holders.filter(
        (holder) => holder.interface !== device || holder.prefixLength !== spec.prefixLength,
      );
      if (elsewhere !== undefined) {
        if (attempt === 1 && options.fresh !== true) {
          // Believed elsewhere: make sure from the kernel before refusing.
          await this.addresses({ ...options, fresh: true });
          continue;
        }
        throw new SanpathError(
          "failed_precondition",
          `${spec.ip} is already on ${elsewhere.interface} as /${elsewhere.prefixLength}, not on ${device} as /${spec.prefixLength}`,
          { reason: "IP_USED_ALREADY", field: "ip" },
        );
      }
      if (spec.vlanId !== undefined) await this.ensureVlanDevice(spec.interface, spec.vlanId, options);
      if (options.signal?.aborted === true) throw abortReason(options.signal);
      const outcome = await untilAborted(
        this.addInKernel({ device, ip: spec.ip, prefixLength: spec.prefixLength }),
        options.signal,
      );
      if (outcome.kind === "done" || outcome.kind === "unchanged") {
        this.logger?.info({ ip: spec.ip, device }, "address added");
        return;
      }
      if (attempt > 1) throw outcome.error;
      this.logger?.info(
        { ip: spec.ip, device, err: outcome.error.message },
        "the kernel's addresses are not as believed: reading them and trying once more",
      );
      this.known = undefined;
      this.vlanDevicesUp.clear();
    }
  }

  async removeAddress(ref: AddressRef, options: NetworkCallOptions = {}): Promise<void> {
    validateIp(ref.ip);
    const expectedDevice = ref.interface === undefined ? undefined : deviceName(ref.interface, ref.vlanId);
    if (ref.interface !== undefined) validateDevice(ref.interface, ref.vlanId);
    let holders = (await this.addresses(options)).filter((address) => address.ip === ref.ip);
    for (let round = 1; ; round++) {
      for (const holder of holders) {
        if (expectedDevice !== undefined && holder.interface !== expectedDevice) {
          this.logger?.warn(
            { ip: ref.ip, device: holder.interface, expectedDevice },
            "address found on another device",
          );
        }
      }
      // The driver's model is updated when the round ends (also for a caller that stopped waiting).
      const left = await this.deleteAndDump(ref.ip, holders, options);
      for (const holder of holders) {
        if (!left.some((address) => sameAddress(address, holder))) {
          this.logger?.info({ ip: ref.ip, device: holder.interface }, "address removed");
        }
      }
      if (left.length === 0) return;
      if (round === 2) {
        throw new SanpathError("internal", `${ref.ip} is still on the node after it was deleted`, {
          reason: "DRIVER_FAILED",
        });
      }
      // The kernel knows holders this driver did not: delete those too.
      holders = left;
    }
  }

  async hasAddress(ip: string, options: NetworkCallOptions = {}): Promise<boolean> {
    validateIp(ip);
    return (await this.addresses(options)).some((address) => address.ip === ip);
  }

  async listAddresses(options: NetworkCallOptions = {}): Promise<ConfiguredAddress[]> {
    return [...(await this.addresses(options))];
  }

  async sendGratuitousArp(
    ref: AddressSpec | AddressRef,
    options: NetworkCallOptions = {},
  ): Promise<ArpResult> {
    return this.announce(ref, options).finished;
  }

  announce(ref: AddressSpec | AddressRef, options: NetworkCallOptions = {}): ArpAnnouncement {
    validateIp(ref.ip);
    if (ref.interface !== undefined) validateDevice(ref.interface, ref.vlanId);
    const finished = this.sendArp(ref, options);
    this.announcements.add(finished);
    void finished.finally(() => this.announcements.delete(finished));
    return { finished };
  }

  async close(): Promise<void> {
    this.lifetime.abort();
    await Promise.all([...this.announcements]);
  }

  // ---- internals -------------------------------------------------------------------------------

  /** RTM_NEWADDR; the model learns the address when the kernel has it (also for a caller gone). */
  private async addInKernel(change: NativeAddressChange): Promise<AddressOutcome> {
    const [outcome] = await this.kernel.addAddresses([change]);
    if (outcome === undefined)
      throw new SanpathError("internal", "the net addon gave no answer", { reason: "DRIVER_FAILED" });
    if (outcome.kind === "done" || outcome.kind === "unchanged") {
      this.remember({ ip: change.ip, prefixLength: change.prefixLength, interface: change.device });
    }
    return outcome;
  }

  private async sendArp(ref: AddressSpec | AddressRef, options: NetworkCallOptions): Promise<ArpResult> {
    const signal =
      options.signal === undefined
        ? this.lifetime.signal
        : AbortSignal.any([this.lifetime.signal, options.signal]);
    try {
      if (this.lifetime.signal.aborted) return this.arpFailed(ref.ip, "the network driver is closed");
      let device: string;
      if (ref.interface === undefined) {
        const holder = (await this.addresses({ signal })).find((address) => address.ip === ref.ip);
        if (holder === undefined) return this.arpFailed(ref.ip, `${ref.ip} is not on any interface`);
        device = holder.interface;
      } else {
        device = deviceName(ref.interface, ref.vlanId);
      }
      await untilAborted(this.arp.sendGratuitousArp(device, ref.ip), signal);
      return { sent: true };
    } catch (error) {
      return this.arpFailed(ref.ip, error instanceof Error ? error.message : String(error));
    }
  }

  private arpFailed(ip: string, reason: string): ArpResult {
    this.logger?.warn({ ip, reason }, "gratuitous ARP not sent");
    return { sent: false, reason };
  }

  /** The believed addresses, dumped from the kernel first when asked or not known yet. */
  private async addresses(options: NetworkCallOptions): Promise<readonly ConfiguredAddress[]> {
    if (options.fresh !== true && this.known !== undefined) return this.known;
    if (options.fresh !== true && this.loading !== undefined)
      return untilAborted(this.loading, options.signal);
    const reading = this.kernel.dumpAddresses().then(nodeAddresses);
    this.loading = reading;
    try {
      const addresses = await untilAborted(reading, options.signal);
      if (this.loading === reading) this.known = addresses;
      return addresses;
    } finally {
      if (this.loading === reading) this.loading = undefined;
    }
  }

  /**
   * Deletes each holder of `ip`, then dumps the kernel's addresses; returns the holders left. Joins
   * the next shared round (see runRemovals). `signal` only stops this caller waiting: the round,
   * shared with other removals, runs to its end under the driver's own deadline.
   */
  private deleteAndDump(
    ip: string,
    holders: readonly ConfiguredAddress[],
    options: NetworkCallOptions,
  ): Promise<ConfiguredAddress[]> {
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        if (signal !== undefined) reject(abortReason(signal));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const settle =
        <T>(then: (value: T) => void) =>
        (value: T): void => {
          signal?.removeEventListener("abort", onAbort);
          then(value);
        };
      this.removals.push({ ip, holders, resolve: settle(resolve), reject: settle(reject) });
      this.startRemovals();
    });
  }

  private startRemovals(): void {
    if (this.removing !== undefined) return;
    this.removing = this.runRemovals().finally(() => {
      this.removing = undefined;
      // Asked for after the last group was taken but before the round ended.
      if (this.removals.length > 0) this.startRemovals();
    });
  }

  /**
   * Runs the removals waiting, one round per group: every deletion in one RTM_DELADDR send, then
   * one dump, a kernel read after all the deletions (each caller keeps the addresses of its IP). A
   * holder already gone answers EADDRNOTAVAIL or ENODEV, which the dump settles; another refusal is
   * logged and settled by the dump too. A call that fails fails every removal of its group.
   */
  private async runRemovals(): Promise<void> {
    while (this.removals.length > 0) {
      const group = this.removals.splice(0, MAX_REMOVALS_PER_ROUND);
      const deletions = group.flatMap((removal) =>
        removal.holders.map((holder) => ({
          device: holder.interface,
          ip: holder.ip,
          prefixLength: holder.prefixLength,
        })),
      );
      try {
        const outcomes = await this.kernel.deleteAddresses(deletions);
        for (const [at, outcome] of outcomes.entries()) {
          if (outcome.kind === "refused") {
            this.logger?.warn(
              { ip: deletions[at]?.ip, err: outcome.error.message },
              "address deletion refused",
            );
          }
        }
        const shown = nodeAddresses(await this.kernel.dumpAddresses());
        for (const removal of group) {
          const left = shown.filter((address) => address.ip === removal.ip);
          for (const holder of removal.holders) this.forget(holder);
          for (const address of left) this.remember(address);
          removal.resolve(left);
        }
      } catch (error) {
        for (const removal of group) removal.reject(error);
      }
    }
  }

  private remember(address: ConfiguredAddress): void {
    if (this.known === undefined || this.known.some((known) => sameAddress(known, address))) return;
    this.known = [...this.known, address];
  }

  private forget(address: ConfiguredAddress): void {
    if (this.known === undefined) return;
    this.known = this.known.filter((known) => !sameAddress(known, address));
  }

  private async ensureVlanDevice(iface: string, vlanId: number, options: NetworkCallOptions): Promise<void> {
    const device = deviceName(iface, vlanId);
    if (this.vlanDevicesUp.has(device)) return;
    if (!(await untilAborted(this.kernel.linkExists(device), options.signal))) {
      await this.ip(
        ["link", "add", "link", iface, "name", device, "type", "vlan", "id", String(vlanId)],
        options,
      );
      this.logger?.info({ device }, "VLAN device created");
    }
    await this.ip(["link", "set", "dev", device, "up"], options);
    this.vlanDevicesUp.add(device);
  }

  private ip(args: readonly string[], options: NetworkCallOptions) {
    return this.runner.run("ip", args, {
      timeoutMs: this.timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }
}

/** IPv4 addresses of every device but loopback, as the port lists them. */
function nodeAddresses(dumped: readonly KernelAddress[]): ConfiguredAddress[] {
  return dumped
    .filter((address) => address.device !== "lo")
    .map((address) => ({ ip: address.ip, prefixLength: address.prefixLength, interface: address.device }));
}

function sameAddress(left: ConfiguredAddress, right: ConfiguredAddress): boolean {
  return (
    left.ip === right.ip && left.prefixLength === right.prefixLength && left.interface === right.interface
  );
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new SanpathError("cancelled", "the caller stopped waiting for the network change");
}

/** The operation's outcome, or the signal's reason once it aborts (the operation itself goes on). */
function untilAborted<T>(operation: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return operation;
  if (signal.aborted) {
    operation.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    operation.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
