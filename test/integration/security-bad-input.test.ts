/**
 * The bad-input corpus: malformed and hostile requests across every RPC (wrong wire types and
 * truncated bytes, 1 MB strings, path traversal in names, out-of-range sizes and counts, unknown
 * nodes and jobs, a stale epoch, malformed records planted in Consul and in an image's metadata,
 * a message over the 4 MiB limit) against a real sanpathd with auth on. Each gets the right code
 * and a message naming the field; the daemon stays SERVING; Consul and the image store are
 * byte-for-byte what they were before.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, type Client } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import {
  CancelReassignmentRequest,
  GetReassignmentRequest,
  Planner,
  PlanReassignmentRequest,
  StartReassignmentRequest,
  WatchReassignmentRequest,
} from "../../src/gen/sanpath/v1/assignment.js";
import {
  CordonNodeRequest,
  DrainNodeRequest,
  GetLeaderResponse,
  InitClusterRequest,
  UncordonNodeRequest,
  type ClusterSettings,
} from "../../src/gen/sanpath/v1/cluster.js";
import { SubnetChoice } from "../../src/gen/sanpath/v1/common.js";
import {
  AddDiskRequest,
  DeleteDiskRequest,
  GetDiskRequest,
  ListDisksRequest,
  StartDiskRequest,
  StopDiskRequest,
  UpdateDiskRequest,
} from "../../src/gen/sanpath/v1/disk.js";
import { AcquirePathRequest, CleanPathRequest, StatusRequest } from "../../src/gen/sanpath/v1/node.js";
import { MAX_REQUEST_BYTES } from "../../src/server/grpc-server.js";
import type { Role } from "../../src/security/roles.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";
import { dumpKeys, SAMPLE_SETTINGS } from "./disk-support.js";
import { contractMethods, rawCall, rawClient, writeRoleTokens, type RawOutcome } from "./security-support.js";

const ROOT = `BadInput-${process.pid}`;
const MB = "x".repeat(1_000_000);
const SETTINGS = SAMPLE_SETTINGS as ClusterSettings;

interface Encoder<T> {
  encode(message: T): { finish(): Uint8Array };
  fromPartial(object: never): T;
}
/** The bytes of a message built from `partial` (unset fields at their defaults). */
function bytes<T>(type: Encoder<T>, partial: object): Buffer {
  return Buffer.from(type.encode(type.fromPartial(partial as never)).finish());
}

interface Case {
  /** What the request is, for failure messages. */
  what: string;
  method: string;
  body: Buffer | (() => Buffer);
  role?: Role;
  code: string;
  /** The sanpath-field trailer, when the code is about a field; the message names it too. */
  field?: string;
  reason?: string;
  /** Text the message must hold (when not the field name). */
  says?: string;
}

const FIELDLESS_CODES = new Set([
  "NOT_FOUND",
  "FAILED_PRECONDITION",
  "ABORTED",
  "RESOURCE_EXHAUSTED",
  "DATA_LOSS",
]);

describe("bad-input corpus", () => {
  const dir = mkdtempSync(join(tmpdir(), `sanpath-bad-input-${process.pid}-`));
  const { tokenFile, tokens } = writeRoleTokens(dir);
  let consul: ConsulHarness;
  let kv: ConsulClient;
  let daemon: SanpathdProcess;
  let client: Client;
  let staleEpoch = 0;
  const methods = contractMethods();

  const call = (method: string, body: Buffer, role: Role = "admin"): Promise<RawOutcome> => {
    const found = methods.find((candidate) => candidate.path.endsWith(`/${method}`));
    if (found === undefined) throw new Error(`no method ${method}`);
    return rawCall(client, found, body, tokens[role], 10_000);
  };
  const must = async (method: string, body: Buffer, role: Role = "admin"): Promise<RawOutcome> => {
    const outcome = await call(method, body, role);
    if (outcome.code !== "OK") throw new Error(`${method}: ${outcome.code} ${outcome.details}`);
    return outcome;
  };
  const imagesDir = (): string => join(daemon.dir, "images");
  /** Every image file: metadata files by content, sparse images by size and modification time. */
  const imageState = (): Record<string, string> =>
    Object.fromEntries(
      readdirSync(imagesDir())
        .sort()
        .map((name) => {
          const path = join(imagesDir(), name);
          if (name.endsWith(".json"))
            return [name, createHash("sha256").update(readFileSync(path)).digest("hex")];
          const stat = statSync(path);
          return [name, `${stat.size} bytes, modified ${stat.mtimeMs}`];
        }),
    );

  beforeAll(async () => {
    consul = await startConsulHarness("bad-input");
    kv = new ConsulClient({ address: consul.agent.httpAddress });
    daemon = await startSanpathd({
      name: "bad-input",
      consulAddress: consul.agent.httpAddress,
      config: { consul: { root: ROOT } },
      env: { SANPATH_AUTH_MODE: "required", SANPATH_AUTH_TOKEN_FILE: tokenFile },
    });
    client = rawClient(daemon.address, credentials.createInsecure());
    await must("InitCluster", bytes(InitClusterRequest, { settings: SETTINGS }));
    const disk = (name: string, extra: object = {}) =>
      bytes(AddDiskRequest, {
        name,
        sizeGib: 1,
        pathCount: 1,
        subnet: SubnetChoice.SUBNET_CHOICE_SUBNET1,
        ...extra,
      });
    await must("AddDisk", disk("good", { chap: { user: "chapuser", secret: "Corpus-secret-1" } }));
    await must("AddDisk", disk("damaged"));
    // Malformed records: a disk key with no image behind it, a node record that is not JSON,
    // and an image whose PetaSAN metadata is not JSON.
    await kv.put(`${ROOT}/Disks/00077`, "disk");
    await kv.put(`${ROOT}/Nodes/ghost`, "{not json");
    const meta = join(imagesDir(), "image-00002.meta.json");
    const record = JSON.parse(readFileSync(meta, "utf8")) as Record<string, string>;
    writeFileSync(meta, JSON.stringify({ ...record, "petasan-metada": '{"id":"00002","name":' }));
    // The highest epoch the node has seen becomes the leader's + 10; one below is stale.
    const leader = GetLeaderResponse.decode(
      (await must("GetLeader", Buffer.alloc(0), "viewer")).responses[0] ?? Buffer.alloc(0),
    );
    const highest = (leader.leader?.epoch ?? 1) + 10;
    await must("Status", bytes(StatusRequest, { epoch: highest }), "node");
    staleEpoch = highest - 1;
  });

  afterAll(async () => {
    client.close();
    kv.close();
    await daemon.stop();
    await consul.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const add = (partial: object): Buffer =>
    bytes(AddDiskRequest, {
      name: "corpus",
      sizeGib: 1,
      pathCount: 1,
      subnet: SubnetChoice.SUBNET_CHOICE_SUBNET1,
      ...partial,
    });
  const update = (partial: object): Buffer => bytes(UpdateDiskRequest, { disk: "good", ...partial });
  const settings = (subnet1: object, extra: object = {}): Buffer =>
    bytes(InitClusterRequest, {
      settings: { ...SETTINGS, ...extra, subnet1: { ...SETTINGS.subnet1, ...subnet1 } },
    });
  const manual = (ips: string[], targetNode = "auto"): Buffer =>
    bytes(PlanReassignmentRequest, { spec: { manual: { ips, targetNode } } });

  const corpus: Case[] = [
    // DiskService.AddDisk
    {
      what: "empty name",
      method: "AddDisk",
      body: add({ name: "" }),
      code: "INVALID_ARGUMENT",
      field: "name",
    },
    {
      what: "1 MB name",
      method: "AddDisk",
      body: add({ name: MB }),
      code: "INVALID_ARGUMENT",
      field: "name",
    },
    {
      what: "path traversal name",
      method: "AddDisk",
      body: add({ name: "../../etc" }),
      code: "INVALID_ARGUMENT",
      field: "name",
    },
    {
      what: "slash in name",
      method: "AddDisk",
      body: add({ name: "a/b" }),
      code: "INVALID_ARGUMENT",
      field: "name",
    },
    {
      what: "NUL in name",
      method: "AddDisk",
      body: add({ name: "a\u0000b" }),
      code: "INVALID_ARGUMENT",
      field: "name",
    },
    {
      what: "newline in name",
      method: "AddDisk",
      body: add({ name: "a\nb" }),
      code: "INVALID_ARGUMENT",
      field: "name",
    },
    {
      what: "size 0",
      method: "AddDisk",
      body: add({ sizeGib: 0 }),
      code: "INVALID_ARGUMENT",
      field: "size_gib",
    },
    {
      what: "size 2^53-1 GiB",
      method: "AddDisk",
      body: add({ sizeGib: Number.MAX_SAFE_INTEGER }),
      code: "INVALID_ARGUMENT",
      field: "size_gib",
    },
    {
      what: "0 paths",
      method: "AddDisk",
      body: add({ pathCount: 0 }),
      code: "INVALID_ARGUMENT",
      field: "path_count",
    },
    {
      what: "9 paths",
      method: "AddDisk",
      body: add({ pathCount: 9 }),
      code: "INVALID_ARGUMENT",
      field: "path_count",
    },
    {
      what: "2^32-1 paths",
      method: "AddDisk",
      body: add({ pathCount: 4_294_967_295 }),
      code: "INVALID_ARGUMENT",
      field: "path_count",
    },
    {
      what: "unknown subnet enum",
      method: "AddDisk",
      body: add({ subnet: 99 }),
      code: "INVALID_ARGUMENT",
      field: "subnet",
    },
    {
      what: "not an IP",
      method: "AddDisk",
      body: add({ manualIps: ["999.1.1.1"] }),
      code: "INVALID_ARGUMENT",
      field: "manual_ips[0]",
    },
    {
      what: "IP outside the subnet",
      method: "AddDisk",
      body: add({ manualIps: ["192.0.2.1"] }),
      code: "INVALID_ARGUMENT",
      field: "manual_ips[0]",
    },
    {
      what: "10000 manual IPs",
      method: "AddDisk",
      body: add({ manualIps: Array.from({ length: 10_000 }, (_, i) => `198.51.100.${i % 250}`) }),
      code: "INVALID_ARGUMENT",
      field: "manual_ips",
    },
    {
      what: "bad initiator IQN",
      method: "AddDisk",
      body: add({ acl: { allInitiators: false, initiatorIqns: ["not an iqn"] } }),
      code: "INVALID_ARGUMENT",
      field: "acl.initiator_iqns[0]",
    },
    {
      what: "short CHAP secret",
      method: "AddDisk",
      body: add({ chap: { user: "u", secret: "abc" } }),
      code: "INVALID_ARGUMENT",
      field: "chap.secret",
    },
    {
      what: "newline in CHAP user",
      method: "AddDisk",
      body: add({ chap: { user: "u\nx", secret: "Secret-secret-1" } }),
      code: "INVALID_ARGUMENT",
      field: "chap.user",
    },
    {
      what: "path traversal pool",
      method: "AddDisk",
      body: add({ pool: "../../x" }),
      code: "INVALID_ARGUMENT",
      field: "pool",
    },
    {
      what: "a taken name",
      method: "AddDisk",
      body: add({ name: "good" }),
      code: "ALREADY_EXISTS",
      field: "name",
      reason: "DISK_NAME_EXISTS",
    },
    // DiskService reads and writes of one disk
    {
      what: "empty disk",
      method: "GetDisk",
      body: bytes(GetDiskRequest, { disk: "" }),
      code: "INVALID_ARGUMENT",
      field: "disk",
    },
    {
      what: "path traversal disk",
      method: "GetDisk",
      body: bytes(GetDiskRequest, { disk: "../../etc/passwd" }),
      code: "INVALID_ARGUMENT",
      field: "disk",
    },
    {
      what: "unknown disk id",
      method: "GetDisk",
      body: bytes(GetDiskRequest, { disk: "99999" }),
      code: "NOT_FOUND",
      reason: "DISK_NOT_FOUND",
    },
    {
      what: "1 MB disk",
      method: "GetDisk",
      body: bytes(GetDiskRequest, { disk: MB }),
      code: "INVALID_ARGUMENT",
      field: "disk",
    },
    {
      what: "a disk key with no image",
      method: "GetDisk",
      body: bytes(GetDiskRequest, { disk: "00077" }),
      code: "DATA_LOSS",
      reason: "METADATA_UNREADABLE",
    },
    {
      what: "unreadable image metadata",
      method: "GetDisk",
      body: bytes(GetDiskRequest, { disk: "00002" }),
      code: "DATA_LOSS",
      reason: "METADATA_UNREADABLE",
    },
    {
      what: "page size 1001",
      method: "ListDisks",
      body: bytes(ListDisksRequest, { pageSize: 1001 }),
      code: "INVALID_ARGUMENT",
      field: "page_size",
    },
    {
      what: "forged page token",
      method: "ListDisks",
      body: bytes(ListDisksRequest, { pageToken: "../../etc" }),
      code: "INVALID_ARGUMENT",
      field: "page_token",
    },
    {
      what: "1 MB page token",
      method: "ListDisks",
      body: bytes(ListDisksRequest, { pageToken: MB }),
      code: "INVALID_ARGUMENT",
      field: "page_token",
    },
    {
      what: "unknown disk",
      method: "UpdateDisk",
      body: update({ disk: "99999", name: "x" }),
      code: "NOT_FOUND",
      reason: "DISK_NOT_FOUND",
    },
    {
      what: "shrink",
      method: "UpdateDisk",
      body: update({ sizeGib: 0 }),
      code: "INVALID_ARGUMENT",
      field: "size_gib",
    },
    {
      what: "huge size",
      method: "UpdateDisk",
      body: update({ sizeGib: Number.MAX_SAFE_INTEGER }),
      code: "INVALID_ARGUMENT",
      field: "size_gib",
    },
    {
      what: "path traversal rename",
      method: "UpdateDisk",
      body: update({ name: "../x" }),
      code: "INVALID_ARGUMENT",
      field: "name",
    },
    {
      what: "CHAP set and cleared",
      method: "UpdateDisk",
      body: update({ chap: { user: "u", secret: "Secret-secret-1" }, clearChap: true }),
      code: "INVALID_ARGUMENT",
      field: "clear_chap",
    },
    {
      what: "rename over unreadable metadata",
      method: "UpdateDisk",
      body: update({ disk: "00002", name: "renamed" }),
      code: "DATA_LOSS",
      reason: "METADATA_UNREADABLE",
    },
    {
      what: "empty disk",
      method: "StopDisk",
      body: bytes(StopDiskRequest, { disk: "" }),
      code: "INVALID_ARGUMENT",
      field: "disk",
    },
    {
      what: "unknown disk",
      method: "StartDisk",
      body: bytes(StartDiskRequest, { disk: "nope" }),
      code: "NOT_FOUND",
      reason: "DISK_NOT_FOUND",
    },
    {
      what: "a running disk",
      method: "DeleteDisk",
      body: bytes(DeleteDiskRequest, { disk: "good" }),
      code: "FAILED_PRECONDITION",
      reason: "DISK_NOT_STOPPED",
    },
    {
      what: "path traversal disk",
      method: "DeleteDisk",
      body: bytes(DeleteDiskRequest, { disk: "../../etc" }),
      code: "INVALID_ARGUMENT",
      field: "disk",
    },
    // ClusterService
    {
      what: "no settings",
      method: "InitCluster",
      body: bytes(InitClusterRequest, {}),
      code: "INVALID_ARGUMENT",
      field: "settings",
    },
    {
      what: "not a CIDR",
      method: "InitCluster",
      body: settings({ network: "not-a-cidr" }),
      code: "INVALID_ARGUMENT",
      field: "settings.subnet1.network",
    },
    {
      what: "VLAN 5000",
      method: "InitCluster",
      body: settings({ vlanId: 5000 }),
      code: "INVALID_ARGUMENT",
      field: "settings.subnet1.vlan_id",
    },
    {
      what: "1 MB IQN base",
      method: "InitCluster",
      body: settings({}, { iqnBase: MB }),
      code: "INVALID_ARGUMENT",
      field: "settings.iqn_base",
    },
    {
      what: "subnets disks use",
      method: "InitCluster",
      body: settings({ network: "192.0.2.0/24", autoIpFrom: "192.0.2.10", autoIpTo: "192.0.2.20" }),
      code: "FAILED_PRECONDITION",
      reason: "SUBNET_IN_USE",
    },
    {
      what: "empty node",
      method: "CordonNode",
      body: bytes(CordonNodeRequest, { node: "" }),
      code: "INVALID_ARGUMENT",
      field: "node",
    },
    {
      what: "unknown node",
      method: "CordonNode",
      body: bytes(CordonNodeRequest, { node: "nobody" }),
      code: "NOT_FOUND",
      reason: "NODE_NOT_FOUND",
    },
    {
      what: "path traversal node",
      method: "UncordonNode",
      body: bytes(UncordonNodeRequest, { node: "../../etc" }),
      code: "NOT_FOUND",
      reason: "NODE_NOT_FOUND",
    },
    {
      what: "1 MB node",
      method: "UncordonNode",
      body: bytes(UncordonNodeRequest, { node: MB }),
      code: "NOT_FOUND",
      reason: "NODE_NOT_FOUND",
    },
    {
      what: "a node record that is not JSON",
      method: "CordonNode",
      body: bytes(CordonNodeRequest, { node: "ghost" }),
      code: "DATA_LOSS",
      reason: "METADATA_UNREADABLE",
    },
    {
      what: "unknown node",
      method: "DrainNode",
      body: bytes(DrainNodeRequest, { node: "nobody" }),
      code: "NOT_FOUND",
      reason: "NODE_NOT_FOUND",
    },
    {
      what: "parallelism 100000",
      method: "DrainNode",
      body: bytes(DrainNodeRequest, { node: "nobody", parallelism: 100_000 }),
      code: "INVALID_ARGUMENT",
      field: "parallelism",
    },
    // AssignmentService
    {
      what: "no spec",
      method: "PlanReassignment",
      body: bytes(PlanReassignmentRequest, {}),
      code: "INVALID_ARGUMENT",
      field: "spec",
    },
    {
      what: "unknown planner enum",
      method: "PlanReassignment",
      body: bytes(PlanReassignmentRequest, { spec: { auto: { planner: 99 } } }),
      code: "INVALID_ARGUMENT",
      field: "spec.auto.planner",
    },
    {
      what: "IP of no path",
      method: "PlanReassignment",
      body: manual(["198.51.100.249"]),
      code: "NOT_FOUND",
      reason: "PATH_NOT_FOUND",
    },
    {
      what: "not an IP",
      method: "PlanReassignment",
      body: manual(["../../etc"]),
      code: "NOT_FOUND",
      reason: "PATH_NOT_FOUND",
      field: "ips[0]",
    },
    {
      what: "unknown target node",
      method: "PlanReassignment",
      body: manual(["198.51.100.10"], "nobody"),
      code: "NOT_FOUND",
      reason: "NODE_NOT_FOUND",
    },
    {
      what: "a stale plan",
      method: "StartReassignment",
      body: bytes(StartReassignmentRequest, {
        spec: { auto: { planner: Planner.PLANNER_AVERAGE } },
        stateIndex: 1,
      }),
      code: "ABORTED",
      reason: "PLAN_STALE",
    },
    {
      what: "parallelism 100000",
      method: "StartReassignment",
      body: bytes(StartReassignmentRequest, {
        spec: { auto: { planner: Planner.PLANNER_AVERAGE } },
        parallelism: 100_000,
      }),
      code: "INVALID_ARGUMENT",
      field: "parallelism",
    },
    {
      what: "path traversal job",
      method: "GetReassignment",
      body: bytes(GetReassignmentRequest, { id: "../../etc" }),
      code: "NOT_FOUND",
      reason: "JOB_NOT_FOUND",
    },
    {
      what: "unknown job",
      method: "CancelReassignment",
      body: bytes(CancelReassignmentRequest, { id: "nope" }),
      code: "NOT_FOUND",
      reason: "JOB_NOT_FOUND",
    },
    {
      what: "unknown job",
      method: "WatchReassignment",
      body: bytes(WatchReassignmentRequest, { id: "nope" }),
      code: "NOT_FOUND",
      reason: "JOB_NOT_FOUND",
    },
    // NodeService (as a cluster member)
    {
      what: "empty disk id",
      method: "AcquirePath",
      role: "node",
      body: bytes(AcquirePathRequest, { diskId: "", index: 1 }),
      code: "INVALID_ARGUMENT",
      field: "disk_id",
    },
    {
      what: "index 0",
      method: "AcquirePath",
      role: "node",
      body: bytes(AcquirePathRequest, { diskId: "00001", index: 0 }),
      code: "INVALID_ARGUMENT",
      field: "path_index",
    },
    {
      what: "path traversal disk id",
      method: "AcquirePath",
      role: "node",
      body: bytes(AcquirePathRequest, { diskId: "../../etc", index: 1 }),
      code: "INVALID_ARGUMENT",
      field: "disk_id",
    },
    {
      what: "a stale epoch",
      method: "AcquirePath",
      role: "node",
      body: () => bytes(AcquirePathRequest, { epoch: staleEpoch, diskId: "00001", index: 1 }),
      code: "ABORTED",
      reason: "STALE_EPOCH",
    },
    {
      what: "a stale epoch",
      method: "CleanPath",
      role: "node",
      body: () => bytes(CleanPathRequest, { epoch: staleEpoch, ip: "198.51.100.10" }),
      code: "ABORTED",
      reason: "STALE_EPOCH",
    },
    {
      what: "no target",
      method: "CleanPath",
      role: "node",
      body: bytes(CleanPathRequest, {}),
      code: "INVALID_ARGUMENT",
      field: "target",
    },
    {
      what: "not an IP",
      method: "CleanPath",
      role: "node",
      body: bytes(CleanPathRequest, { ip: "../../etc" }),
      code: "INVALID_ARGUMENT",
      field: "ip",
    },
    {
      what: "a stale epoch",
      method: "Status",
      role: "node",
      body: () => bytes(StatusRequest, { epoch: staleEpoch }),
      code: "ABORTED",
      reason: "STALE_EPOCH",
    },
    // Raw bytes
    {
      what: "truncated bytes",
      method: "AddDisk",
      body: Buffer.from([0x0a, 0x10, 0x41]),
      code: "INVALID_ARGUMENT",
      field: "request",
    },
    {
      what: "name sent as a number",
      method: "AddDisk",
      body: Buffer.from([0x08, 0x01]),
      code: "INVALID_ARGUMENT",
      field: "name",
    },
    {
      what: "size sent as a string",
      method: "AddDisk",
      body: Buffer.concat([add({}).subarray(0, 8), Buffer.from([0x12, 0x03, 0x61, 0x62, 0x63])]),
      code: "INVALID_ARGUMENT",
      field: "size_gib",
    },
    {
      what: "random bytes",
      method: "InitCluster",
      body: Buffer.from("ffffffffffffffffffffffffffffff0a", "hex"),
      code: "INVALID_ARGUMENT",
      field: "request",
    },
    {
      what: "a bad wire type",
      method: "GetDisk",
      body: Buffer.from([0x0f, 0x01]),
      code: "INVALID_ARGUMENT",
      field: "request",
    },
    {
      what: "invalid UTF-8 name",
      method: "AddDisk",
      body: Buffer.from([0x0a, 0x02, 0xc3, 0x28, 0x10, 0x01, 0x18, 0x01, 0x20, 0x01]),
      code: "INVALID_ARGUMENT",
      field: "name",
    },
    {
      what: "truncated bytes",
      method: "WatchReassignment",
      body: Buffer.from([0x0a, 0x7f]),
      code: "INVALID_ARGUMENT",
      field: "request",
    },
    {
      what: "truncated bytes",
      method: "CleanPath",
      role: "node",
      body: Buffer.from([0x12, 0x40, 0x0a]),
      code: "INVALID_ARGUMENT",
      field: "request",
    },
    {
      what: "a message over 4 MiB",
      method: "AddDisk",
      body: () => add({ name: "y".repeat(MAX_REQUEST_BYTES + 1) }),
      code: "RESOURCE_EXHAUSTED",
    },
  ];

  it("has at least 50 cases over every service", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(50);
    const services = new Set(
      corpus.map(
        (entry) => methods.find((method) => method.path.endsWith(`/${entry.method}`))?.path.split("/")[1],
      ),
    );
    expect([...services].sort()).toEqual([
      "sanpath.v1.AssignmentService",
      "sanpath.v1.ClusterService",
      "sanpath.v1.DiskService",
      "sanpath.v1.NodeService",
    ]);
  });

  it("answers each with the right code, naming the field, changes nothing and stays up", async () => {
    const keysBefore = await dumpKeys(kv, ROOT);
    const imagesBefore = imageState();
    const wrong: string[] = [];
    for (const entry of corpus) {
      const body = typeof entry.body === "function" ? entry.body() : entry.body;
      const outcome = await call(entry.method, body, entry.role);
      const label = `${entry.method} (${entry.what})`;
      const got = `${outcome.code} reason=${outcome.reason ?? "-"} field=${outcome.field ?? "-"}: ${outcome.details.slice(0, 200)}`;
      if (outcome.code !== entry.code) wrong.push(`${label}: expected ${entry.code}, got ${got}`);
      else if (
        entry.field !== undefined &&
        (outcome.field !== entry.field || !outcome.details.includes(entry.field))
      )
        wrong.push(`${label}: expected field ${entry.field} named, got ${got}`);
      else if (entry.reason !== undefined && outcome.reason !== entry.reason)
        wrong.push(`${label}: expected reason ${entry.reason}, got ${got}`);
      else if (entry.field === undefined && !FIELDLESS_CODES.has(entry.code))
        wrong.push(`${label}: case without a field`);
      if (outcome.details.length > 2000)
        wrong.push(`${label}: a ${outcome.details.length}-character message`);
    }
    expect(wrong).toEqual([]);
    expect(await daemon.health()).toBe("SERVING");
    expect(await dumpKeys(kv, ROOT)).toEqual(keysBefore);
    expect(imageState()).toEqual(imagesBefore);
    expect(daemon.stdout()).not.toContain("Corpus-secret-1");
  });
});
