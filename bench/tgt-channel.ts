// Latency of one request to tgtd over each channel of the tgt driver: tgtd's control socket from
// this process (no process per request) and a tgtadm process per request (what the driver did
// before issue #18), against a throw-away tgtd in a network namespace. Per operation: median,
// 90th percentile and mean in ms, then one path's whole cycle through TgtDriver (ensureTarget,
// enablePortal, disablePortal, dropTarget). tgtadm runs in the root namespace as on a node (the
// control socket is a file, reachable from every namespace), not through `ip netns exec`.
// Run (as root, tgt installed):
//   npx vite-node bench/tgt-channel.ts [--count N]        (default N = 200 per operation and channel)
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { CommandArg } from "../src/exec/command-runner.js";
import { ExecaCommandRunner } from "../src/exec/execa-runner.js";
import { boundTgtadm, type Tgtadm } from "../src/iscsi/tgt-admin.js";
import { TgtDriver, type TgtChannel } from "../src/iscsi/tgt-driver.js";
import { socketTgtadm, tgtdSocketPath } from "../src/iscsi/tgt-mgmt-socket.js";
import { createTopology } from "../test/harness/netns.js";
import { startTgtd } from "../test/harness/tgtd.js";

const IQN = `iqn.2016-05.org.sanpath.bench${process.pid}`;
const TIMEOUT_MS = 15_000;

function countFromArgs(): number {
  const index = process.argv.indexOf("--count");
  if (index === -1) return 200;
  const count = Number(process.argv[index + 1]);
  if (!Number.isSafeInteger(count) || count < 1) throw new Error("--count needs a whole number >= 1");
  return count;
}

interface Figures {
  median: number;
  p90: number;
  mean: number;
}

function figures(samples: readonly number[]): Figures {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (share: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))] ?? 0;
  return {
    median: at(0.5),
    p90: at(0.9),
    mean: sorted.reduce((sum, value) => sum + value, 0) / sorted.length,
  };
}

async function timed(count: number, step: (index: number) => Promise<unknown>): Promise<Figures> {
  const samples: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const started = performance.now();
    await step(index);
    samples.push(performance.now() - started);
  }
  return figures(samples);
}

/** The requests of one path's life, one at a time; each figure is one request. */
async function requestFigures(tgtadm: Tgtadm, count: number, tid: number): Promise<Record<string, Figures>> {
  const call = (args: readonly CommandArg[]) => tgtadm(args, {});
  const target = String(tid);
  await call(["--op", "new", "--mode", "target", "--tid", target, "--targetname", `${IQN}:${tid}`]);
  try {
    const rows: Record<string, Figures> = {};
    rows["show target"] = await timed(count, () => call(["--op", "show", "--mode", "target"]));
    rows["show conn"] = await timed(count, () => call(["--op", "show", "--mode", "conn", "--tid", target]));
    rows["update state"] = await timed(count, (index) =>
      call([
        "--op",
        "update",
        "--mode",
        "target",
        "--tid",
        target,
        "--name",
        "state",
        "--value",
        index % 2 === 0 ? "offline" : "ready",
      ]),
    );
    rows["bind + unbind ACL (2)"] = await timed(count, async () => {
      await call(["--op", "bind", "--mode", "target", "--tid", target, "--initiator-address", "ALL"]);
      await call(["--op", "unbind", "--mode", "target", "--tid", target, "--initiator-address", "ALL"]);
    });
    rows["new + delete target (2)"] = await timed(count, async () => {
      await call(["--op", "new", "--mode", "target", "--tid", "900", "--targetname", `${IQN}:900`]);
      await call(["--op", "delete", "--force", "--mode", "target", "--tid", "900"]);
    });
    return rows;
  } finally {
    await call(["--op", "delete", "--force", "--mode", "target", "--tid", target]);
  }
}

async function driverCycle(
  channel: TgtChannel,
  runner: ExecaCommandRunner,
  controlPort: number,
  diskPath: string,
  count: number,
): Promise<Figures> {
  const driver = new TgtDriver({ runner, controlPort, channel });
  const spec = {
    iqn: `${IQN}:${channel}`,
    backing: { kind: "file" as const, path: diskPath },
    acl: { allInitiators: true, initiatorIqns: [] },
  };
  await driver.prepare();
  return timed(count, async () => {
    await driver.ensureTarget(spec);
    await driver.enablePortal({ iqn: spec.iqn, ip: "198.51.100.90" });
    await driver.disablePortal({ iqn: spec.iqn, ip: "198.51.100.90" });
    await driver.dropTarget(spec.iqn);
  });
}

async function main(): Promise<void> {
  const count = countFromArgs();
  const dir = mkdtempSync(join(tmpdir(), "sanpath-bench-tgt-"));
  const diskPath = join(dir, "image-00001");
  writeFileSync(diskPath, "");
  truncateSync(diskPath, 16 * 1024 * 1024);
  const topology = await createTopology({
    bridges: ["iscsi1"],
    hosts: [
      {
        name: "tgt",
        links: [{ bridge: "iscsi1", ifname: "eth1", address: "198.51.100.11/24" }],
        sysctls: { "net.ipv4.ip_nonlocal_bind": "1" },
      },
    ],
  });
  try {
    const tgtd = await startTgtd(topology, "tgt");
    try {
      const root = new ExecaCommandRunner();
      const channels: Record<TgtChannel, Tgtadm> = {
        socket: socketTgtadm({ socketPath: tgtdSocketPath(tgtd.controlPort), timeoutMs: TIMEOUT_MS }),
        tgtadm: boundTgtadm(root, tgtd.controlPort, TIMEOUT_MS),
      };
      console.log(
        `tgtd ${tgtd.controlPort} in ${topology.nsName("tgt")}, ${count} rounds per row, ms per round`,
      );
      const rows: Record<string, Record<string, string>> = {};
      const show = (channel: TgtChannel, name: string, figure: Figures): void => {
        rows[name] ??= {};
        rows[name][`${channel} median`] = figure.median.toFixed(2);
        rows[name][`${channel} p90`] = figure.p90.toFixed(2);
        rows[name][`${channel} mean`] = figure.mean.toFixed(2);
      };
      let tid = 100;
      for (const channel of ["socket", "tgtadm"] as const) {
        tid += 1;
        for (const [name, figure] of Object.entries(await requestFigures(channels[channel], count, tid))) {
          show(channel, name, figure);
        }
        const cycles = Math.max(1, Math.round(count / 10));
        show(
          channel,
          `driver path cycle (x${cycles})`,
          await driverCycle(channel, root, tgtd.controlPort, diskPath, cycles),
        );
      }
      console.table(rows);
    } finally {
      await tgtd.stop();
    }
  } finally {
    await topology.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
