/**
 * sanpathd's second listener, the admin unix socket (config adminSocket): how the test process
 * reaches daemons in other network namespaces, and a local door for operators' tools.
 */
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "@grpc/grpc-js";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, defaultSettings, resolveConfig } from "../../src/config/load-config.js";
import { layerFromObject } from "../../src/config/config-layers.js";
import { HealthClient } from "../../src/cli/health-client.js";
import { bindUnixSocket, createGrpcServer } from "../../src/server/grpc-server.js";

function configWith(adminSocket: unknown) {
  return resolveConfig([
    layerFromObject(defaultSettings(), { kind: "default" }),
    layerFromObject({ adminSocket, "imageStore.kind": "file" }, { kind: "default" }),
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
});
