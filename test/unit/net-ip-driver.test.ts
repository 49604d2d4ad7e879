/**
 * IpDriver decisions on scripted iproute2 output: VLAN devices (the 8021q module is not
 * available on these machines, so the VLAN path is checked on its command sequence),
 * idempotency, conflicts, verified removal, arping failures. The plain-interface path runs for
 * real in test/integration/iscsi-tgt.test.ts.
 */
import { describe, expect, it } from "vitest";
import { IpDriver } from "../../src/net/ip-driver.js";
import { RecordingRunner } from "../../src/exec/recording-runner.js";
import {
  CommandFailedError,
  renderCommand,
  type CommandArg,
  type CommandResult,
  type CommandRunner,
  type RunOptions,
} from "../../src/exec/command-runner.js";
import type { ArpResult } from "../../src/net/network-driver.js";
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

  it("confirms an address already there with the kernel, and refuses it on another device or prefix", async () => {
    const runner = new RecordingRunner()
      .when("ip -j addr show", {
        stdout: addrJson([{ ifname: "eth1", local: "198.51.100.50", prefixlen: 24 }]),
      })
      .when("ip addr add 198.51.100.50/24 dev eth1", {
        exitCode: 2,
        stderr: "Error: ipv4: Address already assigned.",
      });
    const driver = new IpDriver({ runner });
    await driver.addAddress({ ip: "198.51.100.50", prefixLength: 24, interface: "eth1" });
    expect(runner.commands()).toEqual(["ip -j addr show", "ip addr add 198.51.100.50/24 dev eth1"]);
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

  it("removes the address wherever it is, verified by the kernel in the same command, and fails when it stays", async () => {
    const listing = addrJson([{ ifname: "eth1.20", local: "203.0.113.50", prefixlen: 24 }]);
    const runner = new RecordingRunner()
      .when("ip -j addr show", { stdout: listing })
      .when(BATCH, { stdout: `${listing}\n` });
    const driver = new IpDriver({ runner });
    await expect(
      driver.removeAddress({ ip: "203.0.113.50", interface: "eth1", vlanId: 20 }),
    ).rejects.toSatisfy(
      (error) =>
        isSanpathError(error) && error.reason === "DRIVER_FAILED" && /still on the node/.test(error.message),
    );
    expect(runner.commands()).toEqual(["ip -j addr show", BATCH, BATCH]);
    expect(runner.calls.map((call) => call.options.input)).toEqual([
      undefined,
      "addr del 203.0.113.50/24 dev eth1.20\naddr show to 203.0.113.50/32\n",
      "addr del 203.0.113.50/24 dev eth1.20\naddr show to 203.0.113.50/32\n",
    ]);
  });

  it("removing an address that is not there only asks the kernel who holds it, and removes one it did not know of", async () => {
    const runner = new RecordingRunner().when("ip -j addr show", { stdout: addrJson([{ ifname: "eth1" }]) });
    const driver = new IpDriver({ runner });
    await driver.removeAddress({ ip: "203.0.113.50" });
    expect(runner.commands()).toEqual(["ip -j addr show", BATCH]);
    expect(runner.calls[1]?.options.input).toBe("addr show to 203.0.113.50/32\n");

    // Added behind the driver's back: the kernel's answer names the holder, which goes in a second round.
    let holder = addrJson([{ ifname: "eth2", local: "203.0.113.50", prefixlen: 25 }]);
    runner.when(BATCH, () => {
      const answer = { stdout: `${holder}\n` };
      holder = "[]";
      return answer;
    });
    runner.clear();
    await driver.removeAddress({ ip: "203.0.113.50", interface: "eth1" });
    expect(runner.calls.map((call) => call.options.input)).toEqual([
      "addr show to 203.0.113.50/32\n",
      "addr del 203.0.113.50/25 dev eth2\naddr show to 203.0.113.50/32\n",
    ]);
    expect(await driver.hasAddress("203.0.113.50")).toBe(false);
  });

  it("removals asked for while one runs share the next ip -batch; each caller gets its own IP's answer", async () => {
    const listing = addrJson([
      { ifname: "eth1", local: "198.51.100.51", prefixlen: 24 },
      { ifname: "eth2", local: "203.0.113.52", prefixlen: 24 },
      { ifname: "eth1", local: "198.51.100.53", prefixlen: 24 },
    ]);
    const runner = new HeldBatches(listing);
    const driver = new IpDriver({ runner });
    await driver.listAddresses();
    const first = driver.removeAddress({ ip: "198.51.100.51", interface: "eth1" });
    await runner.batchStarted(1);
    // While the first command runs, two more removals come: they wait and go together.
    const second = driver.removeAddress({ ip: "203.0.113.52", interface: "eth2" });
    const third = driver.removeAddress({ ip: "198.51.100.53", interface: "eth1" });
    // A caller that gave up before its turn runs nothing.
    const quitting = new AbortController();
    const abandoned = driver.removeAddress({ ip: "198.51.100.51" }, { signal: quitting.signal });
    quitting.abort();
    await expect(abandoned).rejects.toThrow();
    runner.finishBatch("[]");
    await first;
    await runner.batchStarted(2);
    // The kernel still shows 198.51.100.53 after its deletion: only that removal goes a second round.
    runner.finishBatch(addrJson([{ ifname: "eth1", local: "198.51.100.53", prefixlen: 24 }]));
    await second;
    await runner.batchStarted(3);
    runner.finishBatch("[]");
    await third;
    expect(runner.inputs).toEqual([
      "addr del 198.51.100.51/24 dev eth1\naddr show to 198.51.100.51/32\n",
      [
        "addr del 203.0.113.52/24 dev eth2",
        "addr del 198.51.100.53/24 dev eth1",
        "addr show to 203.0.113.52/32",
        "addr show to 198.51.100.53/32",
        "",
      ].join("\n"),
      "addr del 198.51.100.53/24 dev eth1\naddr show to 198.51.100.53/32\n",
    ]);
    expect(await driver.listAddresses()).toEqual([]);
  });

  it("reads the addresses once: adding and removing a path IP is then one command each", async () => {
    const runner = new RecordingRunner()
      .when("ip -j addr show", {
        stdout: addrJson([{ ifname: "eth1", local: "198.51.100.11", prefixlen: 24 }]),
      })
      .when(BATCH, { stdout: "[]\n" });
    const driver = new IpDriver({ runner });
    const path = { ip: "198.51.100.50", prefixLength: 24, interface: "eth1" };
    await driver.addAddress(path);
    await driver.addAddress(path);
    expect(await driver.hasAddress(path.ip)).toBe(true);
    await driver.removeAddress({ ip: path.ip, interface: "eth1" });
    expect(await driver.hasAddress(path.ip)).toBe(false);
    expect(runner.commands()).toEqual([
      "ip -j addr show",
      "ip addr add 198.51.100.50/24 dev eth1",
      "ip addr add 198.51.100.50/24 dev eth1",
      BATCH,
    ]);
    await driver.listAddresses({ fresh: true });
    expect(runner.commands().at(-1)).toBe("ip -j addr show");
  });

  it("an add the kernel refuses makes it read the addresses again and try once more (VLAN device deleted by hand)", async () => {
    let vlanDeviceExists = true;
    const runner = new RecordingRunner()
      .when("ip -j addr show", { stdout: addrJson([{ ifname: "eth1.20" }]) })
      .when("ip -j link show dev eth1.20", () =>
        vlanDeviceExists ? { stdout: "[]" } : { exitCode: 1, stderr: 'Device "eth1.20" does not exist.' },
      )
      .when(/^ip addr add .* dev eth1\.20$/, () =>
        vlanDeviceExists ? {} : { exitCode: 1, stderr: 'Cannot find device "eth1.20"' },
      )
      .when("ip link add link eth1 name eth1.20 type vlan id 20", () => {
        vlanDeviceExists = true;
        return {};
      });
    const driver = new IpDriver({ runner });
    await driver.addAddress({ ip: "203.0.113.50", prefixLength: 24, interface: "eth1", vlanId: 20 });
    vlanDeviceExists = false;
    runner.clear();
    await driver.addAddress({ ip: "203.0.113.51", prefixLength: 24, interface: "eth1", vlanId: 20 });
    expect(runner.commands()).toEqual([
      "ip addr add 203.0.113.51/24 dev eth1.20",
      "ip -j addr show",
      "ip -j link show dev eth1.20",
      "ip link add link eth1 name eth1.20 type vlan id 20",
      "ip link set dev eth1.20 up",
      "ip addr add 203.0.113.51/24 dev eth1.20",
    ]);
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

  it("announce returns before arping exits; close() kills the arping still running and waits for it", async () => {
    const runner = new ArpingHangs();
    const driver = new IpDriver({ runner });
    const announcement = driver.announce({ ip: "203.0.113.50", interface: "eth1" });
    let outcome: ArpResult | undefined;
    void announcement.finished.then((result) => (outcome = result));
    await new Promise((resolve) => setImmediate(resolve));
    expect(runner.running).toBe(1);
    expect(outcome).toBeUndefined();
    await driver.close();
    expect(runner.running).toBe(0);
    expect(outcome).toMatchObject({ sent: false });
    expect(outcome?.reason).toMatch(/cancelled/);
    expect(runner.calls[0]?.options.timeoutMs).toBe(5000);
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

const BATCH = "ip -j -force -batch -";

/** arping runs until its signal aborts (as the real one would wait its interval). */
class ArpingHangs implements CommandRunner {
  readonly calls: { command: string; options: RunOptions }[] = [];
  running = 0;

  run(file: string, args: readonly CommandArg[], options: RunOptions = {}): Promise<CommandResult> {
    const command = renderCommand(file, args);
    this.calls.push({ command, options });
    this.running += 1;
    return new Promise((_resolve, reject) => {
      options.signal?.addEventListener(
        "abort",
        () => {
          this.running -= 1;
          reject(
            new CommandFailedError({
              command,
              failure: "cancelled",
              exitCode: undefined,
              stdout: "",
              stderr: "",
            }),
          );
        },
        { once: true },
      );
    });
  }
}

/** `ip -j addr show` answers at once; each `ip -batch` waits until the test finishes it. */
class HeldBatches implements CommandRunner {
  readonly inputs: string[] = [];
  private readonly pending: ((stdout: string) => void)[] = [];
  private readonly started: (() => void)[] = [];

  constructor(private readonly listing: string) {}

  run(file: string, args: readonly CommandArg[], options: RunOptions = {}): Promise<CommandResult> {
    const command = renderCommand(file, args);
    if (command === "ip -j addr show") {
      return Promise.resolve({ stdout: this.listing, stderr: "", exitCode: 0 });
    }
    if (command !== BATCH) return Promise.reject(new Error(`unexpected command ${command}`));
    this.inputs.push(options.input ?? "");
    for (const wake of this.started.splice(0)) wake();
    return new Promise((resolve) => {
      this.pending.push((stdout) => {
        resolve({ stdout: `${stdout}\n`, stderr: "", exitCode: 0 });
      });
    });
  }

  /** Resolves once `count` batches have started. */
  async batchStarted(count: number): Promise<void> {
    while (this.inputs.length < count) {
      await new Promise<void>((resolve) => this.started.push(resolve));
    }
  }

  finishBatch(stdout: string): void {
    const finish = this.pending.shift();
    if (finish === undefined) throw new Error("no batch is running");
    finish(stdout);
  }
}
