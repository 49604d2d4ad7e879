/**
 * IpDriver decisions on scripted iproute2 output: VLAN devices (the 8021q module is not
 * available on these machines, so the VLAN path is checked on its command sequence),
 * idempotency, conflicts, verified removal, arping failures. The plain-interface path runs for
 * real in test/integration/iscsi-tgt.test.ts.
 */
import { describe, expect, it } from "vitest";
import { IpDriver } from "../../src/net/ip-driver.js";
import { RecordingRunner } from "../../src/exec/recording-runner.js";
import { CommandFailedError } from "../../src/exec/command-runner.js";
import { isSanpathError } from "../../src/errors/sanpath-error.js";

function addrJson(addresses: { ifname: string; local?: string; prefixlen?: number }[]): string {
  return JSON.stringify([
    { ifname: "lo", addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8 }] },
    ...addresses.map(({ ifname, local, prefixlen }) => ({
      ifname,
      addr_info:
        local === undefined
          ? []
          : [
              { family: "inet", local, prefixlen },
              { family: "inet6", local: "fe80::1", prefixlen: 64 },
            ],
    })),
  ]);
}

describe("IpDriver", () => {
  it("creates the VLAN device when missing, brings it up and adds the address there", async () => {
    const runner = new RecordingRunner()
      .when("ip -j addr show", {
        stdout: addrJson([{ ifname: "eth1", local: "203.0.113.11", prefixlen: 24 }]),
      })
      .when("ip -j link show dev eth1.20", { exitCode: 1, stderr: 'Device "eth1.20" does not exist.' });
    const driver = new IpDriver({ runner });
    await driver.addAddress({ ip: "203.0.113.50", prefixLength: 24, interface: "eth1", vlanId: 20 });
    expect(runner.commands()).toEqual([
      "ip -j addr show",
      "ip -j link show dev eth1.20",
      "ip link add link eth1 name eth1.20 type vlan id 20",
      "ip link set dev eth1.20 up",
      "ip addr add 203.0.113.50/24 dev eth1.20",
    ]);
  });

  it("reuses an existing VLAN device", async () => {
    const runner = new RecordingRunner()
      .when("ip -j addr show", { stdout: addrJson([{ ifname: "eth1.20" }]) })
      .when("ip -j link show dev eth1.20", { stdout: '[{"ifname":"eth1.20"}]' });
    await new IpDriver({ runner }).addAddress({
      ip: "203.0.113.50",
      prefixLength: 24,
      interface: "eth1",
      vlanId: 20,
    });
    expect(runner.commands()).not.toContain("ip link add link eth1 name eth1.20 type vlan id 20");
    expect(runner.commands().at(-1)).toBe("ip addr add 203.0.113.50/24 dev eth1.20");
  });

  it("does nothing when the address is already there, and refuses it on another device or prefix", async () => {
    const runner = new RecordingRunner().when("ip -j addr show", {
      stdout: addrJson([{ ifname: "eth1", local: "198.51.100.50", prefixlen: 24 }]),
    });
    const driver = new IpDriver({ runner });
    await driver.addAddress({ ip: "198.51.100.50", prefixLength: 24, interface: "eth1" });
    expect(runner.commands()).toEqual(["ip -j addr show"]);
    for (const conflicting of [
      { ip: "198.51.100.50", prefixLength: 24, interface: "eth2" },
      { ip: "198.51.100.50", prefixLength: 25, interface: "eth1" },
    ]) {
      await expect(driver.addAddress(conflicting)).rejects.toSatisfy(
        (error) =>
          isSanpathError(error) && error.kind === "failed_precondition" && error.reason === "IP_USED_ALREADY",
      );
    }
  });

  it("removes the address wherever it is and fails when it is still there afterwards", async () => {
    const listing = addrJson([{ ifname: "eth1.20", local: "203.0.113.50", prefixlen: 24 }]);
    const runner = new RecordingRunner().when("ip -j addr show", { stdout: listing });
    const driver = new IpDriver({ runner });
    await expect(
      driver.removeAddress({ ip: "203.0.113.50", interface: "eth1", vlanId: 20 }),
    ).rejects.toSatisfy(
      (error) =>
        isSanpathError(error) && error.reason === "DRIVER_FAILED" && /still on the node/.test(error.message),
    );
    expect(runner.commands()).toEqual([
      "ip -j addr show",
      "ip addr del 203.0.113.50/24 dev eth1.20",
      "ip -j addr show",
    ]);
  });

  it("removing an address that is not there is a no-op", async () => {
    const runner = new RecordingRunner().when("ip -j addr show", { stdout: addrJson([{ ifname: "eth1" }]) });
    await new IpDriver({ runner }).removeAddress({ ip: "203.0.113.50" });
    expect(runner.commands()).toEqual(["ip -j addr show"]);
  });

  it("lists IPv4 addresses of every interface but loopback", async () => {
    const runner = new RecordingRunner().when("ip -j addr show", {
      stdout: addrJson([
        { ifname: "eth1", local: "198.51.100.11", prefixlen: 24 },
        { ifname: "eth1.20", local: "203.0.113.50", prefixlen: 24 },
      ]),
    });
    expect(await new IpDriver({ runner }).listAddresses()).toEqual([
      { ip: "198.51.100.11", prefixLength: 24, interface: "eth1" },
      { ip: "203.0.113.50", prefixLength: 24, interface: "eth1.20" },
    ]);
  });

  it("sends the gratuitous ARP on the VLAN device, and reports a missing or failing arping instead of throwing", async () => {
    const runner = new RecordingRunner();
    const driver = new IpDriver({ runner });
    expect(await driver.sendGratuitousArp({ ip: "203.0.113.50", interface: "eth1", vlanId: 20 })).toEqual({
      sent: true,
    });
    expect(runner.commands()).toEqual(["arping -q -U -c 1 -I eth1.20 203.0.113.50"]);

    const missing = new RecordingRunner().when(
      /^arping/,
      new CommandFailedError({
        command: "arping",
        failure: "not_found",
        exitCode: undefined,
        stdout: "",
        stderr: "",
      }),
    );
    const result = await new IpDriver({ runner: missing }).sendGratuitousArp({
      ip: "203.0.113.50",
      interface: "eth1",
    });
    expect(result.sent).toBe(false);
    expect(result.reason).toMatch(/arping is not installed/);

    const failing = new RecordingRunner().when(/^arping/, {
      exitCode: 2,
      stderr: "arping: socket: Operation not permitted",
    });
    const failed = await new IpDriver({ runner: failing }).sendGratuitousArp({
      ip: "203.0.113.50",
      interface: "eth1",
    });
    expect(failed).toMatchObject({ sent: false });
    expect(failed.reason).toContain("Operation not permitted");
  });

  it("validates addresses, prefixes, interface names and VLAN ids", async () => {
    const driver = new IpDriver({ runner: new RecordingRunner() });
    const cases: [Parameters<IpDriver["addAddress"]>[0], string][] = [
      [{ ip: "198.51.100.500", prefixLength: 24, interface: "eth1" }, "ip"],
      [{ ip: "198.51.100.50", prefixLength: 33, interface: "eth1" }, "prefixLength"],
      [{ ip: "198.51.100.50", prefixLength: 24, interface: "eth1; reboot" }, "interface"],
      [{ ip: "198.51.100.50", prefixLength: 24, interface: "eth1", vlanId: 4095 }, "vlanId"],
      [{ ip: "198.51.100.50", prefixLength: 24, interface: "enp0s31f6abcd", vlanId: 100 }, "vlanId"],
    ];
    for (const [spec, field] of cases) {
      await expect(driver.addAddress(spec)).rejects.toSatisfy(
        (error) => isSanpathError(error) && error.field === field,
      );
    }
  });
});
