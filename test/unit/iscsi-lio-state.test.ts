import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigfsLioStateReader } from "../../src/iscsi/lio-state.js";

const IQN = "iqn.2016-05.com.petasan:00001";

/** A directory tree laid out like /sys/kernel/config/target. */
function buildTree(root: string): void {
  const file = (path: string, content: string): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), `${content}\n`);
  };
  const dir = (path: string): void => {
    mkdirSync(join(root, path), { recursive: true });
  };
  file("core/fileio_0/image-00001/udev_path", "/var/lib/sanpath/disks/image-00001");
  file("core/iblock_0/image-00002/udev_path", "/dev/rbd/rbd/image-00002");
  dir("core/alua");
  dir("iscsi/discovery_auth");
  const tpg1 = `iscsi/${IQN}/tpgt_1`;
  file(`${tpg1}/enable`, "1");
  dir(`${tpg1}/np/198.51.100.50:3260`);
  dir(`${tpg1}/lun/lun_0`);
  symlinkSync(
    "../../../../../../target/core/fileio_0/image-00001",
    join(root, `${tpg1}/lun/lun_0/3c1a9f0e2b`),
  );
  file(`${tpg1}/attrib/generate_node_acls`, "0");
  file(`${tpg1}/attrib/authentication`, "1");
  file(`${tpg1}/acls/iqn.1991-05.com.microsoft:host-x/auth/userid`, "petasan");
  file(`${tpg1}/acls/iqn.1991-05.com.microsoft:host-x/auth/password`, "must-never-be-read");
  file(`${tpg1}/auth/userid`, "");
  const tpg2 = `iscsi/${IQN}/tpgt_2`;
  file(`${tpg2}/enable`, "0");
  dir(`${tpg2}/np/203.0.113.50:3260`);
  file(`${tpg2}/attrib/generate_node_acls`, "1");
  file(`${tpg2}/attrib/authentication`, "0");
}

describe("LIO state from a configfs tree", () => {
  let root = "";
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "sanpath-configfs-"));
    buildTree(root);
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it("reads backstores, TPGs with portals, enable flags, LUN links, ACLs and CHAP users", async () => {
    const state = await new ConfigfsLioStateReader(root).read();
    expect(state).toEqual({
      backstores: [
        { plugin: "block", name: "image-00002", device: "/dev/rbd/rbd/image-00002" },
        { plugin: "fileio", name: "image-00001", device: "/var/lib/sanpath/disks/image-00001" },
      ],
      targets: [
        {
          iqn: IQN,
          tpgs: [
            {
              tag: 1,
              enabled: true,
              portals: [{ ip: "198.51.100.50", port: 3260 }],
              luns: [{ lun: 0, backstore: { plugin: "fileio", name: "image-00001" } }],
              acls: [{ initiator: "iqn.1991-05.com.microsoft:host-x", chapUserid: "petasan" }],
              generateNodeAcls: false,
              authentication: true,
            },
            {
              tag: 2,
              enabled: false,
              portals: [{ ip: "203.0.113.50", port: 3260 }],
              luns: [],
              acls: [],
              generateNodeAcls: true,
              authentication: false,
            },
          ],
        },
      ],
    });
    expect(JSON.stringify(state)).not.toContain("must-never-be-read");
  });

  it("reads an empty state where the iSCSI fabric is not loaded", async () => {
    const bare = mkdtempSync(join(tmpdir(), "sanpath-configfs-bare-"));
    try {
      expect(await new ConfigfsLioStateReader(bare).read()).toEqual({ backstores: [], targets: [] });
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});
