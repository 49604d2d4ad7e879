/**
 * AddDisk against the real Ceph harness (rbd image store) and a real Consul:
 * - 50 concurrent calls spread over 3 sanpathd processes sharing one Consul and one Ceph: every id
 *   and every address unique, each call succeeded or failed cleanly, the allocation records match;
 * - Ceph unreachable (its daemons frozen) while a disk is being added: the call fails with
 *   CEPH_UNAVAILABLE, the list with DISK_LIST_ERROR, and once Ceph answers again nothing is left.
 */
import { ConsulKvStore } from "../../src/consul/consul-kv-store.js";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { AllocationDraft } from "../../src/disks/allocation-draft.js";
import { AllocationKeys } from "../../src/disks/allocation-keys.js";
import { ClusterSettingsStore } from "../../src/disks/cluster-settings-store.js";
import { SubnetChoice } from "../../src/gen/sanpath/v1/common.js";
import { DiskServiceClient, type AddDiskRequest, type Disk } from "../../src/gen/sanpath/v1/disk.js";
import type { ImageStore, StoreCallOptions } from "../../src/storage/image-store.js";
import { openRbdImageStore, type RbdImageStore } from "../../src/storage/rbd-image-store.js";
import { startCephHarness, type CephHarness } from "../harness/ceph.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";
import {
  diskServiceFixture,
  diskTraces,
  freshRoot,
  invoke,
  SAMPLE_SETTINGS,
  type CallFailure,
  type CallResult,
} from "./disk-support.js";

const ROOT = "DiskConcurrency";
const CALLS = 50;

function request(name: string, extra: Partial<AddDiskRequest> = {}): AddDiskRequest {
  return {
    name,
    sizeGib: 1,
    pathCount: 2,
    subnet: SubnetChoice.SUBNET_CHOICE_SUBNET1,
    manualIps: [],
    acl: undefined,
    chap: undefined,
    pool: "",
    ...extra,
  };
}

describe("AddDisk on rbd: concurrency over 3 daemons, Ceph unreachable", () => {
  let consul: ConsulHarness | undefined;
  let ceph: CephHarness | undefined;
  let kvClient: ConsulClient | undefined;
  let rbdStore: RbdImageStore | undefined;
  const set = (): { consul: ConsulHarness; ceph: CephHarness; kv: ConsulClient; store: RbdImageStore } => {
    if (consul === undefined || ceph === undefined || kvClient === undefined || rbdStore === undefined) {
      throw new Error("set-up failed");
    }
    return { consul, ceph, kv: kvClient, store: rbdStore };
  };
  const daemons: SanpathdProcess[] = [];
  const clients: DiskServiceClient[] = [];

  beforeAll(async () => {
    const [startedConsul, startedCeph] = await Promise.all([
      startConsulHarness("disk-concurrency"),
      startCephHarness({ name: "disk-concurrency" }),
    ]);
    consul = startedConsul;
    ceph = startedCeph;
    kvClient = new ConsulClient({ address: startedConsul.agent.httpAddress });
    rbdStore = await openRbdImageStore({
      pool: startedCeph.pool,
      connect: { confPath: startedCeph.confPath },
    });
    const started = await Promise.allSettled(
      [1, 2, 3].map((n) =>
        startSanpathd({
          name: `disk-concurrency-${n}`,
          consulAddress: startedConsul.agent.httpAddress,
          config: { consul: { root: ROOT } },
          env: {
            SANPATH_IMAGE_STORE: "rbd",
            SANPATH_CEPH_CONF: startedCeph.confPath,
            SANPATH_CEPH_POOL: startedCeph.pool,
            SANPATH_CEPH_USER: "admin",
          },
        }),
      ),
    );
    for (const outcome of started) if (outcome.status === "fulfilled") daemons.push(outcome.value);
    const failed = started.find((outcome) => outcome.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    for (const daemon of daemons)
      clients.push(new DiskServiceClient(daemon.address, credentials.createInsecure()));
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all(daemons.map((daemon) => daemon.stop()));
    await rbdStore?.close();
    kvClient?.close();
    await Promise.all([ceph?.stop(), consul?.stop()]);
  });

  it(`${CALLS} concurrent AddDisk calls over 3 sanpathd: unique ids and addresses, clean failures`, async () => {
    const { kv, store } = set();
    const allocationKeys = new AllocationKeys(new ConsulKeys(ROOT));
    await new ClusterSettingsStore(new ConsulKvStore(kv), allocationKeys).init(SAMPLE_SETTINGS);

    // Mostly automatic addresses; three calls race for one manual address, two for one name.
    const requests: AddDiskRequest[] = [];
    for (let n = 0; n < CALLS; n++) {
      if (n < 3) requests.push(request(`manual-${n}`, { pathCount: 1, manualIps: ["198.51.100.5"] }));
      else if (n < 5) requests.push(request("Same Name", { pathCount: 1 }));
      else if (n % 4 === 0) requests.push(request(`both-${n}`, { subnet: SubnetChoice.SUBNET_CHOICE_BOTH }));
      else requests.push(request(`disk-${n}`));
    }
    const results = await Promise.all(
      requests.map((req, n) => {
        const client = clients[n % clients.length];
        if (client === undefined) throw new Error("three clients");
        return invoke(client.addDisk.bind(client), req);
      }),
    );

    const made: Disk[] = [];
    const failures: CallFailure[] = [];
    for (const result of results as CallResult<{ disk: Disk | undefined }>[]) {
      if (result.ok && result.response.disk !== undefined) made.push(result.response.disk);
      else if (!result.ok) failures.push(result.failure);
    }
    // Exactly one winner per contested address and name; the others failed with the right reason.
    expect(failures.map((f) => [f.code, f.reason]).sort()).toEqual([
      ["ALREADY_EXISTS", "DISK_NAME_EXISTS"],
      ["ALREADY_EXISTS", "IP_USED_ALREADY"],
      ["ALREADY_EXISTS", "IP_USED_ALREADY"],
    ]);
    expect(made).toHaveLength(CALLS - 3);
    const ids = made.map((disk) => disk.id);
    expect(new Set(ids).size).toBe(ids.length);
    // The lowest ids: no id is skipped (a failed call gives its id back before others finish).
    expect([...ids].sort()).toEqual(
      Array.from({ length: made.length }, (_, i) => String(i + 1).padStart(5, "0")),
    );
    const ips = made.flatMap((disk) => disk.paths.map((path) => path.ip));
    expect(new Set(ips).size).toBe(ips.length);

    // Consul and Ceph hold exactly the disks that were made, and nothing of the failed calls.
    const draft = await AllocationDraft.read(new ConsulKvStore(kv), allocationKeys);
    expect(draft.usedIdCount()).toBe(made.length);
    expect([...draft.usedIps()].sort()).toEqual([...ips].sort());
    const keys = await diskTraces(kv, ROOT);
    expect(keys.filter((key) => key.includes("/Pending/"))).toEqual([]);
    expect(keys.filter((key) => /\/Disks\/\d{5}$/.test(key)).length).toBe(made.length);
    expect((await store.list()).sort()).toEqual(ids.map((id) => `image-${id}`).sort());
    // Each node made some of them.
    const nodes = new Set<string>();
    for (const entry of await kv.list(`${ROOT}/Allocations/DiskIds/`)) {
      nodes.add((JSON.parse(entry.value) as { node: string }).node);
    }
    expect(nodes.size).toBe(3);
  });

  it("Ceph unreachable during AddDisk: CEPH_UNAVAILABLE / DISK_LIST_ERROR, nothing left once it answers", async () => {
    const { kv, ceph } = set();
    // A pool of its own: the first test's images stay in the default one.
    await ceph.cli("ceph", ["osd", "pool", "create", "down", "8"]);
    await ceph.cli("rbd", ["pool", "init", "down"]);
    const fast = await openRbdImageStore({
      pool: "down",
      connect: { confPath: ceph.confPath, osdOpTimeoutMs: 2000, monOpTimeoutMs: 2000 },
    });
    const root = freshRoot("ceph-down");
    // Ceph stops answering once AddDisk has looked at what exists and reserved, as it makes the
    // image: the outcome of that is unknown and the give-back waits for Ceph.
    let freezeOnCreate = false;
    const fixture = await diskServiceFixture({
      root,
      client: kv,
      store: fast,
      settings: { ...SAMPLE_SETTINGS, defaultPool: "down" },
      wrapStore: (store) => {
        const wrapped = Object.create(store) as ImageStore;
        Object.defineProperty(wrapped, "create", {
          value: async (name: string, sizeBytes: number, options?: StoreCallOptions) => {
            if (freezeOnCreate) {
              process.kill(ceph.osdPid, "SIGSTOP");
              process.kill(ceph.monPid, "SIGSTOP");
            }
            freezeOnCreate = false;
            await store.create(name, sizeBytes, options);
          },
        });
        return wrapped;
      },
    });
    try {
      await expect(
        fixture.service.addDisk({
          name: "no pool",
          sizeGib: 1,
          pathCount: 1,
          subnet: 1,
          manualIps: [],
          pool: "nope",
        }),
      ).rejects.toMatchObject({ kind: "invalid_argument", reason: "INVALID_FIELD", field: "pool" });
      expect(await diskTraces(kv, root)).toEqual([]);
      expect(fixture.service.cleaner.pendingRetries()).toBe(0);
      const kept = await fixture.service.addDisk({
        name: "kept",
        sizeGib: 1,
        pathCount: 1,
        subnet: 1,
        manualIps: [],
        pool: "",
      });
      const imagesBefore = await fast.list();
      freezeOnCreate = true;
      try {
        await expect(
          fixture.service.addDisk({
            name: "unlucky",
            sizeGib: 1,
            pathCount: 1,
            subnet: 1,
            manualIps: [],
            pool: "",
          }),
        ).rejects.toMatchObject({ kind: "unavailable", reason: "CEPH_UNAVAILABLE" });
        await expect(
          fixture.service.listDisks({ nameFilter: "", pageSize: 0, pageToken: "" }),
        ).rejects.toMatchObject({
          kind: "unavailable",
          reason: "DISK_LIST_ERROR",
        });
        // The give-back could not remove a maybe-created image: the reservation waits for it.
        expect(await diskTraces(kv, root)).toContain(`${root}/Allocations/Pending/00002`);
      } finally {
        process.kill(ceph.monPid, "SIGCONT");
        process.kill(ceph.osdPid, "SIGCONT");
      }
      await expect
        .poll(
          async () =>
            (await diskTraces(kv, root)).filter((key) => key.includes("00002") || key.includes("unlucky")),
          {
            timeout: 30_000,
            interval: 500,
          },
        )
        .toEqual([]);
      expect((await fast.list()).sort()).toEqual(imagesBefore.sort());
      expect((await fixture.service.getDisk("kept")).id).toBe(kept.id);
      await fixture.service.stopDisk("kept");
      await fixture.service.deleteDisk("kept");
      expect(await diskTraces(kv, root)).toEqual([]);
    } finally {
      await fixture.close();
      await fast.close();
    }
  });
});
