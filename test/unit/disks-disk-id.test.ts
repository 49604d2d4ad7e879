import { describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import {
  diskIdFromImageName,
  diskImageName,
  diskIqn,
  formatDiskId,
  isDiskId,
  nextFreeDiskId,
} from "../../src/disks/disk-id.js";

describe("disk ids", () => {
  it("starts at 00001", () => {
    expect(nextFreeDiskId(() => false)).toBe("00001");
  });

  it("takes the first free id, filling gaps left by deleted disks", () => {
    const used = new Set(["00001", "00002", "00004", "00005"]);
    expect(nextFreeDiskId((id) => used.has(id))).toBe("00003");
    used.add("00003");
    expect(nextFreeDiskId((id) => used.has(id))).toBe("00006");
  });

  it("goes past 09999 to five full digits and fails cleanly when all 99,999 are taken", () => {
    expect(nextFreeDiskId((id) => id < "10000")).toBe("10000");
    expect(nextFreeDiskId((id) => id !== "99999")).toBe("99999");
    let error: unknown;
    try {
      nextFreeDiskId(() => true);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SanpathError);
    expect(error).toMatchObject({ kind: "resource_exhausted" });
  });

  it("formats and recognizes ids", () => {
    expect(formatDiskId(1)).toBe("00001");
    expect(formatDiskId(99_999)).toBe("99999");
    expect(() => formatDiskId(0)).toThrow(RangeError);
    expect(() => formatDiskId(100_000)).toThrow(RangeError);
    expect(isDiskId("00042")).toBe(true);
    for (const text of ["00000", "0042", "000042", "abcde", "0004a", ""]) expect(isDiskId(text)).toBe(false);
  });

  it("derives the IQN and the image name", () => {
    expect(diskIqn("iqn.2016-05.com.petasan", "00007")).toBe("iqn.2016-05.com.petasan:00007");
    expect(diskImageName("00007")).toBe("image-00007");
    expect(diskIdFromImageName("image-00007")).toBe("00007");
    expect(diskIdFromImageName("image-7")).toBeUndefined();
    expect(diskIdFromImageName("other-00007")).toBeUndefined();
  });
});
