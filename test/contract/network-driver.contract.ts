/**
 * The NetworkDriver contract: what the node agent (src/node/path-setup.ts, reconcile, fencing)
 * relies on from every NetworkDriver (IpDriver in a network namespace, the in-memory fake).
 * Register it from a test file with a factory that gives each test a node holding only its own
 * address:
 *
 *   networkDriverContract("IpDriver", () => ({ driver, iface, otherIface, ownAddress, ips, ... }));
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AddressSpec, ConfiguredAddress, NetworkDriver } from "../../src/net/network-driver.js";
import { rejectionOf } from "./driver-rejection.js";

export interface NetworkDriverFixture {
  /** A driver that has not been used yet. */
  driver: NetworkDriver;
  /** A device on the node, holding `ownAddress`; the tests add their addresses here. */
  iface: string;
  /** Another device on the node. */
  otherIface: string;
  ownAddress: ConfiguredAddress;
  /** At least four free IPs in `iface`'s subnet, and their prefix length. */
  ips: readonly string[];
  prefixLength: number;
  /** Changes behind the driver's back (an administrator with `ip addr`). */
  external: {
    addAddress(address: ConfiguredAddress): Promise<void>;
    removeAddress(address: ConfiguredAddress): Promise<void>;
  };
  close?: () => Promise<void>;
}

export type NetworkDriverFactory = () => NetworkDriverFixture | Promise<NetworkDriverFixture>;

export interface NetworkCapabilities {
  /** VLAN sub-interfaces can be created (IpDriver needs the 8021q module, missing on CI machines). */
  vlans?: boolean;
}

export function networkDriverContract(
  name: string,
  factory: NetworkDriverFactory,
  capabilities: NetworkCapabilities = {},
): void {
  describe(`NetworkDriver contract: ${name}`, () => {
    let current: NetworkDriverFixture | undefined;
    beforeEach(async () => {
      current = await factory();
    });
    afterEach(async () => {
      const made = current;
      current = undefined;
      await made?.driver.close();
      await made?.close?.();
    });
    const fx = (): NetworkDriverFixture => {
      if (current === undefined) throw new Error("no fixture outside a test");
      return current;
    };
    const ip = (index: number): string => {
      const found = fx().ips[index];
      if (found === undefined) throw new Error(`the fixture has no ips[${index}]`);
      return found;
    };
    const path = (index: number, overrides: Partial<AddressSpec> = {}): AddressSpec => ({
      ip: ip(index),
      prefixLength: fx().prefixLength,
      interface: fx().iface,
      ...overrides,
    });
    const holders = async (driver: NetworkDriver, address: string, fresh = false) =>
      (await driver.listAddresses({ fresh })).filter((held) => held.ip === address);

    describe("addresses", () => {
      it("lists the node's IPv4 addresses, not loopback", async () => {
        const { driver, ownAddress } = fx();
        for (const fresh of [false, true]) {
          const listed = await driver.listAddresses({ fresh });
          expect(listed).toContainEqual(ownAddress);
          expect(listed.some((address) => address.ip.startsWith("127.") || address.interface === "lo")).toBe(
            false,
          );
          expect(listed.every((address) => !address.ip.includes(":"))).toBe(true);
        }
        expect(await driver.hasAddress(ownAddress.ip)).toBe(true);
        expect(await driver.hasAddress(ip(0))).toBe(false);
      });

      it("adds an address once, however often asked; believed and fresh listings agree", async () => {
        const { driver, iface, prefixLength } = fx();
        await driver.addAddress(path(0));
        await driver.addAddress(path(0));
        expect(await driver.hasAddress(ip(0))).toBe(true);
        expect(await driver.hasAddress(ip(0), { fresh: true })).toBe(true);
        const expected = [{ ip: ip(0), prefixLength, interface: iface }];
        expect(await holders(driver, ip(0))).toEqual(expected);
        expect(await holders(driver, ip(0), true)).toEqual(expected);
        expect(sorted(await driver.listAddresses())).toEqual(
          sorted(await driver.listAddresses({ fresh: true })),
        );
      });

      it("refuses an address held on another device or with another prefix (IP_USED_ALREADY, field ip)", async () => {
        const { driver, otherIface, prefixLength } = fx();
        await driver.addAddress(path(0));
        for (const conflicting of [
          path(0, { interface: otherIface }),
          path(0, { prefixLength: prefixLength + 1 }),
        ]) {
          expect(await rejectionOf(driver.addAddress(conflicting))).toMatchObject({
            kind: "failed_precondition",
            reason: "IP_USED_ALREADY",
            field: "ip",
          });
        }
        expect(await holders(driver, ip(0), true)).toEqual([
          { ip: ip(0), prefixLength, interface: fx().iface },
        ]);
      });

      it("fails on a device that does not exist (DRIVER_FAILED), adding nothing", async () => {
        const { driver } = fx();
        expect(await rejectionOf(driver.addAddress(path(0, { interface: "nosuch0" })))).toMatchObject({
          reason: "DRIVER_FAILED",
        });
        expect(await driver.hasAddress(ip(0), { fresh: true })).toBe(false);
      });

      it("removes an address, verified gone; removing it again is a no-op", async () => {
        const { driver, iface } = fx();
        await driver.addAddress(path(0));
        await driver.addAddress(path(1));
        await driver.removeAddress({ ip: ip(0), interface: iface });
        expect(await driver.hasAddress(ip(0))).toBe(false);
        expect(await driver.hasAddress(ip(0), { fresh: true })).toBe(false);
        await driver.removeAddress({ ip: ip(0), interface: iface });
        await driver.removeAddress({ ip: ip(0) });
        expect(await driver.hasAddress(ip(1), { fresh: true })).toBe(true);
      });

      it("removes an address from whichever device holds it", async () => {
        const { driver, otherIface } = fx();
        await driver.addAddress(path(0));
        await driver.removeAddress({ ip: ip(0), interface: otherIface });
        expect(await driver.hasAddress(ip(0), { fresh: true })).toBe(false);
        await driver.addAddress(path(1));
        await driver.removeAddress({ ip: ip(1) });
        expect(await driver.hasAddress(ip(1), { fresh: true })).toBe(false);
      });

      it("adds and removes several addresses at the same time", async () => {
        const { driver } = fx();
        await Promise.all([0, 1, 2, 3].map((index) => driver.addAddress(path(index))));
        for (const index of [0, 1, 2, 3])
          expect(await driver.hasAddress(ip(index), { fresh: true })).toBe(true);
        await Promise.all(
          [0, 1, 2, 3].map((index) => driver.removeAddress({ ip: ip(index), interface: fx().iface })),
        );
        for (const index of [0, 1, 2, 3])
          expect(await driver.hasAddress(ip(index), { fresh: true })).toBe(false);
        expect(await driver.listAddresses()).toContainEqual(fx().ownAddress);
      });

      it.runIf(capabilities.vlans === true)(
        "puts an address on a VLAN device, created when missing",
        async () => {
          const { driver, iface, prefixLength } = fx();
          await driver.addAddress(path(0, { vlanId: 20 }));
          await driver.addAddress(path(0, { vlanId: 20 }));
          expect(await holders(driver, ip(0), true)).toEqual([
            { ip: ip(0), prefixLength, interface: `${iface}.20` },
          ]);
          await driver.removeAddress({ ip: ip(0), interface: iface, vlanId: 20 });
          expect(await driver.hasAddress(ip(0), { fresh: true })).toBe(false);
        },
      );
    });

    describe("what the driver believes and what is there", () => {
      it("a fresh read sees addresses added and removed behind its back", async () => {
        const { driver, external, iface, prefixLength } = fx();
        await driver.listAddresses();
        const behind = { ip: ip(0), prefixLength, interface: iface };
        await external.addAddress(behind);
        expect(await driver.hasAddress(ip(0), { fresh: true })).toBe(true);
        expect(await driver.hasAddress(ip(0))).toBe(true);
        await external.removeAddress(behind);
        expect(await driver.hasAddress(ip(0), { fresh: true })).toBe(false);
        expect(await driver.hasAddress(ip(0))).toBe(false);
      });

      it("removes an address it did not know of, and adds again one removed behind its back", async () => {
        const { driver, external, iface, prefixLength } = fx();
        await driver.listAddresses();
        const behind = { ip: ip(0), prefixLength, interface: iface };
        await external.addAddress(behind);
        await driver.removeAddress({ ip: ip(0), interface: iface });
        expect(await driver.hasAddress(ip(0), { fresh: true })).toBe(false);

        await driver.addAddress(path(1));
        await external.removeAddress({ ip: ip(1), prefixLength, interface: iface });
        await driver.addAddress(path(1));
        expect(await driver.hasAddress(ip(1), { fresh: true })).toBe(true);
      });
    });

    describe("gratuitous ARP", () => {
      it("announces an address on its device, named or found; reports instead of throwing", async () => {
        const { driver, iface } = fx();
        await driver.addAddress(path(0));
        expect(await driver.sendGratuitousArp({ ip: ip(0), interface: iface })).toEqual({ sent: true });
        expect(await driver.sendGratuitousArp({ ip: ip(0) })).toEqual({ sent: true });
        expect(await driver.sendGratuitousArp(path(0))).toEqual({ sent: true });
        const nowhere = await driver.sendGratuitousArp({ ip: ip(1) });
        expect(nowhere.sent).toBe(false);
        expect(nowhere.reason).toEqual(expect.any(String));
        const noDevice = await driver.sendGratuitousArp({ ip: ip(0), interface: "nosuch0" });
        expect(noDevice.sent).toBe(false);
        expect(noDevice.reason).toEqual(expect.any(String));
      });

      it("announce returns at once; close waits for it; after close, announcements report not sent", async () => {
        const { driver, iface } = fx();
        await driver.addAddress(path(0));
        const announcement = driver.announce({ ip: ip(0), interface: iface });
        expect(announcement.finished).toBeInstanceOf(Promise);
        await driver.close();
        // Sent, or cut short by close (arping lingers an interval after sending): settled either way.
        const outcome = await announcement.finished;
        expect(outcome.sent || typeof outcome.reason === "string").toBe(true);
        const late = await driver.announce({ ip: ip(0), interface: iface }).finished;
        expect(late.sent).toBe(false);
        // close() does not stop the driver's address changes (a fence tear-down may run while closing).
        await driver.removeAddress({ ip: ip(0), interface: iface });
        expect(await driver.hasAddress(ip(0), { fresh: true })).toBe(false);
        await driver.addAddress(path(1));
        expect(await driver.hasAddress(ip(1), { fresh: true })).toBe(true);
      });
    });

    describe("callers that gave up", () => {
      it("an add or a removal whose signal has aborted rejects; a removal then leaves the address", async () => {
        const { driver, iface } = fx();
        await driver.addAddress(path(0));
        const signal = AbortSignal.abort();
        await expect(driver.addAddress(path(1), { signal })).rejects.toThrow();
        await expect(driver.removeAddress({ ip: ip(0), interface: iface }, { signal })).rejects.toThrow();
        expect(await driver.hasAddress(ip(0), { fresh: true })).toBe(true);
      });
    });

    describe("validation", () => {
      it("names the field at fault (INVALID_FIELD) and changes nothing", async () => {
        const { driver, iface } = fx();
        const cases: [AddressSpec, string][] = [
          [path(0, { ip: "198.51.100.500" }), "ip"],
          [path(0, { ip: "2001:db8::1" }), "ip"],
          [path(0, { prefixLength: 0 }), "prefixLength"],
          [path(0, { prefixLength: 33 }), "prefixLength"],
          [path(0, { interface: "eth1; reboot" }), "interface"],
          [path(0, { interface: "a-very-long-interface-name" }), "interface"],
          [path(0, { vlanId: 0 }), "vlanId"],
          [path(0, { vlanId: 4095 }), "vlanId"],
          [path(0, { interface: "enp0s31f6abcd", vlanId: 100 }), "vlanId"],
        ];
        for (const [bad, field] of cases) {
          expect(await rejectionOf(driver.addAddress(bad))).toMatchObject({
            kind: "invalid_argument",
            reason: "INVALID_FIELD",
            field,
          });
        }
        expect(await rejectionOf(driver.removeAddress({ ip: "nope" }))).toMatchObject({ field: "ip" });
        expect(await rejectionOf(driver.removeAddress({ ip: ip(0), interface: "bad name" }))).toMatchObject({
          field: "interface",
        });
        expect(await rejectionOf(driver.hasAddress("nope"))).toMatchObject({ field: "ip" });
        expect(await rejectionOf(driver.sendGratuitousArp({ ip: "nope", interface: iface }))).toMatchObject({
          field: "ip",
        });
        expect(() => driver.announce({ ip: "nope", interface: iface })).toThrow(/ip/);
        expect(await driver.hasAddress(ip(0), { fresh: true })).toBe(false);
      });
    });
  });
}

function sorted(addresses: ConfiguredAddress[]): ConfiguredAddress[] {
  return [...addresses].sort((left, right) =>
    `${left.interface} ${left.ip}`.localeCompare(`${right.interface} ${right.ip}`),
  );
}
