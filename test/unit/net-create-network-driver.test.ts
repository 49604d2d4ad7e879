/**
 * createNetworkDriver: netlink when the addon loads, IpDriver otherwise, said once in the log.
 */
import { describe, expect, it } from "vitest";
import type { NativeNetBinding } from "../../native/net.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { RecordingRunner } from "../../src/exec/recording-runner.js";
import { createLogger } from "../../src/log/logger.js";
import { createNetworkDriver } from "../../src/net/create-network-driver.js";
import { IpDriver } from "../../src/net/ip-driver.js";
import { NetlinkNetworkDriver } from "../../src/net/netlink-network-driver.js";

function unusedAddon(): NativeNetBinding {
  const unused = (): Promise<never> => Promise.reject(new Error("not used here"));
  return {
    addAddresses: unused,
    deleteAddresses: unused,
    dumpAddresses: unused,
    linkIndex: unused,
    sendGratuitousArp: unused,
    destroyTcpSockets: unused,
  };
}

describe("createNetworkDriver", () => {
  it("is the netlink driver when the addon loads", () => {
    const driver = createNetworkDriver({ runner: new RecordingRunner(), loadAddon: unusedAddon });
    expect(driver).toBeInstanceOf(NetlinkNetworkDriver);
  });

  it("falls back to IpDriver when the addon cannot be loaded, and logs that once", () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: "info",
      destination: { write: (line: string) => lines.push(line) },
    });
    const missing = (): NativeNetBinding => {
      throw new SanpathError("failed_precondition", "the net addon is not built", {
        reason: "DRIVER_FAILED",
      });
    };
    const first = createNetworkDriver({ runner: new RecordingRunner(), logger, loadAddon: missing });
    const second = createNetworkDriver({ runner: new RecordingRunner(), logger, loadAddon: missing });
    expect(first).toBeInstanceOf(IpDriver);
    expect(second).toBeInstanceOf(IpDriver);
    const said = lines.map((line) => JSON.parse(line) as { level: string; msg: string; err: string });
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: "warn", err: "the net addon is not built" });
    expect(said[0]?.msg).toMatch(/IpDriver/);
  });
});
