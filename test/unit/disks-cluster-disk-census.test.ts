/**
 * Allocation beside disks sanpath has no record of (made by PetaSAN): ids, names and addresses that
 * any disk uses are never handed out, whoever made the disk; the census behind it reads only what
 * changed. On the in-memory Consul and a file image store (test/support/process-cluster.ts).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AllocationDraft } from "../../src/disks/allocation-draft.js";
import { ClusterDiskCensus } from "../../src/disks/cluster-disk-census.js";
import { diskImagesOver } from "../../src/disks/disk-images.js";
import { DiskService } from "../../src/disks/disk-service.js";
import { diskUsageFromMetadata } from "../../src/disks/disk-usage.js";
import { createLogger } from "../../src/log/logger.js";
import { DISK_RECORD_METADATA_KEY } from "../../src/storage/image-store.js";
import {
  makePetasanDisk,
  removePetasanDisk,
  type PetasanDisk,
  PETASAN_1,
  PETASAN_2,
  addDiskInput as input,
} from "../support/petasan-disk.js";
import { ProcessCluster } from "../support/process-cluster.js";
import { rejection } from "../support/thrown.js";

describe("allocation beside disks made by PetaSAN", () => {
  let cluster: ProcessCluster;

  beforeEach(async () => {
    cluster = await ProcessCluster.start("Census");
  });
  afterEach(async () => {
    await cluster.close();
  });

  const petasan = (disk: PetasanDisk, what?: Parameters<typeof makePetasanDisk>[4]) =>
    makePetasanDisk(cluster.kv, cluster.keys, cluster.images, disk, what);
  const draft = () => AllocationDraft.read(cluster.kv, cluster.disks.allocationKeys);
  const ipsOf = (disk: { paths: readonly { ip: string }[] }) => disk.paths.map((path) => path.ip);

  it("AddDisk gets a new id and new addresses, and reserves what the PetaSAN disks use", async () => {
    // The record where PetaSAN 1.x writes it (the header xattr), and where newer tools write it.
    await petasan(PETASAN_1);
    await petasan(PETASAN_2, { recordAs: "image-meta" });
    const disk = await cluster.disks.addDisk(input("sanpath-1"));
    expect(disk.id).toBe("00003");
    // Lockstep steps 0..2 hold PetaSAN's addresses: the first free step pair is 13.
    expect(ipsOf(disk)).toEqual(["198.51.100.13", "203.0.113.13"]);
    const after = await draft();
    for (const id of ["00001", "00002", "00003"]) expect(after.isIdUsed(id)).toBe(true);
    expect([...after.usedIps()]).toEqual([
      "198.51.100.10",
      "198.51.100.11",
      "198.51.100.12",
      "198.51.100.13",
      "203.0.113.10",
      "203.0.113.13",
    ]);
    // PetaSAN's keys and images are left as they were.
    expect(await cluster.images.list()).toEqual(["image-00001", "image-00002", "image-00003"]);
    expect((await cluster.kv.get(cluster.keys.diskPath("00001", 1)))?.value).toBe("");
  });

  it("refuses a PetaSAN disk's name (any case) and its addresses as manual ones; nothing is left", async () => {
    await petasan(PETASAN_1);
    const refusedName = await rejection(cluster.disks.addDisk(input("petasan disk")));
    expect(refusedName).toMatchObject({ kind: "already_exists", reason: "DISK_NAME_EXISTS", field: "name" });
    expect(String(refusedName)).toContain("disk 00001");
    const refusedIp = await rejection(
      cluster.disks.addDisk(input("manual", { pathCount: 1, subnet: 2, manualIps: ["203.0.113.10"] })),
    );
    expect(refusedIp).toMatchObject({ kind: "already_exists", reason: "IP_USED_ALREADY" });
    expect(await cluster.kv.keys(cluster.disks.allocationKeys.all())).toEqual([]);
    expect(await cluster.kv.keys(cluster.keys.disks())).toEqual([
      "Census/Disks/00001",
      "Census/Disks/00001/1",
      "Census/Disks/00001/2",
    ]);
    expect(await cluster.images.list()).toEqual(["image-00001"]);
  });

  it("refuses to rename a disk to a PetaSAN disk's name (any case); the disk keeps its name", async () => {
    await petasan(PETASAN_1);
    const mine = await cluster.disks.addDisk(input("mine"));
    const refused = await rejection(
      cluster.disks.updateDisk({ disk: mine.id, name: "PETASAN DISK", clearChap: false }),
    );
    expect(refused).toMatchObject({ kind: "already_exists", reason: "DISK_NAME_EXISTS", field: "name" });
    expect(String(refused)).toContain("disk 00001");
    expect((await cluster.disks.getDisk(mine.id)).name).toBe("mine");
    // Renaming it to a free name, or changing only its case, still works.
    expect((await cluster.disks.updateDisk({ disk: mine.id, name: "Mine", clearChap: false })).name).toBe(
      "Mine",
    );
    expect((await cluster.disks.updateDisk({ disk: mine.id, name: "ours", clearChap: false })).name).toBe(
      "ours",
    );
  });

  it("each trace of a disk holds its id: disk key, path key alone, image alone, image with metadata only", async () => {
    await petasan(PETASAN_1, { image: false });
    await cluster.kv.put(cluster.keys.diskPath("00002", 1), "");
    await petasan({ id: "00003", name: "half made", paths: [] }, { metadata: false, consulKeys: false });
    await petasan(
      { id: "00004", name: "detached", paths: [{ ip: "198.51.100.10", eth: "eth1" }] },
      { consulKeys: false },
    );
    const disk = await cluster.disks.addDisk(input("next", { subnet: 1 }));
    expect(disk.id).toBe("00005");
    // Only the metadata names addresses: 198.51.100.10 (disk 00004).
    expect(ipsOf(disk)).toEqual(["198.51.100.11", "198.51.100.12"]);
  });

  it("a disk PetaSAN recreates under the same id with other addresses is read again", async () => {
    await petasan(PETASAN_1);
    expect((await cluster.disks.addDisk(input("first"))).id).toBe("00002");
    await removePetasanDisk(cluster.kv, cluster.keys, cluster.images, "00001");
    await petasan({ ...PETASAN_1, paths: [{ ip: "203.0.113.11", eth: "eth2" }] });
    const disk = await cluster.disks.addDisk(input("second"));
    expect(disk.id).toBe("00003");
    expect(ipsOf(disk)).not.toContain("203.0.113.11");
  });

  it("reads the metadata of new or changed disks only", async () => {
    await petasan(PETASAN_1);
    await petasan(PETASAN_2);
    const reads = vi.spyOn(cluster.images, "readMetadata");
    await cluster.disks.addDisk(input("a"));
    // The two PetaSAN disks; sanpath's own image has no metadata yet when the census runs.
    expect(reads.mock.calls.map(([image]) => image).sort()).toEqual(["image-00001", "image-00002"]);
    reads.mockClear();
    await cluster.disks.addDisk(input("b"));
    expect(reads.mock.calls.map(([image]) => image)).toEqual(["image-00003"]);
    reads.mockClear();
    // A change of a disk key (stopped: Flags 1) has its disk read again.
    await cluster.disks.stopDisk("00002");
    reads.mockClear();
    await cluster.disks.addDisk(input("c"));
    expect(reads.mock.calls.map(([image]) => image).sort()).toEqual(["image-00002", "image-00004"]);
  });

  it("frees what it reserved for a PetaSAN disk once PetaSAN deleted it, and nothing any disk still uses", async () => {
    await petasan(PETASAN_1);
    await petasan(PETASAN_2);
    const mine = await cluster.disks.addDisk(input("sanpath-1"));
    // Nothing is an orphan while every disk exists.
    expect(await cluster.disks.releaseOrphanReservations()).toEqual({ ids: [], ips: [] });
    await removePetasanDisk(cluster.kv, cluster.keys, cluster.images, PETASAN_2.id);

    expect(await cluster.disks.releaseOrphanReservations()).toEqual({
      ids: [PETASAN_2.id],
      ips: ipsOf(PETASAN_2),
    });
    const after = await draft();
    expect(after.isIdUsed(PETASAN_2.id)).toBe(false);
    expect(after.isIdUsed(PETASAN_1.id) && after.isIdUsed(mine.id)).toBe(true);
    expect([...after.usedIps()].sort()).toEqual([...ipsOf(PETASAN_1), ...ipsOf(mine)].sort());
    // The freed id and addresses are handed out again; a second pass finds nothing.
    expect(await cluster.disks.releaseOrphanReservations()).toEqual({ ids: [], ips: [] });
    const next = await cluster.disks.addDisk(input("sanpath-2", { pathCount: 1, subnet: 1 }));
    expect(next.id).toBe(PETASAN_2.id);
  });

  it("never frees a reservation whose AddDisk is still making the disk (pending record)", async () => {
    const reservation = await cluster.disks.reservations.reserve(input("in-flight"));
    expect(await cluster.disks.releaseOrphanReservations()).toEqual({ ids: [], ips: [] });
    const held = await draft();
    expect(held.isIdUsed(reservation.allocation.id)).toBe(true);
    for (const ip of reservation.allocation.ips) expect(held.isIpUsed(ip)).toBe(true);
  });

  it("concurrent AddDisks on two services beside PetaSAN disks never duplicate an id or an address", async () => {
    await petasan(PETASAN_1);
    await petasan(PETASAN_2);
    await petasan({ id: "00007", name: "gap", paths: [{ ip: "203.0.113.15", eth: "eth2" }] });
    const other = new DiskService({
      kv: cluster.kv,
      keys: cluster.keys,
      images: diskImagesOver(cluster.images),
      nodeName: "other",
      logger: createLogger({ level: "silent" }),
    });
    try {
      const made = await Promise.all(
        Array.from({ length: 16 }, (_, n) =>
          (n % 2 === 0 ? cluster.disks : other).addDisk(input(`c-${n}`, { subnet: (n % 3) + 1 })),
        ),
      );
      const ids = made.map((disk) => disk.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).not.toContain("00001");
      expect(ids).not.toContain("00002");
      expect(ids).not.toContain("00007");
      const ips = made.flatMap(ipsOf);
      expect(new Set(ips).size).toBe(ips.length);
      for (const petasanIp of [
        "198.51.100.10",
        "203.0.113.10",
        "198.51.100.11",
        "198.51.100.12",
        "203.0.113.15",
      ]) {
        expect(ips).not.toContain(petasanIp);
      }
    } finally {
      await other.close();
    }
  });
});

describe("ClusterDiskCensus", () => {
  it("takes every readable id, name and address of a broken record", () => {
    const usage = diskUsageFromMetadata(
      "image-00009",
      JSON.stringify({ id: "00010", disk_name: "Broken", paths: [{ ip: "10.0.1.5" }, { ip: "nope" }, 7] }),
    );
    expect(usage).toEqual({ ids: ["00009", "00010"], name: "Broken", ips: ["10.0.1.5"] });
    expect(diskUsageFromMetadata("image-00009", "{not json")).toEqual({ ids: ["00009"], name: "", ips: [] });
  });

  it("a Consul or image store failure fails the census (nothing is decided on a partial view)", async () => {
    const cluster = await ProcessCluster.start("CensusFail");
    try {
      await makePetasanDisk(cluster.kv, cluster.keys, cluster.images, PETASAN_1);
      await cluster.images.setMeta("image-00001", DISK_RECORD_METADATA_KEY, "{}");
      const census = new ClusterDiskCensus(cluster.kv, cluster.keys, diskImagesOver(cluster.images));
      vi.spyOn(cluster.images, "list").mockRejectedValueOnce(new Error("ceph down"));
      await expect(census.read(["rbd"])).rejects.toThrow("ceph down");
      const seen = await census.read(["rbd"]);
      expect([...seen.ids]).toEqual(["00001"]);
    } finally {
      await cluster.close();
    }
  });
});
