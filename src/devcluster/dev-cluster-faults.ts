/**
 * What a dev cluster can do to one of its nodes: kill it (a power-off), boot it again, cut all its
 * links (a partition) and repair them, kill its tgtd or its Consul agent alone (the supervisor
 * starts them again while supervision is on). The finer faults (a Consul cut, a peer cut, a frozen
 * sanpathd) are in dev-cluster-cuts.ts; heal and kill undo them too. Each change is recorded in the state file (the
 * node's condition), so that a later command knows what was done, and made under the state lock,
 * so that the supervisor never acts on a node halfway through a change.
 */
import { waitForConsulCluster, waitForVoter } from "./consul-server.js";
import { clearNodeFaults, forgetFrozen } from "./dev-cluster-cuts.js";
import { killTrees, stopProcess } from "./detached-process.js";
import { NODE_INTERFACES, nodeBridges } from "./layout.js";
import { SERVICE_START_MS, type RecordedCluster } from "./recorded-cluster.js";
import type { NodeState } from "./state.js";
import { stopTgtd } from "./tgtd-daemon.js";

/**
 * A node's death, as a power-off: its daemons and everything they started SIGKILLed at once
 * (sanpathd with its crash guard, Consul, tgtd), its path IPs gone with it, its cables cut.
 * (Killing only sanpathd and Consul would leave tgtd serving, and sanpathd's crash guard tearing
 * the IPs down: a daemon crash, not a node death.) Other processes in the namespace, such as an
 * `ip -n` sampler, are not the node's and are left alone. Injected faults go with the power: a
 * frozen sanpathd dies like the rest (SIGKILL ends a stopped process), the cut rules are deleted.
 */
export function killNode(cluster: RecordedCluster, name: string): Promise<void> {
  return cluster.exclusive(async () => {
    const node = cluster.node(name);
    await killTrees(cluster.nodeProcesses(node));
    await stopTgtd(undefined, node.tgtControlPort);
    await flushPathAddresses(cluster, node);
    await setLinks(cluster, name, "down");
    await clearNodeFaults(cluster, node);
    node.condition = "killed";
    await cluster.persist();
  });
}

/** Boots a node again: clean interfaces, links up, Consul, tgtd, sanpathd; waits until SERVING. */
export function restartNode(cluster: RecordedCluster, name: string): Promise<void> {
  return cluster.exclusive(async () => {
    const node = cluster.node(name);
    if (node.condition === "running") await killNode(cluster, name);
    else {
      await killTrees(cluster.nodeProcesses(node));
      await stopTgtd(undefined, node.tgtControlPort);
      await flushPathAddresses(cluster, node);
      await clearNodeFaults(cluster, node);
    }
    await setLinks(cluster, name, "up");
    node.condition = "running";
    const signal = AbortSignal.timeout(SERVICE_START_MS * 2);
    await cluster.startNodeConsul(node);
    const live = cluster.state.nodes.filter((other) => other.condition === "running");
    await waitForConsulCluster(
      cluster.consulAgents(live),
      live.map((other) => other.name),
      SERVICE_START_MS,
    );
    await cluster.startNodeTgtd(node, signal);
    await cluster.startNodeSanpathd(node, signal);
    await waitForVoter(node.consulSocket, name, SERVICE_START_MS);
  });
}

/**
 * `kill -9` of the node's tgtd alone, then a new tgtd on the same control port after `downMs` (what
 * systemd's Restart=always does in production): it starts empty, and the node's sanpathd must
 * re-create its targets.
 */
export function restartNodeTgtd(cluster: RecordedCluster, name: string, downMs: number): Promise<void> {
  return cluster.exclusive(async () => {
    const node = runningNode(cluster, name);
    await stopTgtd(node.tgtd, node.tgtControlPort);
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await cluster.startNodeTgtd(node, AbortSignal.timeout(SERVICE_START_MS), { samePort: true });
  });
}

/**
 * `kill -9` of the node's tgtd alone (its control socket removed): the supervisor starts a new one
 * on the same port after its delay, or, with supervision off, it stays dead.
 */
export function killNodeTgtd(cluster: RecordedCluster, name: string): Promise<void> {
  return cluster.exclusive(async () => {
    const node = runningNode(cluster, name);
    await stopTgtd(node.tgtd, node.tgtControlPort);
  });
}

/**
 * `kill -9` of the node's Consul agent alone: its sanpathd loses its agent (and, once the other
 * servers notice, its session) and must fence; the supervisor starts the agent again after its
 * delay, or, with supervision off, it stays dead.
 */
export function killNodeConsul(cluster: RecordedCluster, name: string): Promise<void> {
  return cluster.exclusive(async () => {
    const node = runningNode(cluster, name);
    if (node.consul !== undefined) await stopProcess(node.consul, { signal: "SIGKILL" });
  });
}

/**
 * `kill -9` of the node's sanpathd alone (a daemon crash): its crash guard, Consul agent and tgtd
 * live on, so its paths stay configured until the crash guard tears them down at the moment the
 * daemon would have fenced, and its session ends by TTL. `restart` boots the node again.
 */
export function killNodeSanpathd(cluster: RecordedCluster, name: string): Promise<void> {
  return cluster.exclusive(async () => {
    const node = runningNode(cluster, name);
    if (node.sanpathd !== undefined) await stopProcess(node.sanpathd, { signal: "SIGKILL" });
    if (node.faults !== undefined) {
      forgetFrozen(node);
      await cluster.persist();
    }
  });
}

/** Turns the supervisor's restarts on or off (the supervisor reads the switch every round). */
export function setSupervision(cluster: RecordedCluster, enabled: boolean): Promise<void> {
  return cluster.exclusive(async () => {
    const supervision = cluster.state.supervision;
    if (supervision === undefined) throw new Error("this dev cluster was started without a supervisor");
    supervision.enabled = enabled;
    await cluster.persist();
  });
}

/** Cuts every link of the node (management and both iSCSI nets); its daemons keep running. */
export function partitionNode(cluster: RecordedCluster, name: string): Promise<void> {
  return cluster.exclusive(async () => {
    const node = cluster.node(name);
    if (node.condition === "killed") throw new Error(`${name} is killed: restart it instead`);
    await setLinks(cluster, name, "down");
    node.condition = "partitioned";
    await cluster.persist();
  });
}

/**
 * Repairs the node's links, undoes every other injected fault (Consul and peer cuts, a frozen
 * sanpathd: dev-cluster-cuts.ts) and waits until its Consul server votes again: a server cut off
 * for more than a few seconds is removed from the raft peers (autopilot's dead-server clean-up) and
 * comes back as a non-voter; until it is promoted, losing one more server loses the quorum.
 */
export async function healNode(cluster: RecordedCluster, name: string): Promise<void> {
  const node = await cluster.exclusive(async () => {
    const healed = cluster.node(name);
    if (healed.condition === "killed") throw new Error(`${name} is killed: restart it instead`);
    await setLinks(cluster, name, "up");
    await clearNodeFaults(cluster, healed);
    healed.condition = "running";
    await cluster.persist();
    return healed;
  });
  await waitForVoter(node.consulSocket, name, SERVICE_START_MS);
}

function runningNode(cluster: RecordedCluster, name: string): NodeState {
  const node = cluster.node(name);
  if (node.condition !== "running") throw new Error(`${name} is ${node.condition}: restart the node instead`);
  return node;
}

async function setLinks(cluster: RecordedCluster, name: string, state: "up" | "down"): Promise<void> {
  const topology = cluster.topology();
  for (const bridge of nodeBridges()) await topology.setLinkState(name, bridge, state);
}

/** Removes every address from the node's iSCSI interfaces (they carry path IPs only). */
async function flushPathAddresses(cluster: RecordedCluster, node: NodeState): Promise<void> {
  await cluster.root.run("ip", ["-n", node.netns, "-batch", "-"], {
    input: `addr flush dev ${NODE_INTERFACES.subnet1}\naddr flush dev ${NODE_INTERFACES.subnet2}\n`,
  });
}
