/**
 * The socket channel (tgtd's management protocol spoken from this process) against the real
 * tgtadm and a real tgtd:
 * - tgtadm sends the very bytes the encoder makes, for every argument list the driver uses (tgtadm
 *   pointed at a stand-in socket with TGT_IPC_SOCKET);
 * - a tgtd in a network namespace of its own, with two initiators (namespaces c1 and c2): the same
 *   `--op show` text and the same failures as the tgtadm process; the driver over the socket runs
 *   no process, and tgtd closes the connections at one portal only (without the net addon); with
 *   the addon, one initiator logged in through two portals of a target loses only the session of
 *   the portal disabled, whose sockets are destroyed in process (no process, no request to tgtd
 *   about connections); a killed and restarted tgtd is reached again; a stopped (SIGSTOP) tgtd
 *   does not hold a call past its deadline.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CommandFailedError,
  secret,
  type CommandArg,
  type CommandResult,
  type CommandRunner,
  type RunOptions,
} from "../../src/exec/command-runner.js";
import { ExecaCommandRunner } from "../../src/exec/execa-runner.js";
import { createLogger } from "../../src/log/logger.js";
import { boundTgtadm, type Tgtadm } from "../../src/iscsi/tgt-admin.js";
import { lockHolderPid } from "../../src/iscsi/tgt-daemon-sockets.js";
import { TgtDriver } from "../../src/iscsi/tgt-driver.js";
import { tgtMgmtRequestOf } from "../../src/iscsi/tgt-mgmt-args.js";
import { encodeTgtMgmtRequest } from "../../src/iscsi/tgt-mgmt-protocol.js";
import { socketTgtadm, tgtdLockPath, tgtdSocketPath } from "../../src/iscsi/tgt-mgmt-socket.js";
import { createTopology, type Topology } from "../harness/netns.js";
import { startTgtd, type TgtdHarness } from "../harness/tgtd.js";
import { rejectionAs } from "../support/thrown.js";

const BASE = `iqn.2016-05.org.sanpath.mgmt${process.pid}`;

/** Every argument list the tgt driver passes to tgtadm (src/iscsi/tgt-*.ts). */
const DRIVER_ARGUMENT_LISTS: readonly (readonly CommandArg[])[] = [
  ["--op", "show", "--mode", "target"],
  ["--op", "show", "--mode", "portal"],
  ["--op", "show", "--mode", "account"],
  ["--op", "show", "--mode", "conn", "--tid", "3"],
  ["--op", "new", "--mode", "target", "--tid", "3", "--targetname", `${BASE}:00001`],
  ["--op", "delete", "--force", "--mode", "target", "--tid", "3"],
  ["--op", "update", "--mode", "target", "--tid", "3", "--name", "state", "--value", "offline"],
  ["--op", "update", "--mode", "target", "--tid", "3", "--name", "state", "--value", "ready"],
  [
    "--op",
    "new",
    "--mode",
    "logicalunit",
    "--tid",
    "3",
    "--lun",
    "1",
    "--bstype",
    "rdwr",
    "--backing-store",
    "/var/lib/sanpath/disks/image-00001",
  ],
  [
    "--op",
    "new",
    "--mode",
    "logicalunit",
    "--tid",
    "3",
    "--lun",
    "1",
    "--bstype",
    "rbd",
    "--backing-store",
    "rbd/image-00001",
    "--bsopts",
    "conf=/etc/ceph/ceph.conf;id=admin",
  ],
  ["--op", "bind", "--mode", "target", "--tid", "3", "--initiator-address", "ALL"],
  ["--op", "unbind", "--mode", "target", "--tid", "3", "--initiator-address", "192.0.2.0/24"],
  ["--op", "bind", "--mode", "target", "--tid", "3", "--initiator-name", "iqn.1994-05.org.example:a"],
  ["--op", "unbind", "--mode", "target", "--tid", "3", "--initiator-name", "iqn.1994-05.org.example:a"],
  ["--op", "new", "--mode", "account", "--user", "chap-user", "--password", secret("chap-secret-0001")],
  ["--op", "delete", "--mode", "account", "--user", "chap-user"],
  ["--op", "bind", "--mode", "account", "--tid", "3", "--user", "chap-user"],
  ["--op", "unbind", "--mode", "account", "--tid", "3", "--user", "chap-user"],
  ["--op", "new", "--mode", "portal", "--param", "portal=198.51.100.50:3260"],
  ["--op", "delete", "--mode", "portal", "--param", "portal=198.51.100.50:3260"],
  ["--op", "delete", "--mode", "portal", "--param", "portal=[::]:3260"],
  ["--op", "delete", "--mode", "conn", "--tid", "3", "--sid", "7", "--cid", "0"],
];

describe("tgtadm sends what the socket channel sends", () => {
  let dir = "";
  let server: Server | undefined;
  const received: Buffer[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-tgtadm-bytes-"));
    // A stand-in for tgtd: keeps each request, answers "success, nothing to show".
    server = createServer((socket) => {
      let bytes = Buffer.alloc(0);
      socket.on("error", () => undefined);
      socket.on("data", (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        if (bytes.length >= 120 && bytes.length >= bytes.readUInt32LE(72)) {
          received.push(bytes);
          const answer = Buffer.alloc(8);
          answer.writeUInt32LE(8, 4);
          socket.end(answer);
        }
      });
    });
    const listening = server;
    await new Promise<void>((resolve) => listening.listen(join(dir, "socket.7"), resolve));
  });

  afterAll(async () => {
    try {
      const closing = server;
      if (closing !== undefined) await new Promise<void>((resolve) => closing.close(() => resolve()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("for every argument list the driver uses, byte for byte", async () => {
    const runner = new ExecaCommandRunner();
    for (const args of DRIVER_ARGUMENT_LISTS) {
      received.length = 0;
      await runner.run("tgtadm", ["-C", "7", "--lld", "iscsi", ...args], {
        timeoutMs: 10_000,
        env: { TGT_IPC_SOCKET: join(dir, "socket") },
      });
      const rendered = args.map((arg) => (typeof arg === "string" ? arg : "***")).join(" ");
      expect(received, rendered).toHaveLength(1);
      expect(received[0]?.toString("hex"), rendered).toBe(
        encodeTgtMgmtRequest(tgtMgmtRequestOf(args)).toString("hex"),
      );
    }
  });
});

/** A runner that records what it is asked to run before running it. */
class WatchedRunner implements CommandRunner {
  readonly commands: string[] = [];
  constructor(private readonly inner: CommandRunner) {}
  run(file: string, args: readonly CommandArg[], options?: RunOptions): Promise<CommandResult> {
    this.commands.push(file);
    return this.inner.run(file, args, options);
  }
}

describe("the socket channel against a real tgtd", () => {
  let topology: Topology | undefined;
  let tgtd: TgtdHarness | undefined;
  let dir = "";
  let diskPath = "";

  const topo = (): Topology => {
    if (topology === undefined) throw new Error("topology was not created");
    return topology;
  };
  const daemon = (): TgtdHarness => {
    if (tgtd === undefined) throw new Error("tgtd did not start");
    return tgtd;
  };
  const overSocket = (timeoutMs = 10_000): Tgtadm =>
    socketTgtadm({ socketPath: tgtdSocketPath(daemon().controlPort), timeoutMs });
  const overProcess = (): Tgtadm => boundTgtadm(daemon().runner, daemon().controlPort, 10_000);
  const spec = (disk: string) => ({
    iqn: `${BASE}:${disk}`,
    backing: { kind: "file" as const, path: diskPath },
    acl: { allInitiators: true, initiatorIqns: [] },
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-tgt-mgmt-"));
    diskPath = join(dir, "image-00001");
    writeFileSync(diskPath, "");
    truncateSync(diskPath, 16 * 1024 * 1024);
    topology = await createTopology({
      bridges: ["iscsi1"],
      hosts: [
        {
          name: "tgt",
          links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.11/24" }],
          sysctls: { "net.ipv4.ip_nonlocal_bind": "1" },
        },
        { name: "c1", links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.9/24" }] },
        { name: "c2", links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.8/24" }] },
      ],
    });
    tgtd = await startTgtd(topology, "tgt");
  });

  afterAll(async () => {
    try {
      if (tgtd !== undefined) process.kill(tgtd.pid, "SIGCONT");
    } catch {
      // Already gone.
    }
    try {
      await tgtd?.stop();
    } finally {
      try {
        await topology?.destroy();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it("gives the same --op show text and the same failures as the tgtadm process", async () => {
    const tgtadm = overProcess();
    const made: readonly (readonly CommandArg[])[] = [
      ["--op", "new", "--mode", "target", "--tid", "1", "--targetname", `${BASE}:00001`],
      [
        "--op",
        "new",
        "--mode",
        "logicalunit",
        "--tid",
        "1",
        "--lun",
        "1",
        "--bstype",
        "rdwr",
        "--backing-store",
        diskPath,
      ],
      ["--op", "bind", "--mode", "target", "--tid", "1", "--initiator-address", "ALL"],
      ["--op", "bind", "--mode", "target", "--tid", "1", "--initiator-name", "iqn.1994-05.org.example:a"],
      ["--op", "new", "--mode", "account", "--user", "chap-user", "--password", secret("chap-secret-0001")],
      ["--op", "bind", "--mode", "account", "--tid", "1", "--user", "chap-user"],
      ["--op", "new", "--mode", "target", "--tid", "2", "--targetname", `${BASE}:00002`],
      ["--op", "update", "--mode", "target", "--tid", "2", "--name", "state", "--value", "offline"],
      ["--op", "new", "--mode", "portal", "--param", "portal=198.51.100.60:3261"],
    ];
    try {
      for (const args of made) await tgtadm(args, {});
      for (const args of [
        ["--op", "show", "--mode", "target"],
        ["--op", "show", "--mode", "portal"],
        ["--op", "show", "--mode", "account"],
        ["--op", "show", "--mode", "conn", "--tid", "1"],
        ["--op", "show", "--mode", "target", "--tid", "1"],
        ["--op", "show", "--mode", "system"],
      ]) {
        const [byProcess, bySocket] = await Promise.all([tgtadm(args, {}), overSocket()(args, {})]);
        expect(bySocket.stdout, args.join(" ")).toBe(byProcess.stdout);
      }
      expect((await overSocket()(["--op", "show", "--mode", "target"], {})).stdout).toContain(
        "Backing store path: " + diskPath,
      );

      for (const args of [
        ["--op", "delete", "--force", "--mode", "target", "--tid", "99"],
        ["--op", "new", "--mode", "target", "--tid", "1", "--targetname", `${BASE}:00003`],
        ["--op", "delete", "--mode", "account", "--user", "nobody-here"],
        ["--op", "delete", "--mode", "conn", "--tid", "1", "--sid", "77", "--cid", "0"],
      ]) {
        const [byProcess, bySocket] = await Promise.all([
          rejectionAs(CommandFailedError, tgtadm(args, {})),
          rejectionAs(CommandFailedError, overSocket()(args, {})),
        ]);
        expect(bySocket.stderr, args.join(" ")).not.toBe("");
        expect(byProcess.stderr, args.join(" ")).toBe(`tgtadm: ${bySocket.stderr}`);
        expect({ failure: bySocket.failure, exitCode: bySocket.exitCode }).toEqual({
          failure: byProcess.failure,
          exitCode: byProcess.exitCode,
        });
      }
    } finally {
      const cleanUp = [
        ["--op", "delete", "--force", "--mode", "target", "--tid", "1"],
        ["--op", "delete", "--force", "--mode", "target", "--tid", "2"],
        ["--op", "delete", "--mode", "account", "--user", "chap-user"],
        ["--op", "delete", "--mode", "portal", "--param", "portal=198.51.100.60:3261"],
      ];
      // Each step whatever became of the others (a failed test may have made only some).
      for (const args of cleanUp) await tgtadm(args, {}).catch(() => undefined);
    }
  });

  it("the driver over the socket runs no process; without the net addon tgtd closes the connections at one portal only", async () => {
    const runner = new WatchedRunner(daemon().runner);
    const driver = new TgtDriver({
      runner,
      controlPort: daemon().controlPort,
      channel: "socket",
      netns: topo().nsName("tgt"),
      loadNetAddon: () => {
        throw new Error("no net addon in this test");
      },
    });
    const socketPath = tgtdSocketPath(daemon().controlPort);
    expect(await lockHolderPid(tgtdLockPath(socketPath))).toBe(daemon().pid);

    const disk = spec("00010");
    const [first, second] = ["198.51.100.70", "198.51.100.71"];
    await driver.ensureTarget(disk);
    for (const ip of [first, second]) {
      await topo().exec("tgt", "ip", ["addr", "add", `${ip}/24`, "dev", "eth1"]);
      await driver.enablePortal({ iqn: disk.iqn, ip });
    }
    const tid = (await driver.listTargets()).find((target) => target.iqn === disk.iqn)?.tid ?? 0;
    const sessionIds = async (): Promise<string[]> => {
      const listing = await overSocket()(["--op", "show", "--mode", "conn", "--tid", String(tid)], {});
      return [...listing.stdout.matchAll(/^Session: (\d+)$/gm)].map((match) => match[1] ?? "");
    };
    // c1 logs in at the first portal, c2 at the second.
    const sessions = [
      topo().spawnIn("c1", "iscsi-perf", ["-t", "60", "-x", "0", `iscsi://${first}/${disk.iqn}/1`]),
      topo().spawnIn("c2", "iscsi-perf", ["-t", "60", "-x", "0", `iscsi://${second}/${disk.iqn}/1`]),
    ];
    try {
      await expect.poll(async () => (await sessionIds()).length, { timeout: 10_000, interval: 50 }).toBe(2);
      const before = await sessionIds();
      await driver.disablePortal({ iqn: disk.iqn, ip: first });
      await expect.poll(async () => (await sessionIds()).length, { timeout: 5000, interval: 50 }).toBe(1);
      expect(before).toContain((await sessionIds())[0]);
      expect((await sessions[0]?.exited)?.exitCode).not.toBe(0);
      expect(sessions[1]?.isRunning()).toBe(true);
      const left = await overSocket()(["--op", "show", "--mode", "conn", "--tid", String(tid)], {});
      expect(left.stdout).toContain("IP Address: 198.51.100.8");
      expect(left.stdout).not.toContain("IP Address: 198.51.100.9");
    } finally {
      await Promise.all(sessions.map((session) => session.stop({ signal: "SIGKILL" })));
      for (const ip of [first, second]) {
        await topo().exec("tgt", "ip", ["addr", "del", `${ip}/24`, "dev", "eth1"], { acceptExitCodes: [2] });
      }
    }
    // After the initiators are gone: tgtd refuses to delete a LUN with commands in flight.
    await driver.dropTarget(disk.iqn);
    // Neither tgtadm nor ss: every request went over the socket.
    expect(runner.commands).toEqual([]);
  });

  it("one initiator through two portals of a target: disabling one destroys its sockets in process, only its session ends", async () => {
    const runner = new WatchedRunner(daemon().runner);
    const requests: string[] = [];
    const logger = createLogger({
      level: "debug",
      destination: {
        write: (line: string) => {
          const entry = JSON.parse(line) as { msg?: string; command?: string };
          if (entry.msg === "tgtd request finished") requests.push(entry.command ?? "");
        },
      },
    });
    const driver = new TgtDriver({
      runner,
      controlPort: daemon().controlPort,
      channel: "socket",
      netns: topo().nsName("tgt"),
      logger,
    });
    const disk = spec("00011");
    const [first, second] = ["198.51.100.72", "198.51.100.73"];
    await driver.ensureTarget(disk);
    for (const ip of [first, second]) {
      await topo().exec("tgt", "ip", ["addr", "add", `${ip}/24`, "dev", "eth1"]);
      await driver.enablePortal({ iqn: disk.iqn, ip });
    }
    const tid = (await driver.listTargets()).find((target) => target.iqn === disk.iqn)?.tid ?? 0;
    const connections = async (): Promise<{ session: string; address: string }[]> => {
      const listing = await overSocket()(["--op", "show", "--mode", "conn", "--tid", String(tid)], {});
      return [...listing.stdout.matchAll(/^Session: (\d+)$[\s\S]*?IP Address: (\S+)$/gm)].map((match) => ({
        session: match[1] ?? "",
        address: match[2] ?? "",
      }));
    };
    // c1 (198.51.100.9) logs in at both portals, as a multipath initiator does.
    const sessions = [first, second].map((ip) =>
      topo().spawnIn("c1", "iscsi-perf", ["-t", "60", "-x", "0", `iscsi://${ip}/${disk.iqn}/1`]),
    );
    try {
      await expect.poll(async () => (await connections()).length, { timeout: 10_000, interval: 50 }).toBe(2);
      const before = await connections();
      expect(before.map((connection) => connection.address)).toEqual(["198.51.100.9", "198.51.100.9"]);
      requests.length = 0;
      await driver.disablePortal({ iqn: disk.iqn, ip: first });
      // Neither a request about connections to tgtd nor a process (no ss, no tgtadm).
      expect(requests).toContain(
        `tgtd-socket:${tgtdSocketPath(daemon().controlPort)} --lld iscsi --op delete --mode portal --param portal=${first}:3260`,
      );
      expect(requests.filter((command) => command.includes("--mode conn"))).toEqual([]);
      expect(runner.commands).toEqual([]);
      await expect.poll(async () => (await connections()).length, { timeout: 5000, interval: 50 }).toBe(1);
      expect((await sessions[0]?.exited)?.exitCode).not.toBe(0);
      expect(sessions[1]?.isRunning()).toBe(true);
      const [left] = await connections();
      expect(before.map((connection) => connection.session)).toContain(left?.session);
      // The session left is the second portal's: tgtd still has its socket there.
      const sockets = await topo().exec("tgt", "ss", [
        "-tnH",
        "state",
        "established",
        "src",
        `${second}:3260`,
      ]);
      expect(sockets.stdout).toContain("198.51.100.9:");
      const gone = await topo().exec("tgt", "ss", ["-tnH", "state", "established", "src", `${first}:3260`]);
      expect(gone.stdout.trim()).toBe("");
    } finally {
      await Promise.all(sessions.map((session) => session.stop({ signal: "SIGKILL" })));
      for (const ip of [first, second]) {
        await topo().exec("tgt", "ip", ["addr", "del", `${ip}/24`, "dev", "eth1"], { acceptExitCodes: [2] });
      }
    }
    await driver.dropTarget(disk.iqn);
    expect(runner.commands).toEqual([]);
  });

  it("reaches a killed and restarted tgtd again", async () => {
    const driver = new TgtDriver({
      runner: daemon().runner,
      controlPort: daemon().controlPort,
      channel: "socket",
      stateFile: join(dir, "restart-portals.json"),
    });
    const disk = spec("00020");
    await driver.ensureTarget(disk);
    await driver.enablePortal({ iqn: disk.iqn, ip: "198.51.100.80" });
    expect(await driver.isPortalEnabled({ iqn: disk.iqn, ip: "198.51.100.80" })).toBe(true);

    await daemon().kill();
    const down = await rejectionAs(
      CommandFailedError,
      overSocket()(["--op", "show", "--mode", "target"], {}),
    );
    expect(down.failure).toBe("exit");
    await expect(driver.listTargets({ fresh: true })).rejects.toThrow(/can't connect to tgtd/);

    await daemon().start();
    expect(await driver.listTargets({ fresh: true })).toEqual([]);
    expect(await driver.isPortalEnabled({ iqn: disk.iqn, ip: "198.51.100.80" })).toBe(false);
    await driver.ensureTarget(disk);
    await driver.enablePortal({ iqn: disk.iqn, ip: "198.51.100.80" });
    expect(await driver.isPortalEnabled({ iqn: disk.iqn, ip: "198.51.100.80" }, { fresh: true })).toBe(true);
    const shown = await overProcess()(["--op", "show", "--mode", "portal"], {});
    expect(shown.stdout).toBe("Portal: 198.51.100.80:3260,1\n");
    await driver.dropTarget(disk.iqn);
  });

  it("keeps a call's deadline when tgtd is stopped (SIGSTOP), and answers again once it goes on", async () => {
    const driver = new TgtDriver({
      runner: daemon().runner,
      controlPort: daemon().controlPort,
      channel: "socket",
      commandTimeoutMs: 60_000,
    });
    await driver.prepare();
    const pid = daemon().pid;
    process.kill(pid, "SIGSTOP");
    try {
      let started = performance.now();
      const late = await rejectionAs(
        CommandFailedError,
        overSocket(400)(["--op", "show", "--mode", "target"], {}),
      );
      let elapsed = performance.now() - started;
      expect(late).toMatchObject({ failure: "timeout", kind: "deadline_exceeded" });
      expect(elapsed).toBeGreaterThanOrEqual(390);
      expect(elapsed).toBeLessThan(2000);

      // The driver's caller's deadline (its signal) ends the call too, long before the 60 s.
      started = performance.now();
      await expect(driver.listTargets({ fresh: true, signal: AbortSignal.timeout(500) })).rejects.toSatisfy(
        (error) => error instanceof Error && /cancel|gave up|deadline/i.test(error.message),
      );
      elapsed = performance.now() - started;
      expect(elapsed).toBeLessThan(2500);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    expect((await overSocket()(["--op", "show", "--mode", "system"], {})).stdout).toContain("System:");
  });

  it("requests beyond tgtd's accept queue (32) wait for it instead of failing", async () => {
    const pid = daemon().pid;
    process.kill(pid, "SIGSTOP");
    let calls: Promise<CommandResult>[] = [];
    try {
      calls = Array.from({ length: 80 }, () => overSocket(10_000)(["--op", "show", "--mode", "portal"], {}));
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      process.kill(pid, "SIGCONT");
    }
    const answers = await Promise.allSettled(calls);
    expect(answers.filter((answer) => answer.status === "rejected")).toEqual([]);
    expect(answers).toHaveLength(80);
  });
});
