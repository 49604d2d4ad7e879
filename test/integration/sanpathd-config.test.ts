import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CONFIG_FIELDS } from "../../src/config/fields.js";
import { runSanpathd } from "../harness/sanpathd.js";

describe("sanpathd configuration at start", () => {
  const dir = mkdtempSync(join(tmpdir(), `sanpathd-config-${process.pid}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses a fence deadline not below the lock-delay (consul mode), naming the field and the rule, exit 2", async () => {
    const result = await runSanpathd(["--listen", "127.0.0.1:0"], {
      SANPATH_LIVENESS_MODE: "consul",
      SANPATH_SESSION_LOCK_DELAY_SECONDS: "15",
      SANPATH_SESSION_FENCE_DEADLINE_MS: "20000",
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "config: session.fenceDeadlineMs must be less than session.lockDelaySeconds×1000 with liveness.mode consul (a node must have fenced before another may lock its paths) (got 20000 ≥ 15000)",
    );
    expect(result.stdout).toBe("");
  });

  it("refuses peer-lease settings that break the lease argument, naming each field and rule, exit 2", async () => {
    const result = await runSanpathd(["--listen", "127.0.0.1:0"], {
      SANPATH_LEASE_MS: "800",
      SANPATH_LEASE_HEARTBEAT_MS: "250",
      SANPATH_LEASE_TEARDOWN_BUDGET_MS: "500",
      SANPATH_SESSION_LOCK_DELAY_SECONDS: "5",
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "config: lease.leaseMs must be at least 4 × lease.heartbeatMs (a lease must survive a lost renew or two) (got 800 < 1000)",
    );
    expect(result.stderr).toContain(
      "config: lease.teardownBudgetMs must be at most lease.leaseMs / 2 (the tear-down must start while renews can still succeed) (got 500 > 400)",
    );
    expect(result.stderr).toContain(
      "config: session.lockDelaySeconds must be 0 with liveness.mode peer-lease",
    );
    expect(result.stdout).toBe("");
  });

  it("refuses bad values in the config file, every one on its own line", async () => {
    const file = join(dir, "bad.json");
    writeFileSync(
      file,
      JSON.stringify({ reassignment: { parallelism: 0 }, logLevel: "loud", listen: "nowhere" }),
    );
    const result = await runSanpathd(["--config", file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`config: listen must be host:port`);
    expect(result.stderr).toContain(
      `config: logLevel must be one of fatal, error, warn, info, debug, trace, silent (got "loud" from ${file})`,
    );
    expect(result.stderr).toContain(
      `config: reassignment.parallelism must be an integer from 1 to 64 (got 0 from ${file})`,
    );
  });

  it("refuses an unknown setting in the file and a bad flag value", async () => {
    const file = join(dir, "typo.json");
    writeFileSync(file, JSON.stringify({ sesion: { ttlSeconds: 20 } }));
    const typo = await runSanpathd(["--config", file]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(`config: sesion is not a known setting (got in ${file})`);

    const flag = await runSanpathd(["--image-store", "nfs"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain(
      'config: imageStore.kind must be one of file, rbd (got "nfs" from --image-store)',
    );
  });

  it("takes flags over environment over file, and prints the token redacted", async () => {
    const file = join(dir, "layers.json");
    writeFileSync(
      file,
      JSON.stringify({
        listen: "127.0.0.1:1001",
        nodeName: "from-file",
        logLevel: "warn",
        consul: { token: "file-secret-token", root: "FileRoot" },
        session: { ttlSeconds: 30 },
      }),
    );
    const result = await runSanpathd(["--config", file, "--listen", "127.0.0.1:1003", "--print-config"], {
      SANPATH_LISTEN: "127.0.0.1:1002",
      SANPATH_NODE_NAME: "from-env",
    });
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as Record<string, unknown> & {
      consul: Record<string, unknown>;
      session: Record<string, unknown>;
    };
    expect(printed.listen).toBe("127.0.0.1:1003");
    expect(printed.nodeName).toBe("from-env");
    expect(printed.logLevel).toBe("warn");
    expect(printed.session.ttlSeconds).toBe(30);
    expect(printed.consul).toEqual({ address: "127.0.0.1:8500", root: "FileRoot", token: "[redacted]" });
    expect(result.stdout + result.stderr).not.toContain("file-secret-token");
  });

  it("refuses to start without TLS material unless plaintext is asked for, naming the field and the rule", async () => {
    // An empty SANPATH_TLS_PLAINTEXT counts as unset (and stops the harness from asking for plaintext).
    const refused = await runSanpathd(["--listen", "127.0.0.1:0"], { SANPATH_TLS_PLAINTEXT: "" });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      "config: tls.plaintext must be true when tls.ca, tls.cert and tls.key are unset: plaintext must be asked for " +
        "(tls.plaintext true, SANPATH_TLS_PLAINTEXT=true or --tls-plaintext)",
    );
    expect(refused.stdout).toBe("");

    const file = join(dir, "plaintext.json");
    writeFileSync(file, JSON.stringify({ tls: { plaintext: true } }));
    for (const [args, env] of [
      [["--tls-plaintext"], { SANPATH_TLS_PLAINTEXT: "" }],
      [["--tls-plaintext", "true"], { SANPATH_TLS_PLAINTEXT: "" }],
      [[], { SANPATH_TLS_PLAINTEXT: "true" }],
      [["--config", file], { SANPATH_TLS_PLAINTEXT: "" }],
      [["--dev"], { SANPATH_TLS_PLAINTEXT: "" }],
    ] as const) {
      const asked = await runSanpathd([...args, "--print-config"], env);
      expect([args, asked.code, asked.stderr]).toEqual([args, 0, ""]);
    }
    const no = await runSanpathd(["--tls-plaintext", "false", "--print-config"], {
      SANPATH_TLS_PLAINTEXT: "",
    });
    expect(no.code).toBe(2);
    expect(no.stderr).toContain("config: tls.plaintext must be true");
  });

  it("refuses tls.plaintext together with TLS material, but --dev gives way to TLS material", async () => {
    const material = ["--tls-ca", "/pki/ca.crt", "--tls-cert", "/pki/n.crt", "--tls-key", "/pki/n.key"];
    const both = await runSanpathd(["--tls-plaintext", ...material, "--print-config"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain(
      'config: tls.plaintext must not be true when tls.ca, tls.cert or tls.key is set (TLS or plaintext, not both) (got "true" from --tls-plaintext)',
    );
    const dev = await runSanpathd(["--dev", ...material, "--print-config"]);
    expect(dev.code).toBe(0);
    expect((JSON.parse(dev.stdout) as { tls?: { ca: string } }).tls?.ca).toBe("/pki/ca.crt");
  });

  it("--help names every setting's environment variable and exits 0", async () => {
    const result = await runSanpathd(["--help"]);
    expect(result.code).toBe(0);
    for (const field of CONFIG_FIELDS) {
      expect(result.stdout).toContain(field.env);
      expect(result.stdout).toContain(field.path);
    }
    expect(result.stdout).toContain("sanpathd --dev --listen 127.0.0.1:7410");
    expect(result.stdout.replace(/\s+/g, " ")).toContain("Implies tls.plaintext true (no TLS)");
    expect(result.stdout).toContain("--tls-plaintext [true|false]");
  });

  it("an unknown flag is a usage error, exit 2", async () => {
    const result = await runSanpathd(["--no-such-flag"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '--no-such-flag'");
  });

  describe("when the port is taken", () => {
    let blocker: Server | undefined;
    afterAll(() => blocker?.close());

    it("fails to start with exit 1 and says why", async () => {
      blocker = createServer();
      const port = await new Promise<number>((resolve) => {
        blocker?.listen(0, "127.0.0.1", () => {
          const address = blocker?.address();
          resolve(typeof address === "object" && address !== null ? address.port : 0);
        });
      });
      const result = await runSanpathd(["--listen", `127.0.0.1:${port}`, "--consul-address", "127.0.0.1:1"], {
        SANPATH_DATA_DIR: dir,
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/sanpathd: could not start: .*(EADDRINUSE|address already in use)/i);
      const fatal = result.stdout
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as { level: string; msg: string })
        .find((line) => line.level === "fatal");
      expect(fatal?.msg).toBe("sanpathd could not start");
    });
  });
});
