/**
 * The tgt target driver and the ip network driver against real tgtd daemons and a real iSCSI
 * initiator (libiscsi's iscsi-readcapacity16), with nodes A, B and a client as network
 * namespaces on one iSCSI bridge, sharing one sparse file as the disk.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IpDriver } from "../../src/net/ip-driver.js";
import type { LocalPath } from "../../src/node/path-journal.js";
import { PathSetup } from "../../src/node/path-setup.js";
import type { TgtDriver } from "../../src/iscsi/tgt-driver.js";
import type { TargetSpec } from "../../src/iscsi/target-driver.js";
import { isSanpathError } from "../../src/errors/sanpath-error.js";
import { createTopology, type Topology } from "../harness/netns.js";
import { startTgtd, type TgtdHarness } from "../harness/tgtd.js";

const DISK_BYTES = 64 * 1024 * 1024;
const BASE = `iqn.2016-05.org.sanpath.test${process.pid}`;
const CLIENT_IQN = "iqn.1994-05.org.example:client-x";
const OTHER_IQN = "iqn.1994-05.org.example:client-y";
const ANY_FAILURE = Array.from({ length: 255 }, (_, index) => index + 1);

interface ReadResult {
  ok: boolean;
  bytes: number | undefined;
  output: string;
}

describe("tgt driver + ip driver: a path served by a real tgtd, read by a real initiator", () => {
  let topology: Topology | undefined;
  const daemons: TgtdHarness[] = [];
  let dir = "";
  let diskPath = "";
  let tgtA: TgtDriver;
  let tgtB: TgtDriver;
  let netA: IpDriver;
  let netB: IpDriver;

  const topo = (): Topology => {
    if (topology === undefined) throw new Error("topology was not created");
    return topology;
  };

  /** iscsi-readcapacity16 -s from the client; the secret goes through the environment. */
  async function readCapacity(
    ip: string,
    iqn: string,
    login: { initiator?: string; user?: string; secret?: string } = {},
  ): Promise<ReadResult> {
    const user = login.user === undefined ? "" : `${login.user}@`;
    const result = await topo().exec(
      "client",
      "iscsi-readcapacity16",
      [
        ...(login.initiator === undefined ? [] : ["-i", login.initiator]),
        "-s",
        `iscsi://${user}${ip}/${iqn}/1`,
      ],
      {
        timeoutMs: 10_000,
        acceptExitCodes: ANY_FAILURE,
        ...(login.secret === undefined ? {} : { env: { LIBISCSI_CHAP_PASSWORD: login.secret } }),
      },
    );
    const bytes = /^(\d+)$/m.exec(result.stdout)?.[1];
    return {
      ok: result.exitCode === 0,
      bytes: bytes === undefined ? undefined : Number(bytes),
      output: result.stdout + result.stderr,
    };
  }

  async function neighbourMac(host: string, ip: string): Promise<string | undefined> {
    const { stdout } = await topo().exec(host, "ip", ["-j", "neigh", "show", ip]);
    return (JSON.parse(stdout) as { lladdr?: string }[])[0]?.lladdr;
  }

  async function interfaceMac(host: string, ifname: string): Promise<string | undefined> {
    const { stdout } = await topo().exec(host, "ip", ["-j", "link", "show", "dev", ifname]);
    return (JSON.parse(stdout) as { address?: string }[])[0]?.address;
  }

  const spec = (disk: string, overrides: Partial<TargetSpec> = {}): TargetSpec => ({
    iqn: `${BASE}:${disk}`,
    backing: { kind: "file", path: diskPath },
    acl: { allInitiators: true, initiatorIqns: [] },
    ...overrides,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-iscsi-tgt-"));
    diskPath = join(dir, "image-00001");
    writeFileSync(diskPath, "");
    truncateSync(diskPath, DISK_BYTES);
    const nonlocalBind = { "net.ipv4.ip_nonlocal_bind": "1" };
    topology = await createTopology({
      bridges: ["iscsi1"],
      hosts: [
        {
          name: "a",
          links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.11/24" }],
          sysctls: nonlocalBind,
        },
        {
          name: "b",
          links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.12/24" }],
          sysctls: nonlocalBind,
        },
        { name: "client", links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.9/24" }] },
      ],
    });
    daemons.push(await startTgtd(topology, "a"));
    daemons.push(await startTgtd(topology, "b"));
    const [a, b] = daemons;
    if (a === undefined || b === undefined) throw new Error("tgtd did not start");
    tgtA = a.driver({ stateFile: join(dir, "a-portals.json") });
    tgtB = b.driver();
    netA = new IpDriver({ runner: topology.runner("a") });
    netB = new IpDriver({ runner: topology.runner("b") });
  });

  afterAll(async () => {
    try {
      await Promise.all(daemons.map((daemon) => daemon.stop()));
    } finally {
      await topology?.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("A serves path 198.51.100.50: the client reads the disk size there", async () => {
    const disk = spec("00001");
    await tgtA.ensureTarget(disk);
    await tgtA.enablePortal({ iqn: disk.iqn, ip: "198.51.100.50", pathIndex: 1 });
    await netA.addAddress({ ip: "198.51.100.50", prefixLength: 24, interface: "eth1" });
    expect(await netA.sendGratuitousArp({ ip: "198.51.100.50", interface: "eth1" })).toEqual({ sent: true });

    const read = await readCapacity("198.51.100.50", disk.iqn);
    expect(read.output).toContain(String(DISK_BYTES));
    expect(read).toMatchObject({ ok: true, bytes: DISK_BYTES });
    expect(await tgtA.isPortalEnabled({ iqn: disk.iqn, ip: "198.51.100.50" })).toBe(true);
  });

  it("ensuring and enabling a second time changes nothing", async () => {
    const disk = spec("00001");
    const before = await tgtA.listTargets();
    await tgtA.ensureTarget(disk);
    await tgtA.enablePortal({ iqn: disk.iqn, ip: "198.51.100.50" });
    await netA.addAddress({ ip: "198.51.100.50", prefixLength: 24, interface: "eth1" });
    const after = await tgtA.listTargets();
    expect(after).toEqual(before);
    expect(after).toEqual([
      {
        iqn: disk.iqn,
        tid: 1,
        luns: [{ lun: 1, backing: diskPath, backingType: "rdwr" }],
        portals: [{ ip: "198.51.100.50", port: 3260, enabled: true }],
        acl: { allInitiators: true, initiatorIqns: [] },
      },
    ]);
    // tgtd listens on the path IP only (no wildcard portal), once.
    expect(await daemons[0]?.tgtadm(["--op", "show", "--mode", "portal"])).toBe(
      "Portal: 198.51.100.50:3260,1\n",
    );
    expect((await netA.listAddresses()).filter((address) => address.ip === "198.51.100.50")).toEqual([
      { ip: "198.51.100.50", prefixLength: 24, interface: "eth1" },
    ]);
    expect((await readCapacity("198.51.100.50", disk.iqn)).bytes).toBe(DISK_BYTES);
  });

  it("a restarted driver with the same state file still knows the enabled portal", async () => {
    const disk = spec("00001");
    const again = daemons[0]?.driver({ stateFile: join(dir, "a-portals.json") });
    expect(await again?.isPortalEnabled({ iqn: disk.iqn, ip: "198.51.100.50" })).toBe(true);
    expect(await again?.listPortals()).toEqual([{ ip: "198.51.100.50", port: 3260, iqns: [disk.iqn] }]);
    // Without the state file, the pairing is unknown: the portal counts as not enabled, but the
    // listener is still listed, so that reconcile can find it.
    const forgetful = daemons[0]?.driver();
    expect(await forgetful?.isPortalEnabled({ iqn: disk.iqn, ip: "198.51.100.50" })).toBe(false);
    expect(await forgetful?.listPortals()).toEqual([{ ip: "198.51.100.50", port: 3260, iqns: [] }]);
  });

  it("a disabled portal ends the client's open session and refuses new logins; then A drops the IP", async () => {
    const disk = spec("00001");
    const session = topo().spawnIn("client", "iscsi-perf", [
      "-t",
      "60",
      "-x",
      "0",
      `iscsi://198.51.100.50/${disk.iqn}/1`,
    ]);
    try {
      await waitForSession(daemons[0], 1);

      await tgtA.disablePortal({ iqn: disk.iqn, ip: "198.51.100.50" });
      const exit = await session.exited;
      expect(exit.exitCode).not.toBe(0);
    } finally {
      await session.stop({ signal: "SIGKILL" });
    }
    expect(await tgtA.isPortalEnabled({ iqn: disk.iqn, ip: "198.51.100.50" })).toBe(false);
    // The IP is still on A, but nothing listens there any more.
    expect(await netA.hasAddress("198.51.100.50")).toBe(true);
    const refused = await readCapacity("198.51.100.50", disk.iqn);
    expect(refused.ok).toBe(false);
    expect(refused.bytes).toBeUndefined();

    await netA.removeAddress({ ip: "198.51.100.50", interface: "eth1" });
    expect(await netA.hasAddress("198.51.100.50")).toBe(false);
    await netA.removeAddress({ ip: "198.51.100.50", interface: "eth1" });
    expect((await tgtA.listTargets())[0]?.portals).toEqual([]);
  });

  it("B takes the path over: gratuitous ARP moves the client to B, which serves the same disk", async () => {
    const disk = spec("00001");
    await tgtB.ensureTarget(disk);
    await tgtB.enablePortal({ iqn: disk.iqn, ip: "198.51.100.50", pathIndex: 1 });
    await netB.addAddress({ ip: "198.51.100.50", prefixLength: 24, interface: "eth1" });
    expect(await netB.sendGratuitousArp({ ip: "198.51.100.50", interface: "eth1" })).toEqual({ sent: true });
    // The client's ARP entry for the path IP (A's MAC until now) names B's interface.
    expect(await neighbourMac("client", "198.51.100.50")).toBe(await interfaceMac("b", "eth1"));
    const read = await readCapacity("198.51.100.50", disk.iqn);
    expect(read).toMatchObject({ ok: true, bytes: DISK_BYTES });
    expect(await tgtA.isPortalEnabled({ iqn: disk.iqn, ip: "198.51.100.50" })).toBe(false);
    expect(await tgtB.isPortalEnabled({ iqn: disk.iqn, ip: "198.51.100.50" })).toBe(true);
  });

  it("enforces the initiator ACL, and a widened ACL lets everybody in", async () => {
    const disk = spec("00002", { acl: { allInitiators: false, initiatorIqns: [CLIENT_IQN] } });
    await tgtA.ensureTarget(disk);
    await tgtA.enablePortal({ iqn: disk.iqn, ip: "198.51.100.52" });
    await netA.addAddress({ ip: "198.51.100.52", prefixLength: 24, interface: "eth1" });

    const refused = await readCapacity("198.51.100.52", disk.iqn, { initiator: OTHER_IQN });
    expect(refused.ok).toBe(false);
    expect(refused.output).toMatch(/Target not found|Login Failed/i);
    expect(await readCapacity("198.51.100.52", disk.iqn, { initiator: CLIENT_IQN })).toMatchObject({
      ok: true,
      bytes: DISK_BYTES,
    });
    const configured = (await tgtA.listTargets()).find((target) => target.iqn === disk.iqn);
    expect(configured?.acl).toEqual({ allInitiators: false, initiatorIqns: [CLIENT_IQN] });

    await tgtA.ensureTarget({ ...disk, acl: { allInitiators: true, initiatorIqns: [] } });
    expect((await readCapacity("198.51.100.52", disk.iqn, { initiator: OTHER_IQN })).ok).toBe(true);
    await tgtA.ensureTarget(disk);
    expect((await readCapacity("198.51.100.52", disk.iqn, { initiator: OTHER_IQN })).ok).toBe(false);
  });

  it("enforces CHAP: no or a wrong secret is refused, the right one works, a new secret replaces it", async () => {
    const chap = { user: "sanpath-user", secret: "first-secret-123" };
    const disk = spec("00003", { chap });
    await tgtA.ensureTarget(disk);
    await tgtA.enablePortal({ iqn: disk.iqn, ip: "198.51.100.53" });
    await netA.addAddress({ ip: "198.51.100.53", prefixLength: 24, interface: "eth1" });

    expect((await readCapacity("198.51.100.53", disk.iqn)).ok).toBe(false);
    const wrong = await readCapacity("198.51.100.53", disk.iqn, {
      user: chap.user,
      secret: "wrong-secret-999",
    });
    expect(wrong.ok).toBe(false);
    expect(wrong.output).toMatch(/Authentication failure/i);
    expect(await readCapacity("198.51.100.53", disk.iqn, chap)).toMatchObject({
      ok: true,
      bytes: DISK_BYTES,
    });

    // Idempotent with the same secret; a new secret replaces the old one.
    await tgtA.ensureTarget(disk);
    expect((await readCapacity("198.51.100.53", disk.iqn, chap)).ok).toBe(true);
    const rotated = { user: chap.user, secret: "second-secret-456" };
    await tgtA.ensureTarget({ ...disk, chap: rotated });
    expect((await readCapacity("198.51.100.53", disk.iqn, chap)).ok).toBe(false);
    expect((await readCapacity("198.51.100.53", disk.iqn, rotated)).ok).toBe(true);

    // A driver that does not know the secret (a restarted sanpathd) re-creates the account.
    await daemons[0]?.driver({ stateFile: join(dir, "a-portals.json") }).ensureTarget({ ...disk, chap });
    expect((await readCapacity("198.51.100.53", disk.iqn, chap)).ok).toBe(true);
    expect((await readCapacity("198.51.100.53", disk.iqn, rotated)).ok).toBe(false);

    const configured = (await tgtA.listTargets()).find((target) => target.iqn === disk.iqn);
    expect(configured?.chapUser).toBe(chap.user);
    expect(JSON.stringify(configured)).not.toContain(chap.secret);

    // Removing CHAP opens the target again.
    await tgtA.ensureTarget({ ...disk, chap: undefined });
    expect((await readCapacity("198.51.100.53", disk.iqn)).ok).toBe(true);
  });

  it("a target whose only portal is disabled refuses logins even at another enabled portal", async () => {
    const disk = spec("00003");
    await tgtA.disablePortal({ iqn: disk.iqn, ip: "198.51.100.53" });
    // 198.51.100.52 still serves 00002; 00003 is offline, so tgt refuses it there too.
    expect((await readCapacity("198.51.100.52", disk.iqn)).ok).toBe(false);
    await tgtA.enablePortal({ iqn: disk.iqn, ip: "198.51.100.53" });
    expect((await readCapacity("198.51.100.53", disk.iqn)).ok).toBe(true);
  });

  it("drops a target with its listener; dropping twice and disabling unknown portals are no-ops", async () => {
    const disk = spec("00003");
    await tgtA.dropTarget(disk.iqn);
    await tgtA.dropTarget(disk.iqn);
    await tgtA.disablePortal({ iqn: disk.iqn, ip: "198.51.100.53" });
    expect((await tgtA.listTargets()).map((target) => target.iqn)).not.toContain(disk.iqn);
    expect(await daemons[0]?.tgtadm(["--op", "show", "--mode", "portal"])).not.toContain("198.51.100.53");
    expect((await readCapacity("198.51.100.53", disk.iqn)).ok).toBe(false);
  });

  it("shares a CHAP user between disks only with the same secret (tgt holds one secret per user)", async () => {
    const shared = { user: "shared-user", secret: "shared-secret-1" };
    await tgtA.ensureTarget(spec("00005", { chap: shared }));
    await tgtA.ensureTarget(spec("00006", { chap: shared }));
    await expect(
      tgtA.ensureTarget(spec("00006", { chap: { user: shared.user, secret: "other-secret-22" } })),
    ).rejects.toSatisfy(
      (error) =>
        isSanpathError(error) && error.kind === "failed_precondition" && error.field === "chap.secret",
    );
    await tgtA.dropTarget(`${BASE}:00005`);
    expect(await daemons[0]?.tgtadm(["--op", "show", "--mode", "account"])).toContain(shared.user);
    await tgtA.dropTarget(`${BASE}:00006`);
    expect(await daemons[0]?.tgtadm(["--op", "show", "--mode", "account"])).not.toContain(shared.user);
  });

  const localPath = (disk: string, ip: string): LocalPath => ({
    diskId: disk,
    index: 1,
    ip,
    prefixLength: 24,
    interface: "eth1",
    vlanId: undefined,
    iqn: `${BASE}:${disk}`,
    state: "configuring",
  });

  it("a target deleted with tgtadm behind the driver's back: setting its path up again still works", async () => {
    const setup = new PathSetup(tgtA, netA);
    const path = localPath("00007", "198.51.100.57");
    try {
      await setup.configure(path, spec("00007"), AbortSignal.timeout(20_000));
      expect((await readCapacity(path.ip, path.iqn)).bytes).toBe(DISK_BYTES);
      const tid = (await tgtA.listTargets()).find((target) => target.iqn === path.iqn)?.tid;
      expect(tid).toBeDefined();
      await daemons[0]?.tgtadm(["--op", "delete", "--force", "--mode", "target", "--tid", String(tid)]);
      expect((await readCapacity(path.ip, path.iqn)).ok).toBe(false);

      await setup.configure(path, spec("00007"), AbortSignal.timeout(20_000));
      expect((await readCapacity(path.ip, path.iqn)).bytes).toBe(DISK_BYTES);
      expect(await tgtA.isPortalEnabled({ iqn: path.iqn, ip: path.ip })).toBe(true);
      // The driver's belief matches tgtd again: an authoritative read finds the same.
      expect(await tgtA.listTargets()).toEqual(await tgtA.listTargets({ fresh: true }));

      // And behind its back again: the path's tear-down still succeeds, and the IP is gone.
      const again = (await tgtA.listTargets()).find((target) => target.iqn === path.iqn)?.tid;
      await daemons[0]?.tgtadm(["--op", "delete", "--force", "--mode", "target", "--tid", String(again)]);
      await setup.teardown(path, AbortSignal.timeout(20_000));
      expect(await netA.hasAddress(path.ip, { fresh: true })).toBe(false);
      await setup.dropTarget(path.iqn, AbortSignal.timeout(20_000));
    } finally {
      await setup.close();
    }
  });

  it("sets two paths of different disks up on one node at the same time; both serve", async () => {
    const setup = new PathSetup(tgtA, netA);
    const paths = [localPath("00008", "198.51.100.58"), localPath("00009", "198.51.100.59")];
    try {
      await Promise.all(
        paths.map((path) => setup.configure(path, spec(path.diskId), AbortSignal.timeout(20_000))),
      );
      for (const path of paths) {
        expect(await readCapacity(path.ip, path.iqn)).toMatchObject({ ok: true, bytes: DISK_BYTES });
      }
      const tids = (await tgtA.listTargets({ fresh: true }))
        .filter((target) => paths.some((path) => path.iqn === target.iqn))
        .map((target) => target.tid);
      expect(new Set(tids).size).toBe(2);
      await Promise.all(paths.map((path) => setup.teardown(path, AbortSignal.timeout(20_000))));
      await Promise.all(paths.map((path) => setup.dropTarget(path.iqn, AbortSignal.timeout(20_000))));
      for (const path of paths) expect(await netA.hasAddress(path.ip, { fresh: true })).toBe(false);
    } finally {
      await setup.close();
    }
  });

  it("disabling one of a target's two portals ends the session there only; the other goes on", async () => {
    const disk = spec("00010");
    const [first, second] = ["198.51.100.70", "198.51.100.71"];
    await tgtA.ensureTarget(disk);
    for (const ip of [first, second]) {
      await netA.addAddress({ ip, prefixLength: 24, interface: "eth1" });
      await tgtA.enablePortal({ iqn: disk.iqn, ip });
    }
    const tid = (await tgtA.listTargets()).find((target) => target.iqn === disk.iqn)?.tid ?? 0;
    const sessions = [first, second].map((ip) =>
      topo().spawnIn("client", "iscsi-perf", ["-t", "60", "-x", "0", `iscsi://${ip}/${disk.iqn}/1`]),
    );
    try {
      await expect
        .poll(async () => (await sessionIds(daemons[0], tid)).length, { timeout: 10_000, interval: 50 })
        .toBe(2);
      const before = await sessionIds(daemons[0], tid);
      await tgtA.disablePortal({ iqn: disk.iqn, ip: first });
      // One session is left, and it is one of the two from before: the second portal's session
      // was not cut (a cut session would have logged in again under a new id).
      await expect
        .poll(async () => (await sessionIds(daemons[0], tid)).length, { timeout: 5000, interval: 50 })
        .toBe(1);
      expect(before).toContain((await sessionIds(daemons[0], tid))[0]);
      expect((await sessions[0]?.exited)?.exitCode).not.toBe(0);
      expect(sessions[1]?.isRunning()).toBe(true);
      expect((await readCapacity(second, disk.iqn)).bytes).toBe(DISK_BYTES);
    } finally {
      await Promise.all(sessions.map((session) => session.stop({ signal: "SIGKILL" })));
    }
    await tgtA.dropTarget(disk.iqn);
    for (const ip of [first, second]) await netA.removeAddress({ ip, interface: "eth1" });
  });

  it("refuses to enable a portal of a target that does not exist, and invalid requests", async () => {
    await expect(tgtA.enablePortal({ iqn: `${BASE}:09999`, ip: "198.51.100.59" })).rejects.toSatisfy(
      (error) => isSanpathError(error) && error.kind === "failed_precondition",
    );
    await expect(tgtA.ensureTarget(spec("00004", { iqn: "not an iqn" }))).rejects.toSatisfy(
      (error) => isSanpathError(error) && error.field === "iqn",
    );
  });
});

/** The iSCSI session ids of a target's connections, as tgtd lists them. */
async function sessionIds(tgtd: TgtdHarness | undefined, tid: number): Promise<string[]> {
  const listing = (await tgtd?.tgtadm(["--op", "show", "--mode", "conn", "--tid", String(tid)])) ?? "";
  return [...listing.matchAll(/^Session: (\d+)$/gm)].map((match) => match[1] ?? "");
}

async function waitForSession(tgtd: TgtdHarness | undefined, tid: number): Promise<void> {
  await expect
    .poll(async () => (await tgtd?.tgtadm(["--op", "show", "--mode", "conn", "--tid", String(tid)])) ?? "", {
      timeout: 10_000,
      interval: 50,
    })
    .toContain("Connection:");
}
