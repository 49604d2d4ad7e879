/**
 * The dev cluster's finer faults (src/devcluster/dev-cluster-cuts.ts) on a real 3-node dev cluster,
 * no disks: a Consul cut makes the other servers declare the node failed while peers still reach
 * its sanpathd over gRPC (and its own agent still answers on loopback); a peer cut is the reverse;
 * a frozen sanpathd is stopped (state T) while its crash guard and tgtd run on; raftLeader names
 * the node every agent follows; `down` clears a cluster whatever was injected.
 */
import { execa } from "execa";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { consulBinary } from "../../src/consul/consul-binary.js";
import { consulLeader } from "../../src/devcluster/consul-server.js";
import { descendantPids, isRunning, type ProcessRecord } from "../../src/devcluster/detached-process.js";
import type { DevCluster } from "../../src/devcluster/dev-cluster.js";
import { CONSUL_HTTP_PORT } from "../../src/devcluster/layout.js";
import { until, untilTrue } from "../support/until.js";
import { peerStatusCall, useE2eCluster } from "./support.js";

const NODES = ["node1", "node2", "node3"];
/** Gossip detection is ~1.5 s here; a busy 2-core machine gets a wide margin. */
const DETECTION_BOUND_MS = 15_000;
/** Serf retries a failed member every 30 s (reconnect_interval): a healed node may wait that long. */
const REJOIN_BOUND_MS = 90_000;

describe("fault injection on a 3-node dev cluster (Consul cut, peer cut, frozen sanpathd, raft leader)", () => {
  const dev = useE2eCluster("faults");

  /** A node that is not the raft leader, and another one. */
  async function followerAndOther(): Promise<[string, string]> {
    const leader = await until("a raft leader", () => dev().raftLeader(), 30_000);
    const follower = NODES.find((node) => node !== leader) ?? "node1";
    return [follower, NODES.find((node) => node !== follower) ?? "node2"];
  }

  it("raftLeader names the node whose address every agent gives as the leader", async () => {
    const leader = await until("a raft leader", () => dev().raftLeader(), 30_000);
    expect(NODES).toContain(leader);
    const address = dev().layout.nodes.find((node) => node.name === leader)?.mgmtIp ?? "?";
    for (const node of dev().state.nodes) {
      expect(await consulLeader(node.consulSocket)).toMatch(new RegExp(`^${address.replace(/\./g, "\\.")}:`));
    }
    expect((await dev().status()).raftLeader).toBe(leader);
  });

  it("cutConsul: the other servers see the node failed, peers still reach its sanpathd; heal restores both", async () => {
    const [cut, other] = await followerAndOther();
    // From a whole cluster (a retry may follow a cut whose node Consul has not taken back yet).
    await untilTrue(
      `every agent sees ${cut} alive`,
      async () => {
        for (const node of NODES.filter((name) => name !== cut)) {
          if ((await dev().consulMembers(node)).get(cut) !== "alive") return false;
        }
        return true;
      },
      { timeoutMs: REJOIN_BOUND_MS, intervalMs: 250 },
    );
    let healed = false;
    try {
      await dev().cutConsul(cut);
      expect(dev().faults(cut)).toEqual(["consul-cut"]);
      const started = performance.now();
      await untilTrue(
        `every other agent sees ${cut} failed`,
        async () => {
          for (const node of NODES.filter((name) => name !== cut)) {
            if ((await dev().consulMembers(node)).get(cut) !== "failed") return false;
          }
          return true;
        },
        { timeoutMs: DETECTION_BOUND_MS, intervalMs: 100 },
      );
      console.log(
        `consul cut: ${cut} failed for the others after ${Math.round(performance.now() - started)} ms`,
      );
      const status = await dev().status();
      expect(status.nodes.find((node) => node.name === cut)?.faults).toEqual(["consul-cut"]);
      // Its own agent still answers on its namespace's loopback (what its sanpathd uses).
      const local = await execa(
        "ip",
        [
          "netns",
          "exec",
          dev().nodeNs(cut),
          consulBinary(),
          "members",
          "-http-addr",
          `127.0.0.1:${CONSUL_HTTP_PORT}`,
        ],
        { timeout: 10_000 },
      );
      expect(local.stdout).toContain(other);
      // sanpathd's gRPC between the nodes still works, both ways.
      const inbound = await peerStatusCall(dev(), other, cut);
      expect(inbound.code, inbound.output).toBe(0);
      expect(JSON.parse(inbound.output)).toMatchObject({ node: cut });
      const outbound = await peerStatusCall(dev(), cut, other);
      expect(outbound.code, outbound.output).toBe(0);
      expect(JSON.parse(outbound.output)).toMatchObject({ node: other });

      await dev().healConsul(cut);
      healed = true;
      expect(dev().faults(cut)).toEqual([]);
      await untilTrue(
        `${other} sees ${cut} alive again`,
        async () => (await dev().consulMembers(other)).get(cut) === "alive",
        REJOIN_BOUND_MS,
      );
      const again = await peerStatusCall(dev(), other, cut);
      expect(again.code, again.output).toBe(0);
    } finally {
      if (!healed) await dev().heal(cut);
    }
  }, 240_000);

  it("cutPeers: gRPC to and from the node fails within its timeout, its Consul server stays alive", async () => {
    const [cut, other] = await followerAndOther();
    let healed = false;
    try {
      await dev().cutPeers(cut);
      expect(dev().faults(cut)).toEqual(["peers-cut"]);
      const inbound = await peerStatusCall(dev(), other, cut, { connectTimeoutS: 2, timeoutS: 5 });
      expect(inbound.code).not.toBe(0);
      expect(inbound.ms).toBeLessThan(10_000);
      const outbound = await peerStatusCall(dev(), cut, other, { connectTimeoutS: 2, timeoutS: 5 });
      expect(outbound.code).not.toBe(0);
      expect(outbound.ms).toBeLessThan(10_000);
      console.log(`peer cut: calls failed after ${Math.round(inbound.ms)} / ${Math.round(outbound.ms)} ms`);
      // Consul is not cut: for several gossip detection times the node stays alive both ways.
      for (let round = 0; round < 8; round += 1) {
        expect((await dev().consulMembers(other)).get(cut)).toBe("alive");
        expect((await dev().consulMembers(cut)).get(other)).toBe("alive");
        await sleep(500);
      }
      await dev().healPeers(cut);
      healed = true;
      expect(dev().faults(cut)).toEqual([]);
      const again = await peerStatusCall(dev(), other, cut);
      expect(again.code, again.output).toBe(0);
    } finally {
      if (!healed) await dev().heal(cut);
    }
  }, 120_000);

  it("freezeSanpathd stops the node's sanpathd alone (state T); thaw runs it again", async () => {
    const [node] = await followerAndOther();
    const recorded = dev().state.nodes.find((candidate) => candidate.name === node);
    const sanpathd = recorded?.sanpathd;
    const tgtd = recorded?.tgtd;
    if (sanpathd === undefined || tgtd === undefined) throw new Error(`${node} has no sanpathd or tgtd`);
    const guards = descendantPids([sanpathd.pid]);
    expect(guards.length).toBeGreaterThan(0);
    let thawed = false;
    try {
      await dev().freezeSanpathd(node);
      expect(dev().faults(node)).toEqual(["sanpathd-frozen"]);
      expect(procState(sanpathd.pid)).toBe("T");
      for (const pid of [...guards, tgtd.pid]) expect(procState(pid)).not.toBe("T");
      expect((await dev().status()).nodes.find((candidate) => candidate.name === node)?.faults).toEqual([
        "sanpathd-frozen",
      ]);
      // It does not answer while stopped (the kernel accepts the connection, nobody reads it).
      expect(await dev().health(node)).toBe("");
      await dev().thawSanpathd(node);
      thawed = true;
      expect(procState(sanpathd.pid)).toMatch(/^[RSD]$/);
      expect(dev().faults(node)).toEqual([]);
      await untilTrue(
        `${node} answers SERVING again`,
        async () => (await dev().health(node)) === "SERVING",
        30_000,
      );
    } finally {
      if (!thawed) await dev().heal(node);
    }
  }, 60_000);

  it("down stops everything and deletes every namespace with a frozen sanpathd and cuts in place", async () => {
    const cluster: DevCluster = dev();
    await cluster.freezeSanpathd("node2");
    await cluster.cutConsul("node3");
    await cluster.cutPeers("node3");
    expect(cluster.faults("node3")).toEqual(["consul-cut", "peers-cut"]);
    const records: ProcessRecord[] = cluster.state.nodes.flatMap((node) =>
      [node.sanpathd, node.consul, node.tgtd].filter((record) => record !== undefined),
    );
    await cluster.down();
    expect(records.filter(isRunning)).toEqual([]);
    const namespaces = (await execa("ip", ["netns", "list"])).stdout;
    expect(namespaces).not.toContain(`${cluster.state.prefix}-`);
  }, 60_000);
});

/** The state letter of /proc/<pid>/stat (R, S, D, T, …); "" when there is no such process. */
function procState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? "";
  } catch {
    return "";
  }
}
