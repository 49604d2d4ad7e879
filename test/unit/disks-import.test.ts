/**
 * `sanpath disk import` (DiskService.importDisks): disks made by PetaSAN, exactly as its code makes
 * them (test/support/petasan-disk.ts), are registered without touching their images or locks;
 * broken records are reported with the field and skipped; a second run changes nothing. On the
 * in-memory Consul and a file image store; test/integration/disk-import.test.ts runs the same on a
 * real Consul and Ceph.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AllocationDraft } from "../../src/disks/allocation-draft.js";
import type { ImportedDisk } from "../../src/disks/disk-import.js";
import { DISK_RECORD_METADATA_KEY } from "../../src/storage/image-store.js";
import {
  makePetasanDisk,
  petasanMetadata,
  type PetasanDisk,
  PETASAN_1,
  PETASAN_2,
  addDiskInput as input,
} from "../support/petasan-disk.js";
import { ProcessCluster } from "../support/process-cluster.js";
import { rejection } from "../support/thrown.js";

describe("disk import: registering disks made by PetaSAN", () => {
  let cluster: ProcessCluster;

  beforeEach(async () => {
    cluster = await ProcessCluster.start("Import");
  });
  afterEach(async () => {
    await cluster.close();
  });

  const petasan = (disk: PetasanDisk, what?: Parameters<typeof makePetasanDisk>[4]) =>
    makePetasanDisk(cluster.kv, cluster.keys, cluster.images, disk, what);
  const importDisks = (dryRun = false, pool = "") => cluster.disks.importDisks({ pool, dryRun });
  const byId = (rows: readonly ImportedDisk[], id: string): ImportedDisk => {
    const row = rows.find((candidate) => candidate.id === id);
    if (row === undefined) throw new Error(`no row for ${id}`);
    return row;
  };
  /** Every key under the root with its value, Flags, session and ModifyIndex. */
  const consulState = async () =>
    (await cluster.kv.list(`${cluster.keys.root}/`)).map((entry) => ({
      key: entry.key,
      value: entry.value,
      flags: entry.flags,
      session: entry.session,
      modifyIndex: entry.modifyIndex,
    }));

  it("registers PetaSAN's disks: reservations, names and records; images and keys untouched", async () => {
    await petasan(PETASAN_1);
    await petasan(PETASAN_2);
    const pathKeyBefore = await cluster.kv.get(cluster.keys.diskPath("00001", 1));
    const diskKeyBefore = await cluster.kv.get(cluster.keys.disk("00001"));

    const report = await importDisks();

    expect(report).toMatchObject({ pool: "rbd", dryRun: false });
    expect(report.disks.map((row) => [row.id, row.name, row.outcome])).toEqual([
      ["00001", "PetaSAN Disk", "imported"],
      ["00002", "vm-store", "imported"],
    ]);
    expect(byId(report.disks, "00001")).toMatchObject({
      ips: ["198.51.100.10", "203.0.113.10"],
      sizeGib: 1,
      added: ["reservations", "name"],
      running: true,
      detail: "",
      field: "",
    });
    const draft = await AllocationDraft.read(cluster.kv, cluster.disks.allocationKeys);
    expect(draft.isIdUsed("00001") && draft.isIdUsed("00002")).toBe(true);
    expect([...draft.usedIps()]).toEqual(["198.51.100.10", "198.51.100.11", "198.51.100.12", "203.0.113.10"]);
    expect((await cluster.kv.get(cluster.keys.diskName("petasan disk")))?.value).toBe("00001");
    // The disk key and path keys are exactly as PetaSAN wrote them; the image's record too.
    expect(await cluster.kv.get(cluster.keys.disk("00001"))).toEqual(diskKeyBefore);
    expect(await cluster.kv.get(cluster.keys.diskPath("00001", 1))).toEqual(pathKeyBefore);
    expect(await cluster.images.readMetadata("image-00001")).toBe(petasanMetadata(PETASAN_1));
    // A sanpath disk now: addressed by name, with its paths and pool.
    const shown = await cluster.disks.getDisk("petasan disk");
    expect(shown).toMatchObject({ id: "00001", name: "PetaSAN Disk", pool: "rbd" });
    // And AddDisk afterwards gets a new id and new addresses.
    const added = await cluster.disks.addDisk(input("after-import"));
    expect(added.id).toBe("00003");
    expect(added.paths.map((path) => path.ip)).toEqual(["198.51.100.13", "203.0.113.13"]);
  });

  it("a second import changes nothing: every disk is already registered, every key as it was", async () => {
    await petasan(PETASAN_1);
    await petasan(PETASAN_2);
    await importDisks();
    const before = await consulState();
    const again = await importDisks();
    expect(again.disks.map((row) => [row.id, row.outcome, row.added])).toEqual([
      ["00001", "already-registered", []],
      ["00002", "already-registered", []],
    ]);
    expect(await consulState()).toEqual(before);
  });

  it("a dry run reports what it would add and changes nothing", async () => {
    await petasan(PETASAN_1);
    await petasan(PETASAN_2, { consulKeys: false });
    const before = await consulState();
    const report = await importDisks(true);
    expect(report.dryRun).toBe(true);
    expect(report.disks.map((row) => [row.id, row.outcome, row.added])).toEqual([
      ["00001", "would-import", ["reservations", "name"]],
      ["00002", "would-import", ["reservations", "name", "disk key (stopped)", "path keys 1,2"]],
    ]);
    expect(await consulState()).toEqual(before);
  });

  it("a disk with no Consul keys (an image restored from a backup) is imported stopped; start serves it", async () => {
    await petasan(PETASAN_2, { consulKeys: false });
    const report = await importDisks();
    expect(byId(report.disks, "00002")).toMatchObject({
      outcome: "imported",
      running: false,
      added: ["reservations", "name", "disk key (stopped)", "path keys 1,2"],
    });
    const diskKey = await cluster.kv.get(cluster.keys.disk("00002"));
    expect({ value: diskKey?.value, flags: diskKey?.flags }).toEqual({ value: "disk", flags: 1 });
    expect((await cluster.disks.getDisk("vm-store")).status).toBe("stopped");
    const started = await cluster.disks.startDisk("vm-store");
    expect(started.status).toBe("starting");
  });

  it("changes no lock: a path PetaSAN serves keeps its holder and session", async () => {
    await petasan(PETASAN_1);
    const session = await cluster.store.sessions.create({
      name: "petasan-node",
      ttlSeconds: 30,
      lockDelaySeconds: 0,
    });
    const pathKey = cluster.keys.diskPath("00001", 1);
    expect(await cluster.kv.acquire(pathKey, session, "petasan-node-1")).toBe(true);
    const locked = await cluster.kv.get(pathKey);

    const report = await importDisks();

    expect(byId(report.disks, "00001")).toMatchObject({ outcome: "imported", running: true });
    expect(await cluster.kv.get(pathKey)).toEqual(locked);
    expect((await cluster.disks.getDisk("00001")).paths[0]?.node).toBe("petasan-node-1");
  });

  it("reports broken records with the field and the rule and imports nothing of them", async () => {
    await petasan(PETASAN_1);
    await petasan({ id: "00002", name: "bad-ip", paths: [{ ip: "10.9.9.9", eth: "eth1" }] });
    await petasan({ id: "00003", name: "wrong-id", paths: [{ ip: "198.51.100.30", eth: "eth1" }] });
    await cluster.images.setMeta(
      "image-00003",
      DISK_RECORD_METADATA_KEY,
      petasanMetadata({ id: "00004", name: "wrong-id", paths: [{ ip: "198.51.100.30", eth: "eth1" }] }),
    );
    await petasan({ id: "00005", name: "no-json", paths: [] }, { consulKeys: false });
    await cluster.images.setMeta("image-00005", DISK_RECORD_METADATA_KEY, "{ not json");
    await petasan({ id: "00006", name: "", paths: [{ ip: "198.51.100.31", eth: "eth1" }] });
    await petasan({ id: "00007", name: "no paths", paths: [] });
    await cluster.images.create("image-00008", 1024 ** 3); // an image without a record
    const before = await consulState();
    const draftBefore = await AllocationDraft.read(cluster.kv, cluster.disks.allocationKeys);

    const report = await importDisks();

    const skipped = report.disks
      .filter((row) => row.outcome === "skipped")
      .map((row) => ({ id: row.id, field: row.field, detail: row.detail }));
    expect(skipped).toEqual([
      {
        id: "00002",
        field: "paths[0].subnet",
        detail: expect.stringContaining("in no configured iSCSI subnet") as string,
      },
      { id: "00003", field: "id", detail: "the record says 00004, but the image is image-00003" },
      { id: "00005", field: "petasan-metada", detail: expect.stringContaining("it is not JSON") as string },
      {
        id: "00006",
        field: "disk_name",
        detail: expect.stringContaining("is empty (a detached disk)") as string,
      },
      { id: "00007", field: "paths", detail: "is empty: a disk needs at least one path" },
      {
        id: "00008",
        field: "petasan-metada",
        detail: expect.stringContaining("has no disk record") as string,
      },
    ]);
    expect(byId(report.disks, "00001").outcome).toBe("imported");
    // Nothing of the skipped ones: no record, no name key, no address bit.
    for (const id of ["00002", "00003", "00005", "00006", "00007", "00008"]) {
      expect(await cluster.kv.get(cluster.disks.allocationKeys.record(id))).toBeUndefined();
    }
    expect(await cluster.kv.get(cluster.keys.diskName("bad-ip"))).toBeUndefined();
    const draftAfter = await AllocationDraft.read(cluster.kv, cluster.disks.allocationKeys);
    expect([...draftAfter.usedIps()]).toEqual(
      [...new Set([...draftBefore.usedIps(), "198.51.100.10", "203.0.113.10"])].sort(),
    );
    expect(
      (await consulState()).filter((entry) => !before.some((old) => old.key === entry.key)).map((e) => e.key),
    ).toEqual(
      expect.arrayContaining([
        cluster.disks.allocationKeys.record("00001"),
        cluster.keys.diskName("PetaSAN Disk"),
      ]),
    );
  });

  it("skips a disk whose name or address another disk has, naming the field", async () => {
    const mine = await cluster.disks.addDisk(
      input("Shared", { manualIps: ["198.51.100.50"], pathCount: 1, subnet: 1 }),
    );
    await petasan({ id: "00002", name: "shared", paths: [{ ip: "198.51.100.51", eth: "eth1" }] });
    await petasan({ id: "00003", name: "clash", paths: [{ ip: "198.51.100.50", eth: "eth1" }] });
    await petasan({ id: "00004", name: "twin-a", paths: [{ ip: "198.51.100.60", eth: "eth1" }] });
    await petasan({ id: "00005", name: "twin-b", paths: [{ ip: "198.51.100.60", eth: "eth1" }] });

    const report = await importDisks();

    expect(byId(report.disks, mine.id).outcome).toBe("already-registered");
    expect(byId(report.disks, "00002")).toMatchObject({
      outcome: "skipped",
      field: "disk_name",
      detail: expect.stringContaining(`a disk named "shared" exists already (disk ${mine.id}`) as string,
    });
    expect(byId(report.disks, "00003")).toMatchObject({
      outcome: "skipped",
      field: "paths[0].ip",
      detail: expect.stringContaining(`198.51.100.50 is an address of disk ${mine.id} too`) as string,
    });
    for (const [id, other] of [
      ["00004", "00005"],
      ["00005", "00004"],
    ] as const) {
      expect(byId(report.disks, id)).toMatchObject({
        outcome: "skipped",
        field: "paths[0].ip",
        detail: expect.stringContaining(`198.51.100.60 is an address of disk ${other} too`) as string,
      });
    }
  });

  it("an edit of an imported PetaSAN 1.x disk updates its header xattr too, so PetaSAN sees it", async () => {
    await petasan(PETASAN_2);
    expect(await cluster.images.listMeta("image-00002")).toEqual({});
    await importDisks();
    await cluster.disks.updateDisk({ disk: "vm-store", name: "vm-store-2", sizeGib: 2, clearChap: false });
    const xattr = await cluster.images.readHeaderXattr("image-00002", DISK_RECORD_METADATA_KEY);
    const imageMeta = await cluster.images.getMeta("image-00002", DISK_RECORD_METADATA_KEY);
    expect(xattr).toBe(imageMeta);
    expect(JSON.parse(xattr ?? "{}")).toMatchObject({ disk_name: "vm-store-2", size: 2, id: "00002" });
  });

  it("an imported disk is deleted like any other: its id, addresses and name are free again", async () => {
    await petasan(PETASAN_2);
    await importDisks();
    await cluster.disks.stopDisk("vm-store");
    expect(await cluster.disks.deleteDisk("vm-store")).toBe("00002");
    const draft = await AllocationDraft.read(cluster.kv, cluster.disks.allocationKeys);
    expect(draft.isIdUsed("00002")).toBe(false);
    expect([...draft.usedIps()]).toEqual([]);
    expect(await cluster.kv.get(cluster.keys.diskName("vm-store"))).toBeUndefined();
    expect(await cluster.images.list()).toEqual([]);
  });

  it("AddDisk running beside an import never hands out an id, name or address twice", async () => {
    for (let n = 1; n <= 6; n++) {
      await petasan({
        id: String(n).padStart(5, "0"),
        name: `petasan-${n}`,
        paths: [
          { ip: `198.51.100.${10 + n}`, eth: "eth1" },
          { ip: `203.0.113.${10 + n}`, eth: "eth2" },
        ],
      });
    }
    const [report, ...added] = await Promise.all([
      importDisks(),
      ...Array.from({ length: 4 }, (_, n) => cluster.disks.addDisk(input(`new-${n}`))),
    ]);
    expect(report.disks.filter((row) => row.outcome === "imported")).toHaveLength(6);
    const records = await cluster.kv.list(cluster.disks.allocationKeys.records());
    expect(records).toHaveLength(10);
    const ids = added.map((disk) => disk.id);
    expect(new Set([...ids, "00001", "00002", "00003", "00004", "00005", "00006"]).size).toBe(10);
    const everyIp = [
      ...added.flatMap((disk) => disk.paths.map((path) => path.ip)),
      ...report.disks.flatMap((row) => row.ips),
    ];
    expect(new Set(everyIp).size).toBe(everyIp.length);
  });

  it("refuses a pool name that is not one, naming the field", async () => {
    const refused = await rejection(importDisks(false, "-bad/pool"));
    expect(refused).toMatchObject({ kind: "invalid_argument", field: "pool" });
  });
});
