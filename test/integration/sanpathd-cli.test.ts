import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/util/free-port.js";
import { runSanpathCli, startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";

describe("sanpath CLI against a sanpathd whose Consul is unreachable", () => {
  let daemon: SanpathdProcess | undefined;
  const running = (): SanpathdProcess => {
    if (daemon === undefined) throw new Error("set-up failed");
    return daemon;
  };

  beforeAll(async () => {
    // Nothing listens on port 1: health stays NOT_SERVING.
    daemon = await startSanpathd({ name: "cli", consulAddress: "127.0.0.1:1", waitFor: "listening" });
  });

  afterAll(async () => {
    await daemon?.stop();
  });

  it("health prints NOT_SERVING and exits 1", async () => {
    const result = await runSanpathCli(["--server", running().address, "health"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^\(server\)\s+NOT_SERVING$/m);
    expect(result.stdout).toMatch(/^sanpath\.v1\.DiskService\s+NOT_SERVING$/m);
  });

  it("health of a service the server does not know says SERVICE_UNKNOWN and exits 1", async () => {
    const result = await runSanpathCli([
      "--server",
      running().address,
      "-o",
      "json",
      "health",
      "sanpath.v1.NoSuch",
    ]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({
      server: running().address,
      services: [{ service: "sanpath.v1.NoSuch", status: "SERVICE_UNKNOWN" }],
    });
  });
});

describe("sanpath CLI mistakes and unreachable servers", () => {
  it("an unreachable server is UNAVAILABLE with a hint, exit 1", async () => {
    const port = await freePort();
    const result = await runSanpathCli([
      "--server",
      `127.0.0.1:${port}`,
      "--timeout",
      "3s",
      "cluster",
      "info",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: UNAVAILABLE: /m);
    expect(result.stderr).toContain(
      `hint:   is sanpathd running at 127.0.0.1:${port}? (set --server or $SANPATH_SERVER)`,
    );
  });

  it("bad global options and unknown commands are usage errors, exit 2", async () => {
    const timeout = await runSanpathCli(["--timeout", "soon", "health"]);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain(
      'error: USAGE: --timeout must be a duration like 500ms, 10s, 2m or 1h (got "soon")',
    );

    const server = await runSanpathCli(["health"], { SANPATH_SERVER: "no-port" });
    expect(server.code).toBe(2);
    expect(server.stderr).toContain("--server must be host:port with a port from 1 to 65535");
    expect(server.stderr).toContain('(got "no-port")');

    const output = await runSanpathCli(["--output", "yaml", "health"]);
    expect(output.code).toBe(2);
    expect(output.stderr).toContain("argument 'yaml' is invalid");

    const command = await runSanpathCli(["disks", "list"]);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain("unknown command 'disks'");
  });

  it("--help shows the global options, the commands and examples", async () => {
    const help = await runSanpathCli(["--help"]);
    expect(help.code).toBe(0);
    for (const text of [
      "--server <host:port>",
      "SANPATH_SERVER",
      "--output <format>",
      "--timeout <duration>",
      "health",
      "cluster",
    ]) {
      expect(help.stdout).toContain(text);
    }
    expect(help.stdout).toContain("$ sanpath cluster info");
    const info = await runSanpathCli(["cluster", "info", "--help"]);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain("$ sanpath --server 192.0.2.11:7410 cluster info --output json");
  });
});
