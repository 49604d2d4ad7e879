import { cleanUpAll } from "../support/clean-up.js";
import { kvOf } from "../support/consul-stores.js";
import { credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { readLeader, type Leader } from "../../src/coordinator/leader-record.js";
import { ClusterServiceClient, type GetLeaderResponse } from "../../src/gen/sanpath/v1/cluster.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { runSanpathCli, startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";
import { until } from "../support/until.js";

function getLeader(address: string): Promise<GetLeaderResponse> {
  const client = new ClusterServiceClient(address, credentials.createInsecure());
  return new Promise<GetLeaderResponse>((resolve, reject) => {
    client.getLeader({}, new Metadata(), { deadline: new Date(Date.now() + 5000) }, (error, response) => {
      client.close();
      if (error !== null) reject(error);
      else resolve(response);
    });
  });
}

describe("coordinator election between real sanpathd processes", () => {
  let consul: ConsulHarness;
  let client: ConsulClient;
  const root = `CoordinatorProcesses${process.pid}`;
  const keys = new ConsulKeys(root);
  const daemons = new Map<string, SanpathdProcess>();

  async function start(name: string): Promise<SanpathdProcess> {
    const daemon = await startSanpathd({
      name,
      consulAddress: consul.agent.httpAddress,
      env: {
        SANPATH_NODE_NAME: name,
        SANPATH_CONSUL_ROOT: root,
        // The election's lock-delay rules (peer leases are tested on the dev cluster).
        SANPATH_LIVENESS_MODE: "consul",
        SANPATH_SESSION_LOCK_DELAY_SECONDS: "2",
        SANPATH_SESSION_FENCE_DEADLINE_MS: "1500",
      },
    });
    daemons.set(name, daemon);
    return daemon;
  }

  const cli = (daemon: SanpathdProcess, ...args: string[]) =>
    runSanpathCli(["--server", daemon.address, "--timeout", "5s", ...args]);

  async function leaderAfter(previous: Leader | undefined, timeoutMs: number): Promise<Leader> {
    return await until(
      "a new coordinator",
      async () => {
        const leader = await readLeader(kvOf(client), keys);
        return leader !== undefined && leader.session !== previous?.session ? leader : undefined;
      },
      { timeoutMs: timeoutMs, retryErrors: true },
    );
  }

  beforeAll(async () => {
    consul = await startConsulHarness("coordinator-sanpathd");
    client = new ConsulClient({ address: consul.agent.httpAddress });
    await Promise.all(["node-a", "node-b", "node-c"].map((name) => start(name)));
  });

  afterAll(async () => {
    await cleanUpAll(
      () => Promise.all([...daemons.values()].map((daemon) => daemon.stop())),
      () => client.close(),
      () => consul.stop(),
    );
  });

  it("elects exactly one coordinator of three; every node names it, with the lock's epoch", async () => {
    const leader = await leaderAfter(undefined, 15_000);
    expect([...daemons.keys()]).toContain(leader.node);
    expect(leader.address).toBe(daemons.get(leader.node)?.address);
    for (const daemon of daemons.values()) {
      expect((await getLeader(daemon.address)).leader).toEqual({
        node: leader.node,
        address: leader.address,
        epoch: leader.epoch,
      });
    }
    const nodes = await cli([...daemons.values()][0] as SanpathdProcess, "-o", "json", "nodes");
    expect(nodes.code).toBe(0);
    const listed = (
      JSON.parse(nodes.stdout) as { nodes: { name: string; online?: boolean; leader?: boolean }[] }
    ).nodes;
    expect(listed.map((node) => node.name).sort()).toEqual(["node-a", "node-b", "node-c"]);
    expect(listed.filter((node) => node.leader === true).map((node) => node.name)).toEqual([leader.node]);
    expect(listed.every((node) => node.online === true)).toBe(true);
  });

  it("answers the paths, job and node commands on any node (a cluster without disks)", async () => {
    const daemon = daemons.get("node-b");
    if (daemon === undefined) throw new Error("no node-b");
    const paths = await cli(daemon, "paths", "list");
    expect(paths.code).toBe(0);
    expect(paths.stdout).toContain("(no paths of running disks match)");
    expect(paths.stdout).toMatch(/Online nodes: node-a, node-b, node-c/);

    const rebalance = await cli(daemon, "paths", "rebalance", "--dry-run");
    expect(rebalance.code).toBe(0);
    expect(rebalance.stdout).toContain("Nothing to move");

    const move = await cli(daemon, "paths", "move", "198.51.100.99", "--to", "node-a", "--dry-run");
    expect(move.code).toBe(1);
    expect(move.stderr).toContain("error: NOT_FOUND: ips[0]: no path of a running disk has IP 198.51.100.99");

    const cordon = await cli(daemon, "-o", "json", "node", "cordon", "node-c");
    expect(cordon.code).toBe(0);
    expect(JSON.parse(cordon.stdout)).toMatchObject({ node: { name: "node-c", cordoned: true } });
    const unknown = await cli(daemon, "node", "cordon", "node-x");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("reason: NODE_NOT_FOUND");

    // The dry run of a drain: no moves for a node without paths, and no job.
    const drainPlan = await cli(daemon, "-o", "json", "node", "drain", "node-c", "--dry-run");
    expect(drainPlan.code).toBe(0);
    expect((JSON.parse(drainPlan.stdout) as { moves?: unknown[] }).moves ?? []).toEqual([]);
    const noJob = await cli(daemon, "-o", "json", "job", "list");
    expect(noJob.stdout).not.toContain("JOB_KIND_DRAIN");
    const drainUnknown = await cli(daemon, "node", "drain", "node-x", "--dry-run");
    expect(drainUnknown.code).toBe(1);
    expect(drainUnknown.stderr).toContain("reason: NODE_NOT_FOUND");

    // Draining a node without paths is a job with nothing to do: it has succeeded at once.
    const drain = await cli(daemon, "node", "drain", "node-c");
    expect(drain.code).toBe(0);
    expect(drain.stdout).toMatch(/job \S+ moves 0 path\(s\) off it/);
    expect(drain.stdout).toContain("finished: succeeded");
    const shown = await cli(daemons.get("node-a") ?? daemon, "-o", "json", "job", "show");
    expect(JSON.parse(shown.stdout)).toMatchObject({
      job: { kind: "JOB_KIND_DRAIN", state: "JOB_STATE_SUCCEEDED", drainNode: "node-c" },
    });
    const uncordon = await cli(daemon, "-o", "json", "node", "uncordon", "node-c");
    expect(JSON.parse(uncordon.stdout)).toMatchObject({ node: { name: "node-c" } });
    expect((JSON.parse(uncordon.stdout) as { node: { cordoned?: boolean } }).node.cordoned).toBeUndefined();
  });

  it("on SIGTERM the coordinator releases its lock and another node leads with a higher epoch", async () => {
    const leader = await leaderAfter(undefined, 15_000);
    const daemon = daemons.get(leader.node);
    if (daemon === undefined) throw new Error("leader is not one of ours");
    const stopped = await daemon.stop({ keepDir: true });
    expect(stopped).toMatchObject({ code: 0, killed: false });
    const stepDown = daemon
      .logLines()
      .find((line) => line.msg === "stepped down as coordinator, lock released");
    expect(stepDown).toMatchObject({ released: true, epoch: leader.epoch, reason: "stopping" });
    daemons.delete(leader.node);
    const next = await leaderAfter(leader, 15_000);
    expect(next.node).not.toBe(leader.node);
    expect(next.epoch).toBeGreaterThan(leader.epoch);
  });

  it("after a kill -9 of the coordinator another node leads once Consul ends its session", async () => {
    const leader = await leaderAfter(undefined, 15_000);
    const daemon = daemons.get(leader.node);
    if (daemon === undefined) throw new Error("leader is not one of ours");
    process.kill(daemon.pid, "SIGKILL");
    await daemon.exited;
    // TTL 10 s: Consul ends the session at most 2 × TTL after its last renew, plus the lock-delay.
    const next = await leaderAfter(leader, 40_000);
    expect(next.node).not.toBe(leader.node);
    expect(next.epoch).toBeGreaterThan(leader.epoch);
    await daemon.stop();
    daemons.delete(leader.node);
  });
});
