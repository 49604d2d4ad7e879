import { mkdtemp, open, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConsulKeys } from "../../src/consul/keys.js";
import { GIB } from "../../src/disks/disk.js";
import { diskImagesOver } from "../../src/disks/disk-images.js";
import { DiskService } from "../../src/disks/disk-service.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { createLogger } from "../../src/log/logger.js";
import { DEV_CLUSTER_SETTINGS } from "../../src/server/disk-component.js";
import { FileImageStore } from "../../src/storage/file-image-store.js";
import { probeMaxFileBytes } from "../../src/storage/file-size-limit.js";
import { inMemoryCluster, type InMemoryCluster } from "../../src/testing/in-memory-cluster.js";
import { rejection } from "../support/thrown.js";

const ROOT = "SizeLimit";
/** ext4 with 4 KiB blocks, as the hostile-input pass met it. */
const LIMIT_GIB = 16384;

describe("sizes above what the image store holds", () => {
  let dir: string;
  let cluster: InMemoryCluster;
  let store: FileImageStore;
  let service: DiskService;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sanpath-size-limit-"));
    cluster = inMemoryCluster();
    store = new FileImageStore(dir, LIMIT_GIB * GIB);
    service = new DiskService({
      kv: cluster.kv,
      keys: new ConsulKeys(ROOT),
      images: diskImagesOver(store),
      nodeName: "unit-node",
      logger: createLogger({ level: "silent" }),
    });
    await service.settings.init(DEV_CLUSTER_SETTINGS);
  });
  afterEach(async () => {
    await service.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const add = (sizeGib: number) =>
    service.addDisk({ name: "big", sizeGib, pathCount: 1, subnet: 1, manualIps: [], pool: "" });

  it("AddDisk refuses one GiB over the store's limit up front: INVALID_ARGUMENT with the limit, no path, nothing kept", async () => {
    const keysBefore = await cluster.kv.keys(`${ROOT}/`);
    const error = await rejection(add(LIMIT_GIB + 1));
    expect(error).toBeInstanceOf(SanpathError);
    expect(error).toMatchObject({ kind: "invalid_argument", reason: "INVALID_FIELD", field: "size_gib" });
    expect((error as SanpathError).message).toBe(
      `size_gib: ${LIMIT_GIB + 1} GiB is above the largest image the file image store can hold, ${LIMIT_GIB} GiB`,
    );
    expect((error as SanpathError).message).not.toContain(dir);
    expect(await cluster.kv.keys(`${ROOT}/`)).toEqual(keysBefore);
    expect(await readdir(dir)).toEqual([]);
  });

  it("UpdateDisk refuses to grow past the limit and leaves the disk as it was", async () => {
    const disk = await add(1);
    const error = await rejection(
      service.updateDisk({ disk: disk.id, sizeGib: LIMIT_GIB + 1, clearChap: false }),
    );
    expect(error).toMatchObject({ kind: "invalid_argument", field: "size_gib" });
    expect((error as SanpathError).message).toContain(`${LIMIT_GIB} GiB`);
    expect((await store.stat(`image-${disk.id}`)).sizeBytes).toBe(GIB);
  });

  it("the store itself refuses more than it holds, and its errors name no server path", async () => {
    const tooBig = await rejection(store.create("x", (LIMIT_GIB + 1) * GIB));
    expect(tooBig).toMatchObject({ kind: "invalid_argument", field: "size_bytes" });
    expect(await store.list()).toEqual([]);
    await store.create("x", GIB);
    for (const error of [
      await rejection(store.create("x", GIB)),
      await rejection(store.stat("missing")),
      await rejection(store.grow("x", (LIMIT_GIB + 1) * GIB)),
    ]) {
      expect(error).toBeInstanceOf(SanpathError);
      expect((error as SanpathError).message).not.toContain(dir);
    }
  });
});

describe("probeMaxFileBytes", () => {
  it("finds the largest whole GiB the file system takes, and leaves nothing behind", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sanpath-probe-"));
    try {
      const max = await probeMaxFileBytes(dir);
      expect(max % GIB).toBe(0);
      expect(max).toBeGreaterThanOrEqual(GIB);
      expect(await readdir(dir)).toEqual([]);
      const file = await open(join(dir, "check"), "w");
      try {
        await file.truncate(max);
        if (max + GIB <= Number.MAX_SAFE_INTEGER) {
          const refused = await rejection(file.truncate(max + GIB));
          expect(refused instanceof Error && "code" in refused ? refused.code : refused).toMatch(
            /^E(FBIG|INVAL)$/,
          );
        }
      } finally {
        await file.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
