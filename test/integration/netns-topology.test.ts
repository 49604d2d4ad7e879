import { execa } from "execa";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTopology, listNamespaces, type Topology } from "../harness/netns.js";
import { ExecaCommandRunner } from "../../src/exec/execa-runner.js";
import { isSanpathError } from "../../src/errors/sanpath-error.js";

const root = new ExecaCommandRunner({ defaultTimeoutMs: 10_000 });

async function rootLinks(): Promise<string[]> {
  const { stdout } = await execa("ip", ["-j", "link", "show"], { timeout: 10_000 });
  return (JSON.parse(stdout) as { ifname: string }[]).map((link) => link.ifname).sort();
}

/** arping answers only when `to` is reachable on the same L2 segment. */
async function reaches(topology: Topology, from: string, ifname: string, to: string): Promise<boolean> {
  const result = await topology.exec(from, "arping", ["-f", "-c", "1", "-w", "1", "-I", ifname, to], {
    acceptExitCodes: [1],
  });
  return result.exitCode === 0;
}

describe("network namespace topology", () => {
  let topology: Topology | undefined;
  let linksBefore: string[] = [];

  beforeAll(async () => {
    linksBefore = await rootLinks();
    topology = await createTopology({
      bridges: ["mgmt", "iscsi1"],
      hosts: [
        {
          name: "a",
          links: [
            { bridge: "mgmt", ifname: "eth0", address: "192.0.2.11/24" },
            { bridge: "iscsi1", ifname: "eth1", address: "198.51.100.11/24" },
          ],
          sysctls: { "net.ipv4.ip_nonlocal_bind": "1" },
        },
        { name: "b", links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.12/24" }] },
        { name: "c", links: [{ bridge: "mgmt", ifname: "eth0", address: "192.0.2.13/24" }] },
      ],
    });
  });

  afterAll(async () => {
    await topology?.destroy();
  });

  const topo = (): Topology => {
    if (topology === undefined) throw new Error("topology was not created");
    return topology;
  };

  it("creates one namespace per host plus the switch, all with the unique prefix", async () => {
    const t = topo();
    expect(t.prefix).toMatch(new RegExp(`^sp-${process.pid}-[0-9a-f]{4}$`));
    const names = await listNamespaces(root);
    for (const ns of [t.switchNs, t.nsName("a"), t.nsName("b"), t.nsName("c")]) expect(names).toContain(ns);
  });

  it("puts the addresses on the host ends and brings lo up", async () => {
    const { stdout } = await topo().exec("a", "ip", ["-j", "addr", "show"]);
    const links = JSON.parse(stdout) as {
      ifname: string;
      operstate: string;
      addr_info: { local: string }[];
    }[];
    const byName = new Map(links.map((link) => [link.ifname, link]));
    expect(byName.get("eth0")?.addr_info.map((a) => a.local)).toContain("192.0.2.11");
    expect(byName.get("eth1")?.addr_info.map((a) => a.local)).toContain("198.51.100.11");
    expect(byName.get("lo")?.addr_info.map((a) => a.local)).toContain("127.0.0.1");
    const { stdout: sysctl } = await topo().exec("a", "sysctl", ["-n", "net.ipv4.ip_nonlocal_bind"]);
    expect(sysctl.trim()).toBe("1");
  });

  it("keeps the bridges out of the root namespace and leaves its interfaces untouched", async () => {
    const { stdout } = await topo().exec("a", "ip", ["-j", "link", "show"]);
    expect((JSON.parse(stdout) as { ifname: string }[]).map((l) => l.ifname).sort()).toEqual([
      "eth0",
      "eth1",
      "lo",
    ]);
    const sw = await root.run("ip", ["-n", topo().switchNs, "-j", "link", "show", "type", "bridge"]);
    expect((JSON.parse(sw.stdout) as { ifname: string }[]).map((l) => l.ifname).sort()).toEqual([
      "iscsi1",
      "mgmt",
    ]);
    expect(await rootLinks()).toEqual(linksBefore);
  });

  it("connects hosts on the same bridge and isolates the bridges from each other", async () => {
    const t = topo();
    expect(await reaches(t, "b", "eth1", "198.51.100.11")).toBe(true);
    expect(await reaches(t, "c", "eth0", "192.0.2.11")).toBe(true);
    // c is only on mgmt, b only on iscsi1: even with an address in b's subnet, c cannot reach b.
    await t.exec("c", "ip", ["addr", "add", "198.51.100.99/24", "dev", "eth0"]);
    expect(await reaches(t, "c", "eth0", "198.51.100.12")).toBe(false);
  });

  it("cuts and repairs a host's cable", async () => {
    const t = topo();
    await t.setLinkState("b", "iscsi1", "down");
    expect(await reaches(t, "a", "eth1", "198.51.100.12")).toBe(false);
    await t.setLinkState("b", "iscsi1", "up");
    expect(await reaches(t, "a", "eth1", "198.51.100.12")).toBe(true);
  });

  it("runs daemons inside a host and stops them by PID", async () => {
    const t = topo();
    const daemon = t.spawnIn("c", "sleep", ["600"]);
    // The PID is `ip netns exec`'s, which enters the namespace just after it starts: ask until it has.
    let namespace = "";
    for (let attempt = 0; attempt < 50 && namespace === ""; attempt++) {
      if (attempt > 0) await sleep(20);
      const { stdout } = await execa("ip", ["netns", "identify", String(daemon.pid)], { timeout: 10_000 });
      namespace = stdout.trim();
    }
    expect(namespace).toBe(t.nsName("c"));
    expect(daemon.isRunning()).toBe(true);
    const exit = await daemon.stop({ graceMs: 1000 });
    expect(exit.signal).toBe("SIGTERM");
    expect(daemon.isRunning()).toBe(false);
  });

  it("refuses addresses outside the documentation ranges and over-long interface names", async () => {
    const attempt = (address: string, ifname = "eth1") =>
      createTopology({ bridges: ["br"], hosts: [{ name: "x", links: [{ bridge: "br", ifname, address }] }] });
    await expect(attempt("10.0.0.1/24")).rejects.toSatisfy(
      (error) => isSanpathError(error) && error.field === "hosts[0].links[0].address",
    );
    await expect(attempt("198.51.100.1/24", "a-very-long-ifname")).rejects.toSatisfy(
      (error) => isSanpathError(error) && error.field === "hosts[0].links[0].ifname",
    );
  });
});

describe("topology teardown", () => {
  it("deletes every namespace, kills what still runs inside, and can be called twice", async () => {
    const topology = await createTopology({
      bridges: ["br"],
      hosts: [{ name: "x", links: [{ bridge: "br", ifname: "eth1", address: "203.0.113.5/24" }] }],
    });
    const names = [topology.switchNs, topology.nsName("x")];
    // A process started without spawnIn (e.g. by a driver under test): destroy still kills it.
    const stray = execa("ip", ["netns", "exec", topology.nsName("x"), "sleep", "600"], {
      reject: false,
      timeout: 60_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await topology.destroy();
    await topology.destroy();
    const strayResult = await stray;
    expect(strayResult.signal).toBe("SIGKILL");
    const left = await listNamespaces(root);
    for (const ns of names) expect(left).not.toContain(ns);
  });

  it("cleans up after a failure half-way through creation", async () => {
    const prefix = `sp-${process.pid}-fa11`;
    // Creation fails at the sysctl, after the namespaces and links exist.
    await expect(
      createTopology({
        prefix,
        bridges: ["br"],
        hosts: [
          { name: "y", links: [{ bridge: "br", ifname: "eth1" }], sysctls: { "net.no_such.key": "1" } },
        ],
      }),
    ).rejects.toThrow(/sysctl/);
    const left = await listNamespaces(root);
    expect(left.filter((ns) => ns.startsWith(prefix))).toEqual([]);
  });
});
