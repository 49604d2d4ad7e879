import { execa } from "execa";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRbd, isNativeOpError, RBD_FEATURE_LAYERING, type RbdCluster } from "../../native/index.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { openRbdImageStore } from "../../src/storage/rbd-image-store.js";
import { startCephHarness, type CephHarness } from "../harness/ceph.js";
import { rejectionAs } from "../support/thrown.js";
import { untilTrue } from "../support/until.js";

const MiB = 1024 * 1024;

describe("rbd addon against a real Ceph", () => {
  let ceph: CephHarness;
  let cluster: RbdCluster;
  const lifetime = new AbortController();

  beforeAll(async () => {
    ceph = await startCephHarness({ name: "rbd-addon" });
    cluster = await connectRbd({ confPath: ceph.confPath, clientMountTimeoutMs: 5000 });
  });
  afterAll(async () => {
    lifetime.abort();
    await cluster.close();
    await ceph.stop();
  });

  it("rejects with the operation, pool, image and negative errno kept as the cause", async () => {
    await cluster.createImage(ceph.pool, "errno-probe", MiB);
    const exists = await rejectionAs(SanpathError, cluster.createImage(ceph.pool, "errno-probe", MiB));
    expect(exists.kind).toBe("already_exists");
    expect(isNativeOpError(exists.cause)).toBe(true);
    expect(exists.cause).toMatchObject({
      op: "create",
      step: "rbd_create4",
      pool: ceph.pool,
      image: "errno-probe",
      errno: -17,
      code: "EEXIST",
    });
    const missing = await rejectionAs(SanpathError, cluster.getMetadata(ceph.pool, "no-such-image", "k"));
    expect(missing.kind).toBe("not_found");
    expect(missing.cause).toMatchObject({ op: "metadata_get", image: "no-such-image", errno: -2 });
  });

  it("creates format 2 images with layering only, which tgtd's rbd store and krbd open", async () => {
    await cluster.createImage(ceph.pool, "features-probe", 64 * MiB);
    const stat = await cluster.statImage(ceph.pool, "features-probe");
    expect(stat).toEqual({
      sizeBytes: 64 * MiB,
      objectSizeBytes: 4 * MiB,
      order: 22,
      features: RBD_FEATURE_LAYERING,
    });
    const info = JSON.parse(await ceph.cli("rbd", ["info", "--format", "json", "features-probe"])) as {
      format: number;
      features: string[];
    };
    expect(info.format).toBe(2);
    expect(info.features).toEqual(["layering"]);
  });

  it("shares image metadata with the rbd CLI both ways (PetaSAN reads the same key)", async () => {
    await cluster.createImage(ceph.pool, "meta-probe", MiB);
    const record = '{"disk_name": "Datenträger-数据", "id": "00001"}';
    await cluster.setMetadata(ceph.pool, "meta-probe", "petasan-metada", record);
    expect(await ceph.cli("rbd", ["image-meta", "get", "meta-probe", "petasan-metada"])).toBe(record);
    await ceph.cli("rbd", ["image-meta", "set", "meta-probe", "set-by-cli", "wert-值"]);
    expect(await cluster.getMetadata(ceph.pool, "meta-probe", "set-by-cli")).toBe("wert-值");
    expect(Object.fromEntries(await cluster.listMetadata(ceph.pool, "meta-probe"))).toEqual({
      "petasan-metada": record,
      "set-by-cli": "wert-值",
    });
  });

  it("reads metadata values larger than its first buffer", async () => {
    await cluster.createImage(ceph.pool, "big-meta", MiB);
    const big = "ü".repeat(20_000);
    await cluster.setMetadata(ceph.pool, "big-meta", "big", big);
    expect(await cluster.getMetadata(ceph.pool, "big-meta", "big")).toBe(big);
    expect((await cluster.listMetadata(ceph.pool, "big-meta")).get("big")).toBe(big);
  });

  it("reads and writes xattrs of the image's header object, the place PetaSAN 1.x keeps its record", async () => {
    await cluster.createImage(ceph.pool, "xattr-probe", MiB);
    const { id } = JSON.parse(await ceph.cli("rbd", ["info", "--format", "json", "xattr-probe"])) as {
      id: string;
    };
    const header = `rbd_header.${id}`;
    const record = '{"disk_name": "Datenträger-数据", "id": "00001"}';
    // What the addon writes is what `rados getxattr` on the header object reads ...
    await cluster.setHeaderXattr(ceph.pool, "xattr-probe", "petasan-metada", record);
    expect(await ceph.cli("rados", ["-p", ceph.pool, "getxattr", header, "petasan-metada"])).toBe(record);
    // ... and what PetaSAN's io_ctx.set_xattr (here `rados setxattr`) writes, the addon reads.
    const fromCli = '{"disk_name": "set by rados", "paths": ["198.51.100.10"]}';
    await ceph.cli("rados", ["-p", ceph.pool, "setxattr", header, "petasan-metada", fromCli]);
    expect(await cluster.getHeaderXattr(ceph.pool, "xattr-probe", "petasan-metada")).toBe(fromCli);
    // Not image-meta: the two places are separate.
    expect(await cluster.getMetadata(ceph.pool, "xattr-probe", "petasan-metada")).toBeUndefined();
    expect(await cluster.getHeaderXattr(ceph.pool, "xattr-probe", "never-set")).toBeUndefined();
  });

  it("reads header xattrs larger than its first buffer (64 KiB)", async () => {
    await cluster.createImage(ceph.pool, "big-xattr", MiB);
    const big = `{"description":"${"ü".repeat(32 * 1024)}"}`;
    await cluster.setHeaderXattr(ceph.pool, "big-xattr", "petasan-metada", big);
    expect(await cluster.getHeaderXattr(ceph.pool, "big-xattr", "petasan-metada")).toBe(big);
  });

  it("header xattrs of a missing image are not_found, and setting one creates no object", async () => {
    const read = await rejectionAs(SanpathError, cluster.getHeaderXattr(ceph.pool, "no-such-image", "k"));
    expect(read.kind).toBe("not_found");
    expect(read.reason).toBe("DISK_NOT_FOUND");
    expect(read.cause).toMatchObject({ op: "xattr_get", image: "no-such-image", errno: -2 });
    const write = await rejectionAs(
      SanpathError,
      cluster.setHeaderXattr(ceph.pool, "no-such-image", "k", "v"),
    );
    expect(write.kind).toBe("not_found");
    expect(write.cause).toMatchObject({ op: "xattr_set", step: "rbd_open_read_only", errno: -2 });
    expect(await ceph.cli("rados", ["-p", ceph.pool, "ls"])).not.toMatch(/no-such-image/);
  });

  it("refuses to remove an image that has a watcher: failed_precondition, then removes it", async () => {
    await cluster.createImage(ceph.pool, "watched", MiB);
    const watcher = execa("rbd", ["--conf", ceph.confPath, "watch", "watched"], {
      timeout: 60_000,
      cancelSignal: lifetime.signal,
      reject: false,
      // `rbd watch` runs until its stdin reaches end-of-file: keep a pipe open.
      stdin: "pipe",
    });
    try {
      await untilTrue(
        "rbd watch to register a watcher",
        async () => (await ceph.cli("rbd", ["status", "watched"])).includes("watcher="),
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      const busy = await rejectionAs(SanpathError, cluster.removeImage(ceph.pool, "watched"));
      expect(busy.kind).toBe("failed_precondition");
      expect(busy.message).toMatch(/in use \(watchers\)/);
      expect(busy.cause).toMatchObject({ op: "remove", errno: -16 });
    } finally {
      watcher.stdin.end();
      await watcher;
    }
    // The watcher's unwatch can lag its exit by a moment.
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await cluster.removeImage(ceph.pool, "watched");
        break;
      } catch (error) {
        if (
          !(error instanceof SanpathError) ||
          error.kind !== "failed_precondition" ||
          Date.now() > deadline
        ) {
          throw error;
        }
        await sleep(200);
      }
    }
    expect(await cluster.listImages(ceph.pool)).not.toContain("watched");
  });

  it("a pool that does not exist is failed_precondition, not a missing image", async () => {
    const error = await rejectionAs(SanpathError, cluster.listImages("no-such-pool"));
    expect(error.kind).toBe("failed_precondition");
    expect(error.message).toMatch(/pool no-such-pool does not exist/);
    expect(error.cause).toMatchObject({ op: "list", step: "open_pool", errno: -2 });
  });

  it("close() lets 24 calls in flight finish, then refuses new ones; nothing crashes", async () => {
    const other = await connectRbd({ confPath: ceph.confPath, clientMountTimeoutMs: 5000 });
    const names = Array.from({ length: 12 }, (_, index) => `inflight-${index}`);
    const started = names.flatMap((name) => [
      other.createImage(ceph.pool, name, MiB),
      other.listImages(ceph.pool),
    ]);
    const closed = other.close();
    const late = rejectionAs(SanpathError, other.statImage(ceph.pool, "inflight-0"));
    const results = await Promise.allSettled(started);
    await closed;
    expect(results.filter((result) => result.status === "rejected")).toEqual([]);
    const refused = await late;
    expect(refused.kind).toBe("unavailable");
    expect(refused.message).toMatch(/connection is closed/);
    await other.close();
    expect(
      (await cluster.listImages(ceph.pool)).filter((name) => name.startsWith("inflight-")).sort(),
    ).toEqual([...names].sort());
  });

  it("the ImageStore runs 16 creates and metadata writes at once on one connection", async () => {
    const store = await openRbdImageStore({ pool: ceph.pool, connect: { confPath: ceph.confPath } });
    try {
      const names = Array.from({ length: 16 }, (_, index) => `parallel-${String(index).padStart(2, "0")}`);
      await Promise.all(names.map((name) => store.create(name, MiB)));
      await Promise.all(names.map((name) => store.writeMetadata(name, JSON.stringify({ name }))));
      const records = await Promise.all(names.map((name) => store.readMetadata(name)));
      expect(records).toEqual(names.map((name) => JSON.stringify({ name })));
      expect(store.backingFor("parallel-00")).toEqual({
        kind: "rbd",
        pool: ceph.pool,
        image: "parallel-00",
        confPath: ceph.confPath,
        userId: "admin",
      });
    } finally {
      await store.close();
    }
  });
});
