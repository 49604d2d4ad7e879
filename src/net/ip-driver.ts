/**
 * NetworkDriver over iproute2 (`ip -j` JSON output) and iputils `arping`.
 *
 * The driver keeps the node's IPv4 addresses in memory (read with `ip -j addr show` at first use,
 * updated after every change it makes, read again on `{ fresh: true }` and whenever the kernel
 * answers otherwise than expected), so that adding or removing a path IP is one command.
 *
 * - addAddress: refused (FAILED_PRECONDITION, IP_USED_ALREADY) when the address is on another
 *   device or with another prefix (after a fresh read confirms it); `ip addr add` otherwise, also
 *   when it is believed there already (the kernel's "already assigned" is then the confirmation). A VLAN device is created when missing
 *   (`ip link add link eth1 name eth1.20 type vlan id 20`) and brought up, then
 *   `ip addr add IP/PREFIX dev DEV`. VLAN devices are left in place when their address goes.
 * - removeAddress: one `ip -j -force -batch -` that deletes the address from every device known to
 *   hold it and then shows which devices still hold it (`addr show to IP/32`, a kernel read in the
 *   same process): it fails if the IP is still there after a second round. Removals asked for while
 *   one such command runs go together into the next one (group commit: under a drain, many cleans
 *   share one process); each caller gets the kernel's answer for its own IP.
 * - announce: `arping -q -U -c 1 -I DEV IP` in the background (it sends its unsolicited ARP at
 *   once, then waits one interval, 1 s, before it exits): the caller does not wait for it. Each
 *   arping has a timeout and is killed by close(); a failure is logged, never thrown.
 *   sendGratuitousArp waits for arping's exit and returns its outcome.
 */
import { SanpathError } from "../errors/sanpath-error.js";
import { CommandFailedError, isCommandFailedError, type CommandRunner } from "../exec/command-runner.js";
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

export interface IpDriverOptions {
  runner: CommandRunner;
  /** Per command; default 10 s. */
  commandTimeoutMs?: number;
  /** How long an arping may run; default 5 s. */
  arpTimeoutMs?: number;
  logger?: Logger;
}

/** Removals one `ip -batch` takes at most (the rest wait for the next one). */
const MAX_REMOVALS_PER_BATCH = 64;

/** A removal waiting for its turn in a shared `ip -batch`. */
interface Removal {
  readonly ip: string;
  readonly holders: readonly ConfiguredAddress[];
  readonly resolve: (left: ConfiguredAddress[]) => void;
  readonly reject: (error: unknown) => void;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

export class IpDriver implements NetworkDriver {
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;
  private readonly arpTimeoutMs: number;
  private readonly logger: Logger | undefined;
  /** The node's IPv4 addresses as this driver believes them to be; undefined = read first. */
  private known: ConfiguredAddress[] | undefined;
  private loading: Promise<ConfiguredAddress[]> | undefined;
  private readonly vlanDevicesUp = new Set<string>();
  private readonly lifetime = new AbortController();
  private readonly announcements = new Set<Promise<ArpResult>>();
  private readonly removals: Removal[] = [];
  private removing: Promise<void> | undefined;

  constructor(options: IpDriverOptions) {
    this.runner = options.runner;
    this.timeoutMs = options.commandTimeoutMs ?? 10_000;
    this.arpTimeoutMs = options.arpTimeoutMs ?? 5000;
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
      try {
        if (spec.vlanId !== undefined) await this.ensureVlanDevice(spec.interface, spec.vlanId, options);
        // Added even when believed there: "already assigned" then confirms it, and an address
        // removed behind the driver's back comes back.
        const added = await this.ip(
          ["addr", "add", `${spec.ip}/${spec.prefixLength}`, "dev", device],
          options,
          [2],
        );
        if (added.exitCode !== 0 && !/already assigned|File exists/i.test(added.stderr)) {
          throw new CommandFailedError({
            command: `ip addr add ${spec.ip}/${spec.prefixLength} dev ${device}`,
            failure: "exit",
            exitCode: added.exitCode,
            stdout: added.stdout,
            stderr: added.stderr.trim(),
          });
        }
      } catch (error) {
        if (attempt > 1 || !isExitFailure(error)) throw error;
        this.logger?.info(
          { ip: spec.ip, device, err: error.message },
          "the kernel's addresses are not as believed: reading them and trying once more",
        );
        this.known = undefined;
        this.vlanDevicesUp.clear();
        continue;
      }
      this.remember({ ip: spec.ip, prefixLength: spec.prefixLength, interface: device });
      this.logger?.info({ ip: spec.ip, device }, "address added");
      return;
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
      // The driver's model is updated when the command ends (also for a caller that stopped waiting).
      const left = await this.deleteAndShow(ref.ip, holders, options);
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
    const finished = this.runArping(ref, options);
    this.announcements.add(finished);
    void finished.finally(() => this.announcements.delete(finished));
    return { finished };
  }

  async close(): Promise<void> {
    this.lifetime.abort();
    await Promise.all([...this.announcements]);
  }

  // ---- internals -------------------------------------------------------------------------------

  private async runArping(ref: AddressSpec | AddressRef, options: NetworkCallOptions): Promise<ArpResult> {
    const signal =
      options.signal === undefined
        ? this.lifetime.signal
        : AbortSignal.any([this.lifetime.signal, options.signal]);
    try {
      let device: string;
      if (ref.interface === undefined) {
        const holder = (await this.addresses({ signal })).find((address) => address.ip === ref.ip);
        if (holder === undefined) return this.arpFailed(ref.ip, `${ref.ip} is not on any interface`);
        device = holder.interface;
      } else {
        device = deviceName(ref.interface, ref.vlanId);
      }
      await this.runner.run("arping", ["-q", "-U", "-c", "1", "-I", device, ref.ip], {
        timeoutMs: this.arpTimeoutMs,
        signal,
      });
      return { sent: true };
    } catch (error) {
      const reason =
        isCommandFailedError(error) && error.failure === "not_found"
          ? "arping is not installed (iputils-arping)"
          : error instanceof Error
            ? error.message
            : String(error);
      return this.arpFailed(ref.ip, reason);
    }
  }

  private arpFailed(ip: string, reason: string): ArpResult {
    this.logger?.warn({ ip, reason }, "gratuitous ARP not sent");
    return { sent: false, reason };
  }

  /** The believed addresses, read from the kernel first when asked or not known yet. */
  private async addresses(options: NetworkCallOptions): Promise<readonly ConfiguredAddress[]> {
    if (options.fresh !== true && this.known !== undefined) return this.known;
    if (options.fresh !== true && this.loading !== undefined) return this.loading;
    const reading = this.readAddresses(options);
    this.loading = reading;
    try {
      const addresses = await reading;
      if (this.loading === reading) this.known = addresses;
      return addresses;
    } finally {
      if (this.loading === reading) this.loading = undefined;
    }
  }

  private async readAddresses(options: NetworkCallOptions): Promise<ConfiguredAddress[]> {
    const { stdout } = await this.ip(["-j", "addr", "show"], options);
    return parseAddresses(stdout, "`ip -j addr show`");
  }

  /**
   * Deletes each holder of `ip`, then asks the kernel who holds it now; returns the holders left.
   * Joins the next shared `ip -batch` (see runRemovals). `signal` only stops this caller waiting: the
   * command, shared with other removals, runs to its end under the driver's own deadline.
   */
  private deleteAndShow(
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
      // Asked for after the last group was taken but before the runner ended.
      if (this.removals.length > 0) this.startRemovals();
    });
  }

  /**
   * Runs the removals waiting, one `ip -j -force -batch -` per group: every deletion first, then one
   * `addr show to IP/32` per removal (a kernel read after all the deletions; each prints its own
   * JSON line, and each caller keeps the addresses of its IP). A holder already gone makes its line
   * fail, which `-force` skips. A command that fails fails every removal of its group.
   */
  private async runRemovals(): Promise<void> {
    while (this.removals.length > 0) {
      const group = this.removals.splice(0, MAX_REMOVALS_PER_BATCH);
      const lines = [
        ...group.flatMap((removal) =>
          removal.holders.map(
            (holder) => `addr del ${holder.ip}/${holder.prefixLength} dev ${holder.interface}`,
          ),
        ),
        ...group.map((removal) => `addr show to ${removal.ip}/32`),
      ];
      try {
        const { stdout } = await this.runner.run("ip", ["-j", "-force", "-batch", "-"], {
          timeoutMs: this.timeoutMs,
          input: `${lines.join("\n")}\n`,
          acceptExitCodes: [1],
          // Not the driver's lifetime: close() must never cut a removal short (a path's IP must go,
          // e.g. in a fence tear-down that runs while the daemon stops); only its deadline ends it.
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const shown = parseAddresses(stdout, "`ip -batch … addr show to`");
        for (const removal of group) {
          const left = shown.filter(
            (address, at) =>
              address.ip === removal.ip && shown.findIndex((other) => sameAddress(other, address)) === at,
          );
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
    const shown = await this.ip(["-j", "link", "show", "dev", device], options, [1]);
    if (shown.exitCode !== 0) {
      await this.ip(
        ["link", "add", "link", iface, "name", device, "type", "vlan", "id", String(vlanId)],
        options,
      );
      this.logger?.info({ device }, "VLAN device created");
    }
    await this.ip(["link", "set", "dev", device, "up"], options);
    this.vlanDevicesUp.add(device);
  }

  private ip(args: readonly string[], options: NetworkCallOptions, acceptExitCodes: readonly number[] = []) {
    return this.runner.run("ip", args, {
      timeoutMs: this.timeoutMs,
      acceptExitCodes,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }
}

function sameAddress(left: ConfiguredAddress, right: ConfiguredAddress): boolean {
  return (
    left.ip === right.ip && left.prefixLength === right.prefixLength && left.interface === right.interface
  );
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new SanpathError("cancelled", "the caller stopped waiting for the address removal");
}

function isExitFailure(error: unknown): error is Error {
  return isCommandFailedError(error) && error.failure === "exit";
}

/** IPv4 addresses of every interface but loopback, from `ip -j addr show` output (possibly several arrays). */
function parseAddresses(stdout: string, what: string): ConfiguredAddress[] {
  let links: IpAddrJson[];
  try {
    links = stdout
      .split("\n")
      .filter((line) => line.trim() !== "")
      .flatMap((line) => JSON.parse(line) as IpAddrJson[]);
  } catch (error) {
    throw new SanpathError("internal", `${what} did not print JSON`, {
      reason: "DRIVER_FAILED",
      cause: error,
    });
  }
  const addresses: ConfiguredAddress[] = [];
  for (const link of links) {
    if (link.ifname === undefined || link.ifname === "lo") continue;
    for (const info of link.addr_info ?? []) {
      if (info.family !== "inet" || info.local === undefined || info.prefixlen === undefined) continue;
      addresses.push({ ip: info.local, prefixLength: info.prefixlen, interface: link.ifname });
    }
  }
  return addresses;
}
