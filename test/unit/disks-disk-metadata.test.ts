import { describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { validateClusterSettings } from "../../src/disks/cluster-settings.js";
import { toPublicDisk, type Disk } from "../../src/disks/disk.js";
import {
  DISK_METADATA_KEY,
  parseDiskMetadata,
  serializeDiskMetadata,
} from "../../src/disks/disk-metadata.js";
import { thrownAs } from "../support/thrown.js";

const disk: Disk = {
  id: "00003",
  name: "db 01",
  sizeGib: 100,
  createTime: new Date("2024-05-01T10:20:30.000Z"),
  iqn: "iqn.2016-05.com.petasan:00003",
  pool: "rbd",
  acl: { kind: "initiators", initiatorIqns: ["iqn.1993-08.org.debian:01:a", "iqn.1991-05.com.microsoft:pc"] },
  chap: { user: "initiator-1", secret: "s3cret-s3cret" },
  paths: [
    { index: 1, ip: "198.51.100.10", prefixLength: 24, interface: "eth1", vlanId: 0, subnet: 1 },
    { index: 2, ip: "203.0.113.10", prefixLength: 24, interface: "eth2", vlanId: 20, subnet: 2 },
  ],
};

/** A record as PetaSAN's DiskMeta.write_json makes it (no sanpath additions, extra newer fields). */
const petasanRecord = {
  acl: "",
  create_date: "2019-02-14",
  data_pool: "",
  description: "old disk",
  disk_name: "vm-store",
  id: "00012",
  iqn: "iqn.2016-05.com.petasan:00012",
  is_replication_target: false,
  password: "",
  paths: [
    { eth: "eth1", ip: "198.51.100.40", locked_by: "", subnet_mask: "255.255.255.0", vlan_id: "" },
    { eth: "eth2", ip: "203.0.113.40", locked_by: "", subnet_mask: "255.255.255.0", vlan_id: "20" },
  ],
  pool: "rbd",
  size: 500,
  user: "",
  wwn: "6001405a1b2c3d4e",
};

const settings = validateClusterSettings({
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

describe("disk metadata", () => {
  it("uses PetaSAN's key", () => {
    expect(DISK_METADATA_KEY).toBe("petasan-metada");
  });

  it("writes PetaSAN's field names and types, keys sorted", () => {
    const json = serializeDiskMetadata(disk);
    const record = JSON.parse(json) as Record<string, unknown>;
    expect(record).toEqual({
      acl: "iqn.1993-08.org.debian:01:a,iqn.1991-05.com.microsoft:pc",
      create_date: "2024-05-01",
      create_time: "2024-05-01T10:20:30.000Z",
      description: "",
      disk_name: "db 01",
      id: "00003",
      iqn: "iqn.2016-05.com.petasan:00003",
      password: "s3cret-s3cret",
      paths: [
        {
          eth: "eth1",
          ip: "198.51.100.10",
          locked_by: "",
          subnet: 1,
          subnet_mask: "255.255.255.0",
          vlan_id: "",
        },
        {
          eth: "eth2",
          ip: "203.0.113.10",
          locked_by: "",
          subnet: 2,
          subnet_mask: "255.255.255.0",
          vlan_id: "20",
        },
      ],
      pool: "rbd",
      size: 100,
      user: "initiator-1",
    });
    expect(Object.keys(record)).toEqual([...Object.keys(record)].sort());
    expect(json).toContain('\n    "acl"');
  });

  it("round-trips a disk", () => {
    const parsed = parseDiskMetadata(serializeDiskMetadata(disk));
    expect(parsed.disk).toEqual(disk);
    expect(parsed.preserved).toEqual({ description: "" });
  });

  it("writes an empty ACL and no CHAP as PetaSAN does", () => {
    const open: Disk = { ...disk, acl: { kind: "all" }, chap: undefined };
    const record = JSON.parse(serializeDiskMetadata(open)) as Record<string, unknown>;
    expect(record).toMatchObject({ acl: "", user: "", password: "" });
    expect(parseDiskMetadata(serializeDiskMetadata(open)).disk).toEqual(open);
  });

  it("reads a record written by PetaSAN, inferring each path's subnet, and keeps unknown fields on rewrite", () => {
    const parsed = parseDiskMetadata(JSON.stringify(petasanRecord, null, 4), {
      settings,
      image: "image-00012",
    });
    expect(parsed.disk).toEqual({
      id: "00012",
      name: "vm-store",
      sizeGib: 500,
      createTime: new Date("2019-02-14T00:00:00.000Z"),
      iqn: "iqn.2016-05.com.petasan:00012",
      pool: "rbd",
      acl: { kind: "all" },
      chap: undefined,
      paths: [
        { index: 1, ip: "198.51.100.40", prefixLength: 24, interface: "eth1", vlanId: 0, subnet: 1 },
        { index: 2, ip: "203.0.113.40", prefixLength: 24, interface: "eth2", vlanId: 20, subnet: 2 },
      ],
    });
    const rewritten = JSON.parse(serializeDiskMetadata(parsed.disk, parsed.preserved)) as Record<
      string,
      unknown
    >;
    expect(rewritten).toMatchObject({
      wwn: "6001405a1b2c3d4e",
      data_pool: "",
      is_replication_target: false,
      description: "old disk",
    });
  });

  it("reads PetaSAN's 'all' ACL, a comma list with spaces, a numeric VLAN, and the image's pool when the record has none", () => {
    const record = {
      ...petasanRecord,
      acl: " iqn.1993-08.org.debian:01:a , iqn.1991-05.com.microsoft:pc ",
      pool: "",
      user: "u",
      password: "secret-secret",
      paths: [{ eth: "eth1", ip: "198.51.100.40", subnet_mask: "255.255.0.0", vlan_id: 30, subnet: 1 }],
    };
    const { disk: parsed } = parseDiskMetadata(JSON.stringify(record), { pool: "ssd" });
    expect(parsed.acl).toEqual({
      kind: "initiators",
      initiatorIqns: ["iqn.1993-08.org.debian:01:a", "iqn.1991-05.com.microsoft:pc"],
    });
    expect(parsed.pool).toBe("ssd");
    expect(parsed.chap).toEqual({ user: "u", secret: "secret-secret" });
    expect(parsed.paths[0]).toMatchObject({ prefixLength: 16, vlanId: 30 });
    expect(
      parseDiskMetadata(JSON.stringify({ ...petasanRecord, acl: "all" }), { settings }).disk.acl,
    ).toEqual({
      kind: "all",
    });
  });

  const withPath = (change: Record<string, unknown>): Record<string, unknown> => ({
    ...petasanRecord,
    paths: [petasanRecord.paths[0], { ...petasanRecord.paths[1], ...change }],
  });

  it.each([
    ["a record that is not JSON", "{not json", undefined],
    ["a JSON array", "[]", undefined],
    ["JSON null", "null", undefined],
    ["a missing id", JSON.stringify({ ...petasanRecord, id: undefined }), "id"],
    ["a numeric id", JSON.stringify({ ...petasanRecord, id: 12 }), "id"],
    ["an id of 4 digits", JSON.stringify({ ...petasanRecord, id: "0012" }), "id"],
    ["a missing name", JSON.stringify({ ...petasanRecord, disk_name: undefined }), "disk_name"],
    ["a size as text", JSON.stringify({ ...petasanRecord, size: "500" }), "size"],
    ["a size of 0", JSON.stringify({ ...petasanRecord, size: 0 }), "size"],
    ["a fractional size", JSON.stringify({ ...petasanRecord, size: 1.5 }), "size"],
    ["a bad create date", JSON.stringify({ ...petasanRecord, create_date: "14/02/2019" }), "create_date"],
    ["a bad create time", JSON.stringify({ ...petasanRecord, create_time: "yesterday" }), "create_time"],
    ["an ACL that is a list", JSON.stringify({ ...petasanRecord, acl: ["iqn.x"] }), "acl"],
    ["a numeric password", JSON.stringify({ ...petasanRecord, password: 1234 }), "password"],
    ["an empty iqn", JSON.stringify({ ...petasanRecord, iqn: "" }), "iqn"],
    ["no pool anywhere", JSON.stringify({ ...petasanRecord, pool: "" }), "pool"],
    ["paths that are an object", JSON.stringify({ ...petasanRecord, paths: {} }), "paths"],
    ["a path that is a string", JSON.stringify({ ...petasanRecord, paths: ["198.51.100.1"] }), "paths[0]"],
    ["a path with a bad address", JSON.stringify(withPath({ ip: "203.0.113.400" })), "paths[1].ip"],
    [
      "a path with a non-contiguous mask",
      JSON.stringify(withPath({ subnet_mask: "255.0.255.0" })),
      "paths[1].subnet_mask",
    ],
    [
      "a path with a CIDR for a mask",
      JSON.stringify(withPath({ subnet_mask: "24" })),
      "paths[1].subnet_mask",
    ],
    ["a path without interface", JSON.stringify(withPath({ eth: "" })), "paths[1].eth"],
    ["a path with VLAN 5000", JSON.stringify(withPath({ vlan_id: "5000" })), "paths[1].vlan_id"],
    ["a path with VLAN 'ten'", JSON.stringify(withPath({ vlan_id: "ten" })), "paths[1].vlan_id"],
    ["a path with subnet 3", JSON.stringify(withPath({ subnet: 3 })), "paths[1].subnet"],
    ["a path in no subnet", JSON.stringify(withPath({ ip: "192.0.2.9" })), "paths[1].subnet"],
  ])("refuses %s as DATA_LOSS / METADATA_UNREADABLE", (_what, text, field) => {
    const error = thrownAs(SanpathError, () => parseDiskMetadata(text, { settings, image: "image-00012" }));
    expect(error).toMatchObject({ kind: "data_loss", reason: "METADATA_UNREADABLE", field });
    expect(error.message).toContain("image-00012");
    if (field !== undefined) expect(error.message).toContain(field);
  });

  it("cannot tell a PetaSAN path's subnet without the cluster settings", () => {
    expect(thrownAs(SanpathError, () => parseDiskMetadata(JSON.stringify(petasanRecord))).field).toBe(
      "paths[0].subnet",
    );
  });
});

describe("toPublicDisk", () => {
  it("drops the CHAP secret and keeps whether CHAP is set and its user", () => {
    const shown = toPublicDisk(disk);
    expect(shown.chapEnabled).toBe(true);
    expect(shown.chapUser).toBe("initiator-1");
    expect(JSON.stringify(shown)).not.toContain("s3cret-s3cret");
    expect(shown).not.toHaveProperty("chap");
    expect(shown.image).toBe("image-00003");
    expect(shown.acl).toEqual({
      allInitiators: false,
      initiatorIqns: ["iqn.1993-08.org.debian:01:a", "iqn.1991-05.com.microsoft:pc"],
    });
    expect(shown.status).toBeUndefined();
    expect(shown.paths.map((p) => p.node)).toEqual(["", ""]);
  });

  it("shows a disk without CHAP, its status and the node serving each path", () => {
    const shown = toPublicDisk(
      { ...disk, chap: undefined, acl: { kind: "all" } },
      { status: "starting", holders: ["node-b", undefined] },
    );
    expect(shown).toMatchObject({ chapEnabled: false, chapUser: "", status: "starting" });
    expect(shown.acl).toEqual({ allInitiators: true, initiatorIqns: [] });
    expect(shown.paths.map((p) => [p.index, p.ip, p.node])).toEqual([
      [1, "198.51.100.10", "node-b"],
      [2, "203.0.113.10", ""],
    ]);
  });
});
