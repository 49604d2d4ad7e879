/**
 * tgt's rbd backing store through the tgt driver: a throw-away Ceph in its own namespace on the
 * management bridge, tgtd on node A reaching it there, the client reading over the iSCSI bridge.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IpDriver } from "../../src/net/ip-driver.js";
import type { TargetSpec } from "../../src/iscsi/target-driver.js";
import { createTopology, type Topology } from "../harness/netns.js";
import { startTgtd, type TgtdHarness } from "../harness/tgtd.js";
import { startCephHarness, type CephHarness } from "../harness/ceph.js";

const IMAGE_BYTES = 64 * 1024 * 1024;
const IQN = `iqn.2016-05.org.sanpath.test${process.pid}:00001`;

describe("tgt driver with an RBD-backed LUN", () => {
  let topology: Topology | undefined;
  let ceph: CephHarness | undefined;
  let tgtd: TgtdHarness | undefined;

  beforeAll(async () => {
    topology = await createTopology({
      bridges: ["mgmt", "iscsi1"],
      hosts: [
        { name: "ceph", links: [{ bridge: "mgmt", ifname: "eth0", address: "192.0.2.20/24" }] },
        {
          name: "a",
          links: [
            { bridge: "mgmt", ifname: "eth0", address: "192.0.2.11/24" },
            { bridge: "iscsi1", ifname: "eth1", address: "198.51.100.11/24" },
          ],
        },
        { name: "client", links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.9/24" }] },
      ],
    });
    ceph = await startCephHarness({
      name: "iscsi-tgt-rbd",
      netns: { name: topology.nsName("ceph"), ip: "192.0.2.20" },
    });
    await ceph.cli("rbd", ["create", "--size", "64M", "--image-feature", "layering", "image-00001"]);
    tgtd = await startTgtd(topology, "a");
  });

  afterAll(async () => {
    try {
      await tgtd?.stop();
      await ceph?.stop();
    } finally {
      await topology?.destroy();
    }
  });

  it("serves the image: the client reads its size, and dropping the target releases it", async () => {
    if (topology === undefined || ceph === undefined || tgtd === undefined) throw new Error("set-up failed");
    const driver = tgtd.driver();
    const net = new IpDriver({ runner: topology.runner("a") });
    const spec: TargetSpec = {
      iqn: IQN,
      backing: {
        kind: "rbd",
        pool: ceph.pool,
        image: "image-00001",
        cephConf: ceph.confPath,
        cephUser: "admin",
      },
      acl: { allInitiators: true, initiatorIqns: [] },
    };
    // Without ip_nonlocal_bind here: the IP goes on first, then the portal.
    await net.addAddress({ ip: "198.51.100.50", prefixLength: 24, interface: "eth1" });
    await driver.ensureTarget(spec);
    await driver.enablePortal({ iqn: IQN, ip: "198.51.100.50" });

    const { stdout } = await topology.exec(
      "client",
      "iscsi-readcapacity16",
      ["-s", `iscsi://198.51.100.50/${IQN}/1`],
      {
        timeoutMs: 15_000,
      },
    );
    expect(Number(stdout.trim())).toBe(IMAGE_BYTES);
    expect((await driver.listTargets())[0]?.luns).toEqual([
      { lun: 1, backing: `${ceph.pool}/image-00001`, backingType: "rbd" },
    ]);

    await driver.dropTarget(IQN);
    // tgtd no longer watches the image, so it can be removed.
    await ceph.cli("rbd", ["rm", "image-00001"], { timeoutMs: 30_000 });
    expect(await ceph.cli("rbd", ["ls"])).toBe("");
  });
});
