/**
 * NetworkDriver over iproute2 (`ip -j` JSON output) and iputils `arping`.
 *
 * - addAddress: `ip -j addr show` first; nothing to do when the address is already on the
 *   device with the same prefix; refused (FAILED_PRECONDITION, IP_USED_ALREADY) when it is on
 *   another device or with another prefix. A VLAN device is created when missing
 *   (`ip link add link eth1 name eth1.20 type vlan id 20`) and brought up, then
 *   `ip addr add IP/PREFIX dev DEV`. VLAN devices are left in place when their address goes.
 * - removeAddress: `ip addr del IP/PREFIX dev DEV` for every device holding it, then reads the
 *   addresses again and fails if the IP is still there.
 * - sendGratuitousArp: `arping -U -c 1 -I DEV IP` (unsolicited ARP; takes about a second, as
 *   arping waits one interval after its probe). Missing arping or a failure is returned, not thrown.
 */
import { SanpathError } from "../errors/sanpath-error.js";
import { isCommandFailedError, type CommandRunner } from "../exec/command-runner.js";
import type { Logger } from "../log/logger.js";
import {
  deviceName,
  validateAddressSpec,
  validateDevice,
  validateIp,
  type AddressRef,
  type AddressSpec,
  type ArpResult,
  type ConfiguredAddress,
  type NetworkCallOptions,
  type NetworkDriver,
} from "./network-driver.js";

export interface IpDriverOptions {
  runner: CommandRunner;
  /** Per command; default 10 s. */
  commandTimeoutMs?: number;
  logger?: Logger;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

export class IpDriver implements NetworkDriver {
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;

  constructor(options: IpDriverOptions) {
    this.runner = options.runner;
    this.timeoutMs = options.commandTimeoutMs ?? 10_000;
    this.logger = options.logger;
  }

  async addAddress(spec: AddressSpec, options: NetworkCallOptions = {}): Promise<void> {
    validateAddressSpec(spec);
    const device = deviceName(spec.interface, spec.vlanId);
    const holders = (await this.listAddresses(options)).filter((address) => address.ip === spec.ip);
    if (holders.some((holder) => holder.interface === device && holder.prefixLength === spec.prefixLength)) {
      return;
    }
    const [elsewhere] = holders;
    if (elsewhere !== undefined) {
      throw new SanpathError(
        "failed_precondition",
        `${spec.ip} is already on ${elsewhere.interface} as /${elsewhere.prefixLength}, not on ${device} as /${spec.prefixLength}`,
        { reason: "IP_USED_ALREADY", field: "ip" },
      );
    }
    if (spec.vlanId !== undefined) await this.ensureVlanDevice(spec.interface, spec.vlanId, options);
    await this.ip(["addr", "add", `${spec.ip}/${spec.prefixLength}`, "dev", device], options);
    this.logger?.info({ ip: spec.ip, device }, "address added");
  }

  async removeAddress(ref: AddressRef, options: NetworkCallOptions = {}): Promise<void> {
    validateIp(ref.ip);
    const expectedDevice = ref.interface === undefined ? undefined : deviceName(ref.interface, ref.vlanId);
    if (ref.interface !== undefined) validateDevice(ref.interface, ref.vlanId);
    const holders = (await this.listAddresses(options)).filter((address) => address.ip === ref.ip);
    for (const holder of holders) {
      if (expectedDevice !== undefined && holder.interface !== expectedDevice) {
        this.logger?.warn(
          { ip: ref.ip, device: holder.interface, expectedDevice },
          "address found on another device",
        );
      }
      await this.ip(
        ["addr", "del", `${holder.ip}/${holder.prefixLength}`, "dev", holder.interface],
        options,
        [2],
      );
      this.logger?.info({ ip: ref.ip, device: holder.interface }, "address removed");
    }
    if (holders.length > 0 && (await this.hasAddress(ref.ip, options))) {
      throw new SanpathError("internal", `${ref.ip} is still on the node after it was deleted`, {
        reason: "DRIVER_FAILED",
      });
    }
  }

  async hasAddress(ip: string, options: NetworkCallOptions = {}): Promise<boolean> {
    validateIp(ip);
    return (await this.listAddresses(options)).some((address) => address.ip === ip);
  }

  async listAddresses(options: NetworkCallOptions = {}): Promise<ConfiguredAddress[]> {
    const { stdout } = await this.ip(["-j", "addr", "show"], options);
    let links: IpAddrJson[];
    try {
      links = JSON.parse(stdout) as IpAddrJson[];
    } catch (error) {
      throw new SanpathError("internal", "`ip -j addr show` did not print JSON", {
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

  async sendGratuitousArp(
    ref: AddressSpec | AddressRef,
    options: NetworkCallOptions = {},
  ): Promise<ArpResult> {
    validateIp(ref.ip);
    let device: string;
    if (ref.interface === undefined) {
      const holder = (await this.listAddresses(options)).find((address) => address.ip === ref.ip);
      if (holder === undefined) return this.arpFailed(ref.ip, `${ref.ip} is not on any interface`);
      device = holder.interface;
    } else {
      validateDevice(ref.interface, ref.vlanId);
      device = deviceName(ref.interface, ref.vlanId);
    }
    try {
      await this.runner.run("arping", ["-q", "-U", "-c", "1", "-I", device, ref.ip], {
        timeoutMs: 5000,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
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

  private async ensureVlanDevice(iface: string, vlanId: number, options: NetworkCallOptions): Promise<void> {
    const device = deviceName(iface, vlanId);
    const shown = await this.ip(["-j", "link", "show", "dev", device], options, [1]);
    if (shown.exitCode !== 0) {
      await this.ip(
        ["link", "add", "link", iface, "name", device, "type", "vlan", "id", String(vlanId)],
        options,
      );
      this.logger?.info({ device }, "VLAN device created");
    }
    await this.ip(["link", "set", "dev", device, "up"], options);
  }

  private ip(args: readonly string[], options: NetworkCallOptions, acceptExitCodes: readonly number[] = []) {
    return this.runner.run("ip", args, {
      timeoutMs: this.timeoutMs,
      acceptExitCodes,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }
}
