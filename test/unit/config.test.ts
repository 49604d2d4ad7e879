import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { layerFromEnv, layerFromFileText, layerFromObject } from "../../src/config/config-layers.js";
import { leaseAdvertiseAddress, leaseListenOf } from "../../src/config/lease-listen.js";
import { ConfigError, defaultSettings, loadConfig, resolveConfig } from "../../src/config/load-config.js";
import { redactConfig } from "../../src/config/redact-config.js";
import { parseHostPort } from "../../src/config/host-port.js";
import { thrownAs } from "../support/thrown.js";

// Plaintext asked for (as --dev does); the TLS rules are in test/unit/security-config.test.ts.
const defaults = layerFromObject({ ...defaultSettings(), "tls.plaintext": true }, { kind: "default" });
const PLAINTEXT_ENV = { SANPATH_TLS_PLAINTEXT: "true" };

/** The config from defaults + env strings, or the ConfigError message. */
function fromEnv(env: Record<string, string>): ReturnType<typeof resolveConfig> {
  return resolveConfig([defaults, layerFromEnv(env)]);
}

describe("config defaults", () => {
  it("are valid and match the documented values", () => {
    const config = resolveConfig([defaults]);
    expect(config.listen).toBe("0.0.0.0:7410");
    expect(config.consul).toEqual({ address: "127.0.0.1:8500", root: "PetaSAN", token: undefined });
    expect(config.liveness).toEqual({ mode: "peer-lease" });
    expect(config.lease).toEqual({ heartbeatMs: 250, leaseMs: 1000, teardownBudgetMs: 300 });
    expect(config.session).toEqual({ ttlSeconds: 10, lockDelaySeconds: 0, fenceDeadlineMs: 10_000 });
    expect(config.reassignment.parallelism).toBe(16);
    expect(config.reassignment.callsPerNode).toBe(8);
    expect(config.imageStore.kind).toBe("rbd");
    expect(config.target).toEqual({ driver: "tgt", tgtControlPort: 0 });
    expect(config.dataPath).toEqual({ probeIntervalMs: 500, degradeAfterMs: 3000, recoverAfterMs: 10_000 });
    expect(config.advertiseAddress).toBeUndefined();
    expect(config.interfaces).toEqual({ subnet1: undefined, subnet2: undefined });
    expect(config.metrics).toEqual({ listen: undefined });
    // The web console is off unless asked for.
    expect(config.console).toEqual({ listen: undefined, socket: undefined });
    expect(config.events).toEqual({ maxEvents: 20_000, maxAgeHours: 168 });
  });
});

describe("config precedence", () => {
  const dir = mkdtempSync(join(tmpdir(), `sanpath-config-${process.pid}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is flags > env > file > defaults", async () => {
    const file = join(dir, "precedence.json");
    writeFileSync(
      file,
      JSON.stringify({
        listen: "127.0.0.1:1001",
        logLevel: "warn",
        dataDir: "/srv/file",
        consul: { root: "FromFile" },
      }),
    );
    const config = await loadConfig({
      configFile: file,
      env: { SANPATH_LISTEN: "127.0.0.1:1002", SANPATH_LOG_LEVEL: "debug", ...PLAINTEXT_ENV },
      flags: { listen: "127.0.0.1:1003" },
    });
    expect(config.listen).toBe("127.0.0.1:1003");
    expect(config.logLevel).toBe("debug");
    expect(config.dataDir).toBe("/srv/file");
    expect(config.consul.root).toBe("FromFile");
    expect(config.consul.address).toBe("127.0.0.1:8500");
  });

  it("reads the file named by SANPATH_CONFIG when --config is absent", async () => {
    const file = join(dir, "env-named.json");
    writeFileSync(file, JSON.stringify({ reassignment: { parallelism: 4 } }));
    const config = await loadConfig({ env: { SANPATH_CONFIG: file, ...PLAINTEXT_ENV }, flags: {} });
    expect(config.reassignment.parallelism).toBe(4);
  });

  it("--dev makes loopback and the file image store the defaults, but settings still win", async () => {
    const dev = await loadConfig({ env: {}, flags: {}, dev: true });
    expect(dev.listen).toBe("127.0.0.1:7410");
    expect(dev.imageStore.kind).toBe("file");
    // --dev implies plaintext: no tls.plaintext needed.
    expect(dev.tls).toBeUndefined();
    const overridden = await loadConfig({ env: {}, flags: { listen: "127.0.0.1:0" }, dev: true });
    expect(overridden.listen).toBe("127.0.0.1:0");
  });

  it("refuses a missing config file naming --config", async () => {
    await expect(loadConfig({ configFile: join(dir, "absent.json"), env: {}, flags: {} })).rejects.toThrow(
      /config: --config must name a readable file \(ENOENT\)/,
    );
  });

  it("ignores flags that have no flag form (the token is never a flag)", async () => {
    const config = await loadConfig({ env: PLAINTEXT_ENV, flags: { "consul.token": "from-a-flag" } });
    expect(config.consul.token).toBeUndefined();
  });
});

describe("config file", () => {
  it("rejects invalid JSON, non-objects, unknown fields and non-object sections", () => {
    expect(layerFromFileText("{", "a.json").problems[0]?.rule).toMatch(/^must be valid JSON/);
    expect(layerFromFileText("[1]", "a.json").problems[0]?.rule).toBe("must hold a JSON object");
    const unknown = layerFromFileText(JSON.stringify({ session: { ttl: 5 }, lisen: "x" }), "a.json").problems;
    expect(unknown.map((p) => p.field)).toEqual(["session.ttl", "lisen"]);
    expect(unknown[0]?.rule).toBe("is not a known setting");
    const section = layerFromFileText(JSON.stringify({ consul: "127.0.0.1:8500" }), "a.json").problems;
    expect(section[0]).toMatchObject({ field: "consul", rule: "must be an object" });
  });

  it("wants JSON numbers for integers, not strings", () => {
    const { layer } = layerFromFileText(JSON.stringify({ session: { ttlSeconds: "20" } }), "n.json");
    const error = thrownAs(ConfigError, () => resolveConfig([defaults, layer]));
    expect(error.message).toBe(
      'config: session.ttlSeconds must be an integer from 10 to 86400 (got "20" from n.json)',
    );
  });

  it("treats null as unset", () => {
    const { layer } = layerFromFileText(JSON.stringify({ advertiseAddress: null }), "n.json");
    expect(resolveConfig([defaults, layer]).advertiseAddress).toBeUndefined();
  });
});

describe("the lease worker's listener (lease.listen)", () => {
  it("defaults to listen's host and the next port, any port with listen's port 0; advertised at the advertised host", () => {
    const lease = { heartbeatMs: 250, leaseMs: 1500, teardownBudgetMs: 300 };
    expect(leaseListenOf({ listen: "192.0.2.11:7410", lease })).toBe("192.0.2.11:7411");
    expect(leaseListenOf({ listen: "127.0.0.1:0", lease })).toBe("127.0.0.1:0");
    expect(leaseListenOf({ listen: "192.0.2.11:7410", lease }, { anyPort: true })).toBe("192.0.2.11:0");
    expect(leaseListenOf({ listen: "192.0.2.11:7410", lease: { ...lease, listen: "192.0.2.11:9000" } })).toBe(
      "192.0.2.11:9000",
    );
    expect(leaseListenOf({ listen: "[2001:db8::1]:7410", lease })).toBe("[2001:db8::1]:7411");
    expect(leaseAdvertiseAddress("192.0.2.11:7410", 40123)).toBe("192.0.2.11:40123");
  });
});

describe("config rules", () => {
  const cases: { env: Record<string, string>; message: string }[] = [
    {
      env: { SANPATH_NODE_NAME: "-bad" },
      message: "config: nodeName must be 1..63 of A-Z a-z 0-9 _ . - starting with a letter or digit",
    },
    { env: { SANPATH_LISTEN: "127.0.0.1" }, message: "config: listen must be host:port" },
    { env: { SANPATH_LISTEN: "127.0.0.1:70000" }, message: "config: listen must be host:port" },
    { env: { SANPATH_LISTEN: "bad host:1" }, message: "config: listen must be host:port" },
    { env: { SANPATH_METRICS_LISTEN: "9100" }, message: "config: metrics.listen must be host:port" },
    {
      env: { SANPATH_METRICS_LISTEN: "127.0.0.1:7410" },
      message: "config: metrics.listen must use another port than listen",
    },
    { env: { SANPATH_LEASE_LISTEN: "7411" }, message: "config: lease.listen must be host:port" },
    {
      env: { SANPATH_LEASE_LISTEN: "0.0.0.0:7410" },
      message: "config: lease.listen must use another port than listen",
    },
    { env: { SANPATH_CONSOLE_LISTEN: "9480" }, message: "config: console.listen must be host:port" },
    { env: { SANPATH_EVENTS_MAX_EVENTS: "10" }, message: "config: events.maxEvents must be" },
    { env: { SANPATH_EVENTS_MAX_AGE_HOURS: "0" }, message: "config: events.maxAgeHours must be" },
    {
      env: { SANPATH_CONSOLE_LISTEN: "127.0.0.1:7410" },
      message: "config: console.listen must use another port than listen and metrics.listen",
    },
    {
      env: { SANPATH_CONSOLE_LISTEN: "127.0.0.1:9410", SANPATH_METRICS_LISTEN: "127.0.0.1:9410" },
      message: "config: console.listen must use another port than listen and metrics.listen",
    },
    {
      env: { SANPATH_CONSOLE_SOCKET: "console.sock" },
      message: "config: console.socket must be an absolute path",
    },
    {
      env: { SANPATH_ADVERTISE_ADDRESS: "0.0.0.0:7410" },
      message: "config: advertiseAddress must be an address others",
    },
    { env: { SANPATH_ADVERTISE_ADDRESS: "node1:0" }, message: "config: advertiseAddress must be host:port" },
    { env: { SANPATH_CONSUL_ADDRESS: "127.0.0.1:0" }, message: "config: consul.address must be host:port" },
    {
      env: { SANPATH_CONSUL_ADDRESS: "http://127.0.0.1:8500" },
      message: "config: consul.address must be host:port",
    },
    { env: { SANPATH_CONSUL_ROOT: "/PetaSAN" }, message: "config: consul.root must be a key prefix" },
    { env: { SANPATH_CONSUL_ROOT: "PetaSAN/" }, message: "config: consul.root must be a key prefix" },
    {
      env: { SANPATH_CONSUL_TOKEN: "has space" },
      message: "config: consul.token must be 1..256 visible ASCII",
    },
    {
      env: { SANPATH_LOG_LEVEL: "verbose" },
      message: "config: logLevel must be one of fatal, error, warn, info",
    },
    { env: { SANPATH_DATA_DIR: "relative/dir" }, message: "config: dataDir must be an absolute path" },
    { env: { SANPATH_IMAGE_STORE: "nfs" }, message: "config: imageStore.kind must be one of file, rbd" },
    { env: { SANPATH_CEPH_POOL: "my pool" }, message: "config: imageStore.pool must be a Ceph pool name" },
    {
      env: { SANPATH_CEPH_CONF: "ceph.conf" },
      message: "config: imageStore.cephConf must be an absolute path",
    },
    {
      env: { SANPATH_CEPH_USER: "client admin" },
      message: "config: imageStore.cephUser must be a Ceph client id",
    },
    { env: { SANPATH_TARGET_DRIVER: "scst" }, message: "config: target.driver must be one of tgt, lio" },
    {
      env: { SANPATH_TGT_CONTROL_PORT: "-1" },
      message: "config: target.tgtControlPort must be an integer from 0 to 65535",
    },
    {
      env: { SANPATH_SESSION_TTL_SECONDS: "9" },
      message: "config: session.ttlSeconds must be an integer from 10 to 86400",
    },
    {
      env: { SANPATH_SESSION_TTL_SECONDS: "86401" },
      message:
        'config: session.ttlSeconds must be an integer from 10 to 86400 (got "86401" from SANPATH_SESSION_TTL_SECONDS)',
    },
    {
      env: { SANPATH_SESSION_TTL_SECONDS: "1.5e1" },
      message: "config: session.ttlSeconds must be an integer",
    },
    {
      env: { SANPATH_SESSION_LOCK_DELAY_SECONDS: "61" },
      message: "config: session.lockDelaySeconds must be an integer from 0 to 60",
    },
    {
      env: { SANPATH_SESSION_FENCE_DEADLINE_MS: "999" },
      message: "config: session.fenceDeadlineMs must be an integer from 1000 to 60000",
    },
    {
      env: {
        SANPATH_LIVENESS_MODE: "consul",
        SANPATH_SESSION_LOCK_DELAY_SECONDS: "15",
        SANPATH_SESSION_FENCE_DEADLINE_MS: "20000",
      },
      message:
        "config: session.fenceDeadlineMs must be less than session.lockDelaySeconds×1000 with liveness.mode consul (a node must have fenced before another may lock its paths) (got 20000 ≥ 15000)",
    },
    {
      env: {
        SANPATH_LIVENESS_MODE: "consul",
        SANPATH_SESSION_FENCE_DEADLINE_MS: "5000",
        SANPATH_SESSION_LOCK_DELAY_SECONDS: "5",
      },
      message:
        "config: session.fenceDeadlineMs must be less than session.lockDelaySeconds×1000 with liveness.mode consul (a node must have fenced before another may lock its paths) (got 5000 ≥ 5000)",
    },
    {
      env: { SANPATH_LIVENESS_MODE: "raft" },
      message: "config: liveness.mode must be one of peer-lease, consul",
    },
    {
      env: { SANPATH_LEASE_HEARTBEAT_MS: "400" },
      message:
        "config: lease.leaseMs must be at least 4 × lease.heartbeatMs (a lease must survive a lost renew or two) (got 1000 < 1600)",
    },
    {
      env: { SANPATH_LEASE_TEARDOWN_BUDGET_MS: "800" },
      message:
        "config: lease.teardownBudgetMs must be at most lease.leaseMs / 2 (the tear-down must start while renews can still succeed) (got 800 > 500)",
    },
    {
      env: { SANPATH_SESSION_LOCK_DELAY_SECONDS: "5" },
      message:
        "config: session.lockDelaySeconds must be 0 with liveness.mode peer-lease (expiry proofs, not a lock-delay, keep a path off two nodes; a lock-delay only slows failover) (got 5)",
    },
    {
      env: { SANPATH_LEASE_MS: "199" },
      message: "config: lease.leaseMs must be an integer from 200 to 60000",
    },
    {
      env: { SANPATH_DATA_PATH_PROBE_INTERVAL_MS: "50" },
      message: "config: dataPath.probeIntervalMs must be 0 (off) or 100..60000 (got 50)",
    },
    {
      env: { SANPATH_DATA_PATH_PROBE_INTERVAL_MS: "60001" },
      message: "config: dataPath.probeIntervalMs must be an integer from 0 to 60000",
    },
    {
      env: { SANPATH_DATA_PATH_PROBE_INTERVAL_MS: "5000", SANPATH_DATA_PATH_DEGRADE_AFTER_MS: "5000" },
      message:
        "config: dataPath.degradeAfterMs must be greater than dataPath.probeIntervalMs (trouble is judged over several probes) (got 5000)",
    },
    {
      env: { SANPATH_DATA_PATH_DEGRADE_AFTER_MS: "100" },
      message: "config: dataPath.degradeAfterMs must be an integer from 500 to 600000",
    },
    {
      env: { SANPATH_DATA_PATH_RECOVER_AFTER_MS: "-1" },
      message: "config: dataPath.recoverAfterMs must be an integer from 0 to 3600000",
    },
    {
      env: { SANPATH_SUBNET1_INTERFACE: "a-very-long-interface" },
      message: "config: interfaces.subnet1 must be a network",
    },
    { env: { SANPATH_SUBNET2_INTERFACE: "eth/1" }, message: "config: interfaces.subnet2 must be a network" },
    {
      env: { SANPATH_SHUTDOWN_GRACE_MS: "50" },
      message: "config: shutdownGraceMs must be an integer from 100 to 600000",
    },
    {
      env: { SANPATH_REASSIGNMENT_PARALLELISM: "0" },
      message: "config: reassignment.parallelism must be an integer from 1 to 64",
    },
    {
      env: { SANPATH_REASSIGNMENT_PARALLELISM: "65" },
      message: "config: reassignment.parallelism must be an integer from 1 to 64",
    },
    {
      env: { SANPATH_REASSIGNMENT_CALLS_PER_NODE: "0" },
      message: "config: reassignment.callsPerNode must be an integer from 1 to 64",
    },
  ];

  it.each(cases)("refuses $env", ({ env, message }) => {
    const error = thrownAs(ConfigError, () => fromEnv(env));
    expect(error.message.startsWith(message)).toBe(true);
    expect(error.kind).toBe("invalid_argument");
    expect(error.reason).toBe("INVALID_FIELD");
    expect(error.field).toBe(message.slice("config: ".length).split(" ")[0]);
  });

  it("accepts values at the edges of each range", () => {
    const config = fromEnv({
      SANPATH_LIVENESS_MODE: "consul",
      SANPATH_SESSION_TTL_SECONDS: "86400",
      SANPATH_SESSION_LOCK_DELAY_SECONDS: "60",
      SANPATH_SESSION_FENCE_DEADLINE_MS: "59999",
      SANPATH_REASSIGNMENT_PARALLELISM: "64",
      SANPATH_REASSIGNMENT_CALLS_PER_NODE: "2",
      SANPATH_TGT_CONTROL_PORT: "65535",
      SANPATH_LISTEN: "[::1]:0",
      SANPATH_ADVERTISE_ADDRESS: "node-1.example:7410",
      SANPATH_SUBNET1_INTERFACE: "eth1.100",
      SANPATH_CONSUL_ROOT: "Sites/PetaSAN",
    });
    expect(config.session).toEqual({ ttlSeconds: 86_400, lockDelaySeconds: 60, fenceDeadlineMs: 59_999 });
    expect(config.reassignment.parallelism).toBe(64);
    expect(config.reassignment.callsPerNode).toBe(2);
    expect(config.listen).toBe("[::1]:0");
    expect(config.interfaces.subnet1).toBe("eth1.100");
  });

  it("reports every problem at once, one line each", () => {
    const error = thrownAs(ConfigError, () =>
      fromEnv({ SANPATH_LOG_LEVEL: "loud", SANPATH_REASSIGNMENT_PARALLELISM: "100" }),
    );
    expect(error.problems.map((p) => p.field)).toEqual(["logLevel", "reassignment.parallelism"]);
    expect(error.message.split("\n")).toHaveLength(2);
  });

  it("never prints a secret's value in an error", () => {
    const error = thrownAs(ConfigError, () => fromEnv({ SANPATH_CONSUL_TOKEN: "top secret" }));
    expect(error.message).toContain("got a value from SANPATH_CONSUL_TOKEN");
    expect(error.message).not.toContain("top secret");
  });

  it("treats empty environment variables as unset", () => {
    expect(fromEnv({ SANPATH_LISTEN: "" }).listen).toBe("0.0.0.0:7410");
  });
});

describe("redactConfig", () => {
  it("replaces the token and leaves the original alone", () => {
    const config = fromEnv({ SANPATH_CONSUL_TOKEN: "abc-123" });
    expect(redactConfig(config).consul.token).toBe("[redacted]");
    expect(config.consul.token).toBe("abc-123");
    expect("token" in redactConfig(fromEnv({})).consul).toBe(false);
  });
});

describe("parseHostPort", () => {
  it("parses IPv4, IPv6 in brackets and host names", () => {
    expect(parseHostPort("127.0.0.1:7410")).toEqual({ host: "127.0.0.1", port: 7410 });
    expect(parseHostPort("[::1]:80")).toEqual({ host: "::1", port: 80 });
    expect(parseHostPort("node-1:1")).toEqual({ host: "node-1", port: 1 });
    expect(parseHostPort("::1:80")).toBeUndefined();
    expect(parseHostPort("[node]:80")).toBeUndefined();
    expect(parseHostPort("node:")).toBeUndefined();
  });
});
