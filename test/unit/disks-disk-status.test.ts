import { describe, expect, it } from "vitest";
import { diskStatus } from "../../src/disks/disk-status.js";

describe("diskStatus", () => {
  it.each([
    [true, [undefined, undefined], "stopped"],
    [true, ["", ""], "stopped"],
    [true, ["node-1", undefined], "stopping"],
    [true, ["node-1", "node-2"], "stopping"],
    [false, ["node-1", "node-2"], "started"],
    [false, ["node-1", undefined], "starting"],
    [false, ["node-1", ""], "starting"],
    [false, [undefined, undefined], "starting"],
  ] as const)("stopped=%s holders=%j → %s", (stopped, holders, status) => {
    expect(diskStatus(stopped, holders)).toBe(status);
  });
});
