/**
 * The ImageStore contract: what every ImageStore adapter (rbd over a real Ceph, the file store)
 * must do. Register it from a test file with a factory:
 *   imageStoreContract("file", () => Promise.resolve({ config, stop }));
 * The factory runs once per suite; each test uses image names of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SanpathdConfig } from "../../src/config/config.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { createImageStore } from "../../src/storage/create-image-store.js";
import { DISK_RECORD_METADATA_KEY, type ImageStore } from "../../src/storage/image-store.js";
import { rejectionAs } from "../support/thrown.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

type StoreConfig = Pick<SanpathdConfig, "dataDir" | "imageStore">;

export interface StoreUnderTest {
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
export function imageStoreContract(label: string, start: () => Promise<StoreUnderTest>): void {
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

    describe("metadata: image-meta and the header xattr (PetaSAN 1.x's place for the disk record)", () => {
      /** ~20 KiB of JSON, non-ASCII throughout: a record with many paths and a long description. */
      const bigRecord = (label: string): string =>
        JSON.stringify({
          disk_name: `Datenträger-数据 ${label}`,
          description: "Ünïcödé ✓ 🚀 ".repeat(1200),
          paths: Array.from({ length: 40 }, (_, n) => ({ ip: `198.51.100.${n}`, eth: "eth1" })),
        });

      it("round-trips image-meta, non-ASCII and ~20 KiB values included", async () => {
        await store.create("meta-00001", MiB);
        const record = bigRecord("image-meta");
        expect(Buffer.byteLength(record, "utf8")).toBeGreaterThan(20 * 1024);
        await store.writeMetadata("meta-00001", record);
        expect(await store.readMetadata("meta-00001")).toBe(record);
        expect(await store.getMeta("meta-00001", DISK_RECORD_METADATA_KEY)).toBe(record);
        await store.setMeta("meta-00001", "schlüssel-键", "wert-值");
        expect(await store.getMeta("meta-00001", "schlüssel-键")).toBe("wert-值");
        // Image-meta is not the header xattr.
        expect(await store.readHeaderXattr("meta-00001", DISK_RECORD_METADATA_KEY)).toBeUndefined();
      });

      it("round-trips header xattrs, non-ASCII and ~20 KiB values included, apart from image-meta", async () => {
        await store.create("xattr-00001", MiB);
        const record = bigRecord("xattr");
        await store.writeHeaderXattr("xattr-00001", DISK_RECORD_METADATA_KEY, record);
        expect(await store.readHeaderXattr("xattr-00001", DISK_RECORD_METADATA_KEY)).toBe(record);
        await store.writeHeaderXattr("xattr-00001", "schlüssel-键", "wert-值");
        expect(await store.readHeaderXattr("xattr-00001", "schlüssel-键")).toBe("wert-值");
        const replaced = '{"disk_name":"Speicher-存储"}';
        await store.writeHeaderXattr("xattr-00001", DISK_RECORD_METADATA_KEY, replaced);
        expect(await store.readHeaderXattr("xattr-00001", DISK_RECORD_METADATA_KEY)).toBe(replaced);
        expect(await store.readHeaderXattr("xattr-00001", "never-set")).toBeUndefined();
        // Header xattrs are not image-meta.
        expect(await store.getMeta("xattr-00001", DISK_RECORD_METADATA_KEY)).toBeUndefined();
        expect(await store.listMeta("xattr-00001")).toEqual({});
      });

      it("readMetadata: the header xattr when there is no image-meta record", async () => {
        await store.create("xattr-00002", MiB);
        const record = '{"disk_name":"made by PetaSAN 1.x","id":"00002"}';
        await store.writeHeaderXattr("xattr-00002", DISK_RECORD_METADATA_KEY, record);
        expect(await store.readMetadata("xattr-00002")).toBe(record);
      });

      it("readMetadata: image-meta wins over the header xattr; writeMetadata leaves the xattr alone", async () => {
        await store.create("xattr-00003", MiB);
        const old = '{"disk_name":"old, in the header xattr"}';
        await store.writeHeaderXattr("xattr-00003", DISK_RECORD_METADATA_KEY, old);
        const current = '{"disk_name":"current, in image-meta"}';
        await store.writeMetadata("xattr-00003", current);
        expect(await store.readMetadata("xattr-00003")).toBe(current);
        expect(await store.readHeaderXattr("xattr-00003", DISK_RECORD_METADATA_KEY)).toBe(old);
        // Image-meta written first, the xattr after: image-meta still wins.
        await store.create("xattr-00004", MiB);
        await store.writeMetadata("xattr-00004", current);
        await store.writeHeaderXattr("xattr-00004", DISK_RECORD_METADATA_KEY, old);
        expect(await store.readMetadata("xattr-00004")).toBe(current);
      });

      it("readMetadata: undefined when the image has neither, also with other xattrs and keys", async () => {
        await store.create("xattr-00005", MiB);
        expect(await store.readMetadata("xattr-00005")).toBeUndefined();
        await store.writeHeaderXattr("xattr-00005", "other-xattr", "x");
        await store.setMeta("xattr-00005", "other-key", "y");
        expect(await store.readMetadata("xattr-00005")).toBeUndefined();
      });

      it("header xattrs of a missing image: not_found, DISK_NOT_FOUND, and no image appears", async () => {
        await expectSanpathError(store.readHeaderXattr("xattr-99999", DISK_RECORD_METADATA_KEY), {
          kind: "not_found",
          reason: "DISK_NOT_FOUND",
          message: /xattr-99999/,
        });
        await expectSanpathError(store.writeHeaderXattr("xattr-99999", DISK_RECORD_METADATA_KEY, "{}"), {
          kind: "not_found",
          reason: "DISK_NOT_FOUND",
          message: /xattr-99999/,
        });
        expect(await store.list()).not.toContain("xattr-99999");
        await expectSanpathError(store.readMetadata("xattr-99999"), {
          kind: "not_found",
          reason: "DISK_NOT_FOUND",
        });
      });

      it("a removed image's header xattrs go with it: a new image of the name has none", async () => {
        await store.create("xattr-00006", MiB);
        await store.writeHeaderXattr("xattr-00006", DISK_RECORD_METADATA_KEY, '{"id":"00006"}');
        await store.remove("xattr-00006");
        await store.create("xattr-00006", MiB);
        expect(await store.readHeaderXattr("xattr-00006", DISK_RECORD_METADATA_KEY)).toBeUndefined();
        expect(await store.readMetadata("xattr-00006")).toBeUndefined();
      });

      it("header xattrs take the keys and values image-meta takes; cancelled before the start writes nothing", async () => {
        await store.create("xattr-00007", MiB);
        await expectSanpathError(store.writeHeaderXattr("xattr-00007", "", "v"), {
          kind: "invalid_argument",
          field: "metadata_key",
        });
        await expectSanpathError(store.writeHeaderXattr("xattr-00007", "k", "nul\u0000byte"), {
          kind: "invalid_argument",
          field: "metadata_value",
        });
        await expectSanpathError(store.readHeaderXattr("../escape", "k"), {
          kind: "invalid_argument",
          field: "image_name",
        });
        const controller = new AbortController();
        controller.abort(new Error("the RPC deadline passed"));
        await expectSanpathError(
          store.writeHeaderXattr("xattr-00007", "k", "v", { signal: controller.signal }),
          { kind: "cancelled" },
        );
        expect(await store.readHeaderXattr("xattr-00007", "k")).toBeUndefined();
      });
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
