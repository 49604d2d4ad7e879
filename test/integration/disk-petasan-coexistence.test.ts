/**
 * AddDisk on a cluster where PetaSAN made disks first, on a real Consul agent and real Ceph: each
 * PetaSAN disk is made as PetaSAN's ManageDisk.add_disk makes it (an `rbd` image `image-<id>`, its
 * `petasan-metada` record as PetaSAN writes it: with `rados setxattr` on the image's header object
 * `rbd_header.<id>`, as PetaSAN 1.x does (one disk as rbd image-meta, as newer tools do), then `<root>/Disks/<id>` = "disk" and one
 * empty path key per path, created only if absent), with no sanpath reservation for it.
 * AddDisk afterwards takes a new id and new addresses, refuses the PetaSAN disk's name and its
 * addresses as manual ones, and concurrent AddDisks on several services never duplicate anything.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKvStore } from "../../src/consul/consul-kv-store.js";
import { ConsulSessionStore } from "../../src/consul/consul-session-store.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { AllocationDraft } from "../../src/disks/allocation-draft.js";
import { AllocationKeys } from "../../src/disks/allocation-keys.js";
import type { AddDiskInput } from "../../src/disks/disk-request.js";
import { openRbdImageStore, type RbdImageStore } from "../../src/storage/rbd-image-store.js";
import { startCephHarness, type CephHarness } from "../harness/ceph.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { petasanMetadata, type PetasanDisk } from "../support/petasan-disk.js";
import { rejection } from "../support/thrown.js";
import { diskServiceFixture, freshRoot, SAMPLE_SETTINGS, type ServiceFixture } from "./disk-support.js";

const PETASAN_DISKS: readonly PetasanDisk[] = [
  {
    id: "00001",
    name: "PetaSAN Disk",
    paths: [
      { ip: "198.51.100.10", eth: "eth1" },
      { ip: "203.0.113.10", eth: "eth2" },
    ],
  },
  {
    id: "00002",
    name: "vm-store",
    paths: [
      { ip: "198.51.100.11", eth: "eth1" },
      { ip: "198.51.100.12", eth: "eth1" },
    ],
  },
  { id: "00005", name: "backup", paths: [{ ip: "203.0.113.14", eth: "eth2" }] },
];
/** The disk whose record newer tools wrote, as rbd image-meta; the others' is in the header xattr. */
const IMAGE_META_DISK = "00005";
const [FIRST_PETASAN_DISK] = PETASAN_DISKS as [PetasanDisk, ...PetasanDisk[]];
const PETASAN_IPS = PETASAN_DISKS.flatMap((disk) => disk.paths.map((path) => path.ip));
const PETASAN_IDS = PETASAN_DISKS.map((disk) => disk.id);

function input(name: string, extra: Partial<AddDiskInput> = {}): AddDiskInput {
  return { name, sizeGib: 1, pathCount: 2, subnet: 3, manualIps: [], pool: "", ...extra };
}

describe("AddDisk and import beside disks made by PetaSAN (Consul + Ceph)", () => {
  let consul: ConsulHarness | undefined;
  let ceph: CephHarness | undefined;
  let client: ConsulClient | undefined;
  const stores: RbdImageStore[] = [];
  const fixtures: ServiceFixture[] = [];
  const set = (): { ceph: CephHarness; client: ConsulClient } => {
    if (ceph === undefined || client === undefined) throw new Error("set-up failed");
    return { ceph, client };
  };

  beforeAll(async () => {
    const [startedConsul, startedCeph] = await Promise.all([
      startConsulHarness("disk-petasan"),
      startCephHarness({ name: "disk-petasan" }),
    ]);
    consul = startedConsul;
    ceph = startedCeph;
    client = new ConsulClient({ address: startedConsul.agent.httpAddress });
  });
  afterAll(async () => {
    for (const fixture of fixtures) await fixture.close();
    for (const store of stores) await store.close();
    client?.close();
    await Promise.all([ceph?.stop(), consul?.stop()]);
  });

  /** A pool of its own, and `count` DiskServices over it (each with its own Ceph connection). */
  async function services(
    label: string,
    count: number,
  ): Promise<{ root: string; pool: string; made: ServiceFixture[] }> {
    const { ceph, client } = set();
    const pool = label;
    await ceph.cli("ceph", ["osd", "pool", "create", pool, "8"]);
    await ceph.cli("rbd", ["pool", "init", pool]);
    const root = freshRoot(label);
    const made: ServiceFixture[] = [];
    for (let n = 0; n < count; n++) {
      const store = await openRbdImageStore({ pool, connect: { confPath: ceph.confPath } });
      stores.push(store);
      const fixture = await diskServiceFixture({
        root,
        client,
        store,
        nodeName: `node-${n}`,
        settings: n === 0 ? { ...SAMPLE_SETTINGS, defaultPool: pool } : false,
      });
      fixtures.push(fixture);
      made.push(fixture);
    }
    return { root, pool, made };
  }

  /** The header object of an image, where PetaSAN 1.x keeps the record as an xattr. */
  async function headerObject(pool: string, image: string): Promise<string> {
    const info = JSON.parse(
      await set().ceph.cli("rbd", ["info", "--format", "json", `${pool}/${image}`]),
    ) as {
      id: string;
    };
    return `rbd_header.${info.id}`;
  }

  /**
   * What PetaSAN's add_disk does: image, metadata, then the disk key and the path keys (CAS 0). The
   * metadata goes where the seeds' code puts it, an xattr of the image's header object
   * (`io_ctx.set_xattr(rbd_header.<id>, "petasan-metada", …)`), or into rbd image-meta as newer
   * tools (and sanpath) write it (IMAGE_META_DISK by default).
   */
  async function petasanAddDisk(
    root: string,
    pool: string,
    disk: PetasanDisk,
    {
      metadataIn = disk.id === IMAGE_META_DISK ? "image-meta" : "header-xattr",
      consulKeys = true,
    }: { metadataIn?: "header-xattr" | "image-meta"; consulKeys?: boolean } = {},
  ): Promise<void> {
    const { ceph, client } = set();
    const image = `${pool}/image-${disk.id}`;
    const record = petasanMetadata({ ...disk, pool });
    await ceph.cli("rbd", ["create", "--size", "1024", "--image-format", "2", image]);
    if (metadataIn === "image-meta") {
      await ceph.cli("rbd", ["image-meta", "set", image, "petasan-metada", record]);
    } else {
      // io_ctx.set_xattr(rbd_header.<id>, "petasan-metada", disk.write_json())
      const header = await headerObject(pool, `image-${disk.id}`);
      await ceph.cli("rados", ["-p", pool, "setxattr", header, "petasan-metada", record]);
    }
    if (!consulKeys) return;
    const kv = new ConsulKvStore(client);
    const keys = new ConsulKeys(root);
    expect(await kv.put(keys.disk(disk.id), "disk", { cas: 0 })).toBe(true);
    for (let index = 1; index <= disk.paths.length; index++) {
      expect(await kv.put(keys.diskPath(disk.id, index), "", { cas: 0 })).toBe(true);
    }
  }

  it("AddDisk gets a new id and addresses; the PetaSAN disk's name and addresses are refused", async () => {
    const { root, pool, made } = await services("petasan1", 1);
    const [fixture] = made;
    if (fixture === undefined) throw new Error("one service");
    for (const disk of PETASAN_DISKS) await petasanAddDisk(root, pool, disk);
    const keysBefore = await set().client.list(`${root}/Disks/`);

    const disk = await fixture.service.addDisk(input("sanpath-first"));
    expect(disk.id).toBe("00003");
    const ips = disk.paths.map((path) => path.ip);
    for (const ip of ips) expect(PETASAN_IPS).not.toContain(ip);
    expect(ips).toEqual(["198.51.100.13", "203.0.113.13"]);
    expect((await fixture.service.addDisk(input("sanpath-second", { pathCount: 1, subnet: 2 }))).id).toBe(
      "00004",
    );
    expect((await fixture.service.addDisk(input("sanpath-third", { pathCount: 1 }))).id).toBe("00006");

    await expect(fixture.service.addDisk(input("petasan DISK"))).rejects.toMatchObject({
      kind: "already_exists",
      reason: "DISK_NAME_EXISTS",
      field: "name",
    });
    const manual = await rejection(
      fixture.service.addDisk(input("manual", { pathCount: 1, subnet: 1, manualIps: ["198.51.100.12"] })),
    );
    expect(manual).toMatchObject({ kind: "already_exists", reason: "IP_USED_ALREADY" });

    // The PetaSAN disks are reserved now, and left as PetaSAN made them.
    const draft = await AllocationDraft.read(fixture.kv, new AllocationKeys(fixture.keys));
    for (const id of PETASAN_IDS) expect(draft.isIdUsed(id)).toBe(true);
    for (const ip of PETASAN_IPS) expect(draft.isIpUsed(ip)).toBe(true);
    const keysAfter = await set().client.list(`${root}/Disks/`);
    for (const before of keysBefore) {
      expect(keysAfter.find((entry) => entry.key === before.key)).toMatchObject({
        value: before.value,
        modifyIndex: before.modifyIndex,
      });
    }
    const header = await headerObject(pool, "image-00001");
    const meta = await set().ceph.cli("rados", ["-p", pool, "getxattr", header, "petasan-metada"]);
    expect(JSON.parse(meta)).toEqual(JSON.parse(petasanMetadata({ ...FIRST_PETASAN_DISK, pool })));
    // sanpath wrote no image-meta record of its own beside PetaSAN's.
    expect(await set().ceph.cli("rbd", ["image-meta", "list", `${pool}/image-00001`])).not.toContain(
      "petasan-metada",
    );
  });

  it("import registers the PetaSAN disks as they are, a second import changes nothing, and AddDisk beside it never duplicates", async () => {
    const { root, pool, made } = await services("petasan3", 2);
    const [importer, adder] = made;
    if (importer === undefined || adder === undefined) throw new Error("two services");
    for (const [n, disk] of PETASAN_DISKS.entries()) {
      await petasanAddDisk(root, pool, disk, {
        metadataIn: n === 0 ? "header-xattr" : "image-meta",
        consulKeys: disk.id !== "00005",
      });
    }
    // A PetaSAN node serves path 1 of the first disk: its lock must survive the import untouched.
    const { client } = set();
    const kv = new ConsulKvStore(client);
    const keys = new ConsulKeys(root);
    const sessions = new ConsulSessionStore(client);
    const session = await sessions.create({ name: "petasan-node-1", ttlSeconds: 30, lockDelaySeconds: 0 });
    expect(await kv.acquire(keys.diskPath("00001", 1), session, "petasan-node-1")).toBe(true);
    const lockedBefore = await kv.get(keys.diskPath("00001", 1));

    const dryRun = await importer.service.importDisks({ pool: "", dryRun: true });
    expect(dryRun.disks.map((row) => [row.id, row.outcome])).toEqual([
      ["00001", "would-import"],
      ["00002", "would-import"],
      ["00005", "would-import"],
    ]);
    const [report, ...added] = await Promise.all([
      importer.service.importDisks({ pool: "", dryRun: false }),
      ...Array.from({ length: 6 }, (_, n) =>
        adder.service.addDisk(input(`beside-${n}`, { subnet: (n % 3) + 1 })),
      ),
    ]);
    expect(report.disks.map((row) => [row.id, row.name, row.outcome, row.running])).toEqual([
      ["00001", "PetaSAN Disk", "imported", true],
      ["00002", "vm-store", "imported", true],
      ["00005", "backup", "imported", false],
    ]);
    // "reservations" too, unless an AddDisk beside it reserved PetaSAN's ids and addresses first.
    expect(report.disks.find((row) => row.id === "00005")?.added).toEqual(
      expect.arrayContaining(["name", "disk key (stopped)", "path keys 1"]) as string[],
    );
    const draft = await AllocationDraft.read(kv, new AllocationKeys(keys));
    for (const id of PETASAN_IDS) expect(draft.isIdUsed(id)).toBe(true);
    for (const ip of PETASAN_IPS) expect(draft.isIpUsed(ip)).toBe(true);
    expect(await kv.get(keys.diskPath("00001", 1))).toEqual(lockedBefore);
    const ips = added.flatMap((disk) => disk.paths.map((path) => path.ip));
    expect(new Set([...ips, ...PETASAN_IPS]).size).toBe(ips.length + PETASAN_IPS.length);
    for (const disk of added) expect(PETASAN_IDS).not.toContain(disk.id);

    // The imported disks are sanpath's now: by name, with the node serving each path.
    const shown = await adder.service.getDisk("petasan disk");
    expect(shown.paths.map((path) => [path.ip, path.node])).toEqual([
      ["198.51.100.10", "petasan-node-1"],
      ["203.0.113.10", ""],
    ]);
    const before = await client.list(`${root}/`);
    const again = await importer.service.importDisks({ pool: "", dryRun: false });
    expect(again.disks.filter((row) => PETASAN_IDS.includes(row.id)).map((row) => row.outcome)).toEqual([
      "already-registered",
      "already-registered",
      "already-registered",
    ]);
    expect(again.disks.every((row) => row.outcome === "already-registered")).toBe(true);
    expect(await client.list(`${root}/`)).toEqual(before);
    await sessions.destroy(session);
  });

  it("concurrent AddDisks on three services beside PetaSAN disks never duplicate an id or an address", async () => {
    const { root, pool, made } = await services("petasan2", 3);
    for (const disk of PETASAN_DISKS) await petasanAddDisk(root, pool, disk);
    const calls = 24;
    const results = await Promise.allSettled(
      Array.from({ length: calls }, (_, n) => {
        const fixture = made[n % made.length];
        if (fixture === undefined) throw new Error("three services");
        return fixture.service.addDisk(input(`c-${n}`, { subnet: (n % 3) + 1 }));
      }),
    );
    const disks = results.map((result) => {
      if (result.status === "rejected") throw result.reason;
      return result.value;
    });
    const ids = disks.map((disk) => disk.id);
    expect(new Set(ids).size).toBe(calls);
    for (const id of PETASAN_IDS) expect(ids).not.toContain(id);
    const ips = disks.flatMap((disk) => disk.paths.map((path) => path.ip));
    expect(new Set(ips).size).toBe(ips.length);
    for (const ip of PETASAN_IPS) expect(ips).not.toContain(ip);
    const images = await set().ceph.cli("rbd", ["ls", pool]);
    expect(images.trim().split("\n").sort()).toEqual(
      [...PETASAN_IDS, ...ids].map((id) => `image-${id}`).sort(),
    );
  });
});
