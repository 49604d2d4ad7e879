/**
 * DiskService and cluster settings over gRPC against a real sanpathd (built), a real Consul agent
 * and the file image store: every field rule and every outcome with its code, reason and field; the
 * life cycle; `buf curl` through reflection alone; CHAP secrets never in answers or the log.
 */
import { cleanUpAll } from "../support/clean-up.js";
import { kvOf, sessionsOf } from "../support/consul-stores.js";
import { releaseLock } from "../../src/kv/locks.js";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { DISK_METADATA_KEY } from "../../src/disks/disk-metadata.js";
import { ClusterServiceClient, type ClusterSettings } from "../../src/gen/sanpath/v1/cluster.js";
import { SubnetChoice } from "../../src/gen/sanpath/v1/common.js";
import {
  DiskServiceClient,
  DiskStatus,
  ImportOutcome,
  type AddDiskRequest,
  type Disk,
  type UpdateDiskRequest,
} from "../../src/gen/sanpath/v1/disk.js";
import { openFileImageStore } from "../../src/storage/file-image-store.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { makePetasanDisk } from "../support/petasan-disk.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { bufCurl, startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";
import { invoke, must, SAMPLE_SETTINGS, type CallFailure } from "./disk-support.js";

const ROOT = "DiskGrpc";

/**
 * Keys that disks and their reservations make; the settings, node records, the coordinator lock
 * and the event history (the election is an event) are not.
 */
function isDiskState(key: string): boolean {
  return (
    !key.endsWith("/Config/cluster") &&
    !key.startsWith(`${ROOT}/Nodes/`) &&
    !key.startsWith(`${ROOT}/Services/`) &&
    !key.startsWith(`${ROOT}/Events/`)
  );
}
const SECRET = "Zq7-secret-Xw9k"; // 15 characters
const OTHER_SECRET = "Kp4-other-Jm2xy"; // 15 characters

/** The sample settings with a 3-address automatic range in subnet 2 (to run out of addresses). */
const SETTINGS: ClusterSettings = {
  iqnBase: SAMPLE_SETTINGS.iqnBase,
  defaultPool: SAMPLE_SETTINGS.defaultPool,
  subnet1: { ...(SAMPLE_SETTINGS.subnet1 as NonNullable<ClusterSettings["subnet1"]>) },
  subnet2: {
    network: "203.0.113.0/24",
    autoIpFrom: "203.0.113.10",
    autoIpTo: "203.0.113.12",
    interface: "eth2",
    vlanId: 0,
  },
};

function request(name: string, extra: Partial<AddDiskRequest> = {}): AddDiskRequest {
  return {
    name,
    sizeGib: 1,
    pathCount: 1,
    subnet: SubnetChoice.SUBNET_CHOICE_SUBNET1,
    manualIps: [],
    acl: undefined,
    chap: undefined,
    pool: "",
    ...extra,
  };
}

function update(disk: string, extra: Partial<UpdateDiskRequest> = {}): UpdateDiskRequest {
  return { disk, acl: undefined, chap: undefined, clearChap: false, ...extra };
}

function failure(result: { ok: boolean; failure?: CallFailure }): Partial<CallFailure> {
  if (result.ok || result.failure === undefined) return { code: "OK" };
  const { code, reason, field } = result.failure;
  return { code, reason, field };
}

describe("DiskService over gRPC (sanpathd, Consul, file store)", () => {
  let consul: ConsulHarness;
  let kv: ConsulClient;
  let daemon: SanpathdProcess;
  let disks: DiskServiceClient;
  let cluster: ClusterServiceClient;

  const add = (req: AddDiskRequest) => invoke(disks.addDisk.bind(disks), req);
  const get = (disk: string) => invoke(disks.getDisk.bind(disks), { disk });
  const edit = (req: UpdateDiskRequest) => invoke(disks.updateDisk.bind(disks), req);
  const stop = (disk: string) => must(disks.stopDisk.bind(disks), { disk });
  const remove = (disk: string) => invoke(disks.deleteDisk.bind(disks), { disk });
  const list = (nameFilter = "", pageSize = 0, pageToken = "") =>
    invoke(disks.listDisks.bind(disks), { nameFilter, pageSize, pageToken });

  beforeAll(async () => {
    consul = await startConsulHarness("disk-grpc");
    kv = new ConsulClient({ address: consul.agent.httpAddress });
    daemon = await startSanpathd({
      name: "disk-grpc",
      consulAddress: consul.agent.httpAddress,
      config: { consul: { root: ROOT }, logLevel: "debug" },
    });
    disks = new DiskServiceClient(daemon.address, credentials.createInsecure());
    cluster = new ClusterServiceClient(daemon.address, credentials.createInsecure());
  });

  afterAll(async () => {
    await cleanUpAll(
      () => disks.close(),
      () => cluster.close(),
      () => kv.close(),
      () => daemon.stop(),
      () => consul.stop(),
    );
  });

  it("answers CLUSTER_NOT_INITIALIZED until InitCluster, which checks every settings field", async () => {
    expect(failure(await add(request("early")))).toEqual({
      code: "FAILED_PRECONDITION",
      reason: "CLUSTER_NOT_INITIALIZED",
      field: undefined,
    });
    expect(failure(await invoke(cluster.getClusterSettings.bind(cluster), {}))).toMatchObject({
      code: "FAILED_PRECONDITION",
      reason: "CLUSTER_NOT_INITIALIZED",
    });
    const init = (settings: ClusterSettings | undefined) =>
      invoke(cluster.initCluster.bind(cluster), { settings });
    const subnet1 = SETTINGS.subnet1 as NonNullable<ClusterSettings["subnet1"]>;
    const bad: [ClusterSettings | undefined, Partial<CallFailure>][] = [
      [undefined, { reason: "DATA_MISSING", field: "settings" }],
      [
        { ...SETTINGS, iqnBase: "" },
        { reason: "DATA_MISSING", field: "settings.iqn_base" },
      ],
      [
        { ...SETTINGS, iqnBase: "iqn.2016-05.Com.Example" },
        { reason: "INVALID_FIELD", field: "settings.iqn_base" },
      ],
      [
        { ...SETTINGS, defaultPool: "-pool" },
        { reason: "INVALID_FIELD", field: "settings.default_pool" },
      ],
      [
        { ...SETTINGS, subnet1: undefined },
        { reason: "DATA_MISSING", field: "settings.subnet1" },
      ],
      [
        { ...SETTINGS, subnet1: { ...subnet1, network: "198.51.100.1/24" } },
        { reason: "INVALID_FIELD", field: "settings.subnet1.network" },
      ],
      [
        { ...SETTINGS, subnet1: { ...subnet1, autoIpFrom: "198.51.101.10" } },
        { reason: "INVALID_FIELD", field: "settings.subnet1.auto_ip_from" },
      ],
      [
        { ...SETTINGS, subnet1: { ...subnet1, autoIpTo: "198.51.100.255" } },
        { reason: "INVALID_FIELD", field: "settings.subnet1.auto_ip_to" },
      ],
      [
        { ...SETTINGS, subnet1: { ...subnet1, autoIpFrom: "198.51.100.200", autoIpTo: "198.51.100.100" } },
        { reason: "INVALID_FIELD", field: "settings.subnet1.auto_ip_to" },
      ],
      [
        { ...SETTINGS, subnet1: { ...subnet1, interface: "" } },
        { reason: "DATA_MISSING", field: "settings.subnet1.interface" },
      ],
      [
        { ...SETTINGS, subnet1: { ...subnet1, interface: "eth 1" } },
        { reason: "INVALID_FIELD", field: "settings.subnet1.interface" },
      ],
      [
        { ...SETTINGS, subnet1: { ...subnet1, vlanId: 4095 } },
        { reason: "INVALID_FIELD", field: "settings.subnet1.vlan_id" },
      ],
      [
        { ...SETTINGS, subnet2: { ...subnet1 } },
        { reason: "INVALID_FIELD", field: "settings.subnet2.network" },
      ],
    ];
    for (const [settings, expected] of bad) {
      expect({ settings, result: failure(await init(settings)) }).toEqual({
        settings,
        result: { code: "INVALID_ARGUMENT", ...expected },
      });
    }
    const stored = await must(cluster.initCluster.bind(cluster), { settings: SETTINGS });
    expect(stored.settings).toEqual(SETTINGS);
    expect((await must(cluster.getClusterSettings.bind(cluster), {})).settings).toEqual(SETTINGS);
  });

  it("answers every AddDisk field rule with INVALID_ARGUMENT, its reason and the field", async () => {
    const cases: [string, Partial<AddDiskRequest>, string, string][] = [
      ["name missing", { name: "" }, "DATA_MISSING", "name"],
      ["name with '/'", { name: "a/b" }, "INVALID_FIELD", "name"],
      ["name of 65 characters", { name: "n".repeat(65) }, "INVALID_FIELD", "name"],
      ["name that reads as an id", { name: "12345" }, "INVALID_FIELD", "name"],
      ["name starting with a space", { name: " lead" }, "INVALID_FIELD", "name"],
      ["size missing", { sizeGib: 0 }, "DATA_MISSING", "size_gib"],
      ["size above 1 PiB", { sizeGib: 1_048_577 }, "INVALID_FIELD", "size_gib"],
      ["path count missing", { pathCount: 0 }, "DATA_MISSING", "path_count"],
      ["9 paths", { pathCount: 9 }, "INVALID_FIELD", "path_count"],
      ["subnet missing", { subnet: SubnetChoice.SUBNET_CHOICE_UNSPECIFIED }, "DATA_MISSING", "subnet"],
      ["unknown subnet choice", { subnet: SubnetChoice.UNRECOGNIZED }, "INVALID_FIELD", "subnet"],
      [
        "manual IPs with 3 paths",
        { pathCount: 3, manualIps: ["198.51.100.5", "198.51.100.6", "198.51.100.7"] },
        "WRONG_DATA",
        "manual_ips",
      ],
      [
        "fewer manual IPs than paths",
        { pathCount: 2, manualIps: ["198.51.100.5"] },
        "WRONG_DATA",
        "manual_ips",
      ],
      ["manual IP that is no address", { manualIps: ["198.51.100.300"] }, "INVALID_FIELD", "manual_ips[0]"],
      ["manual IP in another subnet", { manualIps: ["203.0.113.5"] }, "WRONG_SUBNET", "manual_ips[0]"],
      ["manual IP = network address", { manualIps: ["198.51.100.0"] }, "INVALID_FIELD", "manual_ips[0]"],
      ["manual IP = broadcast address", { manualIps: ["198.51.100.255"] }, "INVALID_FIELD", "manual_ips[0]"],
      [
        "manual IPs twice the same",
        { pathCount: 2, manualIps: ["198.51.100.5", "198.51.100.5"] },
        "INVALID_FIELD",
        "manual_ips[1]",
      ],
      [
        "both subnets, two IPs of one",
        {
          pathCount: 2,
          subnet: SubnetChoice.SUBNET_CHOICE_BOTH,
          manualIps: ["198.51.100.5", "198.51.100.6"],
        },
        "WRONG_SUBNET",
        "manual_ips[1]",
      ],
      [
        "both subnets, IP in neither",
        { pathCount: 2, subnet: SubnetChoice.SUBNET_CHOICE_BOTH, manualIps: ["192.0.2.5", "198.51.100.6"] },
        "WRONG_SUBNET",
        "manual_ips[0]",
      ],
      [
        "ACL all and a list",
        { acl: { allInitiators: true, initiatorIqns: ["iqn.1993-08.org.debian:01:abc"] } },
        "WRONG_DATA",
        "acl",
      ],
      [
        "ACL with a bad IQN",
        { acl: { allInitiators: false, initiatorIqns: ["iqn.1993-08.org.debian:01:abc", "host01"] } },
        "INVALID_FIELD",
        "acl.initiator_iqns[1]",
      ],
      [
        "ACL with an upper-case IQN",
        { acl: { allInitiators: false, initiatorIqns: ["iqn.1993-08.org.Debian:01"] } },
        "INVALID_FIELD",
        "acl.initiator_iqns[0]",
      ],
      ["CHAP secret without user", { chap: { user: "", secret: SECRET } }, "DATA_MISSING", "chap.user"],
      ["CHAP user without secret", { chap: { user: "alice", secret: "" } }, "DATA_MISSING", "chap.secret"],
      ["CHAP user with a space", { chap: { user: "al ice", secret: SECRET } }, "INVALID_FIELD", "chap.user"],
      [
        "CHAP secret of 11 characters",
        { chap: { user: "alice", secret: "abcdefghijk" } },
        "INVALID_FIELD",
        "chap.secret",
      ],
      [
        "CHAP secret of 17 characters",
        { chap: { user: "alice", secret: "abcdefghijklmnopq" } },
        "INVALID_FIELD",
        "chap.secret",
      ],
      ["pool name starting with '-'", { pool: "-rbd" }, "INVALID_FIELD", "pool"],
    ];
    for (const [rule, extra, reason, field] of cases) {
      expect({ rule, result: failure(await add(request("rules", extra))) }).toEqual({
        rule,
        result: { code: "INVALID_ARGUMENT", reason, field },
      });
    }
    // No rule's message repeats the CHAP secret.
    const short = await add(request("rules", { chap: { user: "alice", secret: "tooshort-s" } }));
    expect(short.ok ? "" : short.failure.details).not.toContain("tooshort-s");
    // Nothing was reserved by any of them.
    expect((await kv.keys(`${ROOT}/`)).filter(isDiskState)).toEqual([]);
  });

  it("answers every AddDisk outcome: used already, name exists, out of range, disk exists", async () => {
    const first = await must(
      disks.addDisk.bind(disks),
      request("Outcome One", { manualIps: ["198.51.100.5"] }),
    );
    expect(first.disk?.id).toBe("00001");
    expect(failure(await add(request("Outcome Two", { manualIps: ["198.51.100.5"] })))).toEqual({
      code: "ALREADY_EXISTS",
      reason: "IP_USED_ALREADY",
      field: "manual_ips[0]",
    });
    expect(failure(await add(request("OUTCOME ONE")))).toEqual({
      code: "ALREADY_EXISTS",
      reason: "DISK_NAME_EXISTS",
      field: "name",
    });
    // Subnet 2's automatic range holds 3 addresses.
    expect(
      failure(
        await add(request("Outcome Big", { pathCount: 4, subnet: SubnetChoice.SUBNET_CHOICE_SUBNET2 })),
      ),
    ).toEqual({
      code: "RESOURCE_EXHAUSTED",
      reason: "IP_OUT_OF_RANGE",
      field: undefined,
    });
    expect((await kv.keys(`${ROOT}/`)).filter((key) => key.includes("/Pending/"))).toEqual([]);
    await stop("00001");
    expect((await remove("Outcome One")).ok).toBe(true);
  });

  it("lives a whole life: add, get, list with filter and pages, update, grow, stop, start, delete", async () => {
    const made: Disk[] = [];
    for (const name of ["life-a", "Life-B", "other-c", "LIFE-d", "life-e"]) {
      made.push((await must(disks.addDisk.bind(disks), request(name, { pathCount: 2 }))).disk as Disk);
    }
    const ids = made.map((disk) => disk.id);
    expect(ids).toEqual(["00001", "00002", "00003", "00004", "00005"]);
    const byName = await must(disks.getDisk.bind(disks), { disk: "LIFE-B" });
    expect(byName.disk).toMatchObject({
      id: ids[1],
      name: "Life-B",
      status: DiskStatus.DISK_STATUS_STARTING,
    });
    expect(byName.disk?.paths.map((path) => [path.index, path.node])).toEqual([
      [1, ""],
      [2, ""],
    ]);

    const all = await must(disks.listDisks.bind(disks), { nameFilter: "", pageSize: 0, pageToken: "" });
    expect(all.disks.map((disk) => disk.id)).toEqual(ids);
    expect(all.nextPageToken).toBe("");
    const pages: string[][] = [];
    let token = "";
    do {
      const page = await must(disks.listDisks.bind(disks), {
        nameFilter: "life",
        pageSize: 2,
        pageToken: token,
      });
      pages.push(page.disks.map((disk) => disk.name));
      token = page.nextPageToken;
    } while (token !== "");
    expect(pages).toEqual([
      ["life-a", "Life-B"],
      ["LIFE-d", "life-e"],
    ]);
    expect(failure(await list("", 1001))).toEqual({
      code: "INVALID_ARGUMENT",
      reason: "INVALID_FIELD",
      field: "page_size",
    });
    expect(failure(await list("", 0, "not-a-token"))).toEqual({
      code: "INVALID_ARGUMENT",
      reason: "INVALID_FIELD",
      field: "page_token",
    });

    expect(failure(await get("99999"))).toEqual({
      code: "NOT_FOUND",
      reason: "DISK_NOT_FOUND",
      field: "disk",
    });
    expect(failure(await get("no such disk"))).toEqual({
      code: "NOT_FOUND",
      reason: "DISK_NOT_FOUND",
      field: "disk",
    });
    expect(failure(await get(""))).toEqual({
      code: "INVALID_ARGUMENT",
      reason: "DATA_MISSING",
      field: "disk",
    });
    expect(failure(await get("bad/ref"))).toEqual({
      code: "INVALID_ARGUMENT",
      reason: "INVALID_FIELD",
      field: "disk",
    });

    const renamed = await must(
      disks.updateDisk.bind(disks),
      update("life-a", { name: "Life A2", sizeGib: 3 }),
    );
    expect(renamed.disk).toMatchObject({ id: "00001", name: "Life A2", sizeGib: 3 });
    expect(failure(await get("life-a"))).toMatchObject({ code: "NOT_FOUND" });
    expect((await must(disks.getDisk.bind(disks), { disk: "life a2" })).disk?.sizeGib).toBe(3);
    const imageStore = await openFileImageStore(join(daemon.dir, "images"));
    expect((await imageStore.stat("image-00001")).sizeBytes).toBe(3 * 1024 ** 3);
    expect(failure(await edit(update("00001", { sizeGib: 2 })))).toEqual({
      code: "INVALID_ARGUMENT",
      reason: "SHRINK_REFUSED",
      field: "size_gib",
    });
    expect(failure(await edit(update("00001", { name: "LIFE-B" })))).toEqual({
      code: "ALREADY_EXISTS",
      reason: "DISK_NAME_EXISTS",
      field: "name",
    });
    expect(
      failure(await edit(update("00001", { chap: { user: "u", secret: SECRET }, clearChap: true }))),
    ).toEqual({
      code: "INVALID_ARGUMENT",
      reason: "WRONG_DATA",
      field: "clear_chap",
    });
    const acl = await must(
      disks.updateDisk.bind(disks),
      update("00001", { acl: { allInitiators: false, initiatorIqns: ["iqn.1993-08.org.debian:01:abc"] } }),
    );
    expect(acl.disk?.acl).toEqual({ allInitiators: false, initiatorIqns: ["iqn.1993-08.org.debian:01:abc"] });
    const withChap = await must(
      disks.updateDisk.bind(disks),
      update("00001", { chap: { user: "bob", secret: OTHER_SECRET } }),
    );
    expect(withChap.disk).toMatchObject({ chapEnabled: true, chapUser: "bob" });
    expect(JSON.parse((await imageStore.getMeta("image-00001", DISK_METADATA_KEY)) ?? "{}")).toMatchObject({
      disk_name: "Life A2",
      size: 3,
      user: "bob",
      acl: "iqn.1993-08.org.debian:01:abc",
    });
    const cleared = await must(disks.updateDisk.bind(disks), update("00001", { clearChap: true }));
    expect(cleared.disk).toMatchObject({ chapEnabled: false, chapUser: "" });

    // Delete: refused while running, and while a node still holds a path of the stopped disk.
    expect(failure(await remove("00002"))).toEqual({
      code: "FAILED_PRECONDITION",
      reason: "DISK_NOT_STOPPED",
      field: undefined,
    });
    const session = await sessionsOf(kv).create({ name: "holder", ttlSeconds: 30, lockDelaySeconds: 0 });
    try {
      expect(await kvOf(kv).acquire(`${ROOT}/Disks/00002/2`, session, "node-7")).toBe(true);
      expect(
        (await must(disks.getDisk.bind(disks), { disk: "00002" })).disk?.paths.map((path) => path.node),
      ).toEqual(["", "node-7"]);
      expect((await stop("00002")).disk?.status).toBe(DiskStatus.DISK_STATUS_STOPPING);
      expect(failure(await remove("00002"))).toEqual({
        code: "FAILED_PRECONDITION",
        reason: "DISK_NOT_STOPPED",
        field: undefined,
      });
      expect(await releaseLock(kvOf(kv), `${ROOT}/Disks/00002/2`, session)).toBe(true);
    } finally {
      await sessionsOf(kv).destroy(session);
    }
    expect((await must(disks.getDisk.bind(disks), { disk: "00002" })).disk?.status).toBe(
      DiskStatus.DISK_STATUS_STOPPED,
    );
    expect((await must(disks.startDisk.bind(disks), { disk: "00002" })).disk?.status).toBe(
      DiskStatus.DISK_STATUS_STARTING,
    );
    expect((await kv.get(`${ROOT}/Disks/00002`))?.flags).toBe(0);
    await stop("00002");
    expect((await kv.get(`${ROOT}/Disks/00002`))?.flags).toBe(1);
    expect(await must(disks.deleteDisk.bind(disks), { disk: "life-b" })).toEqual({ id: "00002" });
    expect(failure(await get("00002"))).toMatchObject({ code: "NOT_FOUND", reason: "DISK_NOT_FOUND" });
    expect(await imageStore.list()).not.toContain("image-00002");
    expect(
      (await kv.keys(`${ROOT}/`)).filter((key) => key.includes("00002") || key.includes("life-b")),
    ).toEqual([]);

    // Metadata that cannot be read: GetDisk says so; ListDisks still lists the disk from its record.
    await imageStore.setMeta("image-00003", DISK_METADATA_KEY, "{ not json");
    expect(failure(await get("00003"))).toEqual({
      code: "DATA_LOSS",
      reason: "METADATA_UNREADABLE",
      field: undefined,
    });
    const listed = await must(disks.listDisks.bind(disks), {
      nameFilter: "other",
      pageSize: 0,
      pageToken: "",
    });
    expect(listed.disks.map((disk) => [disk.id, disk.name, disk.sizeGib])).toEqual([["00003", "other-c", 0]]);
    await imageStore.close();

    for (const id of ["00001", "00003", "00004", "00005"]) {
      await stop(id);
      expect((await remove(id)).ok).toBe(true);
    }
    expect((await kv.keys(`${ROOT}/`)).filter(isDiskState)).toEqual([]);
  });

  it("refuses to change a subnet that disks use, and allows its automatic range to change", async () => {
    await must(
      disks.addDisk.bind(disks),
      request("subnet-user", { subnet: SubnetChoice.SUBNET_CHOICE_SUBNET2 }),
    );
    const subnet2 = SETTINGS.subnet2 as NonNullable<ClusterSettings["subnet2"]>;
    const moved = await invoke(cluster.initCluster.bind(cluster), {
      settings: { ...SETTINGS, subnet2: { ...subnet2, interface: "eth9" } },
    });
    expect(failure(moved)).toEqual({
      code: "FAILED_PRECONDITION",
      reason: "SUBNET_IN_USE",
      field: "settings.subnet2.interface",
    });
    await must(cluster.initCluster.bind(cluster), {
      settings: { ...SETTINGS, subnet2: { ...subnet2, autoIpTo: "203.0.113.20" } },
    });
    await must(cluster.initCluster.bind(cluster), { settings: SETTINGS });
    await stop("subnet-user");
    expect((await remove("subnet-user")).ok).toBe(true);
  });

  it("adds a disk with buf curl through reflection alone", async () => {
    const body = { name: "via-buf", sizeGib: 2, pathCount: 2, subnet: "SUBNET_CHOICE_BOTH" };
    const result = await bufCurl([
      "-d",
      JSON.stringify(body),
      `http://${daemon.address}/sanpath.v1.DiskService/AddDisk`,
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const answer = JSON.parse(result.stdout) as {
      disk: { id: string; name: string; paths: { ip: string }[] };
    };
    expect(answer.disk.name).toBe("via-buf");
    expect(answer.disk.paths.map((path) => path.ip)).toHaveLength(2);
    const refused = await bufCurl([
      "-d",
      JSON.stringify({ ...body, sizeGib: 0 }),
      `http://${daemon.address}/sanpath.v1.DiskService/AddDisk`,
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("invalid_argument");
    await stop("via-buf");
    expect((await remove("via-buf")).ok).toBe(true);
  });

  it("never returns or logs a CHAP secret", async () => {
    const made = await must(
      disks.addDisk.bind(disks),
      request("secretive", { chap: { user: "carol", secret: SECRET } }),
    );
    const edited = await must(
      disks.updateDisk.bind(disks),
      update("secretive", { chap: { user: "carol", secret: OTHER_SECRET } }),
    );
    const shown = await must(disks.getDisk.bind(disks), { disk: "secretive" });
    const listed = await must(disks.listDisks.bind(disks), {
      nameFilter: "secret",
      pageSize: 0,
      pageToken: "",
    });
    const viaBuf = await bufCurl([
      "-d",
      JSON.stringify({ disk: "secretive" }),
      `http://${daemon.address}/sanpath.v1.DiskService/GetDisk`,
    ]);
    const answers = JSON.stringify([made, edited, shown, listed]) + viaBuf.stdout;
    expect(shown.disk).toMatchObject({ chapEnabled: true, chapUser: "carol" });
    await stop("secretive");
    await must(disks.deleteDisk.bind(disks), { disk: "secretive" });
    for (const secret of [SECRET, OTHER_SECRET]) {
      expect(answers).not.toContain(secret);
      expect(daemon.stdout()).not.toContain(secret);
      expect(daemon.stderr()).not.toContain(secret);
    }
    // The log does record the calls (debug level), so its silence about secrets means something.
    expect(daemon.stdout()).toContain("disk added");
  });

  it("answers UNAVAILABLE / DISK_LIST_ERROR when the disk list cannot be read (Consul down)", async () => {
    await consul.agent.stop();
    try {
      expect(failure(await list())).toEqual({
        code: "UNAVAILABLE",
        reason: "DISK_LIST_ERROR",
        field: undefined,
      });
      expect(failure(await add(request("offline")))).toMatchObject({
        code: "UNAVAILABLE",
        reason: "CONSUL_UNAVAILABLE",
      });
    } finally {
      await consul.restart();
    }
  });
  it("imports a PetaSAN disk: a dry run with buf curl, then ImportDisks; a second run changes nothing", async () => {
    await invoke(cluster.initCluster.bind(cluster), { settings: SETTINGS });
    const listed = await must(disks.listDisks.bind(disks), { nameFilter: "", pageSize: 0, pageToken: "" });
    const id = String(Math.max(0, ...listed.disks.map((disk) => Number(disk.id))) + 50).padStart(5, "0");
    const imageStore = await openFileImageStore(join(daemon.dir, "images"));
    const petasanDisk = {
      id,
      name: "From PetaSAN",
      paths: [{ ip: "198.51.100.77", eth: "eth1" }],
      pool: "rbd",
    };
    await makePetasanDisk(kvOf(kv), new ConsulKeys(ROOT), imageStore, petasanDisk);
    try {
      const dryRun = await bufCurl([
        "-d",
        JSON.stringify({ dryRun: true }),
        `http://${daemon.address}/sanpath.v1.DiskService/ImportDisks`,
      ]);
      expect(dryRun.stderr).toBe("");
      const planned = JSON.parse(dryRun.stdout) as {
        dryRun: boolean;
        disks: { id: string; outcome: string }[];
      };
      expect(planned.dryRun).toBe(true);
      expect(planned.disks.find((row) => row.id === id)?.outcome).toBe("IMPORT_OUTCOME_WOULD_IMPORT");
      expect(await kv.get(new ConsulKeys(ROOT).diskName("From PetaSAN"))).toBeUndefined();

      const imported = await must(disks.importDisks.bind(disks), { pool: "", dryRun: false });
      expect(imported.disks.find((row) => row.id === id)).toMatchObject({
        name: "From PetaSAN",
        ips: ["198.51.100.77"],
        outcome: ImportOutcome.IMPORT_OUTCOME_IMPORTED,
        added: ["reservations", "name"],
        running: true,
      });
      expect((await must(disks.getDisk.bind(disks), { disk: "from petasan" })).disk?.id).toBe(id);
      const again = await must(disks.importDisks.bind(disks), { pool: "", dryRun: false });
      expect(again.disks.map((row) => row.outcome)).toEqual(
        again.disks.map(() => ImportOutcome.IMPORT_OUTCOME_ALREADY_REGISTERED),
      );
      expect(failure(await invoke(disks.importDisks.bind(disks), { pool: "no/such", dryRun: true }))).toEqual(
        {
          code: "INVALID_ARGUMENT",
          reason: "INVALID_FIELD",
          field: "pool",
        },
      );
      expect(daemon.stdout()).toContain("disk imported");
      await stop(id);
      expect((await remove(id)).ok).toBe(true);
    } finally {
      await imageStore.close();
    }
  });

  // Last: the id it makes the allocation skip stays held (the foreign disk may come back).
  it("never hands out the id of a disk key sanpath did not make (a PetaSAN disk)", async () => {
    // An earlier test ends with the settings removed; store them again if so.
    await invoke(cluster.initCluster.bind(cluster), { settings: SETTINGS });
    const listed = await must(disks.listDisks.bind(disks), { nameFilter: "", pageSize: 0, pageToken: "" });
    const highest = Math.max(0, ...listed.disks.map((disk) => Number(disk.id)));
    const first = await must(disks.addDisk.bind(disks), request("Foreign Before"));
    const next = String(Number(first.disk?.id) + 1).padStart(5, "0");
    expect(Number(first.disk?.id)).toBeGreaterThan(highest);
    await kv.put(`${ROOT}/Disks/${next}`, "disk");
    try {
      const after = await must(disks.addDisk.bind(disks), request("Foreign After"));
      expect(after.disk?.id).not.toBe(next);
      expect(Number(after.disk?.id)).toBeGreaterThan(Number(next));
      expect(await kv.get(`${ROOT}/Disks/${next}`)).toMatchObject({ value: "disk" });
      for (const made of [first, after]) {
        await stop(made.disk?.id ?? "");
        expect((await remove(made.disk?.id ?? "")).ok).toBe(true);
      }
    } finally {
      await kv.delete(`${ROOT}/Disks/${next}`);
    }
  });
});
