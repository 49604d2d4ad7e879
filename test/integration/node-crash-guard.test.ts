/**
 * The crash guard (src/crash-guard/crash-guard.ts) on a one-node cluster in network namespaces (real Consul,
 * Ceph, tgtd, sanpathd): kill -9 of sanpathd, not restarted, removes the node's path IP at once
 * (while its Consul session is still alive) and takes the portal off; a graceful stop leaves the
 * tear-down to sanpathd and the guard just exits; the ExecStopPost form (`--now --config`) then
 * finds nothing left and succeeds.
 */
import { sessionsOf } from "../support/consul-stores.js";
import { execa } from "execa";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTgtTargets } from "../../src/iscsi/tgt-show.js";
import { crashGuardEntry } from "../../src/crash-guard/crash-guard.js";
import { startNsCluster, type ClusterNode, type NsCluster, type TestDisk } from "../harness/cluster-ns.js";
import { untilTrue } from "../support/until.js";

const PATH_IP = "198.51.100.80";
const TEARDOWN_MESSAGE = "crash guard tear-down";

/** PIDs of the crash guards among `pid`'s children. */
function guardPids(pid: number): number[] {
  let children: number[];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter((text) => text !== "")
      .map(Number);
  } catch {
    return [];
  }
  return children.filter((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, "utf8").includes("crash-guard-main.js");
    } catch {
      return false;
    }
  });
}

/** Alive and not a zombie. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** IPv4 addresses in the namespace, read with `ip -n NS -j addr` (not through the node). */
async function namespaceAddresses(ns: string): Promise<string[]> {
  const { stdout } = await execa("ip", ["-n", ns, "-j", "-4", "addr", "show"], {
    timeout: 5000,
    cancelSignal: AbortSignal.timeout(6000),
  });
  const links = JSON.parse(stdout) as { addr_info?: { local?: string }[] }[];
  return links.flatMap((link) => (link.addr_info ?? []).map((info) => info.local ?? ""));
}

function logLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("crash guard: a killed sanpathd's path IPs do not outlive it", () => {
  let cluster: NsCluster | undefined;
  let a: ClusterNode;
  let disk: TestDisk;
  const guards: number[] = [];

  const running = (): NsCluster => {
    if (cluster === undefined) throw new Error("the cluster did not start");
    return cluster;
  };

  beforeAll(async () => {
    expect(crashGuardEntry(), "npm run build first").toBeDefined();
    cluster = await startNsCluster({ name: "crash-guard", nodes: ["a"] });
    a = cluster.node("a");
    await a.waitForSession();
    await cluster.cordon("a");
    disk = await cluster.createDisk({ id: "00001", paths: [{ ip: PATH_IP }] });
  });

  afterAll(async () => {
    try {
      for (const pid of guards) if (isRunning(pid)) process.kill(pid, "SIGKILL");
    } finally {
      await cluster?.destroy();
    }
  });

  it("kill -9 of sanpathd: the guard removes the IP and takes the portal off while the session is still alive", async () => {
    await a.acquire(disk.id, 1);
    expect(await namespaceAddresses(a.ns)).toContain(PATH_IP);
    const session = (await a.status()).session?.id ?? "";
    expect(session).not.toBe("");
    const pid = a.pid ?? 0;
    const [guard] = guardPids(pid);
    expect(guard).toBeDefined();
    guards.push(guard ?? 0);

    await a.kill();
    await untilTrue(
      `${PATH_IP} gone from ${a.ns}`,
      async () => !(await namespaceAddresses(a.ns)).includes(PATH_IP),
      { timeoutMs: 3000, intervalMs: 20 },
    );
    // Nothing else removed it: the dead daemon's session still holds the lock.
    expect(await sessionsOf(running().consul).info(session)).toBeDefined();
    expect((await running().consul.get(running().keys.diskPath(disk.id, 1)))?.session).toBe(session);

    await untilTrue("the guard exits", () => !isRunning(guard ?? 0), { timeoutMs: 5000, intervalMs: 20 });
    const teardowns = logLines(a.log()).filter((line) => line.msg === TEARDOWN_MESSAGE);
    expect(teardowns).toHaveLength(1);
    expect(teardowns[0]).toMatchObject({ component: "crash-guard", removed: [PATH_IP], failed: [] });
    expect(teardowns[0]?.portalsFailed).toEqual([]);
    // Its last portal off: tgt refuses logins to the target.
    const target = parseTgtTargets(await a.tgtd.tgtadm(["--op", "show", "--mode", "target"])).find(
      (candidate) => candidate.iqn === disk.iqn,
    );
    expect(target?.state).toBe("offline");
  });

  it("a graceful stop: sanpathd tears down, the guard exits without a second tear-down; --now finds nothing", async () => {
    await a.start();
    await a.waitForSession();
    await a.acquire(disk.id, 1);
    expect(await namespaceAddresses(a.ns)).toContain(PATH_IP);
    const [guard] = guardPids(a.pid ?? 0);
    expect(guard).toBeDefined();
    guards.push(guard ?? 0);
    const linesBefore = logLines(a.log()).length;

    await a.stop();
    expect(await namespaceAddresses(a.ns)).not.toContain(PATH_IP);
    await untilTrue("the guard exits", () => !isRunning(guard ?? 0), { timeoutMs: 5000, intervalMs: 20 });
    const after = logLines(a.log()).slice(linesBefore);
    expect(after.filter((line) => line.msg === TEARDOWN_MESSAGE)).toEqual([]);
    expect(after.filter((line) => line.component === "crash-guard" && Number(line.level) >= 40)).toEqual([]);

    // ExecStopPost=crash-guard-main.js --now --config …: after the clean stop, nothing is left.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !key.startsWith("SANPATH_")),
    );
    const now = await execa(
      "ip",
      [
        "netns",
        "exec",
        a.ns,
        process.execPath,
        crashGuardEntry() ?? "",
        "--now",
        "--config",
        join(a.dataDir, "..", "sanpathd.json"),
      ],
      { env, extendEnv: false, reject: false, timeout: 20_000, cancelSignal: AbortSignal.timeout(21_000) },
    );
    expect(now.exitCode, now.stderr).toBe(0);
    const [report] = logLines(now.stdout).filter((line) => line.msg === TEARDOWN_MESSAGE);
    expect(report).toMatchObject({ removed: [], failed: [], portalsFailed: [] });
  });
});
