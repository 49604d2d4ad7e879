import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { isAbsolute } from "node:path";
import { DEFAULT_CALLS_PER_NODE } from "./reassignment-defaults.js";
import { SanpathError } from "../errors/sanpath-error.js";
import type { LogLevel } from "../log/logger.js";
import {
  DEFAULT_PORT,
  type AuthMode,
  type LivenessMode,
  type ImageStoreKind,
  type SanpathdConfig,
  type TargetDriverKind,
  type TlsConfig,
} from "./config.js";
import {
  layerFromEnv,
  layerFromFileText,
  layerFromFlags,
  layerFromObject,
  mergeLayers,
  type ConfigLayer,
  type ConfigProblem,
} from "./config-layers.js";
import { ConfigReader } from "./config-reader.js";
import { CONFIG_FILE_ENV } from "./fields.js";
import { isWildcardHost, parseHostPort } from "./host-port.js";

/** Every broken rule of a configuration; the message has one `config: …` line per problem. */
export class ConfigError extends SanpathError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super("invalid_argument", problems.map(formatProblem).join("\n"), {
      reason: "INVALID_FIELD",
      field: problems[0]?.field,
    });
    this.problems = problems;
  }
}

export function formatProblem(problem: ConfigProblem): string {
  return `config: ${problem.field} ${problem.rule}${problem.got === undefined ? "" : ` (got ${problem.got})`}`;
}

/** Defaults of a production node. */
export function defaultSettings(): Record<string, unknown> {
  return {
    nodeName: hostname(),
    listen: `0.0.0.0:${DEFAULT_PORT}`,
    "consul.address": "127.0.0.1:8500",
    "consul.root": "PetaSAN",
    logLevel: "info",
    dataDir: "/var/lib/sanpath",
    "imageStore.kind": "rbd",
    "imageStore.pool": "rbd",
    "imageStore.cephConf": "/etc/ceph/ceph.conf",
    "imageStore.cephUser": "admin",
    "target.driver": "tgt",
    "target.tgtControlPort": 0,
    "liveness.mode": "peer-lease",
    "lease.heartbeatMs": 250,
    "lease.leaseMs": 1000,
    "lease.teardownBudgetMs": 300,
    "session.ttlSeconds": 10,
    "session.lockDelaySeconds": 0,
    "session.fenceDeadlineMs": 10_000,
    "dataPath.probeIntervalMs": 500,
    "dataPath.degradeAfterMs": 3000,
    "dataPath.recoverAfterMs": 10_000,
    shutdownGraceMs: 10_000,
    "reassignment.parallelism": 16,
    "reassignment.callsPerNode": DEFAULT_CALLS_PER_NODE,
    "reassignment.batchWindowMs": 3,
    "reassignment.leaderlessGraceMs": 30_000,
    "events.maxEvents": 20_000,
    "events.maxAgeHours": 168,
    "failback.enabled": false,
    "failback.healthyForMs": 60_000,
    "failback.maxConcurrentMoves": 2,
    "failback.minIntervalMs": 300_000,
    "auth.mode": "required",
    "tls.plaintext": false,
    "tls.requireClientCert": true,
  };
}

/**
 * `sanpathd --dev` changes these defaults (its Consul address and data dir are set later, when made).
 * It implies plaintext; TLS material given to --dev still turns TLS on.
 */
export function devDefaultSettings(): Record<string, unknown> {
  return { listen: `127.0.0.1:${DEFAULT_PORT}`, "imageStore.kind": "file", "tls.plaintext": true };
}

const LOG_LEVELS = [
  "fatal",
  "error",
  "warn",
  "info",
  "debug",
  "trace",
  "silent",
] as const satisfies readonly LogLevel[];
const IMAGE_STORES = ["file", "rbd"] as const satisfies readonly ImageStoreKind[];
const TARGET_DRIVERS = ["tgt", "lio"] as const satisfies readonly TargetDriverKind[];
const AUTH_MODES = ["required", "none"] as const satisfies readonly AuthMode[];
const LIVENESS_MODES = ["peer-lease", "consul"] as const satisfies readonly LivenessMode[];

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const CONSUL_ROOT = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;
const CEPH_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const INTERFACE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;
const TOKEN = /^[\x21-\x7e]{1,256}$/;

const hostPortRule =
  (allowPortZero: boolean) =>
  (value: string): string | undefined => {
    const parsed = parseHostPort(value);
    if (parsed === undefined || (!allowPortZero && parsed.port === 0)) {
      return `must be host:port (IPv4, [IPv6] or a host name; port ${allowPortZero ? "0" : "1"}..65535)`;
    }
    return undefined;
  };

const patternRule =
  (pattern: RegExp, rule: string) =>
  (value: string): string | undefined =>
    pattern.test(value) ? undefined : rule;

const absolutePathRule = (value: string): string | undefined =>
  isAbsolute(value) ? undefined : "must be an absolute path";

/** sun_path holds 108 bytes with the terminating NUL. */
const unixSocketRule = (value: string): string | undefined =>
  !isAbsolute(value)
    ? "must be an absolute path"
    : Buffer.byteLength(value) > 107
      ? "must be at most 107 bytes long (a unix socket path)"
      : undefined;

const interfaceRule = (value: string): string | undefined =>
  INTERFACE_NAME.test(value) && value !== "." && value !== ".."
    ? undefined
    : "must be a network interface name (1..15 of A-Z a-z 0-9 _ . -)";

/** Builds and validates the config from layers (earliest = lowest precedence). Throws ConfigError. */
export function resolveConfig(layers: readonly ConfigLayer[]): SanpathdConfig {
  const read = new ConfigReader(mergeLayers(layers));
  const config: SanpathdConfig = {
    nodeName: read.text(
      "nodeName",
      patternRule(NODE_NAME, "must be 1..63 of A-Z a-z 0-9 _ . - starting with a letter or digit"),
    ),
    listen: read.text("listen", hostPortRule(true)),
    advertiseAddress: read.optionalText("advertiseAddress", (value) => {
      const parsed = parseHostPort(value);
      if (parsed === undefined || parsed.port === 0) return hostPortRule(false)(value);
      return isWildcardHost(parsed.host)
        ? "must be an address others can connect to, not a wildcard"
        : undefined;
    }),
    adminSocket: read.optionalText("adminSocket", unixSocketRule),
    consul: {
      address: read.text("consul.address", hostPortRule(false)),
      root: read.text(
        "consul.root",
        patternRule(
          CONSUL_ROOT,
          "must be a key prefix of A-Z a-z 0-9 _ . - segments joined by '/', no leading or trailing '/'",
        ),
      ),
      token: read.optionalText("consul.token", patternRule(TOKEN, "must be 1..256 visible ASCII characters")),
    },
    logLevel: read.oneOf("logLevel", LOG_LEVELS),
    dataDir: read.text("dataDir", absolutePathRule),
    imageStore: {
      kind: read.oneOf("imageStore.kind", IMAGE_STORES),
      pool: read.text(
        "imageStore.pool",
        patternRule(CEPH_NAME, "must be a Ceph pool name (1..100 of A-Z a-z 0-9 _ . -)"),
      ),
      cephConf: read.text("imageStore.cephConf", absolutePathRule),
      cephUser: read.text(
        "imageStore.cephUser",
        patternRule(CEPH_NAME, "must be a Ceph client id without 'client.' (1..100 of A-Z a-z 0-9 _ . -)"),
      ),
    },
    target: {
      driver: read.oneOf("target.driver", TARGET_DRIVERS),
      tgtControlPort: read.integer("target.tgtControlPort", 0, 65_535),
    },
    liveness: { mode: read.oneOf("liveness.mode", LIVENESS_MODES) },
    lease: {
      heartbeatMs: read.integer("lease.heartbeatMs", 50, 5000),
      leaseMs: read.integer("lease.leaseMs", 200, 60_000),
      teardownBudgetMs: read.integer("lease.teardownBudgetMs", 50, 30_000),
      listen: read.optionalText("lease.listen", hostPortRule(true)),
    },
    session: {
      ttlSeconds: read.integer("session.ttlSeconds", 10, 86_400),
      lockDelaySeconds: read.integer("session.lockDelaySeconds", 0, 60),
      fenceDeadlineMs: read.integer("session.fenceDeadlineMs", 1000, 60_000),
    },
    dataPath: {
      probeIntervalMs: read.integer("dataPath.probeIntervalMs", 0, 60_000),
      degradeAfterMs: read.integer("dataPath.degradeAfterMs", 500, 600_000),
      recoverAfterMs: read.integer("dataPath.recoverAfterMs", 0, 3_600_000),
    },
    interfaces: {
      subnet1: read.optionalText("interfaces.subnet1", interfaceRule),
      subnet2: read.optionalText("interfaces.subnet2", interfaceRule),
    },
    shutdownGraceMs: read.integer("shutdownGraceMs", 100, 600_000),
    reassignment: {
      parallelism: read.integer("reassignment.parallelism", 1, 64),
      callsPerNode: read.integer("reassignment.callsPerNode", 1, 64),
      batchWindowMs: read.integer("reassignment.batchWindowMs", 0, 100),
      leaderlessGraceMs: read.integer("reassignment.leaderlessGraceMs", 1000, 600_000),
    },
    auth: {
      mode: read.oneOf("auth.mode", AUTH_MODES),
      tokenFile: read.optionalText("auth.tokenFile", absolutePathRule),
      nodeTokenFile: read.optionalText("auth.nodeTokenFile", absolutePathRule),
    },
    tls: readTls(read),
    audit: { file: read.optionalText("audit.file", absolutePathRule) },
    metrics: { listen: read.optionalText("metrics.listen", hostPortRule(true)) },
    events: {
      maxEvents: read.integer("events.maxEvents", 100, 1_000_000),
      maxAgeHours: read.integer("events.maxAgeHours", 1, 8760),
    },
    failback: {
      enabled: read.boolean("failback.enabled"),
      healthyForMs: read.integer("failback.healthyForMs", 1000, 86_400_000),
      maxConcurrentMoves: read.integer("failback.maxConcurrentMoves", 1, 64),
      minIntervalMs: read.integer("failback.minIntervalMs", 0, 86_400_000),
    },
    console: {
      listen: read.optionalText("console.listen", hostPortRule(true)),
      socket: read.optionalText("console.socket", absolutePathRule),
    },
  };
  if (read.problems.length === 0) checkCrossFieldRules(config, read);
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return config;
}

/**
 * tls.ca, tls.cert and tls.key together turn TLS on; one or two of them is a mistake. Without
 * them sanpathd serves plaintext only when asked to by tls.plaintext (or --dev, whose default it
 * is), so that a forgotten setting never leaves a node open in clear text.
 */
function readTls(read: ConfigReader): TlsConfig | undefined {
  const ca = read.optionalText("tls.ca", absolutePathRule);
  const cert = read.optionalText("tls.cert", absolutePathRule);
  const key = read.optionalText("tls.key", absolutePathRule);
  const requireClientCert = read.boolean("tls.requireClientCert");
  const plaintext = read.boolean("tls.plaintext");
  const material = ca !== undefined || cert !== undefined || key !== undefined;
  if (!material) {
    if (!plaintext)
      read.addProblem({
        field: "tls.plaintext",
        rule:
          "must be true when tls.ca, tls.cert and tls.key are unset: plaintext must be asked for " +
          "(tls.plaintext true, SANPATH_TLS_PLAINTEXT=true or --tls-plaintext); for TLS make " +
          "certificates with `sanpath cert` and set tls.ca, tls.cert and tls.key",
      });
    return undefined;
  }
  // --dev's default gives way to TLS material; an operator's explicit plaintext contradicts it.
  if (plaintext && read.sourceKind("tls.plaintext") !== "default") {
    read.addProblem({
      field: "tls.plaintext",
      rule: "must not be true when tls.ca, tls.cert or tls.key is set (TLS or plaintext, not both)",
      got: read.describe("tls.plaintext"),
    });
  }
  if (ca === undefined || cert === undefined || key === undefined) {
    const missing = ca === undefined ? "tls.ca" : cert === undefined ? "tls.cert" : "tls.key";
    read.addProblem({ field: missing, rule: "must be set: tls.ca, tls.cert and tls.key go together" });
    return undefined;
  }
  return { ca, cert, key, requireClientCert };
}

function checkCrossFieldRules(config: SanpathdConfig, read: ConfigReader): void {
  const metricsPort =
    config.metrics.listen === undefined ? undefined : parseHostPort(config.metrics.listen)?.port;
  const leasePort = config.lease.listen === undefined ? undefined : parseHostPort(config.lease.listen)?.port;
  if (leasePort !== undefined && leasePort !== 0 && leasePort === parseHostPort(config.listen)?.port) {
    read.addProblem({
      field: "lease.listen",
      rule: "must use another port than listen (the peer lease has a listener of its own)",
      got: config.lease.listen,
    });
  }
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === parseHostPort(config.listen)?.port) {
    read.addProblem({
      field: "metrics.listen",
      rule: "must use another port than listen (the metrics have a listener of their own)",
      got: config.metrics.listen,
    });
  }
  const consolePort =
    config.console.listen === undefined ? undefined : parseHostPort(config.console.listen)?.port;
  if (
    consolePort !== undefined &&
    consolePort !== 0 &&
    (consolePort === parseHostPort(config.listen)?.port || consolePort === metricsPort)
  ) {
    read.addProblem({
      field: "console.listen",
      rule: "must use another port than listen and metrics.listen (the console has a listener of its own)",
      got: config.console.listen,
    });
  }
  const probeMs = config.dataPath.probeIntervalMs;
  if (probeMs > 0 && probeMs < 100) {
    read.addProblem({
      field: "dataPath.probeIntervalMs",
      rule: "must be 0 (off) or 100..60000",
      got: String(probeMs),
    });
  }
  if (probeMs > 0 && probeMs >= config.dataPath.degradeAfterMs) {
    read.addProblem({
      field: "dataPath.degradeAfterMs",
      rule: "must be greater than dataPath.probeIntervalMs (trouble is judged over several probes)",
      got: String(config.dataPath.degradeAfterMs),
    });
  }
  const { fenceDeadlineMs, lockDelaySeconds } = config.session;
  if (config.liveness.mode === "consul") {
    // A fenced node must have torn its paths down before another node can take the lock.
    if (fenceDeadlineMs >= lockDelaySeconds * 1000) {
      read.addProblem({
        field: "session.fenceDeadlineMs",
        rule: "must be less than session.lockDelaySeconds×1000 with liveness.mode consul (a node must have fenced before another may lock its paths)",
        got: `${fenceDeadlineMs} ≥ ${lockDelaySeconds * 1000}`,
      });
    }
    return;
  }
  // Peer leases: the safety argument of src/node/peer-lease.ts needs these.
  const { heartbeatMs, leaseMs, teardownBudgetMs } = config.lease;
  if (leaseMs < 4 * heartbeatMs) {
    read.addProblem({
      field: "lease.leaseMs",
      rule: "must be at least 4 × lease.heartbeatMs (a lease must survive a lost renew or two)",
      got: `${leaseMs} < ${4 * heartbeatMs}`,
    });
  }
  if (teardownBudgetMs * 2 > leaseMs) {
    read.addProblem({
      field: "lease.teardownBudgetMs",
      rule: "must be at most lease.leaseMs / 2 (the tear-down must start while renews can still succeed)",
      got: `${teardownBudgetMs} > ${leaseMs / 2}`,
    });
  }
  if (lockDelaySeconds !== 0) {
    read.addProblem({
      field: "session.lockDelaySeconds",
      rule: "must be 0 with liveness.mode peer-lease (expiry proofs, not a lock-delay, keep a path off two nodes; a lock-delay only slows failover)",
      got: String(lockDelaySeconds),
    });
  }
}

export interface LoadConfigOptions {
  /** --config; falls back to $SANPATH_CONFIG. */
  configFile?: string;
  env: NodeJS.ProcessEnv;
  /** Flag values keyed by field path. */
  flags: Readonly<Record<string, string | undefined>>;
  dev?: boolean;
}

/** flags > env > file > (dev) defaults. Throws ConfigError naming every broken rule. */
export async function loadConfig(options: LoadConfigOptions): Promise<SanpathdConfig> {
  const layers: ConfigLayer[] = [layerFromObject(defaultSettings(), { kind: "default" })];
  if (options.dev === true) layers.push(layerFromObject(devDefaultSettings(), { kind: "default" }));
  const file = options.configFile ?? nonEmpty(options.env[CONFIG_FILE_ENV]);
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      throw new ConfigError([
        { field: "--config", rule: `must name a readable file (${code})`, got: JSON.stringify(file) },
      ]);
    }
    const { layer, problems } = layerFromFileText(text, file);
    if (problems.length > 0) throw new ConfigError(problems);
    layers.push(layer);
  }
  layers.push(layerFromEnv(options.env), layerFromFlags(options.flags));
  return resolveConfig(layers);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
