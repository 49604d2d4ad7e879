import { describe, expect, it } from "vitest";
import { toSanpathError } from "../../native/index.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import {
  validateImageName,
  validateMetadataKey,
  validateMetadataValue,
  validateSizeBytes,
} from "../../src/storage/store-rules.js";

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof SanpathError && error.kind === "invalid_argument") return error.field;
    throw error;
  }
  return undefined;
}

describe("image store rules", () => {
  it("accepts image names rbd and file names both take, Unicode included", () => {
    for (const name of ["image-00001", "Datenträger-数据", "a.b_c-d", "x".repeat(200)]) {
      expect(validateImageName(name)).toBe(name);
    }
  });

  it("refuses image names that escape a directory, break rbd specs or are too long", () => {
    const bad = [
      "",
      "../x",
      "a/b",
      "..",
      ".hidden",
      "-rf",
      "img@snap",
      "tab\there",
      "nul\u0000",
      "\ud800lone",
    ];
    for (const name of bad) expect(fieldOf(() => validateImageName(name))).toBe("image_name");
    // 67 characters of 3 bytes each = 201 bytes.
    expect(fieldOf(() => validateImageName("数".repeat(67)))).toBe("image_name");
  });

  it("checks metadata keys, values and sizes", () => {
    expect(validateMetadataKey("petasan-metada")).toBe("petasan-metada");
    expect(fieldOf(() => validateMetadataKey(""))).toBe("metadata_key");
    expect(fieldOf(() => validateMetadataKey("line\nbreak"))).toBe("metadata_key");
    expect(validateMetadataValue('{"a":"ü\\n"}\n')).toBe('{"a":"ü\\n"}\n');
    expect(fieldOf(() => validateMetadataValue("nul\u0000"))).toBe("metadata_value");
    expect(validateSizeBytes(2 ** 40)).toBe(2 ** 40);
    for (const size of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      expect(fieldOf(() => validateSizeBytes(size))).toBe("size_bytes");
    }
  });
});

describe("errno → domain errors", () => {
  const context = { monitors: "127.0.0.1:3300", userId: "admin", timeoutSec: 5 };
  const nativeError = (fields: Record<string, unknown>): Error =>
    Object.assign(new Error("rbd op failed"), { step: "x", pool: "rbd", image: "image-00001", ...fields });

  it("maps each errno to its kind and reason and keeps the native error as cause", () => {
    const cases: [Record<string, unknown>, SanpathError["kind"], SanpathError["reason"]][] = [
      [{ op: "create", errno: -17, code: "EEXIST" }, "already_exists", "DISK_EXISTS"],
      [{ op: "stat", errno: -2, code: "ENOENT" }, "not_found", "DISK_NOT_FOUND"],
      [{ op: "remove", errno: -16, code: "EBUSY" }, "failed_precondition", undefined],
      [{ op: "metadata_set", errno: -110, code: "ETIMEDOUT" }, "unavailable", "CEPH_UNAVAILABLE"],
      [{ op: "list", errno: -107, code: "ENOTCONN" }, "unavailable", "CEPH_UNAVAILABLE"],
      [{ op: "list", errno: -113, code: "EHOSTUNREACH" }, "unavailable", "CEPH_UNAVAILABLE"],
      [{ op: "connect", errno: -13, code: "EACCES" }, "unavailable", "CEPH_UNAVAILABLE"],
      [{ op: "connect", errno: -2, code: "ENOENT" }, "unavailable", "CEPH_UNAVAILABLE"],
      [{ op: "resize", errno: -22, code: "EINVAL" }, "invalid_argument", "SHRINK_REFUSED"],
      [{ op: "stat", errno: -5, code: "EIO" }, "internal", undefined],
    ];
    for (const [fields, kind, reason] of cases) {
      const cause = nativeError(fields);
      const mapped = toSanpathError(cause, context);
      expect({ op: fields.op, kind: mapped.kind, reason: mapped.reason }).toEqual({
        op: fields.op,
        kind,
        reason,
      });
      expect(mapped.cause).toBe(cause);
    }
  });

  it("says Ceph is unreachable, where and how long it waited", () => {
    const mapped = toSanpathError(nativeError({ op: "connect", errno: -110, code: "ETIMEDOUT" }), context);
    expect(mapped.message).toMatch(
      /^Ceph is unreachable: no monitor at 127\.0\.0\.1:3300 answered client\.admin within 5 s/,
    );
  });

  it("tells a missing pool from a missing image", () => {
    const mapped = toSanpathError(
      nativeError({ op: "list", step: "open_pool", errno: -2, code: "ENOENT" }),
      context,
    );
    expect(mapped.kind).toBe("failed_precondition");
    expect(mapped.message).toMatch(/pool rbd does not exist/);
  });
});
