/**
 * NetlinkNetworkDriver decisions over a scripted addon (an in-memory kernel behind the
 * NativeNetBinding boundary): VLAN devices (no 8021q module on these machines, so the VLAN path is
 * checked on its steps), the kernel's EEXIST as a confirmation, one retry after a fresh dump,
 * removals sharing a round, a removal the kernel does not carry out, and callers that gave up.
 * The driver runs against the real kernel in test/integration/network-driver-netlink.contract.test.ts.
 */
import { describe, expect, it } from "vitest";
import {
  ERRNO,
  type NativeAddressAnswer,
  type NativeAddressChange,
  type NativeDumpedAddress,
  type NativeNetBinding,
} from "../../native/net.js";
import { RecordingRunner } from "../../src/exec/recording-runner.js";
import { NetlinkNetworkDriver } from "../../src/net/netlink-network-driver.js";
import { rejectionOf } from "../contract/driver-rejection.js";

interface KernelAddress {
  ip: string;
  prefixLength: number;
  device: string;
}

/** A kernel as far as the addon shows it; `calls` records what the driver asked for. */
class ScriptedKernel implements NativeNetBinding {
  readonly devices = new Set(["lo", "eth1", "eth2"]);
  addresses: KernelAddress[] = [
    { ip: "127.0.0.1", prefixLength: 8, device: "lo" },
    { ip: "198.51.100.11", prefixLength: 24, device: "eth1" },
  ];
  readonly calls: string[] = [];
  /** Addresses a deletion leaves in place (as if something put them back at once). */
  readonly pinned = new Set<string>();
  /** While set, deletions wait for it. */
  gate: Promise<void> | undefined;

  addAddresses(_target: unknown, changes: readonly NativeAddressChange[]): Promise<NativeAddressAnswer[]> {
    this.calls.push(`add ${changes.map(render).join(" ")}`);
    return Promise.resolve(
      changes.map((change) => {
        if (!this.devices.has(change.device))
          return { errno: ERRNO.ENODEV, code: "ENODEV", step: "link" as const };
        if (this.addresses.some((held) => same(held, change))) {
          return { errno: ERRNO.EEXIST, code: "EEXIST", step: "address" as const };
        }
        this.addresses.push({ ip: change.ip, prefixLength: change.prefixLength, device: change.device });
        return { errno: 0, code: "OK", step: "address" as const };
      }),
    );
  }

  async deleteAddresses(
    _target: unknown,
    changes: readonly NativeAddressChange[],
  ): Promise<NativeAddressAnswer[]> {
    this.calls.push(`delete ${changes.map(render).join(" ")}`);
    await this.gate;
    return changes.map((change) => {
      if (!this.devices.has(change.device))
        return { errno: ERRNO.ENODEV, code: "ENODEV", step: "link" as const };
      if (!this.addresses.some((held) => same(held, change))) {
        return { errno: ERRNO.EADDRNOTAVAIL, code: "EADDRNOTAVAIL", step: "address" as const };
      }
      if (!this.pinned.has(change.ip)) this.addresses = this.addresses.filter((held) => !same(held, change));
      return { errno: 0, code: "OK", step: "address" as const };
    });
  }

  dumpAddresses(): Promise<NativeDumpedAddress[]> {
    this.calls.push("dump");
    return Promise.resolve(this.addresses.map((held, at) => ({ ...held, ifindex: at + 1 })));
  }

  linkIndex(_target: unknown, device: string): Promise<number | null> {
    this.calls.push(`link ${device}`);
    return Promise.resolve(this.devices.has(device) ? 7 : null);
  }

  sendGratuitousArp(_target: unknown, device: string, ip: string): Promise<void> {
    this.calls.push(`arp ${device} ${ip}`);
    return Promise.resolve();
  }

  destroyTcpSockets(): Promise<never> {
    return Promise.reject(new Error("the network driver destroys no sockets"));
  }
}

function render(change: NativeAddressChange): string {
  return `${change.ip}/${change.prefixLength}@${change.device}`;
}

function same(held: KernelAddress, change: NativeAddressChange): boolean {
  return held.ip === change.ip && held.prefixLength === change.prefixLength && held.device === change.device;
}

function setup(): { kernel: ScriptedKernel; runner: RecordingRunner; driver: NetlinkNetworkDriver } {
  const kernel = new ScriptedKernel();
  const runner = new RecordingRunner().respond((call) => {
    if (call.command.startsWith("ip link add")) kernel.devices.add(call.args[5] ?? "?");
    return undefined;
  });
  return { kernel, runner, driver: new NetlinkNetworkDriver({ addon: kernel, runner }) };
}

describe("NetlinkNetworkDriver", () => {
  it("creates a missing VLAN device with ip, brings it up once, and adds the address there", async () => {
    const { kernel, runner, driver } = setup();
    await driver.addAddress({ ip: "198.51.100.60", prefixLength: 24, interface: "eth1", vlanId: 20 });
    await driver.addAddress({ ip: "198.51.100.61", prefixLength: 24, interface: "eth1", vlanId: 20 });
    expect(runner.commands()).toEqual([
      "ip link add link eth1 name eth1.20 type vlan id 20",
      "ip link set dev eth1.20 up",
    ]);
    expect(kernel.calls).toEqual([
      "dump",
      "link eth1.20",
      "add 198.51.100.60/24@eth1.20",
      "add 198.51.100.61/24@eth1.20",
    ]);
    expect(await driver.listAddresses()).toContainEqual({
      ip: "198.51.100.61",
      prefixLength: 24,
      interface: "eth1.20",
    });
  });

  it("an existing VLAN device is only brought up", async () => {
    const { kernel, runner, driver } = setup();
    kernel.devices.add("eth1.30");
    await driver.addAddress({ ip: "198.51.100.60", prefixLength: 24, interface: "eth1", vlanId: 30 });
    expect(runner.commands()).toEqual(["ip link set dev eth1.30 up"]);
  });

  it("takes the kernel's EEXIST for an address added behind its back as done, and lists it", async () => {
    const { kernel, driver } = setup();
    expect(await driver.hasAddress("198.51.100.60")).toBe(false);
    kernel.addresses.push({ ip: "198.51.100.60", prefixLength: 24, device: "eth1" });
    await driver.addAddress({ ip: "198.51.100.60", prefixLength: 24, interface: "eth1" });
    expect(await driver.hasAddress("198.51.100.60")).toBe(true);
    expect(kernel.calls).toEqual(["dump", "add 198.51.100.60/24@eth1"]);
  });

  it("a refused add is tried once more after a fresh dump, then fails with the kernel's reason", async () => {
    const { kernel, driver } = setup();
    const error = await rejectionOf(
      driver.addAddress({ ip: "198.51.100.60", prefixLength: 24, interface: "eth9" }),
    );
    expect(error).toMatchObject({ kind: "internal", reason: "DRIVER_FAILED" });
    expect(error.message).toContain("there is no device eth9");
    expect(kernel.calls).toEqual(["dump", "add 198.51.100.60/24@eth9", "dump", "add 198.51.100.60/24@eth9"]);
  });

  it("refuses an IP held elsewhere only after a fresh dump confirms it", async () => {
    const { kernel, driver } = setup();
    await driver.listAddresses();
    kernel.addresses.push({ ip: "198.51.100.60", prefixLength: 24, device: "eth2" });
    await driver.listAddresses({ fresh: true });
    kernel.addresses = kernel.addresses.filter((held) => held.ip !== "198.51.100.60");
    await driver.addAddress({ ip: "198.51.100.60", prefixLength: 24, interface: "eth1" });
    expect(kernel.addresses).toContainEqual({ ip: "198.51.100.60", prefixLength: 24, device: "eth1" });

    kernel.addresses.push({ ip: "198.51.100.61", prefixLength: 24, device: "eth2" });
    await driver.listAddresses({ fresh: true });
    expect(
      await rejectionOf(driver.addAddress({ ip: "198.51.100.61", prefixLength: 24, interface: "eth1" })),
    ).toMatchObject({
      kind: "failed_precondition",
      reason: "IP_USED_ALREADY",
      field: "ip",
    });
  });

  it("removals asked for during a round share the next one: one deletion send and one dump", async () => {
    const { kernel, driver } = setup();
    const ips = ["198.51.100.60", "198.51.100.61", "198.51.100.62", "198.51.100.63"];
    for (const ip of ips) await driver.addAddress({ ip, prefixLength: 24, interface: "eth1" });
    kernel.calls.length = 0;
    let open = (): void => undefined;
    kernel.gate = new Promise((resolve) => (open = resolve));
    const first = driver.removeAddress({ ip: "198.51.100.60" });
    await Promise.resolve();
    const rest = ips.slice(1).map((ip) => driver.removeAddress({ ip, interface: "eth1" }));
    kernel.gate = undefined;
    open();
    await Promise.all([first, ...rest]);
    expect(kernel.calls).toEqual([
      "delete 198.51.100.60/24@eth1",
      "dump",
      "delete 198.51.100.61/24@eth1 198.51.100.62/24@eth1 198.51.100.63/24@eth1",
      "dump",
    ]);
    for (const ip of ips) expect(await driver.hasAddress(ip)).toBe(false);
  });

  it("fails a removal when the dump still shows the IP after a second round", async () => {
    const { kernel, driver } = setup();
    await driver.addAddress({ ip: "198.51.100.60", prefixLength: 24, interface: "eth1" });
    kernel.pinned.add("198.51.100.60");
    expect(await rejectionOf(driver.removeAddress({ ip: "198.51.100.60" }))).toMatchObject({
      reason: "DRIVER_FAILED",
      message: "198.51.100.60 is still on the node after it was deleted",
    });
  });

  it("removes an address the model did not know of (found by the verifying dump)", async () => {
    const { kernel, driver } = setup();
    await driver.listAddresses();
    kernel.addresses.push({ ip: "198.51.100.60", prefixLength: 25, device: "eth2" });
    await driver.removeAddress({ ip: "198.51.100.60", interface: "eth1" });
    expect(kernel.addresses.some((held) => held.ip === "198.51.100.60")).toBe(false);
    expect(kernel.calls).toEqual(["dump", "dump", "delete 198.51.100.60/25@eth2", "dump"]);
  });

  it("a caller whose signal aborted changes nothing; announcements after close are not sent", async () => {
    const { kernel, driver } = setup();
    await driver.listAddresses();
    const signal = AbortSignal.abort();
    await expect(
      driver.addAddress({ ip: "198.51.100.60", prefixLength: 24, interface: "eth1" }, { signal }),
    ).rejects.toThrow();
    expect(kernel.calls).toEqual(["dump"]);
    expect(await driver.sendGratuitousArp({ ip: "198.51.100.11", interface: "eth1" })).toEqual({
      sent: true,
    });
    await driver.close();
    const late = await driver.announce({ ip: "198.51.100.11", interface: "eth1" }).finished;
    expect(late).toEqual({ sent: false, reason: "the network driver is closed" });
    expect(kernel.calls).toEqual(["dump", "arp eth1 198.51.100.11"]);
  });
});
