/**
 * The crash guard (src/crash-guard/crash-guard.ts) on a one-node cluster in network namespaces (real Consul,
 * Ceph, tgtd, sanpathd): kill -9 of sanpathd, not restarted, removes the node's path IP at once
 * (while its Consul session is still alive) and takes the portal off; a graceful stop leaves the
 * tear-down to sanpathd and the guard just exits; the ExecStopPost form (`--now --config`) then
 * finds nothing left and succeeds.
 *
 * The lease timer, on the real guard process and a real tear-down without sanpathd: a host
 * namespace with tgtd serving one path (target, IP, portal) and a journal listing it; the test holds
 * the guard's stdin as sanpathd would. Lines `lease-until <ms>` renewed ahead keep the IP up; once
 * they stop (sanpathd frozen: the pipe stays open) the IP goes at the deadline, not before, and the
 * guard stays; a newer line re-arms it. A pipe closed without a line still tears down at once, not
 * at the lease's deadline. With a lease file (`--lease-file`, written by sanpathd's lease worker),
 * a later deadline there moves the tear-down to it when the line's deadline passes; one in the past
 * changes nothing.
 */
import { sessionsOf } from "../support/consul-stores.js";
import { execa } from "execa";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseTgtTargets } from "../../src/iscsi/tgt-show.js";
import {
  CLEAN_EXIT_LINE,
  LeaseLineWriter,
  crashGuardArgs,
  crashGuardEntry,
} from "../../src/crash-guard/crash-guard.js";
import { LeaseFileWriter } from "../../src/crash-guard/lease-file.js";
import { IpDriver } from "../../src/net/ip-driver.js";
import { PathJournal, type LocalPath } from "../../src/node/path-journal.js";
import { PathSetup } from "../../src/node/path-setup.js";
import { monotonicNowMs } from "../../src/util/monotonic-clock.js";
import { startNsCluster, type ClusterNode, type NsCluster, type TestDisk } from "../harness/cluster-ns.js";
import { createTopology, type Topology } from "../harness/netns.js";
import { startTgtd, type TgtdHarness } from "../harness/tgtd.js";
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

describe("crash guard lease timer: a frozen sanpathd's path IPs do not outlive its lease", () => {
  const LEASE_IP = "198.51.100.81";
  const LEASE_IQN = `iqn.2016-05.org.sanpath.test${process.pid}:lease-00001`;
  const EXPIRED = "lease expired: sanpathd did not renew by";
  const REARMED = "sanpathd renewed its lease after it expired; the lease timer is armed again";
  let topology: Topology | undefined;
  let tgtd: TgtdHarness | undefined;
  let dir = "";
  let image = "";
  let setup: PathSetup;
  const started: GuardProcess[] = [];

  interface GuardProcess {
    readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
    readonly pid: number;
    readonly lease: LeaseLineWriter;
    readonly exited: Promise<number | null>;
    /** The guard's JSON log lines so far. */
    log(): Record<string, unknown>[];
  }

  const topo = (): Topology => {
    if (topology === undefined) throw new Error("the topology was not created");
    return topology;
  };

  const path: LocalPath = {
    diskId: "00001",
    index: 1,
    ip: LEASE_IP,
    prefixLength: 24,
    interface: "eth1",
    vlanId: undefined,
    iqn: LEASE_IQN,
    state: "served",
  };

  beforeAll(async () => {
    expect(crashGuardEntry(), "npm run build first").toBeDefined();
    dir = mkdtempSync(join(tmpdir(), "sanpath-crash-guard-lease-"));
    image = join(dir, "image-00001");
    writeFileSync(image, "");
    truncateSync(image, 16 * 1024 * 1024);
    topology = await createTopology({
      bridges: ["iscsi1"],
      hosts: [
        {
          name: "a",
          links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.11/24" }],
          sysctls: { "net.ipv4.ip_nonlocal_bind": "1" },
        },
      ],
    });
    tgtd = await startTgtd(topology, "a");
    setup = new PathSetup(
      tgtd.driver({ stateFile: join(dir, "tgt-portals.json") }),
      new IpDriver({ runner: topology.runner("a") }),
    );
    const journal = await PathJournal.open(join(dir, "node-paths.json"));
    await journal.put(path);
    await journal.flush();
  });

  /** A guard a failed test left running must not act in the next test. */
  async function stopGuards(): Promise<void> {
    for (const guard of started) if (isRunning(guard.pid)) process.kill(guard.pid, "SIGKILL");
    await Promise.all(started.map((guard) => guard.exited));
  }

  afterEach(stopGuards);

  afterAll(async () => {
    try {
      await stopGuards();
      await tgtd?.stop();
    } finally {
      await topology?.destroy();
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
    }
  });

  async function configurePath(): Promise<void> {
    await setup.configure(
      path,
      {
        iqn: LEASE_IQN,
        backing: { kind: "file", path: image },
        acl: { allInitiators: true, initiatorIqns: [] },
      },
      AbortSignal.timeout(20_000),
    );
    expect(await namespaceAddresses(topo().nsName("a"))).toContain(LEASE_IP);
  }

  /** The real guard in host a's namespace; the test holds its stdin as sanpathd does. */
  async function startGuard(options: { leaseFile?: string } = {}): Promise<GuardProcess> {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        topo().nsName("a"),
        process.execPath,
        crashGuardEntry() ?? "",
        ...crashGuardArgs({
          journalFile: join(dir, "node-paths.json"),
          handoverFile: join(dir, "handover.json"),
          target: {
            driver: "tgt",
            tgtControlPort: tgtd?.controlPort ?? 0,
            tgtStateFile: join(dir, "tgt-portals.json"),
          },
          logLevel: "trace",
          ...(options.leaseFile === undefined ? {} : { leaseFile: options.leaseFile }),
        }),
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    const pid = child.pid;
    if (pid === undefined) throw new Error("the guard did not start");
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stdin.on("error", () => undefined);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const guard: GuardProcess = {
      child,
      pid,
      lease: new LeaseLineWriter(child.stdin),
      exited,
      log: () => logLines(output),
    };
    started.push(guard);
    // `ip netns exec` execs the command: the PID is the guard's own.
    await untilTrue(
      "the guard is armed",
      () => guard.log().some((line) => line.msg === "crash guard armed"),
      {
        timeoutMs: 10_000,
        intervalMs: 20,
      },
    );
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toContain("crash-guard-main.js");
    return guard;
  }

  const teardowns = (guard: GuardProcess): Record<string, unknown>[] =>
    guard.log().filter((line) => line.msg === TEARDOWN_MESSAGE);

  /**
   * Polls for LEASE_IP every 25 ms until it is gone (or `untilMs` on CLOCK_MONOTONIC): when it went,
   * and how many polls saw it.
   */
  async function watchIpGo(untilMs: number): Promise<{ goneAt: number | undefined; polls: number }> {
    let polls = 0;
    while (monotonicNowMs() < untilMs) {
      const present = (await namespaceAddresses(topo().nsName("a"))).includes(LEASE_IP);
      const at = monotonicNowMs();
      polls += 1;
      if (!present) return { goneAt: at, polls };
      await sleep(25);
    }
    return { goneAt: undefined, polls };
  }

  /** Writes `deadlineMs` to the lease file `file` and closes its writer (it is not advanced). */
  async function writeLeaseFile(file: string, deadlineMs: number): Promise<void> {
    const writer = await LeaseFileWriter.open(file);
    writer.write(deadlineMs);
    await writer.close();
  }

  it("renewed ahead, the IP stays; no renewal (frozen, pipe open): gone after the deadline, the guard stays and re-arms", async () => {
    await configurePath();
    const guard = await startGuard();

    // sanpathd renewing: every 100 ms, a deadline 300 ms ahead, for 1.5 s.
    const renewUntil = monotonicNowMs() + 1500;
    while (monotonicNowMs() < renewUntil) {
      guard.lease.write(monotonicNowMs() + 300);
      await sleep(100);
    }
    guard.lease.write(monotonicNowMs() + 300);
    expect(await namespaceAddresses(topo().nsName("a"))).toContain(LEASE_IP);
    expect(teardowns(guard)).toEqual([]);

    // The last renewal: then sanpathd freezes (no more lines; the pipe stays open).
    const deadline = Math.floor(monotonicNowMs() + 1500);
    guard.lease.write(deadline);
    let goneAt: number | undefined;
    let polls = 0;
    while (goneAt === undefined && monotonicNowMs() < deadline + 15_000) {
      const present = (await namespaceAddresses(topo().nsName("a"))).includes(LEASE_IP);
      const at = monotonicNowMs();
      polls += 1;
      if (!present) goneAt = at;
      else await sleep(25);
    }
    expect(goneAt, `${LEASE_IP} removed within 15 s of the deadline`).toBeDefined();
    // Seen up in the polls before the deadline (the first one ends well before it), gone only after.
    expect(polls).toBeGreaterThan(1);
    expect(goneAt ?? 0).toBeGreaterThanOrEqual(deadline);
    expect(isRunning(guard.pid)).toBe(true);

    await untilTrue("the tear-down is logged", () => teardowns(guard).length > 0, {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    const [report] = teardowns(guard);
    expect(report).toMatchObject({
      component: "crash-guard",
      leaseUntilMs: deadline,
      removed: [LEASE_IP],
      failed: [],
      portalsFailed: [],
    });
    expect(String(report?.why)).toContain(`${EXPIRED} ${deadline} ms`);
    expect(Number(report?.lateMs)).toBeGreaterThanOrEqual(0);
    expect(Number(report?.lateMs)).toBeLessThan(10_000);
    // Its last portal off: tgt refuses logins to the target.
    const target = parseTgtTargets(await (tgtd?.tgtadm(["--op", "show", "--mode", "target"]) ?? "")).find(
      (candidate) => candidate.iqn === LEASE_IQN,
    );
    expect(target?.state).toBe("offline");

    // sanpathd resumes: a newer deadline is accepted and arms the timer again.
    guard.lease.write(monotonicNowMs() + 60_000);
    await untilTrue("the guard re-arms", () => guard.log().some((line) => line.msg === REARMED), {
      timeoutMs: 5000,
      intervalMs: 20,
    });
    expect(isRunning(guard.pid)).toBe(true);
    expect(teardowns(guard)).toHaveLength(1);
    expect(guard.log().filter((line) => line.msg === "crash guard ignores a line from sanpathd")).toEqual([]);

    // A clean stop: the guard exits without another tear-down.
    guard.child.stdin.end(`${CLEAN_EXIT_LINE}\n`);
    expect(await guard.exited).toBe(0);
    expect(teardowns(guard)).toHaveLength(1);
  });

  it("the pipe closes without a line while the lease still runs: the tear-down is at once, not at the deadline", async () => {
    await configurePath();
    const guard = await startGuard();
    guard.lease.write(monotonicNowMs() + 60_000);
    await untilTrue(
      "the lease timer is armed",
      () => guard.log().some((line) => line.msg === "lease timer armed"),
      {
        timeoutMs: 5000,
        intervalMs: 20,
      },
    );

    const closedAt = monotonicNowMs();
    guard.child.stdin.destroy();
    await untilTrue(
      `${LEASE_IP} gone`,
      async () => !(await namespaceAddresses(topo().nsName("a"))).includes(LEASE_IP),
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    expect(monotonicNowMs() - closedAt).toBeLessThan(30_000);
    expect(await guard.exited).toBe(0);
    const reports = teardowns(guard);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({
      why: "sanpathd exited without a clean stop",
      removed: [LEASE_IP],
      failed: [],
    });
  });

  it("a lease file deadline ahead: no tear-down at the line's deadline; the file's, not advanced, tears down when it passes", async () => {
    await configurePath();
    const leaseFile = join(dir, "lease-ahead");
    const guard = await startGuard({ leaseFile });
    // The guard reads the file only when the line's deadline passes.
    const fileDeadline = monotonicNowMs() + 1500;
    await writeLeaseFile(leaseFile, fileDeadline);
    const lineDeadline = Math.floor(monotonicNowMs() + 300);
    guard.lease.write(lineDeadline);

    const { goneAt, polls } = await watchIpGo(fileDeadline + 15_000);
    expect(goneAt, `${LEASE_IP} removed within 15 s of the file's deadline`).toBeDefined();
    // Up all through the line's deadline (polled every 25 ms past it), gone only after the file's.
    expect(polls).toBeGreaterThan(10);
    expect(goneAt ?? 0).toBeGreaterThanOrEqual(fileDeadline);
    expect(isRunning(guard.pid)).toBe(true);

    const moved = guard.log().filter((line) => line.msg === "lease timer moved by the lease file");
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatchObject({ expiredMs: lineDeadline });
    expect(Number(moved[0]?.leaseFileMs)).toBeCloseTo(fileDeadline, 2);
    await untilTrue("the tear-down is logged", () => teardowns(guard).length > 0, {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    expect(teardowns(guard)).toHaveLength(1);
    expect(teardowns(guard)[0]).toMatchObject({
      component: "crash-guard",
      leaseUntilMs: Math.round(fileDeadline),
      fromLeaseFile: true,
      removed: [LEASE_IP],
      failed: [],
    });

    guard.child.stdin.end(`${CLEAN_EXIT_LINE}\n`);
    expect(await guard.exited).toBe(0);
    expect(teardowns(guard)).toHaveLength(1);
  });

  it("a lease file deadline in the past changes nothing: the tear-down is at the line's deadline", async () => {
    await configurePath();
    const leaseFile = join(dir, "lease-past");
    const guard = await startGuard({ leaseFile });
    await writeLeaseFile(leaseFile, monotonicNowMs() - 1000);
    const lineDeadline = Math.floor(monotonicNowMs() + 300);
    guard.lease.write(lineDeadline);

    const { goneAt, polls } = await watchIpGo(lineDeadline + 15_000);
    expect(goneAt, `${LEASE_IP} removed within 15 s of the line's deadline`).toBeDefined();
    expect(polls).toBeGreaterThan(1);
    expect(goneAt ?? 0).toBeGreaterThanOrEqual(lineDeadline);
    await untilTrue("the tear-down is logged", () => teardowns(guard).length > 0, {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    const [report] = teardowns(guard);
    expect(report).toMatchObject({ leaseUntilMs: lineDeadline, removed: [LEASE_IP], failed: [] });
    expect(report?.fromLeaseFile).toBeUndefined();
    expect(Number(report?.lateMs)).toBeLessThan(10_000);
    expect(guard.log().filter((line) => line.msg === "lease timer moved by the lease file")).toEqual([]);
    expect(guard.log().some((line) => line.msg === "the lease file holds no later deadline")).toBe(true);

    guard.child.stdin.end(`${CLEAN_EXIT_LINE}\n`);
    expect(await guard.exited).toBe(0);
    expect(teardowns(guard)).toHaveLength(1);
  });
});
