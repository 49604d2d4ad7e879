#!/usr/bin/env node
/**
 * sanpathd: the sanpath daemon, one per storage node.
 *
 * Configuration comes from, highest precedence first: command-line flags, SANPATH_* environment
 * variables, a JSON config file (`--config PATH` or $SANPATH_CONFIG), defaults. Every field, its
 * variable and its default are listed by `sanpathd --help` (table in src/config/fields.ts, rules in
 * src/config/load-config.ts). The file mirrors the SanpathdConfig shape:
 *
 *   {
 *     "nodeName": "node-1",                      SANPATH_NODE_NAME        default: host name
 *     "listen": "0.0.0.0:7410",                  SANPATH_LISTEN           gRPC bind address
 *     "advertiseAddress": "192.0.2.11:7410",     SANPATH_ADVERTISE_ADDRESS
 *     "consul": { "address": "127.0.0.1:8500",   SANPATH_CONSUL_ADDRESS   the local agent
 *                 "root": "PetaSAN",             SANPATH_CONSUL_ROOT      key prefix
 *                 "token": "…" },                SANPATH_CONSUL_TOKEN     secret, never logged
 *     "logLevel": "info",                        SANPATH_LOG_LEVEL
 *     "dataDir": "/var/lib/sanpath",             SANPATH_DATA_DIR
 *     "imageStore": { "kind": "rbd", "pool": "rbd", "cephConf": "/etc/ceph/ceph.conf", "cephUser": "admin" },
 *     "target": { "driver": "tgt", "tgtControlPort": 0 },
 *     "session": { "ttlSeconds": 10, "lockDelaySeconds": 15, "fenceDeadlineMs": 10000 },
 *     "interfaces": { "subnet1": "eth1", "subnet2": "eth2" },
 *     "shutdownGraceMs": 10000,
 *     "reassignment": { "parallelism": 16 },
 *     "auth": { "mode": "required",              SANPATH_AUTH_MODE        "none": anyone may call anything
 *               "tokenFile": "/etc/sanpath/tokens.json",      [{name, role, sha256}]: digests only
 *               "nodeTokenFile": "/etc/sanpath/node.token" }, this node's token for other nodes (no TLS)
 *     "tls": { "ca": "/etc/sanpath/pki/ca.crt", "cert": ".../node-1.crt", "key": ".../node-1.key",
 *              "requireClientCert": true,        mutual TLS (sanpath cert ca|node|client), on the
 *              "plaintext": false },             port and the admin socket; plaintext: no TLS, only
 *                                                when asked for (refused with tls.ca/cert/key)
 *     "audit": { "file": "/var/log/sanpath/audit.log" }   one JSON line per write call
 *   }
 *
 * Every sanpath.v1 call is authenticated (a bearer token from auth.tokenFile, or a client
 * certificate of the cluster CA whose OU is the role) and authorized by the method → role table in
 * src/security/method-access.ts; grpc.health.v1 and reflection stay open. With auth.mode required
 * and neither a token file nor required client certificates, every sanpath.v1 call is refused.
 *
 * A value that breaks a rule (e.g. session.fenceDeadlineMs must be less than
 * session.lockDelaySeconds×1000, so a fenced node has dropped its paths before another node can
 * take the lock) stops the daemon at start with one `config: <field> <rule> (got …)` line per
 * problem on stderr and exit code 2.
 *
 * Without tls.ca, tls.cert and tls.key sanpathd refuses to start (exit 2, `config: tls.plaintext
 * must be true …`) unless plaintext was asked for with tls.plaintext true.
 *
 * `--dev` runs a single node with nothing else set up: a Consul dev agent on free ports and a
 * temporary data folder, both removed when sanpathd stops; the image store is "file"; plaintext
 * (tls.plaintext defaults to true). Auth stays on: without auth.tokenFile it makes an admin token,
 * printed once on its stderr banner.
 *
 * Logs are pino JSON lines on stdout. SIGTERM/SIGINT: health NOT_SERVING, open streams ended,
 * the server drains calls for shutdownGraceMs then cuts them, components and owned children stop
 * (the node's paths are handed to other nodes), exit 0. SIGUSR2: the same, but to be restarted at
 * once (systemd's RestartKillSignal): the node's targets, portals and IPs stay up and its session
 * is left to the next sanpathd, which adopts it (docs/DEPLOY.md, "Restarts and upgrades").
 * Exit 1 = failed while starting or running.
 */
import type { SanpathdConfig } from "../config/config.js";
import { formatHostPort } from "../config/host-port.js";
import { ConfigError, loadConfig } from "../config/load-config.js";
import { packageVersion } from "../config/package-version.js";
import { redactConfig } from "../config/redact-config.js";
import { errorMessage } from "../errors/sanpath-error.js";
import { createLogger, type Logger } from "../log/logger.js";
import { createDevTokens, type DevTokens } from "../security/dev-tokens.js";
import { parseSanpathdCommand } from "./command.js";
import { defaultComponents } from "./components.js";
import { libuvPoolSize, RECOMMENDED_POOL_SIZE } from "./libuv-pool.js";
import { startDaemon, type Daemon } from "./daemon.js";
import { startDevEnvironment, type DevEnvironment } from "./dev-environment.js";

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_BAD_CONFIG = 2;

/** Owned children to stop on any way out. */
let devEnvironment: DevEnvironment | undefined;
let logger: Logger | undefined;

async function main(): Promise<number> {
  const signals = catchStopSignals();
  const invocation = parseSanpathdCommand(process.argv, packageVersion());
  let config: SanpathdConfig;
  try {
    config = await loadConfig({
      configFile: invocation.configFile,
      env: process.env,
      flags: invocation.flags,
      dev: invocation.dev,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\nsanpathd: not started (see sanpathd --help for every setting)\n`);
    return EXIT_BAD_CONFIG;
  }
  if (invocation.printConfig) {
    process.stdout.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
    return EXIT_OK;
  }

  const log = createLogger({ level: config.logLevel, base: { name: "sanpathd", node: config.nodeName } });
  logger = log;
  let devTokens: DevTokens | undefined;
  if (invocation.dev) {
    devEnvironment = await startDevEnvironment(config.nodeName, log);
    config = devEnvironment.apply(config);
    // Auth stays on in --dev: without a token file of its own, it makes an admin token (and a
    // node token for its calls to its own NodeService).
    if (config.auth.mode === "required" && config.auth.tokenFile === undefined) {
      devTokens = await createDevTokens(devEnvironment.dir, config.nodeName);
      config = {
        ...config,
        auth: {
          ...config.auth,
          tokenFile: devTokens.tokenFile,
          nodeTokenFile: config.auth.nodeTokenFile ?? devTokens.nodeTokenFile,
        },
      };
      log.info({ adminTokenFile: devTokens.adminTokenFile }, "dev admin token written (printed on stderr)");
    }
  }
  log.info(
    { config: redactConfig(config), dev: invocation.dev, version: packageVersion() },
    "sanpathd starting",
  );
  const pool = libuvPoolSize(process.env);
  if (pool.belowAdvice) {
    log.warn(
      { threads: pool.threads, advised: RECOMMENDED_POOL_SIZE },
      `libuv pool: ${pool.threads} threads for file I/O and librbd calls together; start sanpathd with ` +
        `UV_THREADPOOL_SIZE=${RECOMMENDED_POOL_SIZE} (deploy/systemd/sanpathd.service does)`,
    );
  }

  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, {
      logger: log,
      components: defaultComponents({ dev: invocation.dev }),
    });
  } catch (error) {
    log.fatal({ err: errorMessage(error), listen: config.listen }, "sanpathd could not start");
    process.stderr.write(`sanpathd: could not start: ${errorMessage(error)}\n`);
    await devEnvironment?.stop();
    return EXIT_FAILED;
  }
  if (devEnvironment !== undefined) printDevBanner(daemon, devEnvironment, config, devTokens);

  const stopRequest = await signals.first;
  const stopping = daemon.shutdown(stopRequest, stopRequest === RESTART_SIGNAL ? "restart" : "hand-off");
  signals.onEvery((signal) => void daemon.shutdown(signal));
  await stopping;
  await devEnvironment?.stop();
  return EXIT_OK;
}

/** The signal that stops sanpathd to be restarted at once, leaving its paths up. */
const RESTART_SIGNAL = "SIGUSR2";

/**
 * SIGTERM/SIGINT (and SIGUSR2, a restart) handled from the very start: a signal during start-up (while the dev Consul agent
 * starts, say) is kept and acted on once the daemon runs, so no child is left behind.
 */
function catchStopSignals(): {
  first: Promise<NodeJS.Signals>;
  onEvery(handler: (signal: NodeJS.Signals) => void): void;
} {
  let handler: ((signal: NodeJS.Signals) => void) | undefined;
  let resolveFirst: (signal: NodeJS.Signals) => void = () => undefined;
  const first = new Promise<NodeJS.Signals>((resolve) => (resolveFirst = resolve));
  let seen = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!seen) {
      seen = true;
      resolveFirst(signal);
    } else {
      handler?.(signal);
    }
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  process.on(RESTART_SIGNAL, onSignal);
  return { first, onEvery: (next) => (handler = next) };
}

function printDevBanner(
  daemon: Daemon,
  dev: DevEnvironment,
  config: SanpathdConfig,
  devTokens: DevTokens | undefined,
): void {
  const server = formatHostPort(daemon.address);
  const transport = config.tls === undefined ? "plaintext: --dev implies tls.plaintext" : "TLS";
  const auth =
    config.auth.mode === "none"
      ? ["  Auth: OFF (auth.mode none): anyone who reaches the port may call anything."]
      : devTokens !== undefined
        ? [
            `  Auth: on. Admin token (shown once; also in ${devTokens.adminTokenFile}):`,
            `    export SANPATH_TOKEN=${devTokens.adminToken}`,
          ]
        : [`  Auth: on, tokens from ${config.auth.tokenFile ?? "client certificates only"}.`];
  process.stderr.write(
    [
      "",
      `sanpathd --dev is listening on ${server} (gRPC, ${transport}).`,
      `  Consul dev agent: ${dev.consulAddress} (pid ${dev.consulPid}); data: ${dev.dataDir} (removed at exit)`,
      ...auth,
      "  Try:",
      `    npx sanpath --server ${server} health`,
      `    npx sanpath --server ${server} cluster info`,
      `    npx sanpath --server ${server} disk add demo --size 10G   (sample cluster settings are stored)`,
      `    npx sanpath --server ${server} disk list`,
      `    npx buf curl --protocol grpc --http2-prior-knowledge --list-services http://${server}`,
      "  Stop with Ctrl-C.",
      "",
    ].join("\n"),
  );
}

/** Last resort: log, stop owned children, exit 1. */
async function die(error: unknown): Promise<never> {
  if (logger !== undefined) logger.fatal({ err: error }, "sanpathd failed");
  else
    process.stderr.write(
      `sanpathd: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  try {
    await devEnvironment?.stop();
  } finally {
    process.exit(EXIT_FAILED);
  }
}

process.on("uncaughtException", (error) => void die(error));
process.on("unhandledRejection", (error) => void die(error));

main().then(
  (code) => process.exit(code),
  (error: unknown) => void die(error),
);
