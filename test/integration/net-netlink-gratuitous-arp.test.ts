/**
 * The gratuitous ARP of NetlinkNetworkDriver really leaves the node: a node and a peer namespace on
 * one bridge; the peer holds a neighbour entry for the path IP with a stale, wrong hardware address
 * (as after a failover, pointing at the node that had the IP before). Linux updates an existing
 * entry from an unsolicited ARP whose sender IP is the entry's IP, so the entry pointing at the
 * node's eth1 afterwards shows that the frame went out on eth1, was an ARP for that IP, and came
 * from the node's hardware address. Nothing else sends the peer an ARP for these IPs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadNetBinding } from "../../native/net.js";
import { NetlinkNetworkDriver } from "../../src/net/netlink-network-driver.js";
import { createTopology, type Topology } from "../harness/netns.js";
import { until } from "../support/until.js";

/** A locally administered address that is nobody's on this bridge. */
const FORMER_HOLDER_MAC = "02:00:5e:00:53:99";

let topology: Topology | undefined;
let driver: NetlinkNetworkDriver | undefined;

beforeAll(async () => {
  topology = await createTopology({
    bridges: ["iscsi1"],
    hosts: [
      { name: "garp", links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.21/24" }] },
      { name: "peer", links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.22/24" }] },
    ],
  });
  driver = new NetlinkNetworkDriver({
    addon: loadNetBinding(),
    runner: topology.runner("garp"),
    netns: topology.nsName("garp"),
  });
});

afterAll(async () => {
  await driver?.close();
  await topology?.destroy();
});

function topo(): Topology {
  if (topology === undefined) throw new Error("the topology was not created");
  return topology;
}

function net(): NetlinkNetworkDriver {
  if (driver === undefined) throw new Error("the driver was not created");
  return driver;
}

async function nodeMac(): Promise<string> {
  const [link] = JSON.parse(
    (await topo().exec("garp", "ip", ["-j", "link", "show", "dev", "eth1"])).stdout,
  ) as {
    address?: string;
  }[];
  if (link?.address === undefined) throw new Error("eth1 of the node has no hardware address");
  return link.address;
}

/** The peer's neighbour entry for `ip`: its hardware address, undefined when it has none. */
async function peerEntry(ip: string): Promise<string | undefined> {
  const entries = JSON.parse(
    (await topo().exec("peer", "ip", ["-j", "neigh", "show", "to", ip, "dev", "eth1"])).stdout,
  ) as { dst?: string; lladdr?: string }[];
  return entries.find((entry) => entry.dst === ip)?.lladdr;
}

async function peerBelieves(ip: string, mac: string): Promise<void> {
  await topo().exec("peer", "ip", ["neigh", "replace", ip, "lladdr", mac, "dev", "eth1", "nud", "stale"]);
  expect(await peerEntry(ip)).toBe(mac);
}

describe("NetlinkNetworkDriver gratuitous ARP on a real link", () => {
  it("sendGratuitousArp makes the peer's entry for the IP point at the node's eth1", async () => {
    const ip = "198.51.100.70";
    const mac = await nodeMac();
    await peerBelieves(ip, FORMER_HOLDER_MAC);
    await net().addAddress({ ip, prefixLength: 24, interface: "eth1" });
    expect(await net().sendGratuitousArp({ ip, interface: "eth1" })).toEqual({ sent: true });
    expect(
      await until(
        `the peer's entry for ${ip} to change`,
        async () => {
          const seen = await peerEntry(ip);
          return seen === FORMER_HOLDER_MAC ? undefined : seen;
        },
        5000,
      ),
    ).toBe(mac);
  });

  it("announce sends it in the background, on the device found for the IP", async () => {
    const ip = "198.51.100.71";
    const mac = await nodeMac();
    await peerBelieves(ip, FORMER_HOLDER_MAC);
    await net().addAddress({ ip, prefixLength: 24, interface: "eth1" });
    const announcement = net().announce({ ip });
    expect(await announcement.finished).toEqual({ sent: true });
    expect(
      await until(
        `the peer's entry for ${ip} to change`,
        async () => {
          const seen = await peerEntry(ip);
          return seen === FORMER_HOLDER_MAC ? undefined : seen;
        },
        5000,
      ),
    ).toBe(mac);
  });

  it("reports a device that is down instead of sending", async () => {
    await topo().exec("garp", "ip", ["link", "add", "v9a", "type", "veth", "peer", "name", "v9b"]);
    const outcome = await net().sendGratuitousArp({ ip: "198.51.100.72", interface: "v9a" });
    expect(outcome.sent).toBe(false);
    expect(outcome.reason).toMatch(/v9a is down/);
  });
});
