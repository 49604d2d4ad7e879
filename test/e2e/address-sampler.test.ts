/**
 * The end-to-end tests' watchdog, checked on its own: with two bare namespaces, an IP added to both
 * is reported as an overlap, and an IP that vanishes is reported unserved until it is back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { longestUnserved, startAddressSampler } from "../../src/devcluster/address-sampler.js";
import { createTopology, type Topology } from "../../src/netns/topology.js";

const IP = "198.51.100.77";

describe("address sampler", () => {
  let topology: Topology | undefined;

  beforeAll(async () => {
    topology = await createTopology({
      bridges: ["iscsi1"],
      hosts: [
        { name: "a", links: [{ bridge: "iscsi1", ifname: "eth1" }] },
        { name: "b", links: [{ bridge: "iscsi1", ifname: "eth1" }] },
      ],
    });
  });

  afterAll(async () => {
    await topology?.destroy();
  });

  it("reports an IP up on two nodes, and how long an IP was up on none", async () => {
    const topo = topology;
    if (topo === undefined) throw new Error("no topology");
    const address = (host: string, op: "add" | "del"): Promise<unknown> =>
      topo.exec(host, "ip", ["addr", op, `${IP}/24`, "dev", "eth1"]);
    const sampler = startAddressSampler({
      nodes: [
        { name: "a", netns: topo.nsName("a") },
        { name: "b", netns: topo.nsName("b") },
      ],
      intervalMs: 2,
    });
    await address("a", "add");
    await sampler.nextRound();
    await sampler.nextRound();
    expect(sampler.holders().get(IP)).toEqual(["a"]);

    await address("b", "add");
    await sampler.nextRound();
    await sampler.nextRound();
    await address("a", "del");
    await address("b", "del");
    await sampler.nextRound();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await address("b", "add");
    await sampler.nextRound();
    await sampler.nextRound();
    const report = await sampler.stop();

    expect(report.overlaps.length).toBeGreaterThan(0);
    expect(report.overlaps.every((overlap) => overlap.ip === IP)).toBe(true);
    expect(report.overlaps[0]?.nodes).toEqual(["a", "b"]);
    expect(report.unserved).toHaveLength(1);
    expect(report.unserved[0]?.to).toBeDefined();
    expect(longestUnserved(report, IP)).toBeGreaterThanOrEqual(100);
    expect(report.holders.get(IP)).toEqual(["b"]);
  });
});
