#!/usr/bin/env node
/**
 * deploy/dev-cluster: a real multi-node sanpath cluster on this machine, in network namespaces.
 *   up [--nodes N] [--no-auth] [--no-tls] [--session safe|fast] [--no-supervise] [--restart-delay MS]
 *                                 start it (3 nodes) and leave it running, with a supervisor
 *   down                          stop every process, delete every namespace and the state folder
 *   status [--json]               nodes, their daemons and health, restarts, the raft leader, the coordinator
 *   kill NODE [--reread S]        a node's death (power-off); optionally re-read its paths until they answer
 *   kill-tgtd NODE | kill-consul NODE   kill -9 of one daemon (the supervisor restarts it unless off)
 *   supervise on|off              the supervisor restarts dead tgtd / Consul agents of running nodes, or not
 *   restart NODE                  boot a killed (or running) node again
 *   restart-sanpathd NODE [--hand-off]   restart its sanpathd alone: SIGUSR2, paths stay up and the
 *                                 session is handed over (--hand-off: SIGTERM, paths go to other nodes)
 *   partition NODE | heal NODE    cut / repair every link of a node (its daemons keep running);
 *                                 heal also undoes the faults below
 *   cut-consul NODE | heal-consul NODE   cut / repair its Consul server's traffic to the other servers
 *   cut-peers NODE | heal-peers NODE     cut / repair its sanpathd's gRPC to and from the other nodes
 *   freeze-sanpathd NODE | thaw-sanpathd NODE   SIGSTOP / SIGCONT of its sanpathd
 *   raft-leader                   which node's Consul server is the raft leader
 *   init                          store the dev cluster's settings (as `sanpath cluster init`)
 *   read [--node N] [--wait S]    read every path from the client namespace (iscsi-readcapacity16)
 *   env                           shell lines to point `sanpath` at the cluster
 * State folder: --dir, $SANPATH_DEV_CLUSTER_DIR, default <checkout>/.tmp/dev-cluster.
 * Security is on unless turned off: tokens and mutual TLS from the cluster's own CA (<dir>/pki).
 */
import { join } from "node:path";
import { Argument, Command, Option } from "commander";
import { ExecaCommandRunner } from "../exec/execa-runner.js";
import { attachTopology, listNamespaces } from "../netns/topology.js";
import { projectRoot } from "../util/project-root.js";
import { DEFAULT_PREFIX, DevCluster, type DevClusterStatus } from "./dev-cluster.js";
import {
  clusterInitArgs,
  CONSUL_PEER_PORTS,
  DEFAULT_CONSOLE_FORWARD_PORT,
  devClusterLayout,
  MAX_NODES,
  SANPATHD_LEASE_PORT,
  SANPATHD_PORT,
} from "./layout.js";
import { renderTable } from "../cli/table.js";
import { killAndReread, placedPaths, readPaths, type PathRead } from "./path-reads.js";
import { CONSUL_SESSION_TIMING, DEV_SESSION_TIMING, FAST_SESSION_TIMING } from "./sanpathd-node.js";
import { readState } from "./state.js";

function stateDir(command: Command): string {
  const options = command.optsWithGlobals<{ dir?: string }>();
  return options.dir ?? process.env.SANPATH_DEV_CLUSTER_DIR ?? join(projectRoot(), ".tmp", "dev-cluster");
}

function cliPath(): string {
  return join(projectRoot(), "dist", "src", "cli", "main.js");
}

/** Shell lines (safe for `eval "$(deploy/dev-cluster env)"`) that point the sanpath CLI at node1. */
function envLines(cluster: DevCluster): string[] {
  const first = cluster.state.nodes[0];
  const token = cluster.state.auth?.adminTokenFile;
  const tls = cluster.state.tls;
  const how = [
    ...(tls === undefined ? [] : ["mutual TLS with the admin client certificate"]),
    ...(token === undefined ? [] : ["the admin token"]),
  ];
  return [
    `# the sanpath CLI talks to node1's admin socket (any node answers)${how.length === 0 ? "" : `: ${how.join(", ")}`}`,
    `export SANPATH_SERVER=${first === undefined ? "" : cluster.serverAddress(first.name)}`,
    ...(token === undefined ? [] : [`export SANPATH_TOKEN_FILE=${token}`]),
    ...(tls === undefined
      ? []
      : [
          `export SANPATH_CA=${tls.ca}`,
          `export SANPATH_CERT=${tls.adminCert}`,
          `export SANPATH_KEY=${tls.adminKey}`,
        ]),
    `alias sanpath="node ${cliPath()}"`,
  ];
}

function usageLines(cluster: DevCluster): string[] {
  return [
    ...consoleLines(cluster.consoleUrl(), cluster.state),
    "",
    "Point the sanpath CLI at it:",
    '  eval "$(deploy/dev-cluster env)"   # or:',
    ...envLines(cluster).map((line) => `  ${line}`),
    "Then, for example:",
    "  sanpath cluster info",
    "  sanpath disk list",
  ];
}

function renderStatus(status: DevClusterStatus): string {
  const upDown = (value: boolean): string => (value ? "up" : "DOWN");
  const table = renderTable<DevClusterStatus["nodes"][number]>(
    [
      { header: "node", value: (node) => node.name },
      { header: "state", value: (node) => [node.condition, ...node.faults].join("+") },
      { header: "consul", value: (node) => upDown(node.consul) },
      {
        header: "serf",
        value: (node) => (node.serf !== "" ? node.serf : node.condition === "running" ? "?" : "gone"),
      },
      { header: "tgtd", value: (node) => upDown(node.tgtd) },
      { header: "sanpathd", value: (node) => upDown(node.sanpathd) },
      {
        header: "restarts consul/tgtd",
        value: (node) => `${node.restarts.consul}/${node.restarts.tgtd}`,
        align: "right",
      },
      { header: "health", value: (node) => (node.health === "" ? "-" : node.health) },
      {
        header: "paths",
        value: (node) => (node.paths === undefined ? "?" : String(node.paths)),
        align: "right",
      },
      {
        header: "role",
        value: (node) =>
          [
            node.coordinator ? "coordinator" : "",
            node.raftLeader ? "raft-leader" : "",
            node.cordoned ? "cordoned" : "",
            node.degraded === undefined ? "" : "degraded",
          ]
            .filter((role) => role !== "")
            .join(","),
      },
    ],
    status.nodes,
  );
  const coordinator =
    status.coordinator === undefined
      ? `none${status.clusterInfoProblem === undefined ? "" : ` (${status.clusterInfoProblem})`}`
      : `${status.coordinator.node} (epoch ${status.coordinator.epoch})`;
  const security = [
    status.tls === undefined
      ? "TLS OFF (plaintext)"
      : `TLS on: mutual, CA ${status.tls.ca} (node ports, node-to-node calls and admin sockets)`,
    status.auth === undefined
      ? "tokens OFF (auth.mode none)"
      : `tokens on (admin token ${status.auth.adminTokenFile})`,
  ].join("; ");
  const { supervisor } = status;
  const supervision = {
    on: `on (pid ${supervisor.pid ?? "?"}): a dead tgtd or Consul agent of a running node is restarted after ${supervisor.restartDelayMs ?? "?"} ms`,
    off: `off (pid ${supervisor.pid ?? "?"} idle; deploy/dev-cluster supervise on)`,
    dead: `DEAD (pid ${supervisor.pid ?? "?"} is gone; see supervisor.log)`,
    none: "none (started without one)",
  }[supervisor.state];
  return [
    `dev cluster in ${status.dir} (namespaces ${status.prefix}-*), ceph ${status.ceph ? "up" : "DOWN"}`,
    `security: ${security}`,
    `supervisor: ${supervision}`,
    `raft leader: ${status.raftLeader ?? "none"}; coordinator: ${coordinator}${
      status.initialised === false ? "; cluster settings not stored yet (sanpath cluster init)" : ""
    }`,
    metricsLine(status),
    ...consoleStatusLines(status),
    "",
    table,
    ...status.nodes.flatMap((node) =>
      node.degraded === undefined ? [] : [`${node.name} is degraded: ${node.degraded}`],
    ),
  ].join("\n");
}

/** Where the web console is, from the root namespace, and how to sign in. */
function consoleLines(url: string | undefined, state: DevCluster["state"]): string[] {
  if (url === undefined) return ["console: none (this cluster was started without a console forwarder)"];
  const auth = state.auth;
  return [
    `console: ${url}  (from this machine's root namespace; forwarded to the first node whose console answers)`,
    ...(auth === undefined
      ? ["  no sign-in: auth is off"]
      : [
          `  sign in with the admin token: cat ${auth.adminTokenFile}`,
          ...(auth.viewerTokenFile === undefined
            ? []
            : [`  or as a viewer (sees everything, changes nothing): cat ${auth.viewerTokenFile}`]),
        ]),
    ...(state.tls === undefined
      ? []
      : [
          `  TLS: the cluster CA is ${state.tls.ca} (trust it, or accept the warning); a browser with the`,
          `  admin client certificate (${state.tls.adminCert}) is signed in by it`,
        ]),
    `  headless: chromium --headless --screenshot ${url}   or   npm run -s console:screenshots`,
  ];
}

function consoleStatusLines(status: DevClusterStatus): string[] {
  const { url, nodeUrls } = status.console;
  return [
    `console: ${url ?? "no forwarder"}${nodeUrls.length === 0 ? "" : `; on the nodes' network: ${nodeUrls.join(" ")}`}`,
  ];
}

/** Where the nodes' Prometheus metrics are, and how to read them from the root namespace. */
function metricsLine(status: DevClusterStatus): string {
  const [first] = status.nodes;
  if (first === undefined) return "metrics: no nodes";
  const credentials =
    status.tls === undefined
      ? ""
      : ` --cacert ${status.tls.ca} --cert ${status.tls.adminCert} --key ${status.tls.adminKey}`;
  return [
    `metrics: ${status.nodes.map((node) => node.metricsUrl).join(" ")}`,
    `  read one: ip netns exec ${status.prefix}-ceph curl -s${credentials} ${first.metricsUrl}`,
  ].join("\n");
}

function renderReads(reads: readonly (PathRead & { newNode?: string })[], since: string): string {
  return renderTable<PathRead & { newNode?: string }>(
    [
      { header: "disk", value: (read) => `${read.path.diskId} ${read.path.diskName}` },
      { header: "path", value: (read) => String(read.path.index), align: "right" },
      { header: "ip", value: (read) => read.path.ip },
      {
        header: "node",
        value: (read) =>
          read.newNode === undefined ? read.path.node || "-" : `${read.path.node} -> ${read.newNode || "-"}`,
      },
      {
        header: "read from client",
        value: (read) => (read.read.ok ? `${read.read.bytes ?? 0} bytes` : `FAILED: ${read.read.problem}`),
      },
      { header: since, value: (read) => `${(read.afterMs / 1000).toFixed(2)} s`, align: "right" },
    ],
    reads,
  );
}

/**
 * `down` without a state file: namespaces named like a dev cluster's may belong to a crashed run
 * (or to a cluster kept in another --dir), so they are only deleted when asked to.
 */
async function downWithoutState(dir: string, deleteLeftovers: boolean): Promise<void> {
  const root = new ExecaCommandRunner();
  const leftovers = (await listNamespaces(root)).filter((ns) => ns.startsWith(`${DEFAULT_PREFIX}-`));
  if (leftovers.length === 0) {
    process.stdout.write(`no dev cluster in ${dir}\n`);
    return;
  }
  if (!deleteLeftovers) {
    throw new Error(
      `no state in ${dir}, but namespaces ${leftovers.join(", ")} exist (a crashed run, or a cluster with another --dir); ` +
        "delete them and everything running in them with: deploy/dev-cluster down --leftovers",
    );
  }
  await attachTopology(devClusterLayout(DEFAULT_PREFIX, MAX_NODES).topology, { runner: root }).destroy();
  process.stdout.write(`deleted leftover namespaces ${leftovers.join(", ")}\n`);
}

function program(): Command {
  const cli = new Command("dev-cluster")
    .description("a real multi-node sanpath cluster on this machine, in network namespaces")
    .option("--dir <path>", "state folder (default $SANPATH_DEV_CLUSTER_DIR or .tmp/dev-cluster)")
    .showHelpAfterError()
    .addHelpText(
      "after",
      `
Security (on unless up --no-tls / --no-auth):
  up makes a cluster CA, one certificate per node (OU=node; SANs: its management IP, its name and
  localhost) and an admin client certificate (OU=admin) in <dir>/pki, keys 0600, plus an admin
  token in <dir>/admin.token. Node-to-node gRPC (the coordinator's AcquirePath/CleanPath) is mutual
  TLS with node certificates, and NodeService takes node certificates only. The root namespace has
  no route to the nodes' addresses, so the CLI uses a node's admin unix socket (0600, in the state
  folder), which takes the same mutual TLS: the admin certificate plus the token.
    eval "$(deploy/dev-cluster env)"   # SANPATH_SERVER, SANPATH_TOKEN_FILE, SANPATH_CA/CERT/KEY
    deploy/dev-cluster status          # says "TLS on"`,
    );

  cli
    .command("up")
    .description("start the cluster and leave it running")
    .addOption(new Option("--nodes <n>", `number of nodes (1..${MAX_NODES})`).default("3"))
    .option("--no-auth", "auth.mode none (no tokens)")
    .option(
      "--no-tls",
      "tls.plaintext on every node (default: mutual TLS from a CA the cluster makes in <dir>/pki: node " +
        "certificates for node-to-node calls, an admin client certificate for the CLI)",
    )
    .option(
      "--no-supervise",
      "start the supervisor idle: a dead tgtd or Consul agent stays dead (supervise on)",
    )
    .addOption(
      new Option(
        "--restart-delay <ms>",
        "how long the supervisor waits before restarting a dead daemon",
      ).default("1000"),
    )
    .addOption(
      new Option(
        "--console-port <port>",
        "loopback port of the root namespace the web console is forwarded to (0: any free port)",
      ).default(String(DEFAULT_CONSOLE_FORWARD_PORT)),
    )
    .addOption(
      new Option(
        "--session <timing>",
        "lease: peer leases, sanpathd's defaults (lease 1 s, failover ≈ 2 s; a raft election fences nobody); consul: the Consul session alone, fence after 4 s, lock-delay 5 s; fast: Consul session, 1.5 s / 2 s (a raft election fences every node)",
      )
        .choices(["lease", "consul", "fast"])
        .default("lease"),
    )
    .action(
      async (
        options: {
          nodes: string;
          auth: boolean;
          tls: boolean;
          session: string;
          supervise: boolean;
          restartDelay: string;
          consolePort: string;
        },
        command: Command,
      ) => {
        const dir = stateDir(command);
        const nodes = Number(options.nodes);
        if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES) {
          throw new Error(`--nodes must be 1..${MAX_NODES} (got ${options.nodes})`);
        }
        const restartDelayMs = Number(options.restartDelay);
        if (!Number.isInteger(restartDelayMs) || restartDelayMs < 0) {
          throw new Error(`--restart-delay must be a number of milliseconds (got ${options.restartDelay})`);
        }
        const consolePort = Number(options.consolePort);
        if (!Number.isInteger(consolePort) || consolePort < 0 || consolePort > 65_535) {
          throw new Error(`--console-port must be 0..65535 (got ${options.consolePort})`);
        }
        const cluster = await DevCluster.up({
          consolePort,
          dir,
          nodes,
          auth: options.auth,
          tls: options.tls,
          session:
            options.session === "fast"
              ? FAST_SESSION_TIMING
              : options.session === "consul"
                ? CONSUL_SESSION_TIMING
                : DEV_SESSION_TIMING,
          supervise: options.supervise,
          restartDelayMs,
          keepAfterExit: true,
          progress: (line) => process.stdout.write(`  ${line}\n`),
        });
        process.stdout.write(
          `\nthe dev cluster is up (state in ${dir}).\n${usageLines(cluster).join("\n")}\n`,
        );
        process.stdout.write(`Stop it with: deploy/dev-cluster down\n`);
      },
    );

  cli
    .command("down")
    .description("stop every process, delete every namespace and the state folder")
    .option("--leftovers", "without a state file: delete namespaces named like a dev cluster's")
    .action(async (options: { leftovers?: boolean }, command: Command) => {
      const dir = stateDir(command);
      if (readState(dir) === undefined) {
        await downWithoutState(dir, options.leftovers === true);
        return;
      }
      await DevCluster.open(dir).down();
      process.stdout.write(`the dev cluster in ${dir} is down: no process, namespace or folder left\n`);
    });

  cli
    .command("status")
    .description("nodes, their daemons and health, the raft leader and the coordinator")
    .option("--json", "JSON for scripts")
    .action(async (options: { json?: boolean }, command: Command) => {
      const status = await DevCluster.open(stateDir(command)).status();
      process.stdout.write(
        options.json === true ? `${JSON.stringify(status, null, 2)}\n` : `${renderStatus(status)}\n`,
      );
    });

  cli
    .command("init")
    .description("store the dev cluster's settings (what `sanpath cluster init` with its flags does)")
    .action(async (_options: unknown, command: Command) => {
      await DevCluster.open(stateDir(command)).initCluster();
      process.stdout.write(`cluster settings stored: sanpath ${clusterInitArgs().join(" ")}\n`);
    });

  cli
    .command("read")
    .description("read every path (or one node's) from the client namespace with iscsi-readcapacity16")
    .option("--node <name>", "only the paths this node serves")
    .option("--wait <seconds>", "first wait until every path has a node, then retry each until it reads")
    .option("--json", "JSON for scripts")
    .action(async (options: { node?: string; wait?: string; json?: boolean }, command: Command) => {
      const cluster = DevCluster.open(stateDir(command));
      const waitMs = Number(options.wait ?? 0) * 1000;
      const paths = (await placedPaths(cluster, waitMs)).filter(
        (path) => options.node === undefined || path.node === options.node,
      );
      const reads = await readPaths(cluster, paths, { waitMs });
      process.stdout.write(
        options.json === true ? `${JSON.stringify(reads, null, 2)}\n` : `${renderReads(reads, "time")}\n`,
      );
      if (reads.some((read) => !read.read.ok)) process.exitCode = 1;
    });

  cli
    .command("env")
    .description('shell lines that point the sanpath CLI at the cluster: eval "$(deploy/dev-cluster env)"')
    .action((_options: unknown, command: Command) => {
      process.stdout.write(`${envLines(DevCluster.open(stateDir(command))).join("\n")}\n`);
    });

  const nodeCommand = (
    name: string,
    description: string,
    run: (cluster: DevCluster, node: string) => Promise<void>,
    done: string,
  ): void => {
    cli
      .command(`${name} <node>`)
      .description(description)
      .action(async (node: string, _options: unknown, command: Command) => {
        const started = performance.now();
        await run(DevCluster.open(stateDir(command)), node);
        process.stdout.write(`${node}: ${done} (${Math.round(performance.now() - started)} ms)\n`);
      });
  };
  cli
    .command("kill <node>")
    .description("a node's death: sanpathd, consul and tgtd SIGKILLed, addresses gone, links cut")
    .option("--reread <seconds>", "then re-read each of its paths from the client until it reads again")
    .action(async (node: string, options: { reread?: string }, command: Command) => {
      const cluster = DevCluster.open(stateDir(command));
      if (options.reread === undefined) {
        const started = performance.now();
        await cluster.kill(node);
        process.stdout.write(`${node}: killed (${Math.round(performance.now() - started)} ms)\n`);
        return;
      }
      const report = await killAndReread(cluster, node, { timeoutMs: Number(options.reread) * 1000 });
      process.stdout.write(
        `${node} killed; its ${report.paths.length} paths re-read from the client until they answer:\n` +
          `${renderReads(report.paths, "after the kill")}\n`,
      );
      if (report.paths.some((read) => !read.read.ok)) process.exitCode = 1;
    });
  nodeCommand(
    "kill-tgtd",
    "kill -9 of the node's tgtd alone (the supervisor restarts it on the same port unless supervise off)",
    (c, n) => c.killTgtd(n),
    "tgtd killed",
  );
  nodeCommand(
    "kill-consul",
    "kill -9 of the node's Consul agent alone (the supervisor restarts it unless supervise off)",
    (c, n) => c.killConsulAgent(n),
    "Consul agent killed",
  );
  cli
    .command("supervise")
    .description("turn the supervisor's restarts of dead tgtd and Consul agents on or off")
    .addArgument(new Argument("<switch>", "on or off").choices(["on", "off"]))
    .action(async (value: string, _options: unknown, command: Command) => {
      await DevCluster.open(stateDir(command)).setSupervision(value === "on");
      process.stdout.write(
        value === "on"
          ? "supervision on: a dead tgtd or Consul agent of a running node is restarted\n"
          : "supervision off: a killed tgtd or Consul agent stays dead\n",
      );
    });
  nodeCommand(
    "restart",
    "boot a node again and wait until its sanpathd is SERVING",
    (c, n) => c.restart(n),
    "restarted and SERVING",
  );
  cli
    .command("restart-sanpathd <node>")
    .description(
      "restart the node's sanpathd alone: SIGUSR2, its paths stay up and the new daemon takes over its session",
    )
    .option("--hand-off", "SIGTERM instead (a plain stop: its paths go to other nodes), then start again")
    .action(async (node: string, options: { handOff?: boolean }, command: Command) => {
      const cluster = DevCluster.open(stateDir(command));
      const result = await cluster.restartSanpathd(node, options.handOff === true ? "hand-off" : "restart");
      const how =
        result.mode === "restart" ? "SIGUSR2, paths left up" : "SIGTERM, paths handed to other nodes";
      process.stdout.write(
        `${node}: sanpathd restarted (${how}): pid ${result.oldPid} exited after ${Math.round(result.stoppedAfterMs)} ms, ` +
          `pid ${result.newPid} SERVING with session ${result.sessionId} after ${Math.round(result.servingAfterMs)} ms\n`,
      );
    });
  nodeCommand(
    "partition",
    "cut every link of a node (its daemons keep running)",
    (c, n) => c.partition(n),
    "partitioned",
  );
  nodeCommand(
    "heal",
    "repair the links of a partitioned node and undo its other faults (Consul and peer cuts, a frozen sanpathd)",
    (c, n) => c.heal(n),
    "links up, no fault left",
  );
  nodeCommand(
    "cut-consul",
    `cut the node's Consul server off from the other servers (TCP ${CONSUL_PEER_PORTS.server}-${CONSUL_PEER_PORTS.serfWan}, UDP ` +
      `${CONSUL_PEER_PORTS.serfLan}-${CONSUL_PEER_PORTS.serfWan}, both directions, dropped by nftables in its namespace); its ` +
      `sanpathd's gRPC (${SANPATHD_PORT}, ${SANPATHD_LEASE_PORT}), its local agent and the iSCSI networks keep working`,
    (c, n) => c.cutConsul(n),
    "Consul cut off from the other servers",
  );
  nodeCommand(
    "heal-consul",
    "repair a Consul cut and wait until the node's server is a raft voter again",
    (c, n) => c.healConsul(n),
    "Consul reconnected, a raft voter",
  );
  nodeCommand(
    "cut-peers",
    `cut the node's sanpathd gRPC and peer-lease ports (TCP ${SANPATHD_PORT}, ${SANPATHD_LEASE_PORT}) from and to the other nodes, both directions ` +
      "(nftables in its namespace); its Consul server stays in the cluster",
    (c, n) => c.cutPeers(n),
    "sanpathd gRPC cut off from the other nodes",
  );
  nodeCommand("heal-peers", "repair a peer cut", (c, n) => c.healPeers(n), "sanpathd gRPC reconnected");
  nodeCommand(
    "freeze-sanpathd",
    "SIGSTOP of the node's sanpathd by its recorded PID (its crash guard and tgtd run on, its path IPs stay up)",
    (c, n) => c.freezeSanpathd(n),
    "sanpathd frozen",
  );
  nodeCommand(
    "thaw-sanpathd",
    "SIGCONT of the node's frozen sanpathd",
    (c, n) => c.thawSanpathd(n),
    "sanpathd running again",
  );
  cli
    .command("raft-leader")
    .description("which node's Consul server is the raft leader now (asked of an agent that is not cut off)")
    .action(async (_options: unknown, command: Command) => {
      const leader = await DevCluster.open(stateDir(command)).raftLeader();
      if (leader === undefined) {
        process.stdout.write("none\n");
        process.exitCode = 1;
      } else process.stdout.write(`${leader}\n`);
    });
  return cli;
}

program()
  .parseAsync(process.argv)
  .then(
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      process.stderr.write(`dev-cluster: ${error instanceof Error ? error.message : String(error)}\n`);
      const cause = error instanceof Error ? error.cause : undefined;
      if (cause instanceof Error) process.stderr.write(`  cause: ${cause.message}\n`);
      process.exit(1);
    },
  );
