/**
 * Network namespaces as test hosts: a throw-away topology of hosts wired to bridges.
 *
 *   const topology = await createTopology({
 *     bridges: ["mgmt", "iscsi1", "iscsi2"],
 *     hosts: [
 *       { name: "a", links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.11/24" }] },
 *       { name: "client", links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.9/24" }] },
 *     ],
 *   });
 *   try {
 *     await topology.exec("client", "ping", ["-c", "1", "198.51.100.11"]);
 *     const daemon = topology.spawnIn("a", "tgtd", ["-f", "-C", "4242"]);
 *     ...
 *   } finally {
 *     await topology.destroy();   // also fine after a partial failure; idempotent
 *   }
 *
 * Layout: every host is a namespace `<prefix>-<host>`; the bridges live in one more namespace,
 * `<prefix>-sw` (the "switch"), never in the root namespace. Each link is a veth pair created
 * inside the switch namespace: the switch end `h<host#>l<link#>` is a port of the bridge, the
 * other end is moved into the host namespace and named `ifname`. Addresses go on the host ends
 * and must come from the documentation ranges (192.0.2.0/24 management, 198.51.100.0/24 iSCSI 1,
 * 203.0.113.0/24 iSCSI 2). `lo` is up in every namespace.
 *
 * The default prefix is `sp-<pid>-<4 random chars>`, unique per test process; names of stale
 * topologies (prefix of that form whose pid is gone) are removed when a new topology is created.
 * Interface and bridge names must fit Linux's 15 characters.
 *
 * `exec` runs a command inside a host namespace (`ip netns exec`); `runner(host)` is a
 * CommandRunner bound to a host, for drivers under test; `spawnIn` starts a long-running daemon
 * there, stopped by PID. `setLinkState(host, bridge, "down")` cuts a host's cable (the switch
 * end of the veth goes down). `destroy()` stops the daemons it started, kills whatever else is
 * still running inside its namespaces (by PID), and deletes every namespace it created.
 */
import { randomBytes } from "node:crypto";
import { execaSync } from "execa";
import { SanpathError, invalidField } from "../errors/sanpath-error.js";
import type { CommandArg, CommandResult, CommandRunner, RunOptions } from "../exec/command-runner.js";
import { ExecaCommandRunner } from "../exec/execa-runner.js";
import { isDocumentationAddress, parseCidr } from "./documentation-ranges.js";
import { isPidAlive, signalPid, spawnDaemon, type DaemonHandle, type SpawnDaemonOptions } from "./daemon.js";

export interface LinkSpec {
  /** A bridge named in TopologySpec.bridges. */
  bridge: string;
  /** The interface name inside the host, e.g. "eth1" (at most 15 characters). */
  ifname: string;
  /** CIDR on the host end, from a documentation range, e.g. "198.51.100.11/24". Optional. */
  address?: string;
}

export interface HostSpec {
  /** Lower-case letters, digits and "-", at most 20 characters. */
  name: string;
  links: readonly LinkSpec[];
  /** sysctls set inside the host's namespace, e.g. { "net.ipv4.ip_nonlocal_bind": "1" }. */
  sysctls?: Readonly<Record<string, string>>;
}

export interface TopologySpec {
  /** Namespace name prefix; default `sp-<pid>-<random>`. */
  prefix?: string;
  bridges: readonly string[];
  hosts: readonly HostSpec[];
}

export type LinkState = "up" | "down";

export interface Topology {
  readonly prefix: string;
  /** The namespace holding the bridges. */
  readonly switchNs: string;
  /** The namespace of a host. */
  nsName(host: string): string;
  /** A CommandRunner whose commands run inside the host's namespace. */
  runner(host: string): CommandRunner;
  exec(host: string, file: string, args: readonly CommandArg[], options?: RunOptions): Promise<CommandResult>;
  /** Starts a long-running process inside the host's namespace; stop it with handle.stop(). */
  spawnIn(host: string, file: string, args: readonly string[], options?: SpawnDaemonOptions): DaemonHandle;
  /** Brings the switch end of a host's link to `bridge` down or up (a cut or repaired cable). */
  setLinkState(host: string, bridge: string, state: LinkState): Promise<void>;
  /** Stops every daemon started here and deletes every namespace created here. Idempotent. */
  destroy(): Promise<void>;
}

export interface CreateTopologyOptions {
  /** Runner for the `ip` commands in the root namespace (tests may pass one with a logger). */
  runner?: ExecaCommandRunner;
  /**
   * The namespaces outlive this process (a dev cluster that a later command takes down with
   * attachTopology(...).destroy()): no exit hook deletes them. Use a prefix that is not of the
   * `sp-<pid>-…` form, or the stale-namespace sweep of another process removes them.
   */
  keepAfterExit?: boolean;
}

const NAME_RULE = /^[a-z0-9][a-z0-9-]{0,19}$/;
const IFNAME_RULE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const STALE_PREFIX = /^sp-(\d+)-[0-9a-f]{4}-/;

export function uniquePrefix(): string {
  return `sp-${process.pid}-${randomBytes(2).toString("hex")}`;
}

export async function createTopology(
  spec: TopologySpec,
  options: CreateTopologyOptions = {},
): Promise<Topology> {
  validateSpec(spec);
  const root = options.runner ?? new ExecaCommandRunner({ defaultTimeoutMs: 15_000 });
  await removeStaleNamespaces(root);

  const prefix = spec.prefix ?? uniquePrefix();
  const created: string[] = [];
  const topology = topologyHandle(spec, prefix, root, created, options.keepAfterExit !== true);
  const switchNs = topology.switchNs;
  const nsName = (host: string): string => topology.nsName(host);
  const ip = (args: readonly string[], input?: string): Promise<CommandResult> =>
    root.run("ip", args, input === undefined ? {} : { input });

  try {
    await addNamespace(root, switchNs, created);
    await ip(
      ["-n", switchNs, "-batch", "-"],
      ["link set dev lo up", ...spec.bridges.flatMap((bridge) => bridgeCommands(bridge))].join("\n") + "\n",
    );
    for (const [hostIndex, host] of spec.hosts.entries()) {
      const ns = nsName(host.name);
      await addNamespace(root, ns, created);
      const switchSide = host.links.flatMap((link, linkIndex) => {
        const port = `h${hostIndex}l${linkIndex}`;
        return [
          `link add name ${port} type veth peer name ${link.ifname} netns ${ns}`,
          `link set dev ${port} master ${link.bridge}`,
          `link set dev ${port} up`,
        ];
      });
      if (switchSide.length > 0) await ip(["-n", switchNs, "-batch", "-"], switchSide.join("\n") + "\n");
      const hostSide = [
        "link set dev lo up",
        ...host.links.flatMap((link) => [
          ...(link.address === undefined ? [] : [`addr add ${link.address} dev ${link.ifname}`]),
          `link set dev ${link.ifname} up`,
        ]),
      ];
      await ip(["-n", ns, "-batch", "-"], hostSide.join("\n") + "\n");
      for (const [key, value] of Object.entries(host.sysctls ?? {})) {
        await root.inNetns(ns).run("sysctl", ["-q", "-w", `${key}=${value}`]);
      }
    }
  } catch (error) {
    await topology.destroy().catch(() => undefined);
    throw error;
  }
  return topology;
}

/**
 * A Topology over namespaces named after `spec` and `prefix`. `created` lists the namespaces that
 * destroy() deletes (filled while creating, or every one of them when attaching).
 */
function topologyHandle(
  spec: TopologySpec,
  prefix: string,
  root: ExecaCommandRunner,
  created: string[],
  deleteAtExit: boolean,
): Topology {
  const switchNs = `${prefix}-sw`;
  const hostNs = new Map(spec.hosts.map((host) => [host.name, `${prefix}-${host.name}`]));
  const daemons: DaemonHandle[] = [];
  let destroying: Promise<void> | undefined;

  const nsName = (host: string): string => {
    const name = hostNs.get(host);
    if (name === undefined) throw invalidField("host", `no host named "${host}" in this topology`);
    return name;
  };
  const ip = (args: readonly string[], input?: string): Promise<CommandResult> =>
    root.run("ip", args, input === undefined ? {} : { input });
  const switchPort = (host: string, bridge: string): string => {
    const hostIndex = spec.hosts.findIndex((candidate) => candidate.name === host);
    const linkIndex = spec.hosts[hostIndex]?.links.findIndex((link) => link.bridge === bridge) ?? -1;
    if (hostIndex < 0 || linkIndex < 0)
      throw invalidField("bridge", `host "${host}" has no link to "${bridge}"`);
    return `h${hostIndex}l${linkIndex}`;
  };

  const topology: Topology = {
    prefix,
    switchNs,
    nsName,
    runner: (host) => root.inNetns(nsName(host)),
    exec: (host, file, args, runOptions) => root.inNetns(nsName(host)).run(file, args, runOptions),
    spawnIn(host, file, args, spawnOptions) {
      const daemon = spawnDaemon("ip", ["netns", "exec", nsName(host), file, ...args], spawnOptions);
      daemons.push(daemon);
      return daemon;
    },
    async setLinkState(host, bridge, state) {
      await ip(["-n", switchNs, "link", "set", "dev", switchPort(host, bridge), state]);
    },
    destroy() {
      process.removeListener("exit", deleteOnExit);
      destroying ??= destroyAll(root, created, daemons);
      return destroying;
    },
  };
  // Last resort when the process exits without destroy() (daemons are SIGKILLed by their own hook).
  function deleteOnExit(): void {
    deleteNamespacesSync(created);
  }
  if (deleteAtExit) process.once("exit", deleteOnExit);
  return topology;
}

/**
 * A Topology over namespaces that an earlier process made with createTopology(spec, { keepAfterExit:
 * true }) and the same prefix: runners, setLinkState and destroy() (which deletes every namespace of
 * the spec that still exists). No exit hook.
 */
export function attachTopology(
  spec: TopologySpec & { prefix: string },
  options: Omit<CreateTopologyOptions, "keepAfterExit"> = {},
): Topology {
  validateSpec(spec);
  const root = options.runner ?? new ExecaCommandRunner({ defaultTimeoutMs: 15_000 });
  const names = [`${spec.prefix}-sw`, ...spec.hosts.map((host) => `${spec.prefix}-${host.name}`)];
  return topologyHandle(spec, spec.prefix, root, names, false);
}

function bridgeCommands(bridge: string): string[] {
  // STP stays off (the kernel default), so ports forward as soon as they are up.
  return [`link add name ${bridge} type bridge`, `link set dev ${bridge} up`];
}

async function addNamespace(root: CommandRunner, name: string, created: string[]): Promise<void> {
  // Recorded first: if `ip netns add` half-succeeds, destroy() still tries to delete it.
  created.push(name);
  await root.run("ip", ["netns", "add", name]);
}

async function destroyAll(
  root: CommandRunner,
  namespaces: readonly string[],
  daemons: readonly DaemonHandle[],
) {
  await Promise.all(daemons.map((daemon) => daemon.stop({ graceMs: 2000 })));
  const problems: string[] = [];
  for (const ns of [...namespaces].reverse()) {
    try {
      await killEverythingIn(root, ns);
      await root.run("ip", ["netns", "delete", ns], { acceptExitCodes: [1] });
    } catch (error) {
      problems.push(`${ns}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const left = new Set(await listNamespaces(root));
  const remaining = namespaces.filter((ns) => left.has(ns));
  if (remaining.length > 0 || problems.length > 0) {
    throw new SanpathError(
      "internal",
      `could not delete network namespaces ${remaining.join(", ")}: ${problems.join("; ")}`,
    );
  }
}

/** SIGKILLs every process still inside `ns` (they are ours: we created the namespace). */
async function killEverythingIn(root: CommandRunner, ns: string): Promise<void> {
  const result = await root.run("ip", ["netns", "pids", ns], { acceptExitCodes: [1] });
  const pids = result.stdout
    .split("\n")
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 1 && pid !== process.pid);
  for (const pid of pids) signalPid(pid, "SIGKILL");
  const deadline = Date.now() + 2000;
  while (pids.some(isPidAlive) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function listNamespaces(root: CommandRunner): Promise<string[]> {
  const result = await root.run("ip", ["netns", "list"]);
  return result.stdout
    .split("\n")
    .map((line) => line.trim().split(" ")[0] ?? "")
    .filter((name) => name !== "");
}

/** Deletes namespaces named like ours whose creating process is gone (a crashed earlier run). */
export async function removeStaleNamespaces(root: CommandRunner): Promise<string[]> {
  const stale = (await listNamespaces(root)).filter((ns) => {
    const pid = Number(STALE_PREFIX.exec(ns)?.[1] ?? Number.NaN);
    return Number.isInteger(pid) && pid !== process.pid && !isPidAlive(pid);
  });
  for (const ns of stale) {
    await killEverythingIn(root, ns);
    await root.run("ip", ["netns", "delete", ns], { acceptExitCodes: [1] });
  }
  return stale;
}

/** For process exit handlers: deletes namespaces synchronously, ignoring failures. */
export function deleteNamespacesSync(namespaces: readonly string[]): void {
  for (const ns of namespaces) {
    execaSync("ip", ["netns", "delete", ns], { reject: false, timeout: 5000 });
  }
}

function validateSpec(spec: TopologySpec): void {
  if (spec.prefix !== undefined && !/^[a-z0-9][a-z0-9-]{0,40}$/.test(spec.prefix)) {
    throw invalidField("prefix", "lower-case letters, digits and '-', at most 41 characters");
  }
  const bridges = new Set<string>();
  for (const [index, bridge] of spec.bridges.entries()) {
    if (!IFNAME_RULE.test(bridge) || bridge === "lo") {
      throw invalidField(`bridges[${index}]`, "an interface name of at most 15 characters");
    }
    if (bridges.has(bridge)) throw invalidField(`bridges[${index}]`, `"${bridge}" appears twice`);
    bridges.add(bridge);
  }
  const hosts = new Set<string>();
  for (const [hostIndex, host] of spec.hosts.entries()) {
    const field = `hosts[${hostIndex}]`;
    if (!NAME_RULE.test(host.name) || host.name === "sw") {
      throw invalidField(
        `${field}.name`,
        "lower-case letters, digits and '-', at most 20 characters, not 'sw'",
      );
    }
    if (hosts.has(host.name)) throw invalidField(`${field}.name`, `"${host.name}" appears twice`);
    hosts.add(host.name);
    const ifnames = new Set<string>();
    for (const [linkIndex, link] of host.links.entries()) {
      const linkField = `${field}.links[${linkIndex}]`;
      if (!bridges.has(link.bridge))
        throw invalidField(`${linkField}.bridge`, `no bridge named "${link.bridge}"`);
      if (!IFNAME_RULE.test(link.ifname) || link.ifname === "lo") {
        throw invalidField(`${linkField}.ifname`, "an interface name of at most 15 characters");
      }
      if (ifnames.has(link.ifname))
        throw invalidField(`${linkField}.ifname`, `"${link.ifname}" appears twice`);
      ifnames.add(link.ifname);
      if (link.address !== undefined) {
        const cidr = parseCidr(link.address);
        if (cidr === undefined || !isDocumentationAddress(cidr.ip)) {
          throw invalidField(
            `${linkField}.address`,
            "an IPv4 CIDR inside 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24",
          );
        }
      }
    }
    for (const key of Object.keys(host.sysctls ?? {})) {
      if (!/^[a-z0-9_.]+$/.test(key)) throw invalidField(`${field}.sysctls`, `"${key}" is not a sysctl name`);
    }
  }
}
