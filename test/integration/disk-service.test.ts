/**
 * DiskService against a real Consul agent and a real file image store: what AddDisk writes, the
 * allocation records, settings rules, and a fault injected at each step of AddDisk leaving nothing.
 */
import { ConsulKvStore } from "../../src/consul/consul-kv-store.js";
import { TransactionConflictError } from "../../src/kv/transaction-conflict.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { AllocationDraft } from "../../src/disks/allocation-draft.js";
import { AllocationKeys } from "../../src/disks/allocation-keys.js";
import type { IscsiSubnetInput } from "../../src/disks/cluster-settings.js";
import { DISK_METADATA_KEY } from "../../src/disks/disk-metadata.js";
import type { AddDiskInput } from "../../src/disks/disk-request.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import type { ImageStore, StoreCallOptions } from "../../src/storage/image-store.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import {
  diskServiceFixture,
  diskTraces,
  failingStore,
  failingTransactions,
  freshRoot,
  injectedFailure,
  SAMPLE_SETTINGS,
  tempFileStore,
  type FixtureOptions,
  type ServiceFixture,
  type TempFileStore,
} from "./disk-support.js";

const { subnet1: SUBNET1, subnet2: SUBNET2 } = sampleSubnets();

function sampleSubnets(): { subnet1: IscsiSubnetInput; subnet2: IscsiSubnetInput } {
  const { subnet1, subnet2 } = SAMPLE_SETTINGS;
  if (subnet1 === undefined || subnet2 === undefined) throw new Error("the sample settings have two subnets");
  return { subnet1, subnet2 };
}

function addInput(name: string, extra: Partial<AddDiskInput> = {}): AddDiskInput {
  return { name, sizeGib: 1, pathCount: 2, subnet: 1, manualIps: [], pool: "", ...extra };
}

describe("DiskService on Consul + file store", () => {
  let consul: ConsulHarness;
  let client: ConsulClient;
  const fixtures: ServiceFixture[] = [];
  const stores: TempFileStore[] = [];

  /** A service with a Consul root and an image folder of its own. */
  async function fixture(
    label: string,
    options: Partial<FixtureOptions> = {},
  ): Promise<ServiceFixture & { files: TempFileStore }> {
    const own = await tempFileStore(label);
    stores.push(own);
    const made = await diskServiceFixture({ root: freshRoot(label), client, store: own.store, ...options });
    fixtures.push(made);
    return { ...made, files: own };
  }

  async function usedState(root: string): Promise<{ ids: number; ips: string[] }> {
    const draft = await AllocationDraft.read(
      new ConsulKvStore(client),
      new AllocationKeys(new ConsulKeys(root)),
    );
    return { ids: draft.usedIdCount(), ips: [...draft.usedIps()] };
  }

  beforeAll(async () => {
    consul = await startConsulHarness("disk-service");
    client = new ConsulClient({ address: consul.agent.httpAddress });
  });
  afterAll(async () => {
    for (const made of fixtures) await made.close();
    client.close();
    for (const own of stores) await own.remove();
    await consul.stop();
  });

  it("AddDisk reserves, creates the image with its metadata and registers the disk and its paths", async () => {
    const { service, root, store } = await fixture("add");
    const disk = await service.addDisk(
      addInput("Backup Disk", {
        chap: { user: "alice", secret: "s3cret-s3cret" },
        acl: { allInitiators: false, initiatorIqns: ["iqn.1993-08.org.debian:01:abc"] },
      }),
    );
    expect(disk).toMatchObject({
      id: "00001",
      name: "Backup Disk",
      iqn: "iqn.2016-05.com.example.sanpath:00001",
      pool: "rbd",
      image: "image-00001",
      chapEnabled: true,
      chapUser: "alice",
      status: "starting",
    });
    expect(JSON.stringify(disk)).not.toContain("s3cret-s3cret");
    expect(disk.paths.map((path) => path.ip)).toEqual(["198.51.100.10", "198.51.100.11"]);

    const keys = await client.list(`${root}/`);
    const byKey = new Map(keys.map((entry) => [entry.key, entry]));
    expect(byKey.get(`${root}/Disks/00001`)).toMatchObject({ value: "disk", flags: 0 });
    expect(byKey.get(`${root}/Disks/00001/1`)).toMatchObject({ value: "" });
    expect(byKey.get(`${root}/Disks/00001/2`)).toMatchObject({ value: "" });
    expect(byKey.get(`${root}/Allocations/DiskNames/backup%20disk`)?.value).toBe("00001");
    expect(JSON.parse(byKey.get(`${root}/Allocations/DiskIds/00001`)?.value ?? "{}")).toMatchObject({
      id: "00001",
      name: "Backup Disk",
      ips: ["198.51.100.10", "198.51.100.11"],
      state: "active",
      node: "test-node",
    });
    expect([...byKey.keys()].filter((key) => key.includes("/Pending/"))).toEqual([]);
    expect(await usedState(root)).toEqual({ ids: 1, ips: ["198.51.100.10", "198.51.100.11"] });

    const metadata = JSON.parse((await store.getMeta("image-00001", DISK_METADATA_KEY)) ?? "{}") as Record<
      string,
      unknown
    >;
    expect(metadata).toMatchObject({
      id: "00001",
      disk_name: "Backup Disk",
      size: 1,
      iqn: "iqn.2016-05.com.example.sanpath:00001",
      acl: "iqn.1993-08.org.debian:01:abc",
      user: "alice",
      password: "s3cret-s3cret",
      pool: "rbd",
    });
    expect((await store.stat("image-00001")).sizeBytes).toBe(1024 ** 3);
    await service.stopDisk("00001");
    await service.deleteDisk("backup disk");
  });

  it("takes the lowest free id and the first block of free addresses, and reuses what a delete frees", async () => {
    const { service, root } = await fixture("reuse");
    const first = await service.addDisk(addInput("d1", { pathCount: 1 }));
    const second = await service.addDisk(addInput("d2", { pathCount: 2 }));
    const third = await service.addDisk(addInput("d3", { pathCount: 1, subnet: 3 }));
    expect([first.id, second.id, third.id]).toEqual(["00001", "00002", "00003"]);
    expect(second.paths.map((p) => p.ip)).toEqual(["198.51.100.11", "198.51.100.12"]);
    // Both subnets walk in lockstep: step 3 is the first whose two addresses are free.
    expect(third.paths.map((p) => p.ip)).toEqual(["198.51.100.13"]);
    await service.stopDisk("00002");
    await service.deleteDisk("00002");
    const again = await service.addDisk(addInput("d4", { pathCount: 2 }));
    expect(again.id).toBe("00002");
    expect(again.paths.map((p) => p.ip)).toEqual(["198.51.100.11", "198.51.100.12"]);
    const manual = await service.addDisk(
      addInput("d5", { pathCount: 2, subnet: 3, manualIps: ["203.0.113.7", "198.51.100.5"] }),
    );
    expect(manual.paths.map((p) => [p.ip, p.subnet])).toEqual([
      ["203.0.113.7", 2],
      ["198.51.100.5", 1],
    ]);
    await expect(
      service.addDisk(addInput("d6", { pathCount: 1, manualIps: ["198.51.100.5"] })),
    ).rejects.toMatchObject({ kind: "already_exists", reason: "IP_USED_ALREADY", field: "manual_ips[0]" });
    expect((await usedState(root)).ids).toBe(4);
  });

  it("refuses a name taken in another case, and a settings change to a subnet disks use", async () => {
    const { service } = await fixture("rules");
    await service.addDisk(addInput("Alpha", { pathCount: 1, subnet: 2 }));
    await expect(service.addDisk(addInput("ALPHA"))).rejects.toMatchObject({
      kind: "already_exists",
      reason: "DISK_NAME_EXISTS",
      field: "name",
    });
    const moved = {
      ...SAMPLE_SETTINGS,
      subnet2: { ...SUBNET2, network: "203.0.113.0/25", autoIpTo: "203.0.113.100" },
    };
    await expect(service.settings.init(moved)).rejects.toMatchObject({
      kind: "failed_precondition",
      reason: "SUBNET_IN_USE",
      field: "settings.subnet2.network",
    });
    await expect(service.settings.init({ ...SAMPLE_SETTINGS, subnet2: undefined })).rejects.toMatchObject({
      reason: "SUBNET_IN_USE",
      field: "settings.subnet2",
    });
    await expect(
      service.settings.init({ ...SAMPLE_SETTINGS, subnet2: { ...SUBNET2, vlanId: 20 } }),
    ).rejects.toMatchObject({ reason: "SUBNET_IN_USE", field: "settings.subnet2.vlan_id" });
    // Subnet 1 is unused: it may move. Subnet 2's automatic range may change.
    const changed = await service.settings.init({
      ...SAMPLE_SETTINGS,
      iqnBase: "iqn.2024-01.org.example",
      subnet1: {
        ...SUBNET1,
        network: "198.51.100.128/25",
        autoIpFrom: "198.51.100.130",
        autoIpTo: "198.51.100.140",
      },
      subnet2: { ...SUBNET2, autoIpFrom: "203.0.113.100" },
    });
    expect(changed.iqnBase).toBe("iqn.2024-01.org.example");
    const next = await service.addDisk(addInput("Beta", { pathCount: 1, subnet: 1 }));
    expect(next.paths[0]?.ip).toBe("198.51.100.130");
    expect(next.iqn).toBe("iqn.2024-01.org.example:00002");
    // The first disk keeps the IQN it was made with.
    expect((await service.getDisk("alpha")).iqn).toBe("iqn.2016-05.com.example.sanpath:00001");
  });

  it("answers CLUSTER_NOT_INITIALIZED before InitCluster", async () => {
    const { service, root } = await fixture("noinit", { settings: false });
    await expect(service.addDisk(addInput("x"))).rejects.toMatchObject({
      kind: "failed_precondition",
      reason: "CLUSTER_NOT_INITIALIZED",
    });
    expect(await diskTraces(client, root)).toEqual([]);
  });

  describe("a fault at each step of AddDisk leaves no image, key or reservation", () => {
    const lost = (what: string) => () => injectedFailure(what);
    const cases: { step: string; options: Partial<FixtureOptions>; expected: Partial<SanpathError> }[] = [
      {
        step: "reserve transaction refused before it ran",
        options: { wrapKv: failingTransactions("reserve", lost("reserve")) },
        expected: { kind: "unavailable" },
      },
      {
        step: "reserve transaction committed, answer lost",
        options: { wrapKv: failingTransactions("reserve", lost("reserve"), { afterRun: true }) },
        expected: { kind: "unavailable" },
      },
      {
        step: "image create fails",
        options: {
          wrapStore: failingStore(
            "create",
            () => new SanpathError("unavailable", "injected: ceph down", { reason: "CEPH_UNAVAILABLE" }),
          ),
        },
        expected: { kind: "unavailable", reason: "CEPH_UNAVAILABLE" },
      },
      {
        step: "image created, answer lost",
        options: {
          wrapStore: failingStore(
            "create",
            () => new SanpathError("unavailable", "injected: timeout", { reason: "CEPH_UNAVAILABLE" }),
            { afterRun: true },
          ),
        },
        expected: { kind: "unavailable" },
      },
      {
        step: "metadata write fails",
        options: {
          wrapStore: failingStore(
            "writeMetadata",
            () => new SanpathError("internal", "injected: metadata write"),
          ),
        },
        expected: { kind: "internal" },
      },
      {
        step: "register transaction fails",
        options: { wrapKv: failingTransactions("register", lost("register")) },
        expected: { kind: "unavailable" },
      },
      {
        step: "register conflicts (CAS lost)",
        options: {
          wrapKv: failingTransactions(
            "register",
            () => new TransactionConflictError([{ opIndex: 0, what: "injected" }], 0, undefined),
          ),
        },
        expected: { kind: "aborted", reason: "CAS_CONFLICT" },
      },
    ];
    for (const { step, options, expected } of cases) {
      it(step, async () => {
        const { service, root, files } = await fixture("fault", options);
        const imagesBefore = await files.store.list();
        await expect(service.addDisk(addInput("faulty"))).rejects.toMatchObject(expected);
        expect(await diskTraces(client, root)).toEqual([]);
        expect(await files.store.list()).toEqual(imagesBefore);
        expect(service.cleaner.pendingRetries()).toBe(0);
        // Nothing is held: the same disk can be added now.
        const disk = await service.addDisk(addInput("faulty"));
        expect(disk.id).toBe("00001");
        await service.stopDisk("faulty");
        await service.deleteDisk("faulty");
        expect(await diskTraces(client, root)).toEqual([]);
      });
    }

    it("register committed but its answer lost: AddDisk succeeds, the disk stays", async () => {
      const { service, root, files } = await fixture("lostok", {
        wrapKv: failingTransactions("register", lost("register"), { afterRun: true }),
      });
      const disk = await service.addDisk(addInput("kept", { pathCount: 1 }));
      expect(disk.id).toBe("00001");
      expect(await diskTraces(client, root)).toContain(`${root}/Disks/00001/1`);
      expect((await service.getDisk("kept")).id).toBe("00001");
      expect(await files.store.list()).toContain("image-00001");
      await service.stopDisk("kept");
      await service.deleteDisk("kept");
    });

    it("an image there before holds its id; one made after AddDisk looked is DISK_EXISTS and left alone", async () => {
      let makeAfterListing: string | undefined;
      const { service, root, files } = await fixture("exists", {
        wrapStore: (store) => {
          const wrapped = Object.create(store) as ImageStore;
          Object.defineProperty(wrapped, "list", {
            value: async (options?: StoreCallOptions) => {
              const names = await store.list(options);
              if (makeAfterListing !== undefined) await store.create(makeAfterListing, 4096);
              makeAfterListing = undefined;
              return names;
            },
          });
          return wrapped;
        },
      });
      await files.store.create("image-00001", 4096);
      try {
        expect((await service.addDisk(addInput("skips"))).id).toBe("00002");
        makeAfterListing = "image-00003";
        await expect(service.addDisk(addInput("clash"))).rejects.toMatchObject({
          kind: "already_exists",
          reason: "DISK_EXISTS",
        });
        expect((await diskTraces(client, root)).filter((key) => key.includes("00003"))).toEqual([]);
        expect(await files.store.list()).toEqual(["image-00001", "image-00002", "image-00003"]);
      } finally {
        await files.store.remove("image-00001");
        await files.store.remove("image-00003");
      }
    });

    it("an undo that fails is retried in the background until nothing is left", async () => {
      const { service, root, files } = await fixture("retry", {
        wrapStore: (store) =>
          failingStore("remove", () => new SanpathError("unavailable", "injected: ceph down on remove"), {
            times: 1,
          })(
            failingStore("writeMetadata", () => new SanpathError("unavailable", "injected: metadata"))(store),
          ),
      });
      await expect(service.addDisk(addInput("later"))).rejects.toMatchObject({ kind: "unavailable" });
      expect(service.cleaner.pendingRetries()).toBe(1);
      expect(await diskTraces(client, root)).toContain(`${root}/Allocations/Pending/00001`);
      await expect.poll(() => diskTraces(client, root), { timeout: 10_000, interval: 200 }).toEqual([]);
      expect(await files.store.list()).not.toContain("image-00001");
    });

    it("a reservation left by a crash is swept once it is stale, image and all", async () => {
      const { service, root, files } = await fixture("sweep");
      const reservation = await service.reservations.reserve(addInput("orphan"));
      await files.store.create("image-00001", 4096);
      expect(await service.sweepStaleReservations(60_000)).toEqual([]);
      expect(await diskTraces(client, root)).toContain(`${root}/Allocations/Pending/00001`);
      expect(await service.sweepStaleReservations(0)).toEqual([reservation.allocation.id]);
      expect(await diskTraces(client, root)).toEqual([]);
      expect(await files.store.list()).not.toContain("image-00001");
      // A registration after the sweep fails: the reservation is no longer its own.
      await expect(service.reservations.register(reservation)).rejects.toBeInstanceOf(
        TransactionConflictError,
      );
      expect(await diskTraces(client, root)).toEqual([]);
    });
  });
});
