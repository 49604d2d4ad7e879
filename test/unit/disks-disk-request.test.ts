import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { validateClusterSettings, type ClusterSettings } from "../../src/disks/cluster-settings.js";
import type { Disk } from "../../src/disks/disk.js";
import { diskNameKey, parseDiskRef, validateDiskName } from "../../src/disks/disk-name.js";
import {
  applyDiskUpdate,
  ensureManualIpsUnused,
  validateAddDisk,
  validateUpdateDisk,
  type AddDiskInput,
  type UpdateDiskInput,
} from "../../src/disks/disk-request.js";
import { projectRoot } from "../../src/util/project-root.js";
import { thrownAs } from "../support/thrown.js";

const settings: ClusterSettings = validateClusterSettings({
  iqnBase: "iqn.2016-05.com.petasan",
  defaultPool: "rbd",
  subnet1: {
    network: "198.51.100.0/24",
    autoIpFrom: "198.51.100.10",
    autoIpTo: "198.51.100.50",
    interface: "eth1",
    vlanId: 0,
  },
  subnet2: {
    network: "203.0.113.0/24",
    autoIpFrom: "203.0.113.10",
    autoIpTo: "203.0.113.50",
    interface: "eth2",
    vlanId: 20,
  },
});
const settingsWithoutSubnet2: ClusterSettings = { ...settings, subnet2: undefined };

const base: AddDiskInput = {
  name: "db-01",
  sizeGib: 100,
  pathCount: 2,
  subnet: 1,
  manualIps: [],
  acl: undefined,
  chap: undefined,
  pool: "",
};

function add(
  change: Partial<AddDiskInput>,
  using: ClusterSettings = settings,
): ReturnType<typeof validateAddDisk> {
  return validateAddDisk({ ...base, ...change }, using);
}

describe("validateAddDisk: a valid request", () => {
  it("normalizes an automatic request with defaults", () => {
    expect(add({})).toEqual({
      name: "db-01",
      sizeGib: 100,
      pathCount: 2,
      subnet: "subnet1",
      manualPaths: undefined,
      acl: { kind: "all" },
      chap: undefined,
      pool: "rbd",
    });
  });

  it("keeps a given pool, ACL and CHAP", () => {
    const spec = add({
      pool: "ssd",
      acl: { allInitiators: false, initiatorIqns: ["iqn.1993-08.org.debian:01:a", "eui.02004567A425678D"] },
      chap: { user: "initiator-1", secret: "s3cret-s3cret" },
      subnet: 3,
      pathCount: 8,
    });
    expect(spec.pool).toBe("ssd");
    expect(spec.subnet).toBe("both");
    expect(spec.acl).toEqual({
      kind: "initiators",
      initiatorIqns: ["iqn.1993-08.org.debian:01:a", "eui.02004567A425678D"],
    });
    expect(spec.chap).toEqual({ user: "initiator-1", secret: "s3cret-s3cret" });
  });

  it("treats all_initiators with no names, and no names at all, as all initiators", () => {
    expect(add({ acl: { allInitiators: true, initiatorIqns: [] } }).acl).toEqual({ kind: "all" });
    expect(add({ acl: { allInitiators: false, initiatorIqns: [] } }).acl).toEqual({ kind: "all" });
  });

  it("resolves manual addresses in one subnet, outside the automatic range too", () => {
    expect(add({ manualIps: ["198.51.100.200", "198.51.100.7"] }).manualPaths).toEqual([
      { index: 1, ip: "198.51.100.200", prefixLength: 24, interface: "eth1", vlanId: 0, subnet: 1 },
      { index: 2, ip: "198.51.100.7", prefixLength: 24, interface: "eth1", vlanId: 0, subnet: 1 },
    ]);
    expect(add({ subnet: 2, pathCount: 1, manualIps: ["203.0.113.9"] }).manualPaths).toEqual([
      { index: 1, ip: "203.0.113.9", prefixLength: 24, interface: "eth2", vlanId: 20, subnet: 2 },
    ]);
  });

  it("is what disk.proto promises for manual_ips: anywhere in the network, not only the range", () => {
    const proto = readFileSync(join(projectRoot(), "proto", "sanpath", "v1", "disk.proto"), "utf8");
    const comment = /((?:\s*\/\/.*\n)+)\s*repeated string manual_ips/.exec(proto)?.[1] ?? "";
    expect(comment.replace(/\s*\/\/\s*/g, " ")).toContain(
      "each anywhere in its subnet's network (as in PetaSAN, not only in the automatic range), not the network or broadcast address",
    );
    expect(add({ pathCount: 1, manualIps: ["198.51.100.254"] }).manualPaths?.[0]?.ip).toBe("198.51.100.254");
    expect(thrownAs(SanpathError, () => add({ pathCount: 1, manualIps: ["198.51.100.255"] })).field).toBe(
      "manual_ips[0]",
    );
  });

  it("resolves manual addresses over both subnets in either order, keeping the order given", () => {
    const forward = add({ subnet: 3, manualIps: ["198.51.100.20", "203.0.113.20"] }).manualPaths;
    expect(forward?.map((p) => [p.index, p.ip, p.subnet, p.interface])).toEqual([
      [1, "198.51.100.20", 1, "eth1"],
      [2, "203.0.113.20", 2, "eth2"],
    ]);
    const reversed = add({ subnet: 3, manualIps: ["203.0.113.20", "198.51.100.20"] }).manualPaths;
    expect(reversed?.map((p) => [p.index, p.ip, p.subnet])).toEqual([
      [1, "203.0.113.20", 2],
      [2, "198.51.100.20", 1],
    ]);
  });
});

describe("validateAddDisk: each bad field", () => {
  const cases: [string, Partial<AddDiskInput>, string, string, ClusterSettings?][] = [
    ["no name", { name: "" }, "DATA_MISSING", "name"],
    ["a 65-character name", { name: "a".repeat(65) }, "INVALID_FIELD", "name"],
    ["a name with '/'", { name: "a/b" }, "INVALID_FIELD", "name"],
    ["a name with a tab", { name: "a\tb" }, "INVALID_FIELD", "name"],
    ["a name with a newline", { name: "a\nb" }, "INVALID_FIELD", "name"],
    ["a name with ':'", { name: "a:b" }, "INVALID_FIELD", "name"],
    ["a name with '..'", { name: "a..b" }, "INVALID_FIELD", "name"],
    ["a name with a leading space", { name: " db" }, "INVALID_FIELD", "name"],
    ["a name with a trailing space", { name: "db " }, "INVALID_FIELD", "name"],
    ["a name with a leading dot", { name: ".db" }, "INVALID_FIELD", "name"],
    ["a name with a trailing dot", { name: "db." }, "INVALID_FIELD", "name"],
    ["a name that reads as an id", { name: "00042" }, "INVALID_FIELD", "name"],
    ["a non-ASCII name", { name: "dïsk" }, "INVALID_FIELD", "name"],
    ["size 0", { sizeGib: 0 }, "DATA_MISSING", "size_gib"],
    ["a fractional size", { sizeGib: 1.5 }, "INVALID_FIELD", "size_gib"],
    ["a negative size", { sizeGib: -1 }, "INVALID_FIELD", "size_gib"],
    ["a size above 1 PiB", { sizeGib: 1_048_577 }, "INVALID_FIELD", "size_gib"],
    ["0 paths", { pathCount: 0 }, "DATA_MISSING", "path_count"],
    ["9 paths", { pathCount: 9 }, "INVALID_FIELD", "path_count"],
    ["no subnet choice", { subnet: 0 }, "DATA_MISSING", "subnet"],
    ["subnet choice 4", { subnet: 4 }, "INVALID_FIELD", "subnet"],
    ["subnet 2 when only subnet 1 exists", { subnet: 2 }, "INVALID_FIELD", "subnet", settingsWithoutSubnet2],
    ["both when only subnet 1 exists", { subnet: 3 }, "INVALID_FIELD", "subnet", settingsWithoutSubnet2],
    ["a bad pool", { pool: "a/b" }, "INVALID_FIELD", "pool"],
    [
      "manual addresses for 3 paths",
      { pathCount: 3, manualIps: ["198.51.100.1", "198.51.100.2", "198.51.100.3"] },
      "WRONG_DATA",
      "manual_ips",
    ],
    ["one manual address for 2 paths", { manualIps: ["198.51.100.1"] }, "WRONG_DATA", "manual_ips"],
    [
      "two manual addresses for 1 path",
      { pathCount: 1, manualIps: ["198.51.100.1", "198.51.100.2"] },
      "WRONG_DATA",
      "manual_ips",
    ],
    [
      "one manual address with both subnets",
      { subnet: 3, pathCount: 1, manualIps: ["198.51.100.1"] },
      "WRONG_DATA",
      "manual_ips",
    ],
    [
      "a malformed manual address",
      { manualIps: ["198.51.100.1", "198.51.100.010"] },
      "INVALID_FIELD",
      "manual_ips[1]",
    ],
    [
      "a repeated manual address",
      { manualIps: ["198.51.100.1", "198.51.100.1"] },
      "INVALID_FIELD",
      "manual_ips[1]",
    ],
    [
      "a manual address in the other subnet",
      { manualIps: ["198.51.100.1", "203.0.113.1"] },
      "WRONG_SUBNET",
      "manual_ips[1]",
    ],
    [
      "a manual address in no subnet",
      { manualIps: ["192.0.2.1", "198.51.100.1"] },
      "WRONG_SUBNET",
      "manual_ips[0]",
    ],
    [
      "the network address",
      { manualIps: ["198.51.100.0", "198.51.100.1"] },
      "INVALID_FIELD",
      "manual_ips[0]",
    ],
    [
      "the broadcast address",
      { manualIps: ["198.51.100.1", "198.51.100.255"] },
      "INVALID_FIELD",
      "manual_ips[1]",
    ],
    [
      "both: two addresses in subnet 1",
      { subnet: 3, manualIps: ["198.51.100.1", "198.51.100.2"] },
      "WRONG_SUBNET",
      "manual_ips[1]",
    ],
    [
      "both: two addresses in subnet 2",
      { subnet: 3, manualIps: ["203.0.113.1", "203.0.113.2"] },
      "WRONG_SUBNET",
      "manual_ips[1]",
    ],
    [
      "both: an address in no subnet",
      { subnet: 3, manualIps: ["198.51.100.1", "192.0.2.1"] },
      "WRONG_SUBNET",
      "manual_ips[1]",
    ],
    [
      "both: a broadcast address",
      { subnet: 3, manualIps: ["198.51.100.1", "203.0.113.255"] },
      "INVALID_FIELD",
      "manual_ips[1]",
    ],
    [
      "ACL: all initiators and a list",
      { acl: { allInitiators: true, initiatorIqns: ["iqn.1993-08.org.debian:01:a"] } },
      "WRONG_DATA",
      "acl",
    ],
    [
      "ACL: a bad name",
      { acl: { allInitiators: false, initiatorIqns: ["iqn.1993-08.org.debian:01:a", "host1"] } },
      "INVALID_FIELD",
      "acl.initiator_iqns[1]",
    ],
    [
      "ACL: an uppercase iqn",
      { acl: { allInitiators: false, initiatorIqns: ["iqn.1991-05.com.Microsoft:pc"] } },
      "INVALID_FIELD",
      "acl.initiator_iqns[0]",
    ],
    [
      "ACL: a repeated name",
      {
        acl: {
          allInitiators: false,
          initiatorIqns: ["eui.02004567a425678d", "iqn.1993-08.org.debian:01:a", "eui.02004567A425678D"],
        },
      },
      "INVALID_FIELD",
      "acl.initiator_iqns[2]",
    ],
    [
      "ACL: 257 names",
      {
        acl: {
          allInitiators: false,
          initiatorIqns: Array.from({ length: 257 }, (_, i) => `iqn.1993-08.org.debian:${i}`),
        },
      },
      "INVALID_FIELD",
      "acl.initiator_iqns",
    ],
    ["CHAP without user", { chap: { user: "", secret: "s3cret-s3cret" } }, "DATA_MISSING", "chap.user"],
    ["CHAP without secret", { chap: { user: "u", secret: "" } }, "DATA_MISSING", "chap.secret"],
    [
      "CHAP user with a space",
      { chap: { user: "a b", secret: "s3cret-s3cret" } },
      "INVALID_FIELD",
      "chap.user",
    ],
    [
      "CHAP user of 65 characters",
      { chap: { user: "u".repeat(65), secret: "s3cret-s3cret" } },
      "INVALID_FIELD",
      "chap.user",
    ],
    [
      "CHAP secret of 11 characters",
      { chap: { user: "u", secret: "12345678901" } },
      "INVALID_FIELD",
      "chap.secret",
    ],
    [
      "CHAP secret of 17 characters",
      { chap: { user: "u", secret: "12345678901234567" } },
      "INVALID_FIELD",
      "chap.secret",
    ],
    [
      "CHAP secret with a space",
      { chap: { user: "u", secret: "123456 789012" } },
      "INVALID_FIELD",
      "chap.secret",
    ],
  ];

  it.each(cases)("refuses %s", (_what, change, reason, field, using) => {
    const error = thrownAs(SanpathError, () => add(change, using ?? settings));
    expect(error).toMatchObject({ kind: "invalid_argument", reason, field });
    expect(error.message).toContain(field);
  });

  it("accepts CHAP secrets of exactly 12 and 16 characters and a 64-character user", () => {
    expect(add({ chap: { user: "u".repeat(64), secret: "x".repeat(12) } }).chap?.secret).toHaveLength(12);
    expect(add({ chap: { user: "u", secret: "x".repeat(16) } }).chap?.secret).toHaveLength(16);
  });

  it("never puts the CHAP secret into an error message", () => {
    const secret = "bad secret with spaces";
    const error = thrownAs(SanpathError, () => add({ chap: { user: "u", secret } }));
    expect(error.message).not.toContain(secret);
    const tooShort = thrownAs(SanpathError, () => add({ chap: { user: "u", secret: "abcdefg" } }));
    expect(tooShort.message).not.toContain("abcdefg");
  });
});

describe("ensureManualIpsUnused", () => {
  it("refuses a used manual address with ALREADY_EXISTS naming it", () => {
    const paths = add({ manualIps: ["198.51.100.20", "198.51.100.21"] }).manualPaths ?? [];
    expect(() => ensureManualIpsUnused(paths, (ip) => ip === "198.51.100.99")).not.toThrow();
    expect(
      thrownAs(SanpathError, () => ensureManualIpsUnused(paths, (ip) => ip === "198.51.100.21")),
    ).toMatchObject({
      kind: "already_exists",
      reason: "IP_USED_ALREADY",
      field: "manual_ips[1]",
    });
  });
});

describe("disk names and references", () => {
  it.each(["a", "DB 01", "db_01.v2-final", "x".repeat(64), "0042", "000420"])(
    "accepts the name %j",
    (name) => {
      expect(validateDiskName(name)).toBe(name);
    },
  );

  it.each(["-x", "--help", "- db"])("refuses the new name %j: a leading '-' reads as an option", (name) => {
    const error = thrownAs(SanpathError, () => validateDiskName(name));
    expect(error).toMatchObject({ reason: "INVALID_FIELD", field: "name" });
    expect(error.message).toContain("must not start with '-'");
  });

  it("still addresses a disk named with a leading '-' before the rule", () => {
    expect(parseDiskRef("-old")).toEqual({ kind: "name", name: "-old" });
  });

  it("compares names without regard to case", () => {
    expect(diskNameKey("Backup Disk")).toBe(diskNameKey("backup disk"));
  });

  it("reads a reference as an id or a name", () => {
    expect(parseDiskRef("00001")).toEqual({ kind: "id", id: "00001" });
    expect(parseDiskRef("db 01")).toEqual({ kind: "name", name: "db 01" });
    expect(thrownAs(SanpathError, () => parseDiskRef(""))).toMatchObject({
      reason: "DATA_MISSING",
      field: "disk",
    });
    const zero = thrownAs(SanpathError, () => parseDiskRef("00000"));
    expect(zero).toMatchObject({ reason: "INVALID_FIELD", field: "disk" });
    expect(zero.message).toBe('disk: "00000" is not a disk id: ids run from 00001 to 99999');
    expect(thrownAs(SanpathError, () => parseDiskRef("a/b"))).toMatchObject({
      reason: "INVALID_FIELD",
      field: "disk",
    });
  });
});

describe("validateUpdateDisk", () => {
  const current: Disk = {
    id: "00007",
    name: "db-01",
    sizeGib: 100,
    createTime: new Date("2024-05-01T10:00:00Z"),
    iqn: "iqn.2016-05.com.petasan:00007",
    pool: "rbd",
    acl: { kind: "all" },
    chap: { user: "u", secret: "old-secret-12" },
    paths: [{ index: 1, ip: "198.51.100.10", prefixLength: 24, interface: "eth1", vlanId: 0, subnet: 1 }],
  };
  const none: UpdateDiskInput = { disk: "00007", clearChap: false };

  it("changes nothing when nothing is asked", () => {
    const update = validateUpdateDisk(none, current);
    expect(update).toEqual({ name: undefined, sizeGib: undefined, acl: undefined, chap: { kind: "keep" } });
    expect(applyDiskUpdate(current, update)).toEqual(current);
  });

  it("renames, grows, replaces the ACL and sets CHAP", () => {
    const update = validateUpdateDisk(
      {
        ...none,
        name: "db-02",
        sizeGib: 150,
        acl: { allInitiators: false, initiatorIqns: ["iqn.1993-08.org.debian:01:a"] },
        chap: { user: "new-user", secret: "new-secret-123" },
      },
      current,
    );
    const updated = applyDiskUpdate(current, update);
    expect(updated).toMatchObject({
      id: "00007",
      name: "db-02",
      sizeGib: 150,
      acl: { kind: "initiators", initiatorIqns: ["iqn.1993-08.org.debian:01:a"] },
      chap: { user: "new-user", secret: "new-secret-123" },
      paths: current.paths,
    });
  });

  it("accepts the same size, and clears CHAP", () => {
    const update = validateUpdateDisk({ ...none, sizeGib: 100, clearChap: true }, current);
    expect(applyDiskUpdate(current, update)).toMatchObject({ sizeGib: 100, chap: undefined });
  });

  it("refuses to shrink with SHRINK_REFUSED", () => {
    expect(thrownAs(SanpathError, () => validateUpdateDisk({ ...none, sizeGib: 99 }, current))).toMatchObject(
      {
        kind: "invalid_argument",
        reason: "SHRINK_REFUSED",
        field: "size_gib",
      },
    );
  });

  it.each([
    ["an empty name", { name: "" }, "DATA_MISSING", "name"],
    ["a bad name", { name: "a/b" }, "INVALID_FIELD", "name"],
    ["size 0", { sizeGib: 0 }, "INVALID_FIELD", "size_gib"],
    ["a size above 1 PiB", { sizeGib: 2_000_000 }, "INVALID_FIELD", "size_gib"],
    [
      "a bad ACL name",
      { acl: { allInitiators: false, initiatorIqns: ["nope"] } },
      "INVALID_FIELD",
      "acl.initiator_iqns[0]",
    ],
    [
      "CHAP set and cleared",
      { chap: { user: "u", secret: "s3cret-s3cret" }, clearChap: true },
      "WRONG_DATA",
      "clear_chap",
    ],
    ["a short CHAP secret", { chap: { user: "u", secret: "short" } }, "INVALID_FIELD", "chap.secret"],
  ] as [string, Partial<UpdateDiskInput>, string, string][])("refuses %s", (_what, change, reason, field) => {
    expect(thrownAs(SanpathError, () => validateUpdateDisk({ ...none, ...change }, current))).toMatchObject({
      reason,
      field,
    });
  });
});
