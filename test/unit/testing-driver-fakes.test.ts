/**
 * What the in-memory driver fakes offer beyond the contract (test/contract/*-driver.contract.ts):
 * injected failures and hangs, the call record, changes behind the driver's back, and how
 * PathSetup behaves over them (the use they are made for).
 */
import { describe, expect, it } from "vitest";
import { localPath, TEST_IQN } from "../support/local-path.js";
import { isSanpathError, SanpathError } from "../../src/errors/sanpath-error.js";
import type { TargetSpec } from "../../src/iscsi/target-driver.js";
import { PathSetup } from "../../src/node/path-setup.js";
import { InMemoryNetworkDriver } from "../../src/testing/in-memory-network-driver.js";
import { InMemoryTargetDriver } from "../../src/testing/in-memory-target-driver.js";

const IQN = TEST_IQN;
const SPEC: TargetSpec = {
  iqn: IQN,
  backing: { kind: "file", path: "/srv/disk" },
  acl: { allInitiators: true, initiatorIqns: [] },
};
const PORTAL = { iqn: IQN, ip: "198.51.100.50" };
const PATH = localPath();

describe("InMemoryTargetDriver faults", () => {
  it("fails the next N calls of a method, changing nothing, and records every call", async () => {
    const driver = new InMemoryTargetDriver();
    await driver.ensureTarget(SPEC);
    const boom = new SanpathError("internal", "tgtadm exploded", { reason: "DRIVER_FAILED" });
    driver.faults.failNext("enablePortal", boom, 2);
    await expect(driver.enablePortal(PORTAL)).rejects.toBe(boom);
    await expect(driver.enablePortal(PORTAL)).rejects.toBe(boom);
    expect(await driver.isPortalEnabled(PORTAL)).toBe(false);
    await driver.enablePortal(PORTAL);
    expect(await driver.isPortalEnabled(PORTAL)).toBe(true);
    expect(driver.faults.callsOf("enablePortal")).toEqual([
      { method: "enablePortal", args: [PORTAL] },
      { method: "enablePortal", args: [PORTAL] },
      { method: "enablePortal", args: [PORTAL] },
    ]);
    expect(driver.faults.calls.map((call) => call.method)).toEqual([
      "ensureTarget",
      "enablePortal",
      "enablePortal",
      "isPortalEnabled",
      "enablePortal",
      "isPortalEnabled",
    ]);
    // The default injected error is a failed driver command.
    driver.faults.failNext("dropTarget");
    await expect(driver.dropTarget(IQN)).rejects.toSatisfy(
      (error) => isSanpathError(error) && error.kind === "internal" && error.reason === "DRIVER_FAILED",
    );
    expect(await driver.listTargets()).toHaveLength(1);
  });

  it("hangs a call until its deadline (DEADLINE_EXCEEDED) or cancellation (CANCELLED), or until released", async () => {
    const driver = new InMemoryTargetDriver();
    await driver.ensureTarget(SPEC);
    await driver.enablePortal(PORTAL);
    driver.faults.hangNext("disablePortal", 3);
    await expect(driver.disablePortal(PORTAL, { signal: AbortSignal.timeout(20) })).rejects.toSatisfy(
      (error) =>
        isSanpathError(error) && error.kind === "deadline_exceeded" && error.reason === "DRIVER_FAILED",
    );
    const fence = new AbortController();
    const cancelled = driver.disablePortal(PORTAL, { signal: fence.signal });
    await driver.faults.waitForHanging(1);
    fence.abort();
    await expect(cancelled).rejects.toSatisfy((error) => isSanpathError(error) && error.kind === "cancelled");
    expect(await driver.isPortalEnabled(PORTAL)).toBe(true);

    const released = driver.disablePortal(PORTAL);
    await driver.faults.waitForHanging(1);
    expect(driver.faults.hanging).toBe(1);
    driver.faults.release();
    await released;
    expect(driver.faults.hanging).toBe(0);
    expect(await driver.isPortalEnabled(PORTAL)).toBe(false);
  });

  it("changes behind its back show on a fresh read; the believed listing keeps the old view until then", async () => {
    const driver = new InMemoryTargetDriver();
    await driver.ensureTarget(SPEC);
    await driver.enablePortal(PORTAL);
    driver.external.deleteTarget(IQN);
    expect((await driver.listTargets()).map((target) => target.iqn)).toEqual([IQN]);
    expect(driver.serviceTargets()).toEqual([]);
    expect(await driver.listTargets({ fresh: true })).toEqual([]);
    expect(await driver.listTargets()).toEqual([]);

    await driver.ensureTarget(SPEC);
    driver.external.stopListening(PORTAL.ip);
    expect(await driver.isPortalEnabled(PORTAL)).toBe(true);
    expect(await driver.isPortalEnabled(PORTAL, { fresh: true })).toBe(false);
    driver.external.restartService();
    expect(await driver.listPortals({ fresh: true })).toEqual([]);
  });
});

describe("InMemoryNetworkDriver faults", () => {
  it("a removal that hangs ends when its signal aborts and leaves the address; a pinned address fails verification", async () => {
    const network = new InMemoryNetworkDriver();
    await network.addAddress({ ip: PATH.ip, prefixLength: 24, interface: "eth1" });
    network.faults.hangNext("removeAddress");
    const deadline = AbortSignal.timeout(20);
    await expect(network.removeAddress({ ip: PATH.ip }, { signal: deadline })).rejects.toSatisfy(
      (error) => error === deadline.reason && error instanceof DOMException && error.name === "TimeoutError",
    );
    expect(await network.hasAddress(PATH.ip, { fresh: true })).toBe(true);

    network.external.pin(PATH.ip);
    await expect(network.removeAddress({ ip: PATH.ip })).rejects.toSatisfy(
      (error) =>
        isSanpathError(error) && error.reason === "DRIVER_FAILED" && /still on the node/.test(error.message),
    );
    network.external.unpin(PATH.ip);
    await network.removeAddress({ ip: PATH.ip });
    expect(network.kernelAddresses()).toEqual([]);
  });

  it("records the ARPs sent; an announcement that hangs is ended by close(), never rejected", async () => {
    const network = new InMemoryNetworkDriver({ interfaces: ["eth1"] });
    await network.addAddress({ ip: PATH.ip, prefixLength: 24, interface: "eth1", vlanId: 20 });
    expect(network.hasDevice("eth1.20")).toBe(true);
    expect(await network.sendGratuitousArp({ ip: PATH.ip })).toEqual({ sent: true });
    expect(network.arps).toEqual([{ ip: PATH.ip, device: "eth1.20" }]);

    network.faults.failNext("sendGratuitousArp", new Error("arping: socket: Operation not permitted"));
    expect(await network.sendGratuitousArp({ ip: PATH.ip })).toEqual({
      sent: false,
      reason: "arping: socket: Operation not permitted",
    });

    network.faults.hangNext("announce");
    const lingering = network.announce({ ip: PATH.ip, interface: "eth1", vlanId: 20 });
    await network.faults.waitForHanging(1);
    await network.close();
    expect((await lingering.finished).sent).toBe(false);
    // Closed: later announcements are not sent either (as IpDriver's arping under an aborted lifetime).
    expect((await network.announce({ ip: PATH.ip }).finished).sent).toBe(false);
    expect(network.arps).toHaveLength(1);
  });
});

describe("PathSetup over the fakes", () => {
  it("configures a path (target, IP, portal, ARP) and retries once after a retryable failure", async () => {
    const target = new InMemoryTargetDriver();
    const network = new InMemoryNetworkDriver();
    const setup = new PathSetup(target, network);
    target.faults.failNext(
      "enablePortal",
      (method) =>
        new SanpathError("failed_precondition", `${method}: target gone`, { reason: "DRIVER_FAILED" }),
    );
    await setup.configure(PATH, SPEC, AbortSignal.timeout(5000));
    await setup.close();
    expect(await target.isPortalEnabled(PORTAL, { fresh: true })).toBe(true);
    expect(await network.hasAddress(PATH.ip, { fresh: true })).toBe(true);
    expect(network.arps).toEqual([{ ip: PATH.ip, device: "eth1" }]);
    expect(target.faults.calls.map((call) => call.method).slice(0, 4)).toEqual([
      "ensureTarget",
      "enablePortal",
      "ensureTarget",
      "enablePortal",
    ]);
  });

  it("a tear-down whose portal step fails still removes the IP, then throws the portal's failure", async () => {
    const target = new InMemoryTargetDriver();
    const network = new InMemoryNetworkDriver();
    const setup = new PathSetup(target, network);
    await setup.configure(PATH, SPEC, AbortSignal.timeout(5000));
    const stuck = new SanpathError("deadline_exceeded", "tgtadm timed out", { reason: "DRIVER_FAILED" });
    target.faults.failNext("disablePortal", stuck);
    await expect(setup.teardown(PATH, AbortSignal.timeout(5000))).rejects.toBe(stuck);
    expect(await network.hasAddress(PATH.ip, { fresh: true })).toBe(false);
    await setup.close();
  });
});
