// A path IP on and off a node: the in-process kernel calls of the sanpath_net addon
// (NetlinkNetworkDriver, issue #18) against `ip` processes (IpDriver), in a throw-away network
// namespace (198.51.100.0/24 on a veth; the root namespace is not touched).
// Rows:
//   driver add+remove   addAddress + removeAddress, as a path move does (the removal is verified by
//                       a dump / `addr show` in the same batch);
//   bare add+delete     one RTM_NEWADDR + one RTM_DELADDR call, against `ip addr add` + `ip addr del`.
// The `ip` processes run as `ip -n <namespace> ...`: one process each, as sanpathd starts them in its
// own namespace. Latencies are printed, not asserted.
// Run (as root, addon built):
//   npx vite-node bench/net-channel.ts [--count N]          (default N = 100 per row, after 5 warm-ups)
import { performance } from "node:perf_hooks";
import { loadNetBinding, openNetChannel } from "../native/net.js";
import type { CommandArg, CommandResult, CommandRunner, RunOptions } from "../src/exec/command-runner.js";
import { ExecaCommandRunner } from "../src/exec/execa-runner.js";
import { IpDriver } from "../src/net/ip-driver.js";
import { NetlinkNetworkDriver } from "../src/net/netlink-network-driver.js";
import type { NetworkDriver } from "../src/net/network-driver.js";
import { createTopology } from "../test/harness/netns.js";

const WARM_UPS = 5;
const PATH_IP = "198.51.100.80";
const PREFIX_LENGTH = 24;
const DEVICE = "eth1";

function countFromArgs(): number {
  const index = process.argv.indexOf("--count");
  if (index === -1) return 100;
  const count = Number(process.argv[index + 1]);
  if (!Number.isSafeInteger(count) || count < 1) throw new Error("--count needs a whole number >= 1");
  return count;
}

/** `ip` as `ip -n <netns>` (one process, as in production); anything else through `ip netns exec`. */
function ipInNamespace(root: ExecaCommandRunner, netns: string): CommandRunner {
  const inside = root.inNetns(netns);
  return {
    run(file: string, args: readonly CommandArg[], options?: RunOptions): Promise<CommandResult> {
      return file === "ip"
        ? root.run("ip", ["-n", netns, ...args], options)
        : inside.run(file, args, options);
    },
  };
}

/** Milliseconds of each of `count` runs of `step`, after the warm-ups. */
async function timings(count: number, step: () => Promise<void>): Promise<number[]> {
  for (let warm = 0; warm < WARM_UPS; warm++) await step();
  const spent: number[] = [];
  for (let run = 0; run < count; run++) {
    const started = performance.now();
    await step();
    spent.push(performance.now() - started);
  }
  return spent;
}

function summary(spent: readonly number[]): Record<string, string> {
  const sorted = [...spent].sort((left, right) => left - right);
  const at = (share: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))] ?? NaN;
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  return {
    "median (ms)": at(0.5).toFixed(2),
    "p90 (ms)": at(0.9).toFixed(2),
    "mean (ms)": mean.toFixed(2),
  };
}

function moveOnAndOff(driver: NetworkDriver): () => Promise<void> {
  return async () => {
    await driver.addAddress({ ip: PATH_IP, prefixLength: PREFIX_LENGTH, interface: DEVICE });
    await driver.removeAddress({ ip: PATH_IP, interface: DEVICE });
  };
}

async function main(): Promise<void> {
  const count = countFromArgs();
  const root = new ExecaCommandRunner({ defaultTimeoutMs: 15_000 });
  const topology = await createTopology({
    bridges: ["iscsi1"],
    hosts: [{ name: "bench", links: [{ bridge: "iscsi1", ifname: DEVICE, address: "198.51.100.11/24" }] }],
  });
  try {
    const netns = topology.nsName("bench");
    const addon = loadNetBinding();
    const processes = ipInNamespace(root, netns);
    const netlink = new NetlinkNetworkDriver({ addon, runner: processes, netns });
    const ip = new IpDriver({ runner: processes });
    const channel = openNetChannel({ netns, timeoutMs: 10_000 }, addon);
    const change = [{ device: DEVICE, ip: PATH_IP, prefixLength: PREFIX_LENGTH }];
    const cidr = `${PATH_IP}/${PREFIX_LENGTH}`;
    const rows: Record<string, Record<string, string>> = {
      "driver add+remove: netlink": summary(await timings(count, moveOnAndOff(netlink))),
      "driver add+remove: ip processes": summary(await timings(count, moveOnAndOff(ip))),
      "bare add+delete: netlink calls": summary(
        await timings(count, async () => {
          const [added] = await channel.addAddresses(change);
          const [deleted] = await channel.deleteAddresses(change);
          if (added?.kind !== "done" || deleted?.kind !== "done")
            throw new Error("the kernel refused a change");
        }),
      ),
      "bare add+delete: ip processes": summary(
        await timings(count, async () => {
          await root.run("ip", ["-n", netns, "addr", "add", cidr, "dev", DEVICE]);
          await root.run("ip", ["-n", netns, "addr", "del", cidr, "dev", DEVICE]);
        }),
      ),
      "gratuitous ARP: netlink (AF_PACKET)": summary(
        await timings(count, async () => {
          await channel.sendGratuitousArp(DEVICE, "198.51.100.11");
        }),
      ),
    };
    await netlink.close();
    await ip.close();
    console.log(
      `path IP on and off ${DEVICE} in namespace ${netns}, ${count} runs per row after ${WARM_UPS} warm-ups`,
    );
    console.table(rows);
  } finally {
    await topology.destroy();
  }
}

await main();
