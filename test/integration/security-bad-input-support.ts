/**
 * Shared pieces of the bad-input corpus (security-bad-input*.test.ts): the case format, request
 * builders, a real sanpathd with auth on over a real Consul, holding malformed records (a disk key
 * with no image behind it, a node record that is not JSON, an image whose PetaSAN metadata is not
 * JSON) and a known stale epoch, and the check every case goes through: the right code and a
 * message naming the field; the daemon stays SERVING; Consul and the image store are
 * byte-for-byte what they were before.
 */
import { cleanUpAll } from "../support/clean-up.js";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, type Client } from "@grpc/grpc-js";
import { afterAll, beforeAll, expect } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { PlanReassignmentRequest } from "../../src/gen/sanpath/v1/assignment.js";
import {
  GetLeaderResponse,
  InitClusterRequest,
  type ClusterSettings,
} from "../../src/gen/sanpath/v1/cluster.js";
import { SubnetChoice } from "../../src/gen/sanpath/v1/common.js";
import { AddDiskRequest, UpdateDiskRequest } from "../../src/gen/sanpath/v1/disk.js";
import { StatusRequest } from "../../src/gen/sanpath/v1/node.js";
import type { Role } from "../../src/security/roles.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";
import { until } from "../support/until.js";
import { dumpKeys, SAMPLE_SETTINGS } from "./disk-support.js";
import { contractMethods, rawCall, rawClient, writeRoleTokens, type RawOutcome } from "./security-support.js";

const ROOT = `BadInput-${process.pid}`;
export const MB = "x".repeat(1_000_000);
const SETTINGS = SAMPLE_SETTINGS as ClusterSettings;

interface Encoder<T> {
  encode(message: T): { finish(): Uint8Array };
  fromPartial(object: never): T;
}
/** The bytes of a message built from `partial` (unset fields at their defaults). */
export function bytes<T>(type: Encoder<T>, partial: object): Buffer {
  return Buffer.from(type.encode(type.fromPartial(partial as never)).finish());
}

export interface Case {
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

/** An AddDisk request for a 1 GiB disk "corpus" with one path, with `partial` over it. */
export const add = (partial: object): Buffer =>
  bytes(AddDiskRequest, {
    name: "corpus",
    sizeGib: 1,
    pathCount: 1,
    subnet: SubnetChoice.SUBNET_CHOICE_SUBNET1,
    ...partial,
  });
/** An UpdateDisk request of the disk "good". */
export const update = (partial: object): Buffer => bytes(UpdateDiskRequest, { disk: "good", ...partial });
/** An InitCluster request with the sample settings, `subnet1` over subnet 1 and `extra` over the rest. */
export const settings = (subnet1: object, extra: object = {}): Buffer =>
  bytes(InitClusterRequest, {
    settings: { ...SETTINGS, ...extra, subnet1: { ...SETTINGS.subnet1, ...subnet1 } },
  });
/** A manual PlanReassignment request. */
export const manual = (ips: string[], targetNode = "auto"): Buffer =>
  bytes(PlanReassignmentRequest, { spec: { manual: { ips, targetNode } } });

export interface BadInputDaemon {
  /** The epoch one below the highest the node has seen (known once the set-up has run). */
  readonly staleEpoch: () => number;
  /** Sends every case and checks the answers, Consul, the image store and the daemon's health. */
  readonly expectEachAnswered: (corpus: readonly Case[]) => Promise<void>;
}

/**
 * Starts Consul and a sanpathd with auth on before the tests of the calling describe block (and
 * stops them after), with the cluster initialised, two disks ("good", with CHAP, and "damaged"),
 * the malformed records planted and the node's highest epoch raised to the leader's + 10.
 */
export function useBadInputDaemon(): BadInputDaemon {
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
    // The harness waited for SERVING, which comes only once every component has plugged its handlers in.
    const initialised = await call("InitCluster", bytes(InitClusterRequest, { settings: SETTINGS }));
    if (initialised.code !== "OK") throw new Error(`InitCluster: ${initialised.code} ${initialised.details}`);
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
    // The coordinator is elected once the node holds its peer lease, a moment after SERVING.
    const leaderAnswer = await until(
      "a coordinator elected",
      () => must("GetLeader", Buffer.alloc(0), "viewer"),
      {
        timeoutMs: 15_000,
        intervalMs: 200,
        retryErrors: true,
      },
    );
    const leader = GetLeaderResponse.decode(leaderAnswer.responses[0] ?? Buffer.alloc(0));
    const highest = (leader.leader?.epoch ?? 1) + 10;
    await must("Status", bytes(StatusRequest, { epoch: highest }), "node");
    staleEpoch = highest - 1;
  });

  afterAll(async () => {
    await cleanUpAll(
      () => client.close(),
      () => kv.close(),
      () => daemon.stop(),
      () => consul.stop(),
      () => rmSync(dir, { recursive: true, force: true }),
    );
  });

  return {
    staleEpoch: () => staleEpoch,
    expectEachAnswered: async (corpus) => {
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
        else if (entry.says !== undefined && !outcome.details.includes(entry.says))
          wrong.push(`${label}: expected the message to say ${JSON.stringify(entry.says)}, got ${got}`);
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
    },
  };
}
