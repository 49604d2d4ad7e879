/**
 * AddDisk undoes itself whatever step fails: a successful AddDisk is recorded call by call (every
 * KvStore call and every ImageStore call), then each recorded call is made to fail in turn — before
 * it reaches the store, and for writes also after it took effect (the answer lost) — and afterwards
 * no image, no Consul key, no reserved id or address may be left, and the error names the call that
 * failed. Runs on the in-memory Consul and a file image store in a temp dir: no root, Consul or Ceph.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { consulUnavailable } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { AllocationDraft } from "../../src/disks/allocation-draft.js";
import { AllocationKeys } from "../../src/disks/allocation-keys.js";
import { diskImagesOver } from "../../src/disks/disk-images.js";
import type { AddDiskInput } from "../../src/disks/disk-request.js";
import { DiskService } from "../../src/disks/disk-service.js";
import { DEV_CLUSTER_SETTINGS } from "../../src/server/disk-component.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import type { KvOperation, KvStore } from "../../src/kv/kv-store.js";
import { createLogger } from "../../src/log/logger.js";
import { openFileImageStore, type FileImageStore } from "../../src/storage/file-image-store.js";
import type { ImageStore } from "../../src/storage/image-store.js";
import type { ConsulOperation } from "../../src/testing/consul-faults.js";
import { inMemoryCluster, type InMemoryCluster } from "../../src/testing/in-memory-cluster.js";

const ROOT = "undo";
const INPUT: AddDiskInput = {
  name: "Undo Me",
  sizeGib: 1,
  pathCount: 2,
  subnet: 3,
  manualIps: [],
  pool: "",
  chap: { user: "alice", secret: "s3cret-s3cret" },
};

/** The store operation each KvStore method is, as the Consul adapter names it in errors. */
const KV_OPERATIONS: Record<keyof KvStore, ConsulOperation> = {
  get: "kv.get",
  list: "kv.list",
  listIndexed: "kv.list (blocking)",
  keys: "kv.keys",
  put: "kv.put",
  delete: "kv.delete",
  transaction: "txn",
  getBlocking: "kv.get (blocking)",
  listBlocking: "kv.list (blocking)",
  acquire: "lock.acquire",
  release: "lock.release",
};
const KV_WRITES = new Set<keyof KvStore>(["put", "delete", "transaction", "acquire", "release"]);
const IMAGE_WRITES = new Set([
  "create",
  "grow",
  "remove",
  "writeMetadata",
  "setMeta",
  "removeMeta",
  "writeHeaderXattr",
]);

interface Call {
  /** "kv.get <key>", "txn [cas Allocations/Pending/00001, ...]", "image create image-00001". */
  what: string;
  /** What the error of a failure at this call must name. */
  names: string;
  write: boolean;
}

/** Every call to the stores, in order; fails the one numbered `failAt` (before, or after it ran). */
class CallPlan {
  readonly calls: Call[] = [];
  failAt = -1;
  afterRun = false;

  async run<T>(call: Call, work: () => Promise<T>, fail: () => void, lost: () => Error): Promise<T> {
    const index = this.calls.length;
    this.calls.push(call);
    if (index !== this.failAt) return await work();
    if (!this.afterRun) {
      fail();
      return await work();
    }
    await work();
    throw lost();
  }
}

function describeOperations(operations: readonly KvOperation[]): string {
  const shown = operations.slice(0, 2).map((op) => `${op.verb} ${op.key.slice(ROOT.length + 1)}`);
  return `[${shown.join(", ")}${operations.length > 2 ? `, +${operations.length - 2}` : ""}]`;
}

/** The in-memory KV with every call logged; a failure before the call is the fake's injected outage. */
function recordedKv(cluster: InMemoryCluster, plan: CallPlan): KvStore {
  const recorded = {} as Record<keyof KvStore, unknown>;
  for (const method of Object.keys(KV_OPERATIONS) as (keyof KvStore)[]) {
    const operation = KV_OPERATIONS[method];
    const target = (cluster.kv[method] as (...args: unknown[]) => Promise<unknown>).bind(cluster.kv);
    recorded[method] = (...args: unknown[]) => {
      const subject =
        method === "transaction" ? describeOperations(args[0] as KvOperation[]) : String(args[0]);
      return plan.run(
        { what: `${operation} ${subject}`, names: `consul ${operation}:`, write: KV_WRITES.has(method) },
        () => target(...args),
        () => cluster.consul.faults.failNext(operation),
        () => consulUnavailable(operation, "answer lost (injected)"),
      );
    };
  }
  return recorded as unknown as KvStore;
}

/** The image store with every data call logged; an injected failure is Ceph being unreachable. */
function recordedImages(store: ImageStore, plan: CallPlan): ImageStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || typeof property !== "string") return value;
      if (property === "backingFor" || property === "close") return value.bind(target) as unknown;
      return (...args: unknown[]) => {
        const failure = () =>
          new SanpathError("unavailable", `image ${property} ${String(args[0])}: injected Ceph outage`, {
            reason: "CEPH_UNAVAILABLE",
          });
        let failNow = false;
        return plan.run(
          {
            what: typeof args[0] === "string" ? `image ${property} ${args[0]}` : `image ${property}`,
            names: `image ${property}`,
            write: IMAGE_WRITES.has(property),
          },
          () =>
            failNow
              ? Promise.reject(failure())
              : (value as (...a: unknown[]) => Promise<unknown>).apply(target, args),
          () => (failNow = true),
          failure,
        );
      };
    },
  });
}

interface World {
  cluster: InMemoryCluster;
  files: FileImageStore;
  plan: CallPlan;
  service: DiskService;
  keys: ConsulKeys;
}

describe("AddDisk leaves nothing behind when any step fails", () => {
  let dir: string;
  let worlds: World[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "sanpath-undo-"));
    worlds = [];
  });
  afterEach(async () => {
    for (const world of worlds) {
      await world.service.close();
      await world.files.close();
    }
    await rm(dir, { recursive: true, force: true });
  });

  async function world(): Promise<World> {
    const cluster = inMemoryCluster();
    const files = await openFileImageStore(join(dir, `images-${worlds.length}`));
    const plan = new CallPlan();
    const keys = new ConsulKeys(ROOT);
    const service = new DiskService({
      kv: recordedKv(cluster, plan),
      keys,
      images: diskImagesOver(recordedImages(files, plan)),
      nodeName: "unit-node",
      logger: createLogger({ level: "silent" }),
    });
    await service.settings.init(DEV_CLUSTER_SETTINGS);
    const made = { cluster, files, plan, service, keys };
    worlds.push(made);
    return made;
  }

  /** Keys (settings aside), images, reserved ids and addresses, background retries. */
  async function traces({ cluster, files, service, keys }: World) {
    const draft = await AllocationDraft.read(cluster.kv, new AllocationKeys(keys));
    return {
      keys: (await cluster.kv.keys(`${ROOT}/`)).filter((key) => key !== keys.settings()),
      images: await files.list(),
      ids: draft.usedIdCount(),
      ips: [...draft.usedIps()],
      retries: service.cleaner.pendingRetries(),
    };
  }
  const NOTHING = { keys: [], images: [], ids: 0, ips: [], retries: 0 };

  /** The calls a successful AddDisk makes (after the settings were stored). */
  async function recordedCalls(): Promise<Call[]> {
    const made = await world();
    made.plan.calls.length = 0;
    await made.service.addDisk(INPUT);
    return [...made.plan.calls];
  }

  it("records the calls of a successful AddDisk: census, reserve, image, metadata, register", async () => {
    const calls = await recordedCalls();
    const whats = calls.map((call) => call.what);
    expect(whats.filter((what) => what.startsWith("image "))).toEqual([
      "image list",
      "image create image-00001",
      "image writeMetadata image-00001",
    ]);
    expect(whats.filter((what) => what.startsWith("txn "))).toHaveLength(2);
    expect(whats.indexOf("image create image-00001")).toBeGreaterThan(
      whats.findIndex((what) => what.startsWith("txn ")),
    );
  });

  it("fails at every call in turn, before it reaches the store: nothing is left, the error names the call", async () => {
    const calls = await recordedCalls();
    expect(calls.length).toBeGreaterThan(4);
    for (const [index, call] of calls.entries()) {
      const made = await world();
      made.plan.calls.length = 0;
      made.plan.failAt = index;
      const error: unknown = await made.service.addDisk(INPUT).then(
        () => new Error(`AddDisk succeeded despite a failure at ${call.what}`),
        (caught: unknown) => caught,
      );
      expect(made.plan.calls[index], `call ${index}`).toEqual(call);
      expect(error, call.what).toBeInstanceOf(SanpathError);
      expect((error as SanpathError).message, call.what).toContain(call.names);
      expect(await traces(made), call.what).toEqual(NOTHING);
      // Nothing is held: the same disk can be added now, with the first id and addresses.
      const disk = await made.service.addDisk(INPUT);
      expect(disk.id, call.what).toBe("00001");
      expect(disk.paths.map((path) => path.ip)).toEqual(["198.51.100.10", "203.0.113.10"]);
    }
  });

  it("writes that took effect but whose answer was lost are undone too (a lost registration is kept)", async () => {
    const calls = await recordedCalls();
    const writes = [...calls.entries()].filter(([, call]) => call.write);
    expect(writes.length).toBeGreaterThanOrEqual(4);
    const register = writes.at(-1);
    for (const [index, call] of writes) {
      const made = await world();
      made.plan.calls.length = 0;
      made.plan.failAt = index;
      made.plan.afterRun = true;
      const outcome = await made.service.addDisk(INPUT).then(
        (disk) => ({ ok: true as const, disk }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      if (index === register?.[0]) {
        // The registering transaction committed: the disk exists, and AddDisk says so.
        expect(outcome.ok, call.what).toBe(true);
        expect(await made.service.getDisk("undo me")).toMatchObject({ id: "00001", name: "Undo Me" });
        expect(await made.files.list()).toEqual(["image-00001"]);
        continue;
      }
      expect(outcome.ok, call.what).toBe(false);
      if (!outcome.ok) expect(String(outcome.error), call.what).toContain(call.names);
      expect(await traces(made), call.what).toEqual(NOTHING);
    }
  });

  it("a definite refusal of the image (it exists already) leaves that image alone", async () => {
    const made = await world();
    // Somebody else makes the image after AddDisk looked at what exists (one already there holds
    // its id: AddDisk would not pick it).
    const list = made.files.list.bind(made.files);
    vi.spyOn(made.files, "list").mockImplementationOnce(async (options) => {
      const names = await list(options);
      await made.files.create("image-00001", 4096);
      return names;
    });
    await expect(made.service.addDisk(INPUT)).rejects.toMatchObject({
      kind: "already_exists",
      reason: "DISK_EXISTS",
    });
    expect(await traces(made)).toEqual({ ...NOTHING, images: ["image-00001"] });
  });

  it("an image removal that fails during the undo is retried in the background until nothing is left", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const made = await world();
      const { files } = made;
      const [writeMetadata, remove] = [files.writeMetadata.bind(files), files.remove.bind(files)];
      files.writeMetadata = () =>
        Promise.reject(new SanpathError("unavailable", "image writeMetadata: injected"));
      let removals = 0;
      files.remove = async (...args) => {
        removals += 1;
        if (removals === 1) throw new SanpathError("unavailable", "image remove: injected Ceph outage");
        await remove(...args);
      };
      await expect(made.service.addDisk(INPUT)).rejects.toThrow("image writeMetadata: injected");
      expect(made.service.cleaner.pendingRetries()).toBe(1);
      expect(await files.list()).toEqual(["image-00001"]);
      files.writeMetadata = writeMetadata;
      await vi.advanceTimersByTimeAsync(1_000);
      await vi.waitFor(async () => {
        expect(await traces(made)).toEqual(NOTHING);
      });
      expect(removals).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("Consul gone during the undo: the reservation stays pending, a background retry gives it all back", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const made = await world();
      const images = made.files;
      // Ceph fails the metadata write and Consul goes away with it: the undo cannot reach Consul.
      const original = images.writeMetadata.bind(images);
      images.writeMetadata = async (...args) => {
        made.cluster.consul.faults.setUnreachable(true);
        await original(...args);
        throw new SanpathError("unavailable", "image writeMetadata: injected Ceph outage");
      };
      await expect(made.service.addDisk(INPUT)).rejects.toThrow("image writeMetadata");
      expect(made.service.cleaner.pendingRetries()).toBe(1);
      expect(await images.list()).toEqual(["image-00001"]);
      made.cluster.consul.faults.setUnreachable(false);
      expect((await traces(made)).keys).toContain(`${ROOT}/Allocations/Pending/00001`);
      await vi.advanceTimersByTimeAsync(1_000);
      await vi.waitFor(async () => {
        expect(await traces(made)).toEqual(NOTHING);
      });
    } finally {
      vi.useRealTimers();
    }
  });
});
