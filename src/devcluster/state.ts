/**
 * The dev cluster's state file (<dir>/state.json): everything a later command needs to find and
 * stop what `up` started — namespace prefix, PIDs (with start times), sockets, control ports, and
 * what was done to each node (killed, partitioned). Written after every step, so a failure halfway
 * through `up` still leaves a file that `down` can clean up from.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomically } from "../util/atomic-file.js";
import type { ClusterPki } from "./cluster-pki.js";
import type { ProcessRecord } from "./detached-process.js";
import type { SessionTiming } from "./sanpathd-node.js";

export const STATE_FILE = "state.json";

/** running: as started; killed: its daemons were SIGKILLed and its links cut; partitioned: links cut. */
export type NodeCondition = "running" | "killed" | "partitioned";

/**
 * Faults injected into a node on top of its condition (dev-cluster-cuts.ts), any combination:
 *   consul-cut       its Consul server cannot reach the other nodes' servers (gossip, server RPC)
 *   peers-cut        its sanpathd's gRPC port is cut from and to the other nodes
 *   sanpathd-frozen  its sanpathd is stopped (SIGSTOP); its crash guard and tgtd run on
 * `heal` clears every one of them, `kill` (a power-off) and `down` too.
 */
export const NODE_FAULTS = ["consul-cut", "peers-cut", "sanpathd-frozen"] as const;
export type NodeFault = (typeof NODE_FAULTS)[number];

export interface NodeState {
  readonly name: string;
  readonly netns: string;
  readonly dir: string;
  readonly adminSocket: string;
  readonly consulSocket: string;
  tgtControlPort: number;
  consul?: ProcessRecord | undefined;
  tgtd?: ProcessRecord | undefined;
  sanpathd?: ProcessRecord | undefined;
  condition: NodeCondition;
  /** Faults injected on top of the condition (absent: none). */
  faults?: NodeFault[] | undefined;
  /** How many restarts of the node's daemons the supervisor started (supervisor.ts writes it). */
  restarts?: DaemonRestarts | undefined;
}

/** Restarts of a node's supervised daemons, by the supervisor. */
export interface DaemonRestarts {
  consul: number;
  tgtd: number;
}

/**
 * The node daemons' supervision (src/devcluster/supervisor.ts), as systemd's Restart=always in
 * production: a dead tgtd or Consul agent of a running node is started again after
 * `restartDelayMs`, while `enabled`.
 */
export interface SupervisionState {
  enabled: boolean;
  restartDelayMs: number;
  /** The supervisor process (started by `up`, stopped by `down`). */
  process?: ProcessRecord | undefined;
}

export interface AuthFiles {
  /** The servers' token file (digests only). */
  readonly tokenFile: string;
  /** The admin token, for `sanpath --token-file` (mode 0600). */
  readonly adminTokenFile: string;
  /**
   * The nodes' cluster token (role node), only without TLS: with mutual TLS a node proves itself
   * with its node certificate and sanpathd refuses role-node tokens.
   */
  readonly nodeTokenFile?: string | undefined;
  /** A viewer token (role viewer), to see the console and the CLI as a read-only operator. */
  readonly viewerTokenFile?: string | undefined;
}

/** The web console's forwarder to the root namespace's loopback (console-forwarder.ts). */
export interface ConsoleForwardState {
  readonly host: string;
  /** The bound port (known once the forwarder listens). */
  port?: number | undefined;
  process?: ProcessRecord | undefined;
}

export interface DevClusterState {
  readonly version: 1;
  readonly dir: string;
  readonly prefix: string;
  readonly nodeCount: number;
  readonly createdAt: string;
  /** The process that ran `up` (tests: the test process). */
  readonly ownerPid: number;
  readonly session: SessionTiming;
  readonly auth: AuthFiles | undefined;
  /** Mutual TLS on every node's port and admin socket (undefined: plaintext, `up --no-tls`). */
  readonly tls?: ClusterPki | undefined;
  readonly pool: string;
  /** reassignment.parallelism and logLevel of every sanpathd (a restart keeps them). */
  readonly sanpathd: { readonly parallelism: number; readonly logLevel: string };
  ceph: { readonly dir: string; readonly confPath: string; mon?: ProcessRecord; osd?: ProcessRecord };
  /** The topology exists (namespaces to delete). */
  topology: boolean;
  /** Absent in state files of clusters started without a supervisor. */
  supervision?: SupervisionState | undefined;
  /** Absent in state files of clusters started without one. */
  console?: ConsoleForwardState | undefined;
  nodes: NodeState[];
}

export function stateFilePath(dir: string): string {
  return join(dir, STATE_FILE);
}

export async function writeState(state: DevClusterState): Promise<void> {
  await writeFileAtomically(stateFilePath(state.dir), `${JSON.stringify(state, null, 2)}\n`);
}

/** The state of the dev cluster in `dir`; undefined when there is none. */
export function readState(dir: string): DevClusterState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFilePath(dir), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<DevClusterState>;
  if (parsed.version !== 1 || typeof parsed.prefix !== "string" || !Array.isArray(parsed.nodes)) {
    throw new Error(`${stateFilePath(dir)} is not a dev cluster state file (version 1)`);
  }
  return parsed as DevClusterState;
}
