import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SanpathdConfig } from "../../src/config/config.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { createImageStore } from "../../src/storage/create-image-store.js";
import { DISK_RECORD_METADATA_KEY, type ImageStore } from "../../src/storage/image-store.js";
import { startCephHarness } from "../harness/ceph.js";
import { rejectionAs } from "../support/thrown.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

type StoreConfig = Pick<SanpathdConfig, "dataDir" | "imageStore">;

interface StoreUnderTest {
  config: StoreConfig;
  /** Stops whatever the store runs against (the Ceph cluster, the temp dir). */
  stop(): Promise<void>;
}

/** Expects `promise` to reject with a SanpathError of this kind (and reason / field when given). */
async function expectSanpathError(
  promise: Promise<unknown>,
  expected: { kind: SanpathError["kind"]; reason?: SanpathError["reason"]; field?: string; message?: RegExp },
): Promise<SanpathError> {
  const sanpathError = await rejectionAs(SanpathError, promise);
  expect(sanpathError.kind).toBe(expected.kind);
  if (expected.reason !== undefined) expect(sanpathError.reason).toBe(expected.reason);
  if (expected.field !== undefined) expect(sanpathError.field).toBe(expected.field);
  if (expected.message !== undefined) expect(sanpathError.message).toMatch(expected.message);
  return sanpathError;
}

/** What every ImageStore adapter must do; run once per adapter. */
function imageStoreContract(label: string, start: () => Promise<StoreUnderTest>): void {
  describe(`ImageStore contract: ${label}`, () => {
    let underTest: StoreUnderTest | undefined;
    let store: ImageStore;

    beforeAll(async () => {
      underTest = await start();
      store = await createImageStore(underTest.config);
    });
    afterAll(async () => {
      await store.close();
      await underTest?.stop();
    });

    it("creates an image of the requested size and lists it", async () => {
      await store.create("image-00001", GiB);
      expect(await store.stat("image-00001")).toEqual({ name: "image-00001", sizeBytes: GiB });
      expect(await store.list()).toContain("image-00001");
      expect(await store.readMetadata("image-00001")).toBeUndefined();
    });

    it("refuses to create an image that exists: already_exists, DISK_EXISTS, size untouched", async () => {
      await store.create("image-00002", 64 * MiB);
      await expectSanpathError(store.create("image-00002", 2 * GiB), {
        kind: "already_exists",
        reason: "DISK_EXISTS",
        message: /image-00002.*already exists/,
      });
      expect((await store.stat("image-00002")).sizeBytes).toBe(64 * MiB);
    });

    it("grows an image; the same size again changes nothing", async () => {
      await store.create("image-00003", GiB);
      await store.grow("image-00003", 3 * GiB);
      expect((await store.stat("image-00003")).sizeBytes).toBe(3 * GiB);
      await store.grow("image-00003", 3 * GiB);
      expect((await store.stat("image-00003")).sizeBytes).toBe(3 * GiB);
    });

    it("refuses to shrink: invalid_argument, SHRINK_REFUSED on size_gib, size untouched", async () => {
      await store.create("image-00004", 2 * GiB);
      await expectSanpathError(store.grow("image-00004", GiB), {
        kind: "invalid_argument",
        reason: "SHRINK_REFUSED",
        field: "size_gib",
        message: /only grow/,
      });
      expect((await store.stat("image-00004")).sizeBytes).toBe(2 * GiB);
    });

    it("round-trips the disk record and other metadata, non-ASCII included", async () => {
      await store.create("image-00005", GiB);
      const record = JSON.stringify(
        { id: "00005", disk_name: "Datenträger-数据", description: "Ünïcödé ✓ 🚀", size: 1 },
        null,
        4,
      );
      await store.writeMetadata("image-00005", record);
      expect(await store.readMetadata("image-00005")).toBe(record);
      expect(await store.getMeta("image-00005", DISK_RECORD_METADATA_KEY)).toBe(record);

      const renamed = record.replace("Datenträger-数据", "Speicher-存储");
      await store.writeMetadata("image-00005", renamed);
      expect(await store.readMetadata("image-00005")).toBe(renamed);

      await store.setMeta("image-00005", "schlüssel-键", "wert-值");
      expect(await store.getMeta("image-00005", "schlüssel-键")).toBe("wert-值");
      expect(await store.getMeta("image-00005", "never-set")).toBeUndefined();
      expect(await store.listMeta("image-00005")).toEqual({
        [DISK_RECORD_METADATA_KEY]: renamed,
        "schlüssel-键": "wert-值",
      });
      expect(await store.removeMeta("image-00005", "schlüssel-键")).toBe(true);
      expect(await store.removeMeta("image-00005", "schlüssel-键")).toBe(false);
      expect(await store.listMeta("image-00005")).toEqual({ [DISK_RECORD_METADATA_KEY]: renamed });
    });

    it("handles an image whose own name is non-ASCII", async () => {
      const name = "Datenträger-数据";
      await store.create(name, 16 * MiB);
      await store.writeMetadata(name, '{"disk_name":"Datenträger-数据"}');
      expect(await store.list()).toContain(name);
      expect(await store.readMetadata(name)).toBe('{"disk_name":"Datenträger-数据"}');
      await store.remove(name);
      expect(await store.list()).not.toContain(name);
    });

    it("lists exactly the images it holds, sorted", async () => {
      await store.create("list-b", MiB);
      await store.create("list-a", MiB);
      await store.create("list-c", MiB);
      const names = await store.list();
      expect(names.filter((name) => name.startsWith("list-"))).toEqual(["list-a", "list-b", "list-c"]);
      expect(names).toEqual([...names].sort());
      await store.remove("list-b");
      expect((await store.list()).filter((name) => name.startsWith("list-"))).toEqual(["list-a", "list-c"]);
    });

    it("removes an image with its metadata; afterwards it is not_found everywhere", async () => {
      await store.create("image-00006", GiB);
      await store.writeMetadata("image-00006", '{"id":"00006"}');
      await store.remove("image-00006");
      expect(await store.list()).not.toContain("image-00006");
      await expectSanpathError(store.stat("image-00006"), { kind: "not_found", reason: "DISK_NOT_FOUND" });
      await expectSanpathError(store.readMetadata("image-00006"), {
        kind: "not_found",
        reason: "DISK_NOT_FOUND",
      });
      await expectSanpathError(store.writeMetadata("image-00006", "{}"), {
        kind: "not_found",
        reason: "DISK_NOT_FOUND",
      });
      await expectSanpathError(store.grow("image-00006", 2 * GiB), {
        kind: "not_found",
        reason: "DISK_NOT_FOUND",
      });
      // A new image of the same name starts without the old record.
      await store.create("image-00006", GiB);
      expect(await store.readMetadata("image-00006")).toBeUndefined();
    });

    it("removing a missing image is not_found, DISK_NOT_FOUND", async () => {
      await expectSanpathError(store.remove("image-99999"), {
        kind: "not_found",
        reason: "DISK_NOT_FOUND",
        message: /image-99999.*does not exist/,
      });
    });

    it("refuses names that could escape the store or break rbd specs", async () => {
      for (const name of ["../escape", "a/b", ".hidden", "-flag", "pool@snap", "nul\u0000byte", ""]) {
        await expectSanpathError(store.create(name, MiB), { kind: "invalid_argument", field: "image_name" });
      }
      await expectSanpathError(store.create("size-zero", 0), {
        kind: "invalid_argument",
        field: "size_bytes",
      });
      expect((await store.list()).some((name) => name.includes("escape") || name === "size-zero")).toBe(
        false,
      );
    });

    it("an aborted signal rejects with cancelled and creates nothing", async () => {
      const controller = new AbortController();
      controller.abort(new Error("the RPC deadline passed"));
      await expectSanpathError(store.create("image-00007", GiB, { signal: controller.signal }), {
        kind: "cancelled",
      });
      expect(await store.list()).not.toContain("image-00007");
    });

    it("a closed store refuses calls with unavailable", async () => {
      const other = await createImageStore(underTest?.config ?? expect.fail("no store config"));
      expect(await other.list()).toContain("image-00001");
      await other.close();
      await expectSanpathError(other.list(), { kind: "unavailable" });
      // The first store is independent of the second one.
      expect(await store.list()).toContain("image-00001");
    });
  });
}

imageStoreContract("file", () => {
  const dataDir = mkdtempSync(join(tmpdir(), `sanpath-storage-file-${process.pid}-`));
  return Promise.resolve({
    config: {
      dataDir,
      imageStore: { kind: "file", pool: "rbd", cephConf: "/nonexistent", cephUser: "admin" },
    },
    stop: () => {
      rmSync(dataDir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
});

imageStoreContract("rbd (real Ceph: one mon, one memstore OSD)", async () => {
  const ceph = await startCephHarness({ name: "storage-contract" });
  return {
    config: {
      dataDir: ceph.dir,
      imageStore: { kind: "rbd", pool: ceph.pool, cephConf: ceph.confPath, cephUser: "admin" },
    },
    stop: () => ceph.stop(),
  };
});
