/**
 * The TargetDriver contract against TgtDriver over a real tgtd, inside a network namespace of its
 * own (portal IPs from 198.51.100.0/24 with net.ipv4.ip_nonlocal_bind=1, so they need not be on
 * the node). Each test starts from an empty tgtd: targets, listeners and CHAP accounts are deleted
 * with tgtadm after it. Registered once per channel of the driver (tgtadm processes, tgtd's
 * control socket) by target-driver-tgt*.contract.test.ts.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { TgtChannel } from "../../src/iscsi/tgt-driver.js";
import { parseTgtAccounts, parseTgtPortals, parseTgtTargets } from "../../src/iscsi/tgt-show.js";
import { createTopology, type Topology } from "../harness/netns.js";
import { startTgtd, type TgtdHarness } from "../harness/tgtd.js";
import { targetDriverContract } from "../contract/target-driver.contract.js";

/** Registers the contract for TgtDriver over `channel`, with a tgtd of the test file's own. */
export function registerTgtDriverContract(channel: TgtChannel): void {
  let topology: Topology | undefined;
  let tgtd: TgtdHarness | undefined;
  let dir = "";
  let backingFiles: [string, string] = ["", ""];
  let driversMade = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-tgt-contract-"));
    backingFiles = [join(dir, "image-00001"), join(dir, "image-00002")];
    for (const file of backingFiles) {
      writeFileSync(file, "");
      truncateSync(file, 16 * 1024 * 1024);
    }
    topology = await createTopology({
      bridges: ["iscsi1"],
      hosts: [
        {
          name: "tgt",
          links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.11/24" }],
          sysctls: { "net.ipv4.ip_nonlocal_bind": "1" },
        },
      ],
    });
    tgtd = await startTgtd(topology, "tgt");
  });

  afterAll(async () => {
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

  function daemon(): TgtdHarness {
    if (tgtd === undefined) throw new Error("tgtd did not start");
    return tgtd;
  }

  /** Deletes every target (ending its sessions), listener and CHAP account of the tgtd. */
  async function emptyTgtd(harness: TgtdHarness): Promise<void> {
    for (const target of parseTgtTargets(await harness.tgtadm(["--op", "show", "--mode", "target"]))) {
      await harness.tgtadm(["--op", "delete", "--force", "--mode", "target", "--tid", String(target.tid)]);
    }
    for (const portal of parseTgtPortals(await harness.tgtadm(["--op", "show", "--mode", "portal"]))) {
      const address = portal.ip.includes(":") ? `[${portal.ip}]` : portal.ip;
      await harness.tgtadm([
        "--op",
        "delete",
        "--mode",
        "portal",
        "--param",
        `portal=${address}:${portal.port}`,
      ]);
    }
    for (const user of parseTgtAccounts(await harness.tgtadm(["--op", "show", "--mode", "account"]))) {
      await harness.tgtadm(["--op", "delete", "--mode", "account", "--user", user]);
    }
  }

  targetDriverContract(`TgtDriver (${channel} channel) over a real tgtd`, async () => {
    const harness = daemon();
    await emptyTgtd(harness);
    driversMade += 1;
    return {
      driver: harness.driver({ channel, stateFile: join(dir, `portals-${driversMade}.json`) }),
      backingFiles,
      ips: ["198.51.100.50", "198.51.100.51", "198.51.100.52", "198.51.100.53"],
      external: {
        async deleteTarget(iqn) {
          const shown = parseTgtTargets(await harness.tgtadm(["--op", "show", "--mode", "target"]));
          const tid = shown.find((target) => target.iqn === iqn)?.tid;
          if (tid === undefined) throw new Error(`${iqn} is not in tgtd`);
          await harness.tgtadm(["--op", "delete", "--force", "--mode", "target", "--tid", String(tid)]);
        },
        async stopListening(ip, port) {
          await harness.tgtadm(["--op", "delete", "--mode", "portal", "--param", `portal=${ip}:${port}`]);
        },
        stopService: () => harness.kill(),
        startService: () => harness.start(),
      },
      close: () => emptyTgtd(harness),
    };
  });
}
