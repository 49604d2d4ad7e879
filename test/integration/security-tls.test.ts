/**
 * Mutual TLS from a cluster CA made with `sanpath cert`: a real sanpathd with tls.* set (client
 * certificates required), tokens and an audit file. Every RPC refuses a client certificate of
 * another CA at the handshake; a certificate's OU is its role (OU=node: a cluster member).
 */
import { RenewLeaseRequest } from "../../src/gen/sanpath/v1/node.js";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { credentials, type ChannelCredentials, type Client } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthClient } from "../../src/cli/health-client.js";
import type { AuditRecord } from "../../src/security/audit-log.js";
import { accessOf } from "../../src/security/method-access.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { runSanpathCli, startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";
import { contractMethods, GATE_REFUSALS, rawCall, rawClient, writeRoleTokens } from "./security-support.js";

describe("sanpathd with mutual TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), `sanpath-security-tls-${process.pid}-`));
  const pki = join(dir, "pki");
  const otherPki = join(dir, "other-pki");
  const { tokenFile, tokens } = writeRoleTokens(dir);
  const auditFile = join(dir, "audit.log");
  const methods = contractMethods();
  let consul: ConsulHarness;
  let daemon: SanpathdProcess;
  const clients: Client[] = [];

  async function tlsCredentials(caDir: string, name?: string): Promise<ChannelCredentials> {
    const ca = await readFile(join(caDir === otherPki ? pki : caDir, "ca.crt"));
    if (name === undefined) return credentials.createSsl(ca);
    return credentials.createSsl(
      ca,
      await readFile(join(caDir, `${name}.key`)),
      await readFile(join(caDir, `${name}.crt`)),
    );
  }
  function open(channel: ChannelCredentials): Client {
    const client = rawClient(daemon.address, channel);
    clients.push(client);
    return client;
  }
  async function cli(args: string[]): Promise<void> {
    const result = await runSanpathCli(args);
    if (result.code !== 0) throw new Error(`sanpath ${args.join(" ")}: ${result.stderr}`);
  }
  const auditRecords = (): AuditRecord[] =>
    readFileSync(auditFile, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as AuditRecord);

  beforeAll(async () => {
    await cli(["cert", "ca", "--dir", pki]);
    await cli(["cert", "node", "tls-node", "--dir", pki, "--ip", "127.0.0.1", "--dns", "localhost"]);
    await cli(["cert", "node", "peer-node", "--dir", pki, "--ip", "127.0.0.1"]);
    await cli(["cert", "client", "vera", "--role", "viewer", "--dir", pki]);
    await cli(["cert", "client", "ada", "--role", "admin", "--dir", pki]);
    await cli(["cert", "ca", "--dir", otherPki]);
    await cli(["cert", "client", "mallory", "--role", "admin", "--dir", otherPki]);
    await cli(["cert", "node", "rogue-node", "--dir", otherPki, "--ip", "127.0.0.1"]);

    consul = await startConsulHarness("security-tls");
    daemon = await startSanpathd({
      name: "security-tls",
      consulAddress: consul.agent.httpAddress,
      config: { consul: { root: `SecurityTls-${process.pid}` } },
      env: {
        SANPATH_AUTH_MODE: "required",
        SANPATH_AUTH_TOKEN_FILE: tokenFile,
        SANPATH_AUDIT_FILE: auditFile,
        SANPATH_TLS_CA: join(pki, "ca.crt"),
        SANPATH_TLS_CERT: join(pki, "tls-node.crt"),
        SANPATH_TLS_KEY: join(pki, "tls-node.key"),
      },
      // The harness's health probe is plaintext; readiness is checked over TLS below.
      waitFor: "listening",
    });
    const health = new HealthClient(daemon.address, open(await tlsCredentials(pki, "vera")));
    const deadline = Date.now() + 20_000;
    let status = "down";
    while (status !== "SERVING" && Date.now() < deadline) {
      status = await health.check("", new Date(Date.now() + 2000)).catch(() => "down");
      if (status !== "SERVING") await sleep(100);
    }
    if (status !== "SERVING") throw new Error(`sanpathd over TLS is not SERVING: ${daemon.stderr()}`);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await daemon.stop();
    await consul.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("logs mutual TLS as on", () => {
    expect(daemon.logLines().find((line) => line.msg === "authentication on")).toMatchObject({
      tls: "mutual",
    });
  });

  it("refuses every RPC to a client certificate of another CA at the handshake, even with an admin token", async () => {
    const before = auditRecords().length;
    for (const channel of [
      await tlsCredentials(otherPki, "mallory"),
      await tlsCredentials(otherPki, "rogue-node"),
    ]) {
      const foreign = open(channel);
      for (const method of methods) {
        const outcome = await rawCall(foreign, method, undefined, tokens.admin, 3000);
        expect([method.path, outcome.code]).toEqual([method.path, "UNAVAILABLE"]);
        expect(outcome.responses).toEqual([]);
      }
    }
    // Nothing got as far as the gate.
    expect(auditRecords().length).toBe(before);
  });

  it("refuses a client without a certificate and a plaintext client", async () => {
    const anonymousTls = open(await tlsCredentials(pki));
    const plaintext = open(credentials.createInsecure());
    for (const method of methods.filter(
      (candidate) => candidate.path.endsWith("/ListDisks") || candidate.streaming,
    )) {
      expect((await rawCall(anonymousTls, method, undefined, tokens.admin, 3000)).code).toBe("UNAVAILABLE");
      expect((await rawCall(plaintext, method, undefined, tokens.admin, 3000)).code).toBe("UNAVAILABLE");
    }
  });

  it("takes a certificate's OU as the role: a viewer certificate reads and is refused everything else", async () => {
    const viewer = open(await tlsCredentials(pki, "vera"));
    for (const method of methods) {
      const outcome = await rawCall(viewer, method);
      if (accessOf(method.path)?.allowed.includes("viewer") === true) {
        expect(GATE_REFUSALS, `${method.path}: ${outcome.details}`).not.toContain(outcome.code);
      } else {
        expect([method.path, outcome.code]).toEqual([method.path, "PERMISSION_DENIED"]);
        expect(outcome.details).toContain("vera (role viewer) may not call");
      }
    }
  });

  it("takes a node certificate (OU=node) as a cluster member: NodeService yes, operator calls no", async () => {
    const peer = open(await tlsCredentials(pki, "peer-node"));
    for (const method of methods) {
      const outcome = await rawCall(peer, method);
      if (method.path.startsWith("/sanpath.v1.NodeService/")) {
        expect(GATE_REFUSALS, `${method.path}: ${outcome.details}`).not.toContain(outcome.code);
      } else {
        expect([method.path, outcome.code]).toEqual([method.path, "PERMISSION_DENIED"]);
      }
    }
    // The audit stream writes in the background: poll for the line.
    await expect
      .poll(
        () =>
          auditRecords()
            .filter((record) => record.method.endsWith("/AcquirePath"))
            .at(-1)?.caller,
      )
      .toEqual({ name: "peer-node", role: "node", credential: "certificate" });
  });

  it("a node certificate renews only its own peer lease: another node's name is refused", async () => {
    const peer = open(await tlsCredentials(pki, "peer-node"));
    const renew = methods.find((method) => method.path === "/sanpath.v1.NodeService/RenewLease");
    if (renew === undefined) throw new Error("no RenewLease in the contract");
    const body = (node: string): Buffer =>
      Buffer.from(RenewLeaseRequest.encode({ node, holdMs: 0 }).finish());
    const forged = await rawCall(peer, renew, body("node-victim"));
    expect([forged.code, forged.details]).toEqual([
      "PERMISSION_DENIED",
      "node peer-node may renew only its own lease, not node-victim's",
    ]);
    const own = await rawCall(peer, renew, body("peer-node"));
    expect(own.code).toBe("OK");
  });

  it("NodeService answers node certificates only: an admin certificate and a role-node token are refused", async () => {
    const admin = open(await tlsCredentials(pki, "ada"));
    const nodeMethods = methods.filter((method) => method.path.startsWith("/sanpath.v1.NodeService/"));
    expect(nodeMethods.length).toBe(6);
    for (const method of nodeMethods) {
      // Status is read-only: operators may read it (node.proto); the writes are the members' alone.
      const byCertificate = await rawCall(admin, method);
      if (method.path.endsWith("/Status")) expect(GATE_REFUSALS).not.toContain(byCertificate.code);
      else {
        expect([method.path, byCertificate.code]).toEqual([method.path, "PERMISSION_DENIED"]);
        expect(byCertificate.details).toContain("ada (role admin) may not call");
      }
      const byNodeToken = await rawCall(admin, method, undefined, tokens.node);
      expect([method.path, byNodeToken.code]).toEqual([method.path, "UNAUTHENTICATED"]);
      expect(byNodeToken.details).toContain("takes only from a node certificate");
    }
  });

  it("the CLI talks mutual TLS with --ca/--cert/--key or $SANPATH_CA/$SANPATH_CERT/$SANPATH_KEY", async () => {
    const server = ["--server", daemon.address];
    const files = [
      "--ca",
      join(pki, "ca.crt"),
      "--cert",
      join(pki, "ada.crt"),
      "--key",
      join(pki, "ada.key"),
    ];
    const flags = await runSanpathCli([...server, ...files, "disk", "list"]);
    expect(flags.stderr).toBe("");
    expect(flags.code).toBe(0);
    const env = await runSanpathCli([...server, "cluster", "info"], {
      SANPATH_CA: join(pki, "ca.crt"),
      SANPATH_CERT: join(pki, "vera.crt"),
      SANPATH_KEY: join(pki, "vera.key"),
    });
    expect(env.code).toBe(0);
    const wrongCa = await runSanpathCli([
      ...server,
      "--ca",
      join(otherPki, "ca.crt"),
      "--cert",
      join(pki, "ada.crt"),
      "--key",
      join(pki, "ada.key"),
      "disk",
      "list",
    ]);
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stderr).toContain("UNAVAILABLE");
    const halfPair = await runSanpathCli([
      ...server,
      "--ca",
      join(pki, "ca.crt"),
      "--cert",
      join(pki, "ada.crt"),
      "disk",
      "list",
    ]);
    expect(halfPair.code).toBe(2);
    expect(halfPair.stderr).toContain("--cert and --key go together");
  });

  it("a token sent over mutual TLS names the caller instead of the certificate", async () => {
    const viewer = open(await tlsCredentials(pki, "vera"));
    const cordon = methods.find((method) => method.path.endsWith("/CordonNode"));
    if (cordon === undefined) throw new Error("no CordonNode");
    expect((await rawCall(viewer, cordon)).code).toBe("PERMISSION_DENIED");
    expect(GATE_REFUSALS).not.toContain(
      (await rawCall(viewer, cordon, undefined, tokens["path-admin"])).code,
    );
    await expect
      .poll(() =>
        auditRecords()
          .filter((record) => record.method.endsWith("/CordonNode"))
          .map((r) => r.caller?.name)
          .slice(-2),
      )
      .toEqual(["vera", "test-path-admin"]);
  });

  describe("with tls.requireClientCert false (server TLS, tokens)", () => {
    let serverOnly: SanpathdProcess;

    beforeAll(async () => {
      serverOnly = await startSanpathd({
        name: "security-tls-server-only",
        consulAddress: consul.agent.httpAddress,
        config: { consul: { root: `SecurityTlsServerOnly-${process.pid}` } },
        env: {
          SANPATH_AUTH_MODE: "required",
          SANPATH_AUTH_TOKEN_FILE: tokenFile,
          SANPATH_TLS_CA: join(pki, "ca.crt"),
          SANPATH_TLS_CERT: join(pki, "tls-node.crt"),
          SANPATH_TLS_KEY: join(pki, "tls-node.key"),
          SANPATH_TLS_REQUIRE_CLIENT_CERT: "false",
        },
        waitFor: "listening",
      });
    });

    afterAll(async () => {
      await serverOnly.stop();
    });

    it("takes a client with the CA only and a token; without a token the gate refuses, plaintext is refused", async () => {
      const server = ["--server", serverOnly.address, "--ca", join(pki, "ca.crt")];
      await expect
        .poll(async () => (await runSanpathCli([...server, "health"])).code, { timeout: 20_000 })
        .toBe(0);
      const withToken = await runSanpathCli([...server, "disk", "list"], { SANPATH_TOKEN: tokens.viewer });
      expect(withToken.code).toBe(0);
      const without = await runSanpathCli([...server, "disk", "list"]);
      expect(without.code).toBe(1);
      expect(without.stderr).toContain("UNAUTHENTICATED");
      const plaintext = await runSanpathCli(["--server", serverOnly.address, "disk", "list"], {
        SANPATH_TOKEN: tokens.viewer,
      });
      expect(plaintext.code).toBe(1);
      expect(plaintext.stderr).toContain("UNAVAILABLE");
      expect(serverOnly.logLines().find((line) => line.msg === "authentication on")).toMatchObject({
        tls: "server only",
      });
    });
  });
});
