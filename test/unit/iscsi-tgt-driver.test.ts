/**
 * tgtadm output parsing and the tgt driver's command order on scripted output. The behaviour
 * against a real tgtd is in test/integration/iscsi-tgt.test.ts.
 */
import { describe, expect, it } from "vitest";
import {
  parseTgtAccounts,
  parseTgtConnections,
  parseTgtPortals,
  parseTgtTargets,
} from "../../src/iscsi/tgt-show.js";
import { TgtDriver } from "../../src/iscsi/tgt-driver.js";
import { RecordingRunner } from "../../src/exec/recording-runner.js";
import type { CommandArg, CommandResult, CommandRunner } from "../../src/exec/command-runner.js";
import { renderCommand } from "../../src/exec/command-runner.js";
import { isSanpathError } from "../../src/errors/sanpath-error.js";
import { rejection } from "../support/thrown.js";

const IQN = "iqn.2016-05.org.sanpath:00001";
const SECRET = "chap-secret-0001";

const SHOW_TARGETS = `Target 1: ${IQN}
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 7
            Initiator: iqn.1994-05.org.example:client alias: none
            Connection: 0
                IP Address: 198.51.100.9
    LUN information:
        LUN: 0
            Type: controller
            SCSI ID: IET     00010000
            Size: 0 MB, Block size: 1
            Backing store type: null
            Backing store path: None
            Backing store flags: 
        LUN: 1
            Type: disk
            SCSI ID: IET     00010001
            Size: 67 MB, Block size: 512
            Backing store type: rbd
            Backing store path: rbd/image-00001
            Backing store flags: 
    Account information:
        chapuser
        mutual (outgoing)
    ACL information:
        ALL
        192.0.2.0/24
        iqn.1994-05.org.example:client
Target 2: iqn.2016-05.org.sanpath:00002
    System information:
        Driver: iscsi
        State: offline
    I_T nexus information:
    LUN information:
    Account information:
    ACL information:
`;

describe("tgtadm output", () => {
  it("parses targets: state, connections, LUNs, incoming and outgoing accounts, address and name rules", () => {
    expect(parseTgtTargets(SHOW_TARGETS)).toEqual([
      {
        tid: 1,
        iqn: IQN,
        state: "ready",
        connections: [
          {
            sessionId: 7,
            connectionId: 0,
            initiator: "iqn.1994-05.org.example:client",
            address: "198.51.100.9",
          },
        ],
        luns: [
          { lun: 0, type: "controller", backingStoreType: "null", backingStorePath: "None" },
          { lun: 1, type: "disk", backingStoreType: "rbd", backingStorePath: "rbd/image-00001" },
        ],
        accounts: ["chapuser"],
        outgoingAccounts: ["mutual"],
        aclAddresses: ["ALL", "192.0.2.0/24"],
        aclNames: ["iqn.1994-05.org.example:client"],
      },
      {
        tid: 2,
        iqn: "iqn.2016-05.org.sanpath:00002",
        state: "offline",
        connections: [],
        luns: [],
        accounts: [],
        outgoingAccounts: [],
        aclAddresses: [],
        aclNames: [],
      },
    ]);
  });

  it("parses portals (IPv4 and bracketed IPv6) and the account list", () => {
    expect(
      parseTgtPortals("Portal: [::]:3260,1\nPortal: 0.0.0.0:3260,1\nPortal: 198.51.100.50:3261,1\n"),
    ).toEqual([
      { ip: "::", port: 3260 },
      { ip: "0.0.0.0", port: 3260 },
      { ip: "198.51.100.50", port: 3261 },
    ]);
    expect(parseTgtAccounts("Account list:\n    chapuser\n    other\n")).toEqual(["chapuser", "other"]);
  });

  it("parses a target's connections (--mode conn)", () => {
    const text =
      "Session: 3\n    Connection: 0\n        Initiator: iqn.1994-05.org.example:a\n        IP Address: 198.51.100.9\n" +
      "Session: 5\n    Connection: 1\n        Initiator: iqn.1994-05.org.example:b\n        IP Address: 198.51.100.8\n";
    expect(parseTgtConnections(text)).toEqual([
      { sessionId: 3, connectionId: 0, initiator: "iqn.1994-05.org.example:a", address: "198.51.100.9" },
      { sessionId: 5, connectionId: 1, initiator: "iqn.1994-05.org.example:b", address: "198.51.100.8" },
    ]);
    expect(parseTgtConnections("")).toEqual([]);
  });
});

describe("TgtDriver command order", () => {
  const tgtadm = (args: string): string => `tgtadm -C 4242 --lld iscsi ${args}`;

  it("stops listening on the wildcard portals", async () => {
    const runner = new RecordingRunner().when(tgtadm("--op show --mode portal"), {
      stdout: "Portal: [::]:3260,1\nPortal: 0.0.0.0:3260,1\n",
    });
    await new TgtDriver({ runner, controlPort: 4242, channel: "tgtadm" }).prepare();
    expect(runner.commands()).toEqual([
      tgtadm("--op show --mode target"),
      tgtadm("--op show --mode portal"),
      tgtadm("--op show --mode account"),
      tgtadm("--op delete --mode portal --param portal=[::]:3260"),
      tgtadm("--op delete --mode portal --param portal=0.0.0.0:3260"),
    ]);
  });

  it("creates a new target closed (offline, no ACL rule), then LUN 1, name rules and the CHAP account", async () => {
    const runner = new RecordingRunner().when(tgtadm("--op show --mode target"), {
      stdout: "Target 3: iqn.2016-05.org.sanpath:00003\n    System information:\n        State: ready\n",
    });
    await new TgtDriver({ runner, controlPort: 4242, channel: "tgtadm" }).ensureTarget({
      iqn: IQN,
      backing: {
        kind: "rbd",
        pool: "rbd",
        image: "image-00001",
        cephConf: "/etc/ceph/ceph.conf",
        cephUser: "admin",
      },
      acl: {
        allInitiators: false,
        initiatorIqns: ["iqn.1994-05.org.example:b", "iqn.1994-05.org.example:a"],
      },
      chap: { user: "chapuser", secret: SECRET },
    });
    expect(runner.commands()).toEqual([
      // the first operation reads tgtd's state; tid = highest known + 1
      tgtadm("--op show --mode target"),
      tgtadm("--op show --mode portal"),
      tgtadm("--op show --mode account"),
      tgtadm(`--op new --mode target --tid 4 --targetname ${IQN}`),
      tgtadm("--op update --mode target --tid 4 --name state --value offline"),
      tgtadm(
        "--op new --mode logicalunit --tid 4 --lun 1 --bstype rbd --backing-store rbd/image-00001 --bsopts 'conf=/etc/ceph/ceph.conf;id=admin'",
      ),
      tgtadm("--op bind --mode target --tid 4 --initiator-name iqn.1994-05.org.example:a"),
      tgtadm("--op bind --mode target --tid 4 --initiator-name iqn.1994-05.org.example:b"),
      tgtadm("--op new --mode account --user chapuser --password ***"),
      tgtadm("--op bind --mode account --tid 4 --user chapuser"),
    ]);
    const accountNew = runner.calls.find((call) => call.args.includes("--password"));
    expect(accountNew?.args.at(-1)).toBe(SECRET);
    // The bsopts argument reaches tgtadm as one argument, unquoted.
    expect(runner.calls[5]?.args.at(-1)).toBe("conf=/etc/ceph/ceph.conf;id=admin");
  });

  it("removes access rules before adding new ones, and binds a new CHAP user before unbinding the old", async () => {
    const runner = new RecordingRunner()
      .when(tgtadm("--op show --mode target"), { stdout: SHOW_TARGETS })
      .when(tgtadm("--op show --mode account"), { stdout: "Account list:\n    chapuser\n" });
    await new TgtDriver({ runner, controlPort: 4242, channel: "tgtadm" }).ensureTarget({
      iqn: IQN,
      backing: {
        kind: "rbd",
        pool: "rbd",
        image: "image-00001",
        cephConf: "/etc/ceph/ceph.conf",
        cephUser: "admin",
      },
      acl: { allInitiators: false, initiatorIqns: ["iqn.1994-05.org.example:other"] },
      chap: { user: "newuser", secret: SECRET },
    });
    expect(runner.commands().slice(3)).toEqual([
      // no enabled portal is known to this driver: the target goes offline
      tgtadm("--op update --mode target --tid 1 --name state --value offline"),
      tgtadm("--op unbind --mode target --tid 1 --initiator-address ALL"),
      tgtadm("--op unbind --mode target --tid 1 --initiator-address 192.0.2.0/24"),
      tgtadm("--op unbind --mode target --tid 1 --initiator-name iqn.1994-05.org.example:client"),
      tgtadm("--op bind --mode target --tid 1 --initiator-name iqn.1994-05.org.example:other"),
      tgtadm("--op new --mode account --user newuser --password ***"),
      tgtadm("--op bind --mode account --tid 1 --user newuser"),
      tgtadm("--op unbind --mode account --tid 1 --user chapuser"),
      tgtadm("--op delete --mode account --user chapuser"),
    ]);
  });

  it("refuses a LUN backed by something else, and keeps the secret out of a failure", async () => {
    const runner = new RecordingRunner().when(tgtadm("--op show --mode target"), { stdout: SHOW_TARGETS });
    const driver = new TgtDriver({ runner, controlPort: 4242, channel: "tgtadm" });
    await expect(
      driver.ensureTarget({
        iqn: IQN,
        backing: { kind: "file", path: "/srv/other" },
        acl: { allInitiators: true, initiatorIqns: [] },
      }),
    ).rejects.toSatisfy((error) => isSanpathError(error) && error.kind === "failed_precondition");

    const failing = new RecordingRunner().when(/--mode account --user/, {
      exitCode: 22,
      stderr: `tgtadm: bad password ${SECRET}`,
    });
    const error = await rejection(
      new TgtDriver({ runner: failing, channel: "tgtadm" }).ensureTarget({
        iqn: IQN,
        backing: { kind: "file", path: "/srv/disk" },
        acl: { allInitiators: true, initiatorIqns: [] },
        chap: { user: "u", secret: SECRET },
      }),
    );
    expect(isSanpathError(error) && error.reason === "DRIVER_FAILED").toBe(true);
    expect((error as Error).message).toContain("--password ***");
    expect((error as Error).message).not.toContain(SECRET);
  });
});

describe("TgtDriver model of tgtd", () => {
  const tgtadm = (args: string): string => `tgtadm --lld iscsi ${args}`;
  const fileSpec = (iqn: string) => ({
    iqn,
    backing: { kind: "file" as const, path: "/srv/disk" },
    acl: { allInitiators: true, initiatorIqns: [] },
  });

  it("reads tgtd once; a path's portal on and off then runs only the commands that change something", async () => {
    const runner = new RecordingRunner().when(tgtadm("--op show --mode conn --tid 1"), {
      stdout:
        "Session: 7\n    Connection: 0\n        Initiator: iqn.1994-05.org.example:c\n        IP Address: 198.51.100.9\n",
    });
    const driver = new TgtDriver({ runner, channel: "tgtadm" });
    await driver.ensureTarget(fileSpec(IQN));
    await driver.ensureTarget(fileSpec(IQN));
    runner.clear();
    await driver.enablePortal({ iqn: IQN, ip: "198.51.100.50" });
    expect(await driver.isPortalEnabled({ iqn: IQN, ip: "198.51.100.50" })).toBe(true);
    await driver.disablePortal({ iqn: IQN, ip: "198.51.100.50" });
    expect(await driver.isPortalEnabled({ iqn: IQN, ip: "198.51.100.50" })).toBe(false);
    expect(runner.commands()).toEqual([
      tgtadm("--op new --mode portal --param portal=198.51.100.50:3260"),
      tgtadm("--op update --mode target --tid 1 --name state --value ready"),
      tgtadm("--op delete --mode portal --param portal=198.51.100.50:3260"),
      tgtadm("--op update --mode target --tid 1 --name state --value offline"),
      tgtadm("--op show --mode conn --tid 1"),
      tgtadm("--op delete --mode conn --tid 1 --sid 7 --cid 0"),
    ]);
    // An authoritative read goes to tgtd again.
    runner.clear();
    await driver.listTargets({ fresh: true });
    expect(runner.commands().filter((command) => command.includes("--op show"))).toHaveLength(3);
  });

  it("disabling one of several portals closes only the sockets at that portal (ss -K), tgtadm where ss -K cannot", async () => {
    const ssKill = (ip: string) => `ss -K -tnH state connected src ${ip}:3260`;
    const ssList = (ip: string) => `ss -tnH state connected src ${ip}:3260`;
    const runner = new RecordingRunner();
    const driver = new TgtDriver({ runner, channel: "tgtadm" });
    await driver.ensureTarget(fileSpec(IQN));
    for (const ip of ["198.51.100.50", "198.51.100.51", "198.51.100.52", "198.51.100.53"]) {
      await driver.enablePortal({ iqn: IQN, ip });
    }
    // Nothing was killed: not known yet whether ss -K works here, so the sockets are listed again.
    runner.clear();
    await driver.disablePortal({ iqn: IQN, ip: "198.51.100.50" });
    expect(runner.commands()).toEqual([
      tgtadm("--op delete --mode portal --param portal=198.51.100.50:3260"),
      ssKill("198.51.100.50"),
      ssList("198.51.100.50"),
    ]);
    // It killed a socket: it works, no listing from now on; the target stays ready (no state change).
    runner.when(ssKill("198.51.100.51"), { stdout: "ESTAB 0 0 198.51.100.51:3260 198.51.100.9:40000\n" });
    runner.clear();
    await driver.disablePortal({ iqn: IQN, ip: "198.51.100.51" });
    await driver.disablePortal({ iqn: IQN, ip: "198.51.100.52" });
    expect(runner.commands()).toEqual([
      tgtadm("--op delete --mode portal --param portal=198.51.100.51:3260"),
      ssKill("198.51.100.51"),
      tgtadm("--op delete --mode portal --param portal=198.51.100.52:3260"),
      ssKill("198.51.100.52"),
    ]);

    // A kernel that cannot destroy sockets: they are still listed, and tgtadm closes the target's connections.
    const unable = new RecordingRunner().when(ssList("198.51.100.50"), {
      stdout: "ESTAB 0 0 198.51.100.50:3260 198.51.100.9:40000\n",
    });
    const other = new TgtDriver({ runner: unable, channel: "tgtadm" });
    await other.ensureTarget(fileSpec(IQN));
    await other.enablePortal({ iqn: IQN, ip: "198.51.100.50" });
    await other.enablePortal({ iqn: IQN, ip: "198.51.100.51" });
    unable.clear();
    await other.disablePortal({ iqn: IQN, ip: "198.51.100.50" });
    expect(unable.commands().slice(1)).toEqual([
      ssKill("198.51.100.50"),
      ssList("198.51.100.50"),
      tgtadm("--op show --mode conn --tid 1"),
    ]);
  });

  it("a failed command makes it re-read tgtd and try once more from what is really there", async () => {
    let targetsShown = `Target 1: ${IQN}\n    System information:\n        State: offline\n`;
    const runner = new RecordingRunner()
      .when(tgtadm("--op show --mode target"), () => ({ stdout: targetsShown }))
      .when(tgtadm("--op show --mode portal"), { stdout: "Portal: 198.51.100.50:3260,1\n" });
    const driver = new TgtDriver({ runner, channel: "tgtadm" });
    await driver.listTargets();
    // Behind the driver's back: the listener is gone and the target has another tid.
    runner
      .when(tgtadm("--op show --mode portal"), { stdout: "" })
      .when(tgtadm("--op update --mode target --tid 1 --name state --value ready"), {
        exitCode: 22,
        stderr: "tgtadm: can't find the target",
      });
    targetsShown = `Target 2: ${IQN}\n    System information:\n        State: offline\n`;
    runner.clear();
    await driver.enablePortal({ iqn: IQN, ip: "198.51.100.50" });
    expect(runner.commands()).toEqual([
      // believed listening already: straight to the state, which fails (tid 1 is gone)
      tgtadm("--op update --mode target --tid 1 --name state --value ready"),
      tgtadm("--op show --mode target"),
      tgtadm("--op show --mode portal"),
      tgtadm("--op show --mode account"),
      tgtadm("--op new --mode portal --param portal=198.51.100.50:3260"),
      tgtadm("--op update --mode target --tid 2 --name state --value ready"),
    ]);

    // A target that is really gone: enabling its portal is refused after the re-read.
    targetsShown = "";
    await expect(driver.enablePortal({ iqn: `${IQN}9`, ip: "198.51.100.51" })).rejects.toSatisfy(
      (error) => isSanpathError(error) && error.kind === "failed_precondition",
    );
  });

  it("runs different targets' operations at the same time and one target's one after another", async () => {
    const runner = new GatedRunner();
    const driver = new TgtDriver({ runner, channel: "tgtadm" });
    await runner.settleAll(driver.listTargets());
    const a = driver.ensureTarget(fileSpec(`${IQN}1`));
    const b = driver.ensureTarget(fileSpec(`${IQN}2`));
    const aAgain = driver.ensureTarget({
      ...fileSpec(`${IQN}1`),
      acl: { allInitiators: false, initiatorIqns: [CLIENT] },
    });
    await runner.waitForPending(2);
    // Both targets are being created at once, with distinct tids; the second call for target 1 waits.
    expect(runner.pending().sort()).toEqual([
      tgtadm(`--op new --mode target --tid 1 --targetname ${IQN}1`),
      tgtadm(`--op new --mode target --tid 2 --targetname ${IQN}2`),
    ]);
    await runner.settleAll(Promise.all([a, b, aAgain]));
    const forTarget1 = runner.started.filter((command) => command.includes("--tid 1 "));
    expect(forTarget1.at(-1)).toBe(tgtadm(`--op bind --mode target --tid 1 --initiator-name ${CLIENT}`));
    expect(
      forTarget1.indexOf(tgtadm("--op bind --mode target --tid 1 --initiator-address ALL")),
    ).toBeLessThan(forTarget1.indexOf(tgtadm("--op unbind --mode target --tid 1 --initiator-address ALL")));
  });
});

describe("TgtDriver portals beside the target's queue", () => {
  it("disables one of several portals while another operation on the same target is still running", async () => {
    const runner = new GatedRunner();
    const driver = new TgtDriver({ runner, channel: "tgtadm" });
    const spec = {
      iqn: IQN,
      backing: { kind: "file" as const, path: "/srv/disk" },
      acl: { allInitiators: true, initiatorIqns: [] },
    };
    await runner.settleAll(driver.ensureTarget(spec));
    for (const ip of ["198.51.100.50", "198.51.100.51"]) {
      await runner.settleAll(driver.enablePortal({ iqn: IQN, ip }));
    }
    const aclChange = driver.ensureTarget({
      ...spec,
      acl: { allInitiators: false, initiatorIqns: [CLIENT] },
    });
    await runner.waitForPending(1);
    const disabling = driver.disablePortal({ iqn: IQN, ip: "198.51.100.50" });
    await runner.waitForPending(2);
    expect(runner.pending()).toEqual([
      "tgtadm --lld iscsi --op unbind --mode target --tid 1 --initiator-address ALL",
      "tgtadm --lld iscsi --op delete --mode portal --param portal=198.51.100.50:3260",
    ]);
    await runner.settleAll(Promise.all([aclChange, disabling]));
    expect(await driver.isPortalEnabled({ iqn: IQN, ip: "198.51.100.51" })).toBe(true);
  });
});

describe("TgtDriver observing reads", () => {
  const tgtadm = (args: string): string => `tgtadm --lld iscsi ${args}`;

  it("read tgtd now beside an operation that is still running, not after it, and leave the model alone", async () => {
    const runner = new GatedRunner();
    const driver = new TgtDriver({ runner, channel: "tgtadm" });
    await runner.settleAll(driver.listTargets());
    const stuck = driver.ensureTarget({
      iqn: IQN,
      backing: { kind: "file", path: "/srv/disk" },
      acl: { allInitiators: true, initiatorIqns: [] },
    });
    await runner.waitForPending(1);
    const observing = driver.listTargets({ observe: true });
    await runner.waitForPending(3);
    expect(runner.pending().slice(1).sort()).toEqual([
      tgtadm("--op show --mode portal"),
      tgtadm("--op show --mode target"),
    ]);
    // Both show requests answer (empty) while the creation still waits.
    for (const command of runner.pending().slice(1)) runner.finish(command);
    expect(await observing).toEqual([]);
    expect(runner.pending()).toEqual([tgtadm(`--op new --mode target --tid 1 --targetname ${IQN}`)]);
    await runner.settleAll(stuck);
    // The empty observation did not replace what the driver believes.
    expect((await driver.listTargets()).map((target) => target.iqn)).toEqual([IQN]);
  });
});

describe("TgtDriver callers with a deadline", () => {
  it("stop waiting for a target whose previous operation is stuck, and then do nothing", async () => {
    const runner = new GatedRunner();
    const driver = new TgtDriver({ runner, channel: "tgtadm" });
    await runner.settleAll(driver.listTargets());
    const stuck = driver.ensureTarget({
      iqn: IQN,
      backing: { kind: "file", path: "/srv/disk" },
      acl: { allInitiators: true, initiatorIqns: [] },
    });
    await runner.waitForPending(1);
    const deadline = new AbortController();
    const disabling = driver.disablePortal({ iqn: IQN, ip: "198.51.100.50" }, { signal: deadline.signal });
    deadline.abort();
    await expect(disabling).rejects.toSatisfy(
      (error) => isSanpathError(error) && error.kind === "cancelled" && error.reason === "DRIVER_FAILED",
    );
    const before = runner.started.length;
    await runner.settleAll(stuck);
    // The given-up disable ran no command once its turn came.
    expect(runner.started.slice(before).some((command) => command.includes("--mode conn"))).toBe(false);
  });
});

const CLIENT = "iqn.1994-05.org.example:client";

/** Every command waits until the test lets it finish (empty output), to see what runs at once. */
class GatedRunner implements CommandRunner {
  readonly started: string[] = [];
  private readonly waiting = new Map<number, { command: string; finish: () => void }>();
  private nextId = 0;

  run(file: string, args: readonly CommandArg[]): Promise<CommandResult> {
    const command = renderCommand(file, args);
    this.started.push(command);
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, {
        command,
        finish: () => {
          this.waiting.delete(id);
          resolve({ stdout: "", stderr: "", exitCode: 0 });
        },
      });
    });
  }

  pending(): string[] {
    return [...this.waiting.values()].map((entry) => entry.command);
  }

  /** Lets the first waiting command `command` finish. */
  finish(command: string): void {
    const entry = [...this.waiting.values()].find((waiting) => waiting.command === command);
    if (entry === undefined) throw new Error(`${command} is not waiting`);
    entry.finish();
  }

  async waitForPending(count: number): Promise<void> {
    for (let turn = 0; turn < 1000 && this.waiting.size < count; turn++) await tick();
    expect(this.waiting.size).toBe(count);
  }

  /** Lets commands finish, one turn at a time, until `work` settles. */
  async settleAll<T>(work: Promise<T>): Promise<T> {
    const state = { done: false };
    const result = work.finally(() => {
      state.done = true;
    });
    for (let turn = 0; turn < 10_000 && !state.done; turn++) {
      for (const entry of [...this.waiting.values()]) entry.finish();
      await tick();
    }
    return result;
  }
}

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
