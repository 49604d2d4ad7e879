import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata, status as Status } from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import type { CallAttempt } from "../../src/api/call-gate.js";
import { createLogger } from "../../src/log/logger.js";
import { openFileAuditLog, type AuditRecord } from "../../src/security/audit-log.js";
import { Authorizer } from "../../src/security/authorizer.js";
import { redactRequest } from "../../src/security/redact-request.js";
import { SecurityGate } from "../../src/security/security-gate.js";
import { formatTokenFile, generateToken, tokenEntry } from "../../src/security/token-file.js";
import { TokenStore } from "../../src/security/token-store.js";

const logger = createLogger({ level: "silent" });
const dir = mkdtempSync(join(tmpdir(), `sanpath-audit-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("redactRequest", () => {
  it("removes CHAP secrets and tokens at any depth, keeps the rest", () => {
    const redacted = redactRequest({
      name: "db",
      sizeGib: 10,
      chap: { user: "u1", secret: "very-secret-1" },
      nested: { list: [{ password: "pw" }, { pageToken: "abc" }] },
      clearChap: false,
      createTime: new Date("2026-01-02T03:04:05Z"),
    });
    expect(redacted).toEqual({
      name: "db",
      sizeGib: 10,
      chap: { user: "u1", secret: "[redacted]" },
      nested: { list: [{ password: "[redacted]" }, { pageToken: "[redacted]" }] },
      clearChap: false,
      createTime: "2026-01-02T03:04:05.000Z",
    });
    expect(JSON.stringify(redacted)).not.toContain("very-secret-1");
  });

  it("cuts a hostile 1 MB string and a long list to a short line", () => {
    const redacted = redactRequest({
      name: "x".repeat(1_000_000),
      ips: Array.from({ length: 1000 }, String),
    });
    const line = JSON.stringify(redacted);
    expect(line.length).toBeLessThan(2000);
    expect(line).toContain("[1000000 characters]");
    expect(line).toContain("[936 more items]");
  });
});

describe("SecurityGate", () => {
  const admin = generateToken();
  const viewer = generateToken();
  const tokenFile = join(dir, "tokens.json");
  writeFileSync(
    tokenFile,
    formatTokenFile([tokenEntry("root-op", "admin", admin), tokenEntry("watcher", "viewer", viewer)]),
  );

  const attempt = (method: string, token: string | undefined, request: unknown): CallAttempt => {
    const metadata = new Metadata();
    if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
    return { method, metadata, peer: "ipv4:127.0.0.1:5000", certificate: undefined, request };
  };

  it("writes one line per write call with the caller, the redacted request and the result; reads leave none unless refused", async () => {
    const auditFile = join(dir, "audit.log");
    const audit = await openFileAuditLog(auditFile, logger);
    const gate = new SecurityGate(new Authorizer(await TokenStore.open(tokenFile, logger)), audit);

    const add = gate.open(
      attempt("/sanpath.v1.DiskService/AddDisk", admin, {
        name: "db",
        chap: { user: "u", secret: "chap-secret-99" },
      }),
    );
    expect(add.refusal).toBeUndefined();
    expect(add.caller).toEqual({ name: "root-op", role: "admin", credential: "token" });
    add.end({ code: Status.OK, details: "" });
    add.end({ code: Status.OK, details: "" });

    const list = gate.open(attempt("/sanpath.v1.DiskService/ListDisks", viewer, {}));
    expect(list.refusal).toBeUndefined();
    list.end({ code: Status.OK, details: "" });

    const denied = gate.open(attempt("/sanpath.v1.DiskService/DeleteDisk", viewer, { disk: "00001" }));
    expect(denied.refusal?.message).toContain("watcher (role viewer) may not call DiskService/DeleteDisk");
    expect(denied.caller).toBeUndefined();
    denied.end({ code: Status.PERMISSION_DENIED, details: denied.refusal?.message ?? "" });

    const anonymousRead = gate.open(attempt("/sanpath.v1.DiskService/GetDisk", undefined, { disk: "00001" }));
    expect(anonymousRead.refusal?.message).toContain("no credentials");
    anonymousRead.end({ code: Status.UNAUTHENTICATED, details: anonymousRead.refusal?.message ?? "" });

    await audit.close();
    expect(statSync(auditFile).mode & 0o777).toBe(0o600);
    const text = await readFile(auditFile, "utf8");
    expect(text).not.toContain("chap-secret-99");
    expect(text).not.toContain(admin);
    const records = text
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as AuditRecord);
    expect(records.map((record) => [record.method, record.code, record.caller?.name ?? null])).toEqual([
      ["/sanpath.v1.DiskService/AddDisk", "OK", "root-op"],
      ["/sanpath.v1.DiskService/DeleteDisk", "PERMISSION_DENIED", "watcher"],
      ["/sanpath.v1.DiskService/GetDisk", "UNAUTHENTICATED", null],
    ]);
    expect(records[0]?.request).toEqual({ name: "db", chap: { user: "u", secret: "[redacted]" } });
    expect(records[0]?.peer).toBe("ipv4:127.0.0.1:5000");
    expect(Number.isNaN(Date.parse(records[0]?.time ?? ""))).toBe(false);
    expect(records[1]?.message).toContain("may not call");
  });

  it("with auth off, lets every call in as anonymous and still audits writes", () => {
    const records: AuditRecord[] = [];
    const gate = new SecurityGate(undefined, {
      write: (record) => records.push(record),
      close: async () => {},
    });
    const pass = gate.open(attempt("/sanpath.v1.NodeService/AcquirePath", undefined, { diskId: "00001" }));
    expect(pass.refusal).toBeUndefined();
    expect(pass.caller).toEqual({ name: "anonymous", role: "admin", credential: "none" });
    pass.end({ code: Status.FAILED_PRECONDITION, details: "held elsewhere" });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ code: "FAILED_PRECONDITION", message: "held elsewhere" });
  });

  it("refuses to start with an audit file it cannot open", async () => {
    await expect(openFileAuditLog(join(dir, "no-such-dir", "audit.log"), logger)).rejects.toThrow(
      /audit.file .* cannot be opened for appending \(ENOENT\)/,
    );
  });
});
