/**
 * The ImageStore contract against the rbd store on a real Ceph (one mon, one memstore OSD), and,
 * from the outside, that its header xattrs are where PetaSAN 1.x keeps the disk record: the xattr
 * `petasan-metada` of the image's header object `rbd_header.<id>`, as `rados getxattr` reads it
 * and `rados setxattr` (PetaSAN's io_ctx.set_xattr) writes it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DISK_RECORD_METADATA_KEY } from "../../src/storage/image-store.js";
import { openRbdImageStore, type RbdImageStore } from "../../src/storage/rbd-image-store.js";
import { imageStoreContract } from "../contract/image-store.contract.js";
import { startCephHarness, type CephHarness } from "../harness/ceph.js";

const MiB = 1024 * 1024;

// One Ceph for the whole file: the contract suite and the checks from the outside share it.
let starting: Promise<CephHarness> | undefined;
const ceph = (): Promise<CephHarness> => (starting ??= startCephHarness({ name: "storage-contract" }));
afterAll(async () => {
  if (starting !== undefined) await (await starting).stop();
});

imageStoreContract("rbd (real Ceph: one mon, one memstore OSD)", async () => {
  const started = await ceph();
  return {
    config: {
      dataDir: started.dir,
      imageStore: { kind: "rbd", pool: started.pool, cephConf: started.confPath, cephUser: "admin" },
    },
    stop: () => Promise.resolve(),
  };
});

describe("rbd store header xattrs are PetaSAN's place for the disk record (checked with the rados CLI)", () => {
  let cluster: CephHarness;
  let store: RbdImageStore;

  beforeAll(async () => {
    cluster = await ceph();
    store = await openRbdImageStore({ pool: cluster.pool, connect: { confPath: cluster.confPath } });
  });
  afterAll(async () => {
    await store.close();
  });

  async function headerObject(image: string): Promise<string> {
    const info = JSON.parse(await cluster.cli("rbd", ["info", "--format", "json", image])) as { id: string };
    return `rbd_header.${info.id}`;
  }
  const rados = (...args: string[]): Promise<string> => cluster.cli("rados", ["-p", cluster.pool, ...args]);

  it("what writeHeaderXattr writes is what `rados getxattr rbd_header.<id> petasan-metada` reads", async () => {
    await store.create("outside-00001", MiB);
    const record = JSON.stringify({ disk_name: "Datenträger-数据", id: "00001" }, null, 4);
    await store.writeHeaderXattr("outside-00001", DISK_RECORD_METADATA_KEY, record);
    const header = await headerObject("outside-00001");
    expect(await rados("getxattr", header, DISK_RECORD_METADATA_KEY)).toBe(record);
    expect((await rados("listxattr", header)).split("\n")).toContain(DISK_RECORD_METADATA_KEY);
    // Not image-meta: `rbd image-meta list` does not show it.
    expect(await cluster.cli("rbd", ["image-meta", "list", "outside-00001"])).not.toContain(
      DISK_RECORD_METADATA_KEY,
    );
  });

  it("a record PetaSAN wrote with `rados setxattr` is what readMetadata returns; image-meta wins", async () => {
    await store.create("outside-00002", MiB);
    const header = await headerObject("outside-00002");
    const record = JSON.stringify({ disk_name: "PetaSAN Disk", paths: [{ ip: "198.51.100.10" }] }, null, 4);
    await rados("setxattr", header, DISK_RECORD_METADATA_KEY, record);
    expect(await store.readHeaderXattr("outside-00002", DISK_RECORD_METADATA_KEY)).toBe(record);
    expect(await store.readMetadata("outside-00002")).toBe(record);
    const newer = '{"disk_name":"written by sanpath"}';
    await cluster.cli("rbd", ["image-meta", "set", "outside-00002", DISK_RECORD_METADATA_KEY, newer]);
    expect(await store.readMetadata("outside-00002")).toBe(newer);
  });
});
