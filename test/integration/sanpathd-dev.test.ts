import { existsSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/util/free-port.js";
import { isAlive, runSanpathCli, startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";

describe("sanpathd --dev", () => {
  let daemon: SanpathdProcess | undefined;
  afterAll(async () => {
    await daemon?.stop();
  });

  it("comes up SERVING with no other set-up, and takes its Consul agent and data along when stopped", async () => {
    const port = await freePort();
    daemon = await startSanpathd({ name: "dev", dev: true, listen: `127.0.0.1:${port}` });
    expect(daemon.address).toBe(`127.0.0.1:${port}`);

    const banner = daemon.stderr();
    expect(banner).toContain(`sanpathd --dev is listening on 127.0.0.1:${port}`);
    expect(banner).toContain(`sanpath --server 127.0.0.1:${port} health`);

    const consulPid = daemon.consulPid();
    expect(consulPid).toBeDefined();
    expect(isAlive(consulPid ?? -1)).toBe(true);
    const started = daemon.logLines().find((line) => line.msg === "consul dev agent started") as
      { consulAddress: string; dataDir: string } | undefined;
    expect(started?.dataDir).toBeDefined();
    expect(existsSync(started?.dataDir ?? "/nonexistent")).toBe(true);
    const config = daemon.logLines().find((line) => line.msg === "sanpathd starting") as
      { config: { consul: { address: string }; imageStore: { kind: string }; dataDir: string } } | undefined;
    expect(config?.config.consul.address).toBe(started?.consulAddress);
    expect(config?.config.imageStore.kind).toBe("file");
    expect(config?.config.dataDir).toBe(started?.dataDir);

    const health = await runSanpathCli(["--server", daemon.address, "health"]);
    expect(health.code).toBe(0);

    const stopped = await daemon.stop({ keepDir: true });
    expect(stopped).toMatchObject({ code: 0, killed: false, orphanKilled: false });
    expect(isAlive(consulPid ?? -1)).toBe(false);
    expect(existsSync(started?.dataDir ?? "/nonexistent")).toBe(false);
    expect(
      daemon.logLines().some((line) => line.msg === "consul dev agent stopped, temporary data removed"),
    ).toBe(true);
    await daemon.stop();
    daemon = undefined;
  });
});
