import { Command, CommanderError } from "commander";
import { defaultSettings } from "../config/load-config.js";
import { CONFIG_FIELDS } from "../config/fields.js";

/** What the sanpathd command line asks for. */
export interface SanpathdInvocation {
  configFile: string | undefined;
  dev: boolean;
  printConfig: boolean;
  /** Flag values keyed by config field path, e.g. { "consul.address": "127.0.0.1:8500" }. */
  flags: Record<string, string | undefined>;
}

const VALUE_NAMES: Readonly<Record<string, string>> = {
  "node-name": "name",
  listen: "host:port",
  "advertise-address": "host:port",
  "consul-address": "host:port",
  "consul-root": "prefix",
  "log-level": "level",
  "data-dir": "path",
  "image-store": "file|rbd",
  "target-driver": "tgt|lio",
  "auth-mode": "required|none",
  "auth-token-file": "path",
  "tls-ca": "path",
  "tls-cert": "path",
  "tls-key": "path",
  "tls-plaintext": "true|false",
  "audit-file": "path",
};

/** Parses argv (as process.argv); --help and --version exit 0 here, usage errors exit 2. */
export function parseSanpathdCommand(argv: readonly string[], version: string): SanpathdInvocation {
  const program = new Command("sanpathd")
    .description(
      "The sanpath daemon: one per storage node. Serves the sanpath.v1 gRPC API (disks, paths, nodes, " +
        "cluster), grpc.health.v1 and server reflection, and keeps its iSCSI paths in step with Consul.",
    )
    .version(version, "-V, --version")
    .option("-c, --config <path>", "JSON config file (also $SANPATH_CONFIG)")
    .option(
      "--dev",
      "development mode on one machine: starts its own Consul dev agent on free ports, keeps data in a " +
        "temporary folder, uses the file image store; everything is removed when it stops. Implies " +
        "tls.plaintext true (no TLS) unless tls.ca, tls.cert and tls.key are given",
    )
    .option("--print-config", "print the effective configuration (secrets redacted) as JSON and exit");
  for (const field of CONFIG_FIELDS) {
    if (field.flag === undefined) continue;
    // Boolean settings take an optional value: `--tls-plaintext` alone means true.
    const value = VALUE_NAMES[field.flag] ?? "value";
    program.option(
      value === "true|false" ? `--${field.flag} [${value}]` : `--${field.flag} <${value}>`,
      field.description,
    );
  }
  program.addHelpText("after", helpText());
  program.exitOverride();
  try {
    program.parse([...argv]);
  } catch (error) {
    // Commander has printed help, the version or the usage error already.
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
    throw error;
  }

  const options = program.opts<Record<string, string | boolean | undefined>>();
  const flags: Record<string, string | undefined> = {};
  for (const field of CONFIG_FIELDS) {
    if (field.flag === undefined) continue;
    const value = options[camelCase(field.flag)];
    if (typeof value === "string") flags[field.path] = value;
    else if (value === true) flags[field.path] = "true";
  }
  const configFile = options.config;
  return {
    configFile: typeof configFile === "string" ? configFile : undefined,
    dev: options.dev === true,
    printConfig: options.printConfig === true,
    flags,
  };
}

function camelCase(flag: string): string {
  return flag.replace(/-([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}

function helpText(): string {
  const defaults = defaultSettings();
  const settings = CONFIG_FIELDS.map((field) => {
    const fallback = defaults[field.path];
    const shown =
      field.path === "nodeName"
        ? "default: the host name"
        : fallback === undefined
          ? "no default"
          : `default ${JSON.stringify(fallback)}`;
    return `  ${field.path}  (${field.env}; ${shown})\n      ${field.description}`;
  }).join("\n");
  return `
Configuration, highest precedence first: flags, SANPATH_* environment variables, the JSON
config file, defaults. A bad value stops sanpathd at start with a line naming the field and
its rule, and exit code 2.

Settings (config file path, environment variable, default):
${settings}

Config file example (/etc/sanpath/sanpathd.json):
  {
    "nodeName": "node-1",
    "listen": "0.0.0.0:7410",
    "advertiseAddress": "192.0.2.11:7410",
    "consul": { "address": "127.0.0.1:8500", "root": "PetaSAN" },
    "imageStore": { "kind": "rbd", "pool": "rbd", "cephConf": "/etc/ceph/ceph.conf", "cephUser": "admin" },
    "interfaces": { "subnet1": "eth1", "subnet2": "eth2" },
    "tls": { "ca": "/etc/sanpath/pki/ca.crt", "cert": "/etc/sanpath/pki/node-1.crt",
             "key": "/etc/sanpath/pki/node-1.key" },
    "auth": { "tokenFile": "/etc/sanpath/tokens.json" }
  }

TLS is on when tls.ca, tls.cert and tls.key are set (make them with sanpath cert ca|node|client);
the gRPC port and the admin socket then both take mutual TLS. Without them sanpathd refuses to
start unless plaintext is asked for: tls.plaintext true, SANPATH_TLS_PLAINTEXT=true or
--tls-plaintext (--dev implies it).

Examples:
  Try it on one machine with nothing else set up (own Consul, temporary data):
    $ sanpathd --dev --listen 127.0.0.1:7410
    $ sanpath --server 127.0.0.1:7410 health
  Run a storage node:
    $ sanpathd --config /etc/sanpath/sanpathd.json
  Check a configuration without starting:
    $ SANPATH_LOG_LEVEL=debug sanpathd --config /etc/sanpath/sanpathd.json --print-config

Logs are JSON lines on stdout (secrets show as "[redacted]").
SIGTERM or SIGINT stops gracefully: health turns NOT_SERVING, open streams end, calls in flight
get shutdownGraceMs, then the node's paths are taken down and their locks released (the
coordinator places them on other nodes); a second signal stops at once.
SIGUSR2 stops for a restart (systemd's RestartKillSignal, deploy/dev-cluster restart-sanpathd):
the node's targets, portals and IPs stay up and its session is left to the next sanpathd, which
takes it over within session.fenceDeadlineMs: no path goes down. If none does, the crash guard
takes the paths down then.
Exit codes: 0 stopped, 1 failed while running, 2 bad configuration.
`;
}
