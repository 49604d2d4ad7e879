/**
 * The LIO driver's exact targetcli / rbd command sequences (configfs and the kernel target are
 * not available on these machines), against scripted configfs states.
 */
import { describe, expect, it } from "vitest";
import { LioDriver } from "../../src/iscsi/lio-driver.js";
import type { LioState, LioStateReader, LioTpg } from "../../src/iscsi/lio-state.js";
import type { TargetSpec } from "../../src/iscsi/target-driver.js";
import { RecordingRunner } from "../../src/exec/recording-runner.js";
import { isSanpathError } from "../../src/errors/sanpath-error.js";
import { rejection } from "../support/thrown.js";

const IQN = "iqn.2016-05.com.petasan:00001";
const IMAGE_FILE = "/var/lib/sanpath/disks/image-00001";
const INITIATOR_X = "iqn.1991-05.com.microsoft:host-x";
const INITIATOR_Y = "iqn.1994-05.com.redhat:host-y";
const SECRET = "s3cret-Chap-Pass";
const PREPARE =
  "targetcli / set global auto_add_default_portal=false auto_enable_tpgt=false auto_add_mapped_luns=false auto_save_on_exit=false";

/** Hands out the scripted states in order; the last one repeats. */
class ScriptedState implements LioStateReader {
  reads = 0;
  constructor(private readonly states: LioState[]) {}
  read(): Promise<LioState> {
    const state = this.states[Math.min(this.reads, this.states.length - 1)];
    this.reads += 1;
    if (state === undefined) throw new Error("no scripted state");
    return Promise.resolve(structuredClone(state));
  }
}

const empty: LioState = { backstores: [], targets: [] };

const fileSpec: TargetSpec = {
  iqn: IQN,
  backing: { kind: "file", path: IMAGE_FILE },
  acl: { allInitiators: true, initiatorIqns: [] },
};

const rbdSpec: TargetSpec = {
  iqn: IQN,
  backing: {
    kind: "rbd",
    pool: "rbd",
    image: "image-00001",
    cephConf: "/etc/ceph/ceph.conf",
    cephUser: "admin",
  },
  acl: { allInitiators: false, initiatorIqns: [INITIATOR_Y, INITIATOR_X] },
  chap: { user: "petasan", secret: SECRET },
};

function tpg(overrides: Partial<LioTpg> & { tag: number }): LioTpg {
  return {
    enabled: false,
    portals: [],
    luns: [{ lun: 0, backstore: { plugin: "fileio", name: "image-00001" } }],
    acls: [],
    generateNodeAcls: true,
    authentication: false,
    ...overrides,
  };
}

function fileTargetState(tpgs: LioTpg[]): LioState {
  return {
    backstores: [{ plugin: "fileio", name: "image-00001", device: IMAGE_FILE }],
    targets: [{ iqn: IQN, tpgs }],
  };
}

function rbdTargetState(tpgs: LioTpg[]): LioState {
  return {
    backstores: [{ plugin: "block", name: "image-00001", device: "/dev/rbd/rbd/image-00001" }],
    targets: [{ iqn: IQN, tpgs }],
  };
}

const servingTpg1 = fileTargetState([
  tpg({ tag: 1, enabled: true, portals: [{ ip: "198.51.100.50", port: 3260 }] }),
]);

const rbdTpg = (overrides: Partial<LioTpg> & { tag: number }): LioTpg =>
  tpg({
    luns: [{ lun: 0, backstore: { plugin: "block", name: "image-00001" } }],
    acls: [
      { initiator: INITIATOR_X, chapUserid: "petasan" },
      { initiator: INITIATOR_Y, chapUserid: "petasan" },
    ],
    generateNodeAcls: false,
    authentication: true,
    ...overrides,
  });

describe("LIO driver: targetcli command sequences", () => {
  it("serves a file-backed disk to every initiator: backstore, target, TPG 1 with LUN 0 and portal, enable", async () => {
    const runner = new RecordingRunner();
    const driver = new LioDriver({
      runner,
      state: new ScriptedState([empty, fileTargetState([]), servingTpg1]),
    });
    await driver.ensureTarget(fileSpec);
    await driver.enablePortal({ iqn: IQN, ip: "198.51.100.50", pathIndex: 1 });
    expect(runner.commands()).toEqual([
      PREPARE,
      `targetcli /backstores/fileio create name=image-00001 file_or_dev=${IMAGE_FILE} write_back=false`,
      `targetcli /iscsi create ${IQN}`,
      `targetcli /iscsi/${IQN} delete 1`,
      `targetcli /iscsi/${IQN} create tag=1`,
      `targetcli /iscsi/${IQN}/tpg1 set attribute generate_node_acls=1 authentication=0 demo_mode_write_protect=0 cache_dynamic_acls=1`,
      `targetcli /iscsi/${IQN}/tpg1 set parameter InitialR2T=No`,
      `targetcli /iscsi/${IQN}/tpg1/luns create /backstores/fileio/image-00001 lun=0 add_mapped_luns=false`,
      `targetcli /iscsi/${IQN}/tpg1/portals create 198.51.100.50 3260`,
      `targetcli /iscsi/${IQN}/tpg1 enable`,
    ]);
  });

  it("serves path 2 of an RBD disk with an ACL and CHAP: map, block backstore, ACLs with credentials", async () => {
    const runner = new RecordingRunner().when("rbd device list --format json", { stdout: "[]\n" });
    const serving = rbdTargetState([
      rbdTpg({ tag: 2, enabled: true, portals: [{ ip: "203.0.113.50", port: 3260 }] }),
    ]);
    const driver = new LioDriver({ runner, state: new ScriptedState([empty, rbdTargetState([]), serving]) });
    await driver.ensureTarget(rbdSpec);
    await driver.enablePortal({ iqn: IQN, ip: "203.0.113.50", pathIndex: 2 });
    const tpg2 = `/iscsi/${IQN}/tpg2`;
    expect(runner.commands()).toEqual([
      PREPARE,
      "rbd device list --format json",
      "rbd device map rbd/image-00001 --id admin --conf /etc/ceph/ceph.conf",
      "targetcli /backstores/block create name=image-00001 dev=/dev/rbd/rbd/image-00001",
      `targetcli /iscsi create ${IQN}`,
      `targetcli /iscsi/${IQN} delete 1`,
      `targetcli /iscsi/${IQN} create tag=2`,
      `targetcli ${tpg2} set attribute generate_node_acls=0 authentication=1 demo_mode_write_protect=0 cache_dynamic_acls=1`,
      `targetcli ${tpg2} set parameter InitialR2T=No`,
      `targetcli ${tpg2}/luns create /backstores/block/image-00001 lun=0 add_mapped_luns=false`,
      `targetcli ${tpg2}/acls create ${INITIATOR_X} add_mapped_luns=true`,
      `targetcli ${tpg2}/acls/${INITIATOR_X} set auth userid=petasan ***`,
      `targetcli ${tpg2}/acls create ${INITIATOR_Y} add_mapped_luns=true`,
      `targetcli ${tpg2}/acls/${INITIATOR_Y} set auth userid=petasan ***`,
      `targetcli ${tpg2}/portals create 203.0.113.50 3260`,
      `targetcli ${tpg2} enable`,
    ]);
    // The process gets the secret; nothing rendered shows it.
    const auth = runner.calls.filter((call) => call.args.includes("auth"));
    expect(auth.map((call) => call.args.at(-1))).toEqual([`password=${SECRET}`, `password=${SECRET}`]);
    expect(runner.commands().join("\n")).not.toContain(SECRET);
  });

  it("puts CHAP on the TPG when every initiator may log in", async () => {
    const runner = new RecordingRunner();
    const driver = new LioDriver({
      runner,
      state: new ScriptedState([empty, fileTargetState([]), servingTpg1]),
    });
    await driver.ensureTarget({ ...fileSpec, chap: { user: "petasan", secret: SECRET } });
    await driver.enablePortal({ iqn: IQN, ip: "198.51.100.50", pathIndex: 1 });
    expect(runner.commands().slice(5, 10)).toEqual([
      `targetcli /iscsi/${IQN}/tpg1 set attribute generate_node_acls=1 authentication=1 demo_mode_write_protect=0 cache_dynamic_acls=1`,
      `targetcli /iscsi/${IQN}/tpg1 set parameter InitialR2T=No`,
      `targetcli /iscsi/${IQN}/tpg1/luns create /backstores/fileio/image-00001 lun=0 add_mapped_luns=false`,
      `targetcli /iscsi/${IQN}/tpg1 set auth userid=petasan ***`,
      `targetcli /iscsi/${IQN}/tpg1/portals create 198.51.100.50 3260`,
    ]);
  });

  it("does nothing the second time: ensure and enable on a configured, enabled target run no command", async () => {
    const runner = new RecordingRunner().when("rbd device list --format json", {
      stdout: JSON.stringify([
        { id: "0", pool: "rbd", namespace: "", name: "image-00001", device: "/dev/rbd0" },
      ]),
    });
    const configured = rbdTargetState([
      rbdTpg({ tag: 2, enabled: true, portals: [{ ip: "203.0.113.50", port: 3260 }] }),
    ]);
    const driver = new LioDriver({ runner, state: new ScriptedState([configured]) });
    await driver.ensureTarget(rbdSpec); // a fresh driver re-applies the credentials once
    runner.clear();
    await driver.ensureTarget(rbdSpec);
    await driver.enablePortal({ iqn: IQN, ip: "203.0.113.50", pathIndex: 2 });
    await driver.enablePortal({ iqn: IQN, ip: "203.0.113.50" });
    expect(runner.commands()).toEqual(["rbd device list --format json"]);
    expect(await driver.isPortalEnabled({ iqn: IQN, ip: "203.0.113.50" })).toBe(true);
  });

  it("re-applies CHAP credentials once after a restart (the secret cannot be read back)", async () => {
    const runner = new RecordingRunner().when("rbd device list --format json", {
      stdout: JSON.stringify([{ pool: "rbd", name: "image-00001" }]),
    });
    const configured = rbdTargetState([
      rbdTpg({ tag: 1, enabled: true, portals: [{ ip: "198.51.100.50", port: 3260 }] }),
    ]);
    const driver = new LioDriver({ runner, state: new ScriptedState([configured]) });
    await driver.ensureTarget(rbdSpec);
    expect(runner.commands()).toEqual([
      PREPARE,
      "rbd device list --format json",
      `targetcli /iscsi/${IQN}/tpg1/acls/${INITIATOR_X} set auth userid=petasan ***`,
      `targetcli /iscsi/${IQN}/tpg1/acls/${INITIATOR_Y} set auth userid=petasan ***`,
    ]);
  });

  it("re-enables an existing disabled TPG, and disables it again (keeping TPG and portal)", async () => {
    const runner = new RecordingRunner();
    const disabled = fileTargetState([tpg({ tag: 1, portals: [{ ip: "198.51.100.50", port: 3260 }] })]);
    const enabled = fileTargetState([
      tpg({ tag: 1, enabled: true, portals: [{ ip: "198.51.100.50", port: 3260 }] }),
    ]);
    const driver = new LioDriver({
      runner,
      state: new ScriptedState([disabled, disabled, enabled, enabled, disabled, disabled, disabled]),
    });
    await driver.ensureTarget(fileSpec);
    await driver.enablePortal({ iqn: IQN, ip: "198.51.100.50", pathIndex: 1 });
    await driver.disablePortal({ iqn: IQN, ip: "198.51.100.50" });
    await driver.disablePortal({ iqn: IQN, ip: "198.51.100.50" });
    expect(await driver.isPortalEnabled({ iqn: IQN, ip: "198.51.100.50" })).toBe(false);
    expect(runner.commands()).toEqual([
      PREPARE,
      `targetcli /iscsi/${IQN}/tpg1 enable`,
      `targetcli /iscsi/${IQN}/tpg1 disable`,
    ]);
  });

  it("gives a second path of the same disk its own TPG (the lowest free tag without pathIndex)", async () => {
    const runner = new RecordingRunner();
    const one = fileTargetState([
      tpg({ tag: 1, enabled: true, portals: [{ ip: "198.51.100.50", port: 3260 }] }),
    ]);
    const two = fileTargetState([
      tpg({ tag: 1, enabled: true, portals: [{ ip: "198.51.100.50", port: 3260 }] }),
      tpg({ tag: 2, enabled: true, portals: [{ ip: "203.0.113.50", port: 3260 }] }),
    ]);
    const driver = new LioDriver({ runner, state: new ScriptedState([one, one, two]) });
    await driver.ensureTarget(fileSpec);
    runner.clear();
    await driver.enablePortal({ iqn: IQN, ip: "203.0.113.50" });
    expect(runner.commands()[0]).toBe(`targetcli /iscsi/${IQN} create tag=2`);
    expect(runner.commands().at(-2)).toBe(`targetcli /iscsi/${IQN}/tpg2/portals create 203.0.113.50 3260`);
    expect(runner.commands().at(-1)).toBe(`targetcli /iscsi/${IQN}/tpg2 enable`);
    await expect(driver.enablePortal({ iqn: IQN, ip: "203.0.113.51", pathIndex: 1 })).rejects.toSatisfy(
      (error) => isSanpathError(error) && error.kind === "failed_precondition" && error.field === "pathIndex",
    );
  });

  it("checks configfs after targetcli: a TPG that did not come up is an error", async () => {
    const stuck = fileTargetState([tpg({ tag: 1, portals: [{ ip: "198.51.100.50", port: 3260 }] })]);
    const driver = new LioDriver({ runner: new RecordingRunner(), state: new ScriptedState([stuck]) });
    await driver.ensureTarget(fileSpec);
    await expect(driver.enablePortal({ iqn: IQN, ip: "198.51.100.50" })).rejects.toSatisfy(
      (error) =>
        isSanpathError(error) && error.reason === "DRIVER_FAILED" && /not enabled/.test(error.message),
    );
  });

  it("narrows before it widens when the ACL changes", async () => {
    const runner = new RecordingRunner();
    const open = fileTargetState([
      tpg({ tag: 1, enabled: true, portals: [{ ip: "198.51.100.50", port: 3260 }] }),
    ]);
    const driver = new LioDriver({ runner, state: new ScriptedState([open]) });
    await driver.ensureTarget({ ...fileSpec, acl: { allInitiators: false, initiatorIqns: [INITIATOR_X] } });
    const path = `/iscsi/${IQN}/tpg1`;
    expect(runner.commands().slice(1)).toEqual([
      `targetcli ${path} set attribute generate_node_acls=0`,
      `targetcli ${path}/acls create ${INITIATOR_X} add_mapped_luns=true`,
    ]);

    const restricted = fileTargetState([
      tpg({
        tag: 1,
        enabled: true,
        portals: [{ ip: "198.51.100.50", port: 3260 }],
        acls: [{ initiator: INITIATOR_X }],
        generateNodeAcls: false,
      }),
    ]);
    const runner2 = new RecordingRunner();
    const driver2 = new LioDriver({ runner: runner2, state: new ScriptedState([restricted]) });
    await driver2.ensureTarget({ ...fileSpec, chap: { user: "petasan", secret: SECRET } });
    expect(runner2.commands().slice(1)).toEqual([
      `targetcli ${path}/acls delete ${INITIATOR_X}`,
      `targetcli ${path} set auth userid=petasan ***`,
      `targetcli ${path} set attribute authentication=1`,
      `targetcli ${path} set attribute generate_node_acls=1`,
    ]);
  });

  it("drops the target, its backstore and the kernel RBD mapping", async () => {
    const runner = new RecordingRunner();
    const configured = rbdTargetState([rbdTpg({ tag: 1, portals: [{ ip: "198.51.100.50", port: 3260 }] })]);
    const driver = new LioDriver({ runner, state: new ScriptedState([configured, empty]) });
    await driver.dropTarget(IQN);
    await driver.dropTarget(IQN);
    expect(runner.commands()).toEqual([
      `targetcli /iscsi delete ${IQN}`,
      "targetcli /backstores/block delete image-00001",
      "rbd device unmap /dev/rbd/rbd/image-00001",
    ]);
  });

  it("refuses to enable a portal before ensureTarget, and masks the secret when targetcli fails", async () => {
    const runner = new RecordingRunner().when(/set auth/, {
      exitCode: 1,
      stderr: `Invalid password=${SECRET}\n`,
    });
    const driver = new LioDriver({ runner, state: new ScriptedState([empty, fileTargetState([])]) });
    await expect(driver.enablePortal({ iqn: IQN, ip: "198.51.100.50" })).rejects.toSatisfy(
      (error) => isSanpathError(error) && error.kind === "failed_precondition",
    );
    await driver.ensureTarget({ ...fileSpec, chap: { user: "petasan", secret: SECRET } });
    const failure = await rejection(driver.enablePortal({ iqn: IQN, ip: "198.51.100.50" }));
    expect(isSanpathError(failure) && failure.reason === "DRIVER_FAILED").toBe(true);
    expect((failure as Error).message).toContain("set auth userid=petasan ***");
    expect((failure as Error).message).not.toContain(SECRET);
  });

  it("lists what configfs holds: portals per TPG with their state, LUN backing, ACL and CHAP user", async () => {
    const state = rbdTargetState([
      rbdTpg({ tag: 1, enabled: true, portals: [{ ip: "198.51.100.50", port: 3260 }] }),
      rbdTpg({ tag: 2, enabled: false, portals: [{ ip: "203.0.113.50", port: 3260 }] }),
    ]);
    const driver = new LioDriver({ runner: new RecordingRunner(), state: new ScriptedState([state]) });
    expect(await driver.listTargets()).toEqual([
      {
        iqn: IQN,
        luns: [{ lun: 0, backing: "rbd/image-00001", backingType: "block" }],
        portals: [
          { ip: "198.51.100.50", port: 3260, enabled: true, tpgTag: 1 },
          { ip: "203.0.113.50", port: 3260, enabled: false, tpgTag: 2 },
        ],
        acl: { allInitiators: false, initiatorIqns: [INITIATOR_Y, INITIATOR_X].sort() },
        chapUser: "petasan",
      },
    ]);
    expect(await driver.listPortals()).toEqual([
      { ip: "198.51.100.50", port: 3260, iqns: [IQN] },
      { ip: "203.0.113.50", port: 3260, iqns: [IQN] },
    ]);
  });
});
