/**
 * Authentication, roles and audit against a real sanpathd (auth.mode required, a token file with
 * one token per role, an audit file) on a real Consul agent: every RPC refuses a missing or unknown
 * token and every role the method→role table does not give it; health and reflection stay open;
 * every write leaves one audit line with its caller; tokens added or revoked count without a restart.
 */
import { cleanUpAll } from "../support/clean-up.js";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, type Client } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DrainNodeRequest,
  DrainNodeResponse,
  InitClusterRequest,
  type ClusterSettings,
} from "../../src/gen/sanpath/v1/cluster.js";
import { AddDiskRequest } from "../../src/gen/sanpath/v1/disk.js";
import { SubnetChoice } from "../../src/gen/sanpath/v1/common.js";
import type { AuditRecord } from "../../src/security/audit-log.js";
import { accessOf } from "../../src/security/method-access.js";
import { ROLES, type Role } from "../../src/security/roles.js";
import { formatTokenFile, generateToken, tokenEntry } from "../../src/security/token-file.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { bufCurl, runSanpathCli, startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";
import { SAMPLE_SETTINGS } from "./disk-support.js";
import {
  contractMethods,
  GATE_REFUSALS,
  rawCall,
  rawClient,
  writeRoleTokens,
  type ContractMethod,
} from "./security-support.js";

const CHAP_SECRET = "Audit-chap-9q2w";

describe("sanpathd with auth.mode required (tokens)", () => {
  const dir = mkdtempSync(join(tmpdir(), `sanpath-security-auth-${process.pid}-`));
  const { tokenFile, tokens } = writeRoleTokens(dir);
  const auditFile = join(dir, "audit.log");
  let consul: ConsulHarness;
  let daemon: SanpathdProcess;
  let client: Client;
  const methods = contractMethods();
  const byName = (name: string): ContractMethod => {
    const method = methods.find((candidate) => candidate.path.endsWith(`/${name}`));
    if (method === undefined) throw new Error(`no method ${name}`);
    return method;
  };
  const auditRecords = (): AuditRecord[] =>
    readFileSync(auditFile, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as AuditRecord);

  beforeAll(async () => {
    consul = await startConsulHarness("security-auth");
    daemon = await startSanpathd({
      name: "security-auth",
      consulAddress: consul.agent.httpAddress,
      config: { consul: { root: `SecurityAuth-${process.pid}` }, logLevel: "debug" },
      env: {
        SANPATH_AUTH_MODE: "required",
        SANPATH_AUTH_TOKEN_FILE: tokenFile,
        SANPATH_AUDIT_FILE: auditFile,
      },
    });
    client = rawClient(daemon.address, credentials.createInsecure());
  });

  afterAll(async () => {
    await cleanUpAll(
      () => client.close(),
      () => daemon.stop(),
      () => consul.stop(),
      () => rmSync(dir, { recursive: true, force: true }),
    );
  });

  it("logs that authentication is on, with the token count and never a token", () => {
    const on = daemon.logLines().find((line) => line.msg === "authentication on");
    expect(on).toMatchObject({ authMode: "required", tokens: ROLES.length, tls: "off", auditFile });
    for (const token of Object.values(tokens)) expect(daemon.stdout()).not.toContain(token);
  });

  it("refuses every RPC, streams included, without a token or with an unknown one: UNAUTHENTICATED", async () => {
    expect(methods).toHaveLength(31);
    for (const method of methods) {
      const missing = await rawCall(client, method);
      expect([method.path, missing.code, missing.reason]).toEqual([
        method.path,
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
      ]);
      expect(missing.details).toContain("no credentials");
      const unknown = await rawCall(client, method, undefined, generateToken());
      expect([method.path, unknown.code]).toEqual([method.path, "UNAUTHENTICATED"]);
      expect(unknown.details).toBe("the bearer token is not known to this sanpathd");
    }
  });

  it("refuses every role the table does not give a method (PERMISSION_DENIED), lets the others past the gate", async () => {
    for (const method of methods) {
      const allowed = accessOf(method.path)?.allowed ?? [];
      for (const role of ROLES) {
        const outcome = await rawCall(client, method, undefined, tokens[role]);
        if (allowed.includes(role)) {
          expect(
            GATE_REFUSALS,
            `${method.path} as ${role}: ${outcome.code} ${outcome.details}`,
          ).not.toContain(outcome.code);
        } else {
          expect([method.path, role, outcome.code, outcome.reason]).toEqual([
            method.path,
            role,
            "PERMISSION_DENIED",
            "PERMISSION_DENIED",
          ]);
          expect(outcome.details).toContain(`test-${role} (role ${role}) may not call`);
        }
      }
    }
  });

  it("keeps health and reflection open (they name services and serving status only)", async () => {
    expect(await daemon.health()).toBe("SERVING");
    const listed = await bufCurl(["--list-services", `http://${daemon.address}`]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain("sanpath.v1.DiskService");
  });

  it("audits every write with its caller and the redacted request; reads that pass leave no line", async () => {
    const admin = tokens.admin;
    const init = await rawCall(
      client,
      byName("InitCluster"),
      Buffer.from(InitClusterRequest.encode({ settings: SAMPLE_SETTINGS as ClusterSettings }).finish()),
      admin,
    );
    expect(init.code).toBe("OK");
    const before = auditRecords().length;
    const added = await rawCall(
      client,
      byName("AddDisk"),
      Buffer.from(
        AddDiskRequest.encode({
          name: "audited",
          sizeGib: 1,
          pathCount: 1,
          subnet: SubnetChoice.SUBNET_CHOICE_SUBNET1,
          manualIps: [],
          acl: undefined,
          chap: { user: "audit-user", secret: CHAP_SECRET },
          pool: "",
        }).finish(),
      ),
      tokens["disk-admin"],
    );
    expect(added.code).toBe("OK");
    expect((await rawCall(client, byName("ListDisks"), undefined, tokens.viewer)).code).toBe("OK");
    const denied = await rawCall(client, byName("DeleteDisk"), undefined, tokens["path-admin"]);
    expect(denied.code).toBe("PERMISSION_DENIED");

    // The audit stream writes in the background: poll until both lines are there.
    await expect.poll(() => auditRecords().length - before).toBe(2);
    const records = auditRecords().slice(before);
    expect(records.map((record) => [record.method, record.caller?.name, record.code])).toEqual([
      ["/sanpath.v1.DiskService/AddDisk", "test-disk-admin", "OK"],
      ["/sanpath.v1.DiskService/DeleteDisk", "test-path-admin", "PERMISSION_DENIED"],
    ]);
    expect(records[0]?.request).toMatchObject({
      name: "audited",
      chap: { user: "audit-user", secret: "[redacted]" },
    });
    expect(records[0]?.caller).toEqual({ name: "test-disk-admin", role: "disk-admin", credential: "token" });
    expect(readFileSync(auditFile, "utf8")).not.toContain(CHAP_SECRET);
  });

  it("has one audit line per write call of the whole run, each with a caller or null when unauthenticated", () => {
    const records = auditRecords();
    const writes = methods
      .filter((method) => accessOf(method.path)?.write === true)
      .map((method) => method.path);
    // The refusal test sent each write once without a token and once with an unknown one; the role
    // test once per role. Reads only leave lines when refused.
    for (const path of writes) {
      const lines = records.filter((record) => record.method === path);
      expect(lines.length, path).toBeGreaterThanOrEqual(2 + ROLES.length);
      expect(lines.filter((record) => record.caller === null).length, path).toBeGreaterThanOrEqual(2);
      for (const role of ROLES) {
        expect(
          lines.some((record) => record.caller?.name === `test-${role}`),
          `${path} ${role}`,
        ).toBe(true);
      }
    }
    const passedReads = records.filter(
      (record) => accessOf(record.method)?.write === false && !GATE_REFUSALS.includes(record.code),
    );
    expect(passedReads).toEqual([]);
    for (const record of records) {
      expect(record.peer).toMatch(/127\.0\.0\.1/);
      expect(record.durationMs).toBeGreaterThanOrEqual(0);
    }
    for (const token of Object.values(tokens)) expect(readFileSync(auditFile, "utf8")).not.toContain(token);
  });

  it("takes a token added to the file and drops a revoked one without a restart", async () => {
    const added = generateToken();
    const current = readFileSync(tokenFile, "utf8");
    const entries = JSON.parse(current) as { name: string; role: Role; sha256: string }[];
    writeFileSync(tokenFile, formatTokenFile([...entries, tokenEntry("late-viewer", "viewer", added)]));
    const listDisks = byName("ListDisks");
    await expect
      .poll(async () => (await rawCall(client, listDisks, undefined, added)).code, { timeout: 10_000 })
      .toBe("OK");
    const revoke = await runSanpathCli(["token", "revoke", tokenFile, "--name", "late-viewer"]);
    expect(revoke.code).toBe(0);
    await expect
      .poll(async () => (await rawCall(client, listDisks, undefined, added)).code, { timeout: 10_000 })
      .toBe("UNAUTHENTICATED");
  });

  it("the CLI takes the token from $SANPATH_TOKEN or --token-file, and says what is wrong without one", async () => {
    const server = ["--server", daemon.address];
    const none = await runSanpathCli([...server, "disk", "list"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("error: UNAUTHENTICATED: no credentials");

    const viaEnv = await runSanpathCli([...server, "disk", "list"], { SANPATH_TOKEN: tokens.viewer });
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stdout).toContain("audited");

    const file = join(dir, "viewer.token");
    writeFileSync(file, `${tokens.viewer}\n`, { mode: 0o600 });
    const viaFile = await runSanpathCli([...server, "--token-file", file, "disk", "stop", "audited"]);
    expect(viaFile.code).toBe(1);
    expect(viaFile.stderr).toContain(
      "PERMISSION_DENIED: test-viewer (role viewer) may not call DiskService/StopDisk",
    );

    const missingFile = await runSanpathCli([...server, "--token-file", join(dir, "nope"), "disk", "list"]);
    expect(missingFile.code).toBe(2);
    expect(missingFile.stderr).toContain("--token-file: cannot read");

    for (const result of [none, viaEnv, viaFile, missingFile]) {
      expect(result.stdout + result.stderr).not.toContain(tokens.viewer);
    }
  });

  it("sanpath token create prints a token once with its entry, and the entry makes it work", async () => {
    const created = await runSanpathCli([
      "--output",
      "json",
      "token",
      "create",
      "--name",
      "ops",
      "--role",
      "viewer",
    ]);
    expect(created.code).toBe(0);
    const printed = JSON.parse(created.stdout) as {
      token: string;
      sha256: string;
      name: string;
      role: string;
    };
    expect(printed.token).toMatch(/^spt_/);
    const entries = JSON.parse(readFileSync(tokenFile, "utf8")) as object[];
    writeFileSync(
      tokenFile,
      formatTokenFile([
        ...(entries as { name: string; role: Role; sha256: string }[]),
        { name: printed.name, role: "viewer", sha256: printed.sha256 },
      ]),
    );
    await expect
      .poll(async () => (await rawCall(client, byName("GetClusterInfo"), undefined, printed.token)).code, {
        timeout: 10_000,
      })
      .not.toBe("UNAUTHENTICATED");
  });

  it("a job keeps who started it: DrainNode by a path-admin token is started_by that caller", async () => {
    const node = `security-auth-${process.pid}`;
    const drained = await rawCall(
      client,
      byName("DrainNode"),
      Buffer.from(DrainNodeRequest.encode({ node, parallelism: 0 }).finish()),
      tokens["path-admin"],
    );
    expect(drained.code, drained.details).toBe("OK");
    const job = DrainNodeResponse.decode(drained.responses[0] ?? Buffer.alloc(0)).job;
    expect(job?.startedBy).toBe("test-path-admin");
    await expect
      .poll(() =>
        auditRecords()
          .filter((record) => record.method.endsWith("/DrainNode"))
          .at(-1),
      )
      .toMatchObject({
        code: "OK",
        caller: { name: "test-path-admin", role: "path-admin" },
        request: { node },
      });
  });
});
