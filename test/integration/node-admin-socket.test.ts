/**
 * sanpathd's second listener, the admin unix socket (config adminSocket): how the test process
 * reaches daemons in other network namespaces, and a local door for operators' tools.
 */
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, credentials, ServerCredentials, type Server } from "@grpc/grpc-js";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, defaultSettings, resolveConfig } from "../../src/config/load-config.js";
import { layerFromObject } from "../../src/config/config-layers.js";
import { HealthClient } from "../../src/cli/health-client.js";
import { ExecaCommandRunner } from "../../src/exec/execa-runner.js";
import { issueClusterCa, issueNodeCertificate } from "../../src/security/cluster-certificates.js";
import { bindUnixSocket, createGrpcServer } from "../../src/server/grpc-server.js";

function configWith(adminSocket: unknown) {
  return resolveConfig([
    layerFromObject(defaultSettings(), { kind: "default" }),
    layerFromObject({ adminSocket, "imageStore.kind": "file", "tls.plaintext": true }, { kind: "default" }),
  ]);
}

describe("admin socket", () => {
  let dir = "";
  const servers: Server[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-admin-socket-"));
  });

  afterAll(() => {
    for (const server of servers) server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it("config: an absolute path of at most 107 bytes, unset by default", () => {
    expect(configWith(undefined).adminSocket).toBeUndefined();
    expect(configWith("/run/sanpath/admin.sock").adminSocket).toBe("/run/sanpath/admin.sock");
    expect(() => configWith("admin.sock")).toThrow(ConfigError);
    expect(() => configWith("admin.sock")).toThrow("config: adminSocket must be an absolute path");
    expect(() => configWith(`/${"x".repeat(107)}`)).toThrow("at most 107 bytes");
  });

  it("serves gRPC on the socket, replacing a socket file a killed process left", async () => {
    const path = join(dir, "stale.sock");
    // What kill -9 leaves: a socket file nobody listens on.
    const holder = execa(
      process.execPath,
      ["-e", `require("node:net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`],
      { timeout: 10_000, reject: false },
    );
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
    holder.kill("SIGKILL");
    await holder;
    expect(lstatSync(path).isSocket()).toBe(true);

    const server = createGrpcServer();
    servers.push(server);
    await bindUnixSocket(server, path);
    const health = new HealthClient(`unix://${path}`);
    try {
      await expect(health.check("", new Date(Date.now() + 3000))).rejects.toMatchObject({ code: 12 });
    } finally {
      health.close();
    }
  });

  it("refuses a socket another server listens on, and a file that is not a socket", async () => {
    const live = join(dir, "live.sock");
    const first = createGrpcServer();
    servers.push(first);
    await bindUnixSocket(first, live);
    await expect(bindUnixSocket(createGrpcServer(), live)).rejects.toThrow("another server listens there");

    const plain = join(dir, "plain.sock");
    writeFileSync(plain, "not a socket");
    await expect(bindUnixSocket(createGrpcServer(), plain)).rejects.toThrow("not a socket");
  });

  it("is 0600 and carries the daemon's TLS: a client of the cluster CA names it localhost; plaintext is refused", async () => {
    const pki = join(dir, "pki");
    const runner = new ExecaCommandRunner();
    await issueClusterCa(runner, { dir: pki, days: 1 });
    // The name a unix: target is reached by is "localhost" (grpc-js's default authority).
    const node = await issueNodeCertificate(runner, {
      dir: pki,
      days: 1,
      name: "socket-node",
      ips: [],
      dnsNames: ["localhost"],
    });
    const ca = readFileSync(join(pki, "ca.crt"));
    const [cert, key] = [readFileSync(node.cert), readFileSync(node.key)];
    const path = join(dir, "tls.sock");
    const server = createGrpcServer();
    servers.push(server);
    await bindUnixSocket(
      server,
      path,
      ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], true),
    );
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const check = async (channel: ReturnType<typeof credentials.createInsecure>): Promise<unknown> => {
      const target = `unix://${path}`;
      const health = new HealthClient(target, new Client(target, channel));
      try {
        return await health.check("", new Date(Date.now() + 3000)).catch((error: unknown) => error);
      } finally {
        health.close();
      }
    };
    // UNIMPLEMENTED (12): the call went through the TLS handshake to a server without services.
    expect(await check(credentials.createSsl(ca, key, cert))).toMatchObject({ code: 12 });
    expect(await check(credentials.createInsecure())).toMatchObject({ code: 14 });
    expect(await check(credentials.createSsl(ca))).toMatchObject({ code: 14 });
  });
});
