/**
 * A dev cluster node's Consul SERVER agent, inside the node's namespace: raft among all nodes
 * (`-bootstrap-expect N`), fast raft timing and fast gossip failure detection (the measured
 * figures are in the project's infra notes: leader in ~1.5 s, a dead agent noticed in ~1.4 s).
 * HTTP on 127.0.0.1:8500 inside the namespace (sanpathd's local agent) and on a unix socket in the
 * node's folder (the root namespace reads it: status, tests).
 *
 * The configuration, the agent's arguments and the readiness checks are also the building blocks
 * of the test harness's cluster (test/harness/cluster-ns.ts: one server, a client agent per node).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { consulBinary } from "../consul/consul-binary.js";
import { spawnDetached, type ProcessRecord } from "./detached-process.js";
import { CONSUL_HTTP_PORT, CONSUL_PEER_PORTS, type NodeLayout } from "./layout.js";
import { unixGetJson } from "./unix-http.js";

/** Gossip settings shipped with the dev cluster (failure detection ~1.4 s instead of ~5.6 s). */
export const FAST_GOSSIP = { probe_interval: "250ms", probe_timeout: "150ms", suspicion_mult: 4 } as const;

export interface ConsulServerFiles {
  readonly dataDir: string;
  readonly configFile: string;
  readonly httpSocket: string;
  readonly logFile: string;
}

export function consulServerFiles(nodeDir: string): ConsulServerFiles {
  return {
    dataDir: join(nodeDir, "consul-data"),
    configFile: join(nodeDir, "consul.json"),
    httpSocket: join(nodeDir, "consul.sock"),
    logFile: join(nodeDir, "consul.log"),
  };
}

/** Writes the node's agent configuration (idempotent; a restart uses the same file and data). */
export function writeConsulConfig(files: ConsulServerFiles): void {
  writeFileSync(
    files.configFile,
    `${JSON.stringify(
      {
        data_dir: files.dataDir,
        client_addr: "127.0.0.1",
        addresses: { http: `127.0.0.1 unix://${files.httpSocket}` },
        ports: {
          http: CONSUL_HTTP_PORT,
          dns: -1,
          grpc: -1,
          server: CONSUL_PEER_PORTS.server,
          serf_lan: CONSUL_PEER_PORTS.serfLan,
          serf_wan: CONSUL_PEER_PORTS.serfWan,
        },
        performance: { raft_multiplier: 1 },
        gossip_lan: FAST_GOSSIP,
        // A restarted server votes again after 2 s instead of 10 s (until then a 3-node cluster
        // that loses one more node has no quorum).
        autopilot: { server_stabilization_time: "2s" },
        log_level: "warn",
        disable_update_check: true,
        leave_on_terminate: false,
        skip_leave_on_interrupt: true,
      },
      null,
      2,
    )}\n`,
  );
}

export interface ConsulAgentRole {
  /** The agent's node name. */
  node: string;
  /** Its address on the management network (bound and advertised). */
  bindIp: string;
  /** A server that waits for this many servers before electing a leader; undefined = a client. */
  bootstrapExpect?: number | undefined;
  /** Agents to join (again every second until one answers). */
  retryJoin: readonly string[];
}

/** `consul agent …` arguments for an agent configured by writeConsulConfig. */
export function consulAgentArgs(files: ConsulServerFiles, role: ConsulAgentRole): string[] {
  return [
    "agent",
    "-config-file",
    files.configFile,
    "-node",
    role.node,
    "-bind",
    role.bindIp,
    "-advertise",
    role.bindIp,
    ...(role.bootstrapExpect === undefined
      ? []
      : ["-server", "-bootstrap-expect", String(role.bootstrapExpect)]),
    ...role.retryJoin.flatMap((address) => ["-retry-join", address]),
    "-retry-interval",
    "1s",
    "-disable-host-node-id",
  ];
}

/** Starts the agent detached in `netns`; returns at once (see waitForConsulCluster). */
export function startConsulServer(
  node: NodeLayout,
  allNodes: readonly NodeLayout[],
  netns: string,
  files: ConsulServerFiles,
): ProcessRecord {
  const args = consulAgentArgs(files, {
    node: node.name,
    bindIp: node.mgmtIp,
    bootstrapExpect: allNodes.length,
    retryJoin: allNodes.filter((other) => other.name !== node.name).map((other) => other.mgmtIp),
  });
  return spawnDetached({
    netns,
    file: consulBinary(),
    args,
    logFile: files.logFile,
    label: `consul ${node.name}`,
  });
}

/** The raft leader's address as one agent sees it ("" = none). */
export async function consulLeader(httpSocket: string, timeoutMs = 1000): Promise<string> {
  const leader = await unixGetJson(httpSocket, "/v1/status/leader", timeoutMs);
  return typeof leader === "string" ? leader : "";
}

/** Node name → serfHealth status ("passing", "critical") as one agent sees the catalog. */
export async function consulNodeHealth(httpSocket: string, timeoutMs = 1000): Promise<Map<string, string>> {
  const checks = await unixGetJson(httpSocket, "/v1/health/state/any", timeoutMs);
  const health = new Map<string, string>();
  if (!Array.isArray(checks)) return health;
  for (const check of checks as unknown[]) {
    if (typeof check !== "object" || check === null) continue;
    const { Node, CheckID, Status } = check as Record<string, unknown>;
    if (CheckID === "serfHealth" && typeof Node === "string" && typeof Status === "string") {
      health.set(Node, Status);
    }
  }
  return health;
}

/** Serf member states (`consul members`): Consul's numeric Status by name. */
const MEMBER_STATUS: Readonly<Record<number, string>> = {
  0: "none",
  1: "alive",
  2: "leaving",
  3: "left",
  4: "failed",
};

/**
 * Node name → serf LAN member status ("alive", "failed", "left", …) as one agent sees the gossip
 * pool now (`consul members`; /v1/agent/members, answered by the agent itself, no leader needed).
 */
export async function consulMembers(httpSocket: string, timeoutMs = 1000): Promise<Map<string, string>> {
  const members = await unixGetJson(httpSocket, "/v1/agent/members", timeoutMs);
  const status = new Map<string, string>();
  if (!Array.isArray(members)) return status;
  for (const member of members as unknown[]) {
    const { Name, Status } = (member ?? {}) as Record<string, unknown>;
    if (typeof Name === "string" && typeof Status === "number") {
      status.set(Name, MEMBER_STATUS[Status] ?? String(Status));
    }
  }
  return status;
}

/** Names of the raft voters, as the agent behind `httpSocket` sees the raft configuration. */
export async function raftVoters(httpSocket: string, timeoutMs = 1000): Promise<string[]> {
  const configuration = await unixGetJson(httpSocket, "/v1/operator/raft/configuration", timeoutMs);
  const servers = (configuration as { Servers?: unknown } | null)?.Servers;
  if (!Array.isArray(servers)) return [];
  return (servers as unknown[]).flatMap((server) => {
    const { Node, Voter } = (server ?? {}) as Record<string, unknown>;
    return typeof Node === "string" && Voter === true ? [Node] : [];
  });
}

/** Waits until `name` is a raft voter (a restarted server first joins as a non-voter). */
export async function waitForVoter(httpSocket: string, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let problem = "no answer yet";
  while (Date.now() < deadline) {
    try {
      const voters = await raftVoters(httpSocket);
      if (voters.includes(name)) return;
      problem = `voters are ${voters.join(", ") || "none"}`;
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    await sleep(200);
  }
  throw new Error(`${name} did not become a raft voter within ${timeoutMs} ms: ${problem}`);
}

/**
 * Waits until every agent in `nodes` answers, agrees on a raft leader, and sees every node of
 * `expectPassing` with a passing serfHealth (sessions need the node in the catalog).
 */
/** An agent to ask (over its HTTP unix socket) while waiting for the cluster. */
export interface ConsulAgentProbe {
  name: string;
  httpSocket: string;
  /** Whether its process still runs (an agent that exited fails the wait at once). */
  running: () => boolean;
}

export async function waitForConsulCluster(
  agents: readonly ConsulAgentProbe[],
  expectPassing: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let problem = "no answer yet";
  while (Date.now() < deadline) {
    const dead = agents.find((agent) => !agent.running());
    if (dead !== undefined) throw new Error(`consul on ${dead.name} exited during start-up`);
    try {
      problem = await clusterProblem(agents, expectPassing);
      if (problem === "") return;
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  throw new Error(`the Consul servers did not form a cluster within ${timeoutMs} ms: ${problem}`);
}

async function clusterProblem(
  agents: readonly { name: string; httpSocket: string }[],
  expectPassing: readonly string[],
): Promise<string> {
  for (const agent of agents) {
    const leader = await consulLeader(agent.httpSocket);
    if (leader === "") return `${agent.name} sees no raft leader`;
    const health = await consulNodeHealth(agent.httpSocket);
    const missing = expectPassing.filter((name) => health.get(name) !== "passing");
    if (missing.length > 0) return `${agent.name} does not see ${missing.join(", ")} passing`;
  }
  return "";
}
