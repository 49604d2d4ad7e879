import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { createImageStore, FILE_STORE_SUBDIR } from "../../src/storage/create-image-store.js";
import { FileImageStore, openFileImageStore } from "../../src/storage/file-image-store.js";
import type { ImageStore } from "../../src/storage/image-store.js";
import { rejection } from "../support/thrown.js";

const GiB = 1024 * 1024 * 1024;

describe("file image store: what only the file adapter promises", () => {
  let root: string;
  let dir: string;
  let store: FileImageStore;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), `sanpath-storage-file-only-${process.pid}-`));
    dir = join(root, "images");
    store = await openFileImageStore(dir);
  });
  afterAll(async () => {
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("creates sparse images: a 1 GiB image takes (almost) no blocks", async () => {
    await store.create("sparse", GiB);
    const info = statSync(join(dir, "sparse.img"));
    expect(info.size).toBe(GiB);
    expect(info.blocks * 512).toBeLessThan(1024 * 1024);
    expect(info.mode & 0o777).toBe(0o600);
  });

  it("keeps metadata as one JSON object beside the image and leaves no temp files", async () => {
    await store.create("meta", GiB);
    await store.writeMetadata("meta", '{"disk_name":"Datenträger-数据"}');
    await store.setMeta("meta", "other", "x");
    expect(JSON.parse(readFileSync(join(dir, "meta.meta.json"), "utf8"))).toEqual({
      "petasan-metada": '{"disk_name":"Datenträger-数据"}',
      other: "x",
    });
    expect(readdirSync(dir).filter((name) => name.startsWith("meta"))).toEqual([
      "meta.img",
      "meta.meta.json",
    ]);
    expect(readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("keeps header xattrs in a map of their own: the file stays flat until the image has one", async () => {
    await store.create("xattrs", GiB);
    await store.writeMetadata("xattrs", '{"disk_name":"sanpath"}');
    const path = join(dir, "xattrs.meta.json");
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ "petasan-metada": '{"disk_name":"sanpath"}' });
    await store.writeHeaderXattr("xattrs", "petasan-metada", '{"disk_name":"PetaSAN"}');
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({
      imageMeta: { "petasan-metada": '{"disk_name":"sanpath"}' },
      headerXattrs: { "petasan-metada": '{"disk_name":"PetaSAN"}' },
    });
    expect(await store.listMeta("xattrs")).toEqual({ "petasan-metada": '{"disk_name":"sanpath"}' });
    await store.setMeta("xattrs", "other", "x");
    expect(await store.readHeaderXattr("xattrs", "petasan-metada")).toBe('{"disk_name":"PetaSAN"}');
    // A file with any other non-string entry is damaged, not guessed at.
    writeFileSync(path, JSON.stringify({ imageMeta: {}, headerXattrs: {}, extra: {} }));
    expect(await rejection(store.readMetadata("xattrs"))).toMatchObject({
      kind: "data_loss",
      reason: "METADATA_UNREADABLE",
    });
    writeFileSync(path, JSON.stringify({ imageMeta: {}, headerXattrs: { k: 1 } }));
    expect(await rejection(store.readHeaderXattr("xattrs", "k"))).toMatchObject({
      kind: "data_loss",
      reason: "METADATA_UNREADABLE",
    });
  });

  it("serialises concurrent metadata writes to one image: none is lost", async () => {
    await store.create("busy", GiB);
    const keys = Array.from({ length: 25 }, (_, index) => `key-${index}`);
    await Promise.all(keys.map((key) => store.setMeta("busy", key, `value of ${key}`)));
    const record = await store.listMeta("busy");
    expect(Object.keys(record).sort()).toEqual([...keys].sort());
    expect(record["key-7"]).toBe("value of key-7");
  });

  it("reports a corrupted metadata file as data_loss, METADATA_UNREADABLE", async () => {
    await store.create("corrupt", GiB);
    writeFileSync(join(dir, "corrupt.meta.json"), '{"petasan-metada": ');
    const error = await rejection(store.readMetadata("corrupt"));
    expect(error).toBeInstanceOf(SanpathError);
    expect(error).toMatchObject({ kind: "data_loss", reason: "METADATA_UNREADABLE" });
  });

  it("removes the metadata file with the image", async () => {
    await store.create("gone", GiB);
    await store.writeMetadata("gone", "{}");
    await store.remove("gone");
    expect(readdirSync(dir).filter((name) => name.startsWith("gone"))).toEqual([]);
  });

  it("backs a LUN with the image file inside its directory", () => {
    expect(store.backingFor("image-00001")).toEqual({ kind: "file", path: join(dir, "image-00001.img") });
    expect(() => store.backingFor("../../etc/passwd")).toThrow(SanpathError);
  });

  it("the factory puts the file store under <dataDir>/images", async () => {
    const dataDir = join(root, "data");
    const fromConfig: ImageStore = await createImageStore({
      dataDir,
      imageStore: { kind: "file", pool: "rbd", cephConf: "/nonexistent", cephUser: "admin" },
    });
    try {
      expect(fromConfig.kind).toBe("file");
      await fromConfig.create("via-config", GiB);
      expect(statSync(join(dataDir, FILE_STORE_SUBDIR, "via-config.img")).size).toBe(GiB);
    } finally {
      await fromConfig.close();
    }
  });
});
