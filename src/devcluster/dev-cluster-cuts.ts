/**
 * Faults finer than a partition, for the liveness scenarios of issue #17 (docs/design/peer-leases.md):
 *   - consul cut: the node's Consul server can no longer talk to the other nodes' servers (server
 *     RPC, LAN and WAN gossip; TCP and UDP; both directions), while its sanpathd still reaches its
 *     peers over gRPC and the iSCSI networks carry on;
 *   - peers cut: the reverse, its sanpathd's gRPC and peer-lease ports are cut from and to the other nodes, while its
 *     Consul server stays in the cluster;
 *   - frozen sanpathd: SIGSTOP of the node's sanpathd by its recorded PID (its crash guard and tgtd
 *     run on), SIGCONT to thaw it;
 *   - which node's Consul server is the raft leader now.
 *
 * The cuts are nftables rules in the node's own namespace (one table, `inet sanpath_faults`,
 * replaced atomically with what the node's recorded faults say), on its management interface only:
 * the node's own sanpathd still reaches its own Consul agent (127.0.0.1 and the unix socket), and
 * eth1/eth2 (the path IPs) are untouched. Packets are dropped, not refused: to the other side it is
 * a cable cut for these ports, so calls time out rather than fail fast. The root namespace's
 * firewall is never touched.
 *
 * Each fault is recorded in the node's `faults` in the state file before it is made and removed once
 * undone, under the state lock (cluster.exclusive), so `status` shows it and `heal`, `kill` and
 * `down` clear it whatever else happened to the node.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { consulLeader, waitForVoter } from "./consul-server.js";
import { isRunning, processState, signalProcess } from "./detached-process.js";
import { CONSUL_PEER_PORTS, NODE_INTERFACES, SANPATHD_LEASE_PORT, SANPATHD_PORT } from "./layout.js";
import { SERVICE_START_MS, type RecordedCluster } from "./recorded-cluster.js";
import type { NodeFault, NodeState } from "./state.js";

/** The nftables table (family inet) the cuts live in, in the node's namespace. */
export const FAULT_TABLE = "sanpath_faults";

export type NetworkCut = Extract<NodeFault, "consul-cut" | "peers-cut">;

/** The ports a cut drops on the node's management interface, as source or destination port. */
export function cutPorts(cut: NetworkCut): { tcp: readonly number[]; udp: readonly number[] } {
  if (cut === "peers-cut") return { tcp: [SANPATHD_PORT, SANPATHD_LEASE_PORT], udp: [] };
  const { server, serfLan, serfWan } = CONSUL_PEER_PORTS;
  return { tcp: [server, serfLan, serfWan], udp: [serfLan, serfWan] };
}

/**
 * The nft script that makes the node's fault table hold exactly the rules of `cuts`, in one
 * transaction (declare, delete, define: no error whether the table exists or not); with no cuts it
 * only deletes the table.
 */
export function faultRuleset(cuts: readonly NetworkCut[]): string {
  const lines = [`table inet ${FAULT_TABLE}`, `delete table inet ${FAULT_TABLE}`];
  if (cuts.length > 0) {
    const chain = (name: "input" | "output", iface: "iifname" | "oifname"): string[] => {
      const rules = cuts.flatMap((cut) => {
        const ports = cutPorts(cut);
        return (["tcp", "udp"] as const).flatMap((protocol) => {
          const list = ports[protocol];
          if (list.length === 0) return [];
          const set = `{ ${list.join(", ")} }`;
          return ["dport", "sport"].map(
            (direction) =>
              `    ${iface} "${NODE_INTERFACES.mgmt}" ${protocol} ${direction} ${set} drop comment "${cut}"`,
          );
        });
      });
      return [
        `  chain ${name} {`,
        `    type filter hook ${name} priority -10; policy accept;`,
        ...rules,
        "  }",
      ];
    };
    lines.push(
      `table inet ${FAULT_TABLE} {`,
      ...chain("input", "iifname"),
      ...chain("output", "oifname"),
      "}",
    );
  }
  return `${lines.join("\n")}\n`;
}

export function hasFault(node: Pick<NodeState, "faults">, fault: NodeFault): boolean {
  return node.faults?.includes(fault) === true;
}

function networkCuts(node: NodeState): NetworkCut[] {
  return (node.faults ?? []).filter((fault): fault is NetworkCut => fault !== "sanpathd-frozen");
}

function setFault(node: NodeState, fault: NodeFault, present: boolean): void {
  const others = (node.faults ?? []).filter((candidate) => candidate !== fault);
  const faults = present ? [...others, fault] : others;
  node.faults = faults.length === 0 ? undefined : faults;
}

/** Makes the node's fault table match its recorded cuts. */
async function applyCuts(cluster: RecordedCluster, node: NodeState): Promise<void> {
  try {
    await cluster.root
      .inNetns(node.netns)
      .run("nft", ["-f", "-"], { input: faultRuleset(networkCuts(node)) });
  } catch (error) {
    throw new Error(
      `nft in ${node.netns} failed (nftables is installed by deploy/install-deps.sh): ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
}

function cuttableNode(cluster: RecordedCluster, name: string): NodeState {
  const node = cluster.node(name);
  if (node.condition === "killed") throw new Error(`${name} is killed: restart it instead`);
  return node;
}

/** Cuts (or repairs) one kind of the node's traffic; recorded before the cut, forgotten after the repair. */
function setCut(cluster: RecordedCluster, name: string, cut: NetworkCut, present: boolean): Promise<void> {
  return cluster.exclusive(async () => {
    const node = cuttableNode(cluster, name);
    if (present) {
      setFault(node, cut, true);
      await cluster.persist();
      await applyCuts(cluster, node);
    } else {
      const without = { ...node, faults: node.faults?.filter((fault) => fault !== cut) };
      await applyCuts(cluster, without);
      setFault(node, cut, false);
      await cluster.persist();
    }
  });
}

/**
 * The node's Consul server can no longer talk to the other servers (server RPC 8300, gossip 8301 and
 * 8302, TCP and UDP, both directions); its sanpathd's gRPC and the iSCSI networks keep working.
 * The others declare its member failed after gossip detection (~1.5 s).
 */
export function cutNodeConsul(cluster: RecordedCluster, name: string): Promise<void> {
  return setCut(cluster, name, "consul-cut", true);
}

/**
 * Repairs the consul cut and waits until the node's server votes again (one cut off for more than a
 * few seconds was removed from the raft peers and comes back as a non-voter; see healNode).
 */
export async function healNodeConsul(cluster: RecordedCluster, name: string): Promise<void> {
  await setCut(cluster, name, "consul-cut", false);
  const node = cluster.node(name);
  if (node.condition === "running" && node.consul !== undefined && isRunning(node.consul)) {
    await waitForVoter(node.consulSocket, name, SERVICE_START_MS);
  }
}

/** The node's sanpathd gRPC port is cut from and to the other nodes; Consul traffic still flows. */
export function cutNodePeers(cluster: RecordedCluster, name: string): Promise<void> {
  return setCut(cluster, name, "peers-cut", true);
}

export function healNodePeers(cluster: RecordedCluster, name: string): Promise<void> {
  return setCut(cluster, name, "peers-cut", false);
}

/** How long a signalled process may take to show its new state in /proc. */
const SIGNAL_SETTLE_MS = 5000;

async function waitForState(
  node: NodeState,
  done: (state: string | undefined) => boolean,
  what: string,
): Promise<void> {
  const record = node.sanpathd;
  const deadline = Date.now() + SIGNAL_SETTLE_MS;
  while (record !== undefined && !done(processState(record))) {
    if (Date.now() >= deadline) {
      throw new Error(`${record.label} (pid ${record.pid}) is not ${what} after ${SIGNAL_SETTLE_MS} ms`);
    }
    await sleep(10);
  }
}

/**
 * SIGSTOP of the node's sanpathd (its recorded PID; not its crash guard, not tgtd): it neither
 * renews nor answers, while its path IPs stay up and tgtd serves them. Resolves once /proc says
 * it is stopped (state T).
 */
export function freezeNodeSanpathd(cluster: RecordedCluster, name: string): Promise<void> {
  return cluster.exclusive(async () => {
    const node = cuttableNode(cluster, name);
    const record = node.sanpathd;
    if (record === undefined || !isRunning(record)) throw new Error(`${name}'s sanpathd is not running`);
    setFault(node, "sanpathd-frozen", true);
    await cluster.persist();
    signalProcess(record, "SIGSTOP");
    await waitForState(node, (state) => state === "T" || state === undefined, "stopped");
  });
}

/** SIGCONT of the node's frozen sanpathd; resolves once it runs again (or is gone). */
export function thawNodeSanpathd(cluster: RecordedCluster, name: string): Promise<void> {
  return cluster.exclusive(async () => {
    const node = cluster.node(name);
    await thaw(node);
    setFault(node, "sanpathd-frozen", false);
    await cluster.persist();
  });
}

async function thaw(node: NodeState): Promise<void> {
  if (node.sanpathd === undefined || !isRunning(node.sanpathd)) return;
  signalProcess(node.sanpathd, "SIGCONT");
  await waitForState(node, (state) => state !== "T", "running again");
}

/**
 * Undoes every fault recorded for the node: its cut table deleted and its sanpathd thawed (a
 * SIGKILLed one needs no thaw). The caller holds the state lock and persists.
 */
export async function clearNodeFaults(cluster: RecordedCluster, node: NodeState): Promise<void> {
  if (networkCuts(node).length > 0) await applyCuts(cluster, { ...node, faults: undefined });
  if (hasFault(node, "sanpathd-frozen")) await thaw(node);
  node.faults = undefined;
}

/** A frozen sanpathd is no longer frozen once it was killed (SIGKILL ends a stopped process too). */
export function forgetFrozen(node: NodeState): void {
  setFault(node, "sanpathd-frozen", false);
}

/**
 * Which node's Consul server is the raft leader now, as the first answering agent of a running
 * node without a consul cut sees it (a cut-off server may still name a leader it lost);
 * undefined when none answers or none knows a leader.
 */
export async function raftLeaderNode(cluster: RecordedCluster): Promise<string | undefined> {
  cluster.refresh();
  const askable = cluster.state.nodes.filter(
    (node) =>
      node.condition === "running" &&
      !hasFault(node, "consul-cut") &&
      node.consul !== undefined &&
      isRunning(node.consul),
  );
  for (const node of askable) {
    let address: string;
    try {
      address = await consulLeader(node.consulSocket);
    } catch {
      continue;
    }
    if (address === "") continue;
    return cluster.layout.nodes.find((candidate) => address.startsWith(`${candidate.mgmtIp}:`))?.name;
  }
  return undefined;
}
