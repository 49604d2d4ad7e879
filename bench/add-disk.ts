// AddDisk throughput and allocation cost, against a real Consul dev agent and the throw-away Ceph
// (one mon, one memstore OSD on 127.0.0.1), through DiskService in process (the code a sanpathd
// runs for the RPC, without the gRPC framing):
//   1. disks per second for N AddDisk calls (default 1,000) with 1 and with 16 calls in flight;
//   2. the time of one allocation (the reserving read + transaction) with 10 and with 10,000
//      existing disks, the allocation records pre-seeded directly in Consul.
// Run (as root, Ceph packages and consul installed, addon built):
//   npx vite-node bench/add-disk.ts [--count N]
// librbd calls run on libuv's pool (4 threads by default); UV_THREADPOOL_SIZE=16 lets more run at once.
import { ConsulKvStore } from "../src/consul/consul-kv-store.js";
import { performance } from "node:perf_hooks";
import { ConsulClient } from "../src/consul/consul-client.js";
import { ConsulKeys } from "../src/consul/keys.js";
import { runTransaction } from "../src/consul/transaction.js";
import { AllocationKeys, IP_BLOCK_SIZE, ipBlockBase } from "../src/disks/allocation-keys.js";
import { Bitmap } from "../src/util/bitmap.js";
import type { ClusterSettingsInput } from "../src/disks/cluster-settings.js";
import { MAX_DISK_NUMBER } from "../src/disks/disk-id.js";
import { diskImagesOver } from "../src/disks/disk-images.js";
import type { AddDiskInput } from "../src/disks/disk-request.js";
import { DiskService } from "../src/disks/disk-service.js";
import { tryParseIpv4 } from "../src/disks/ipv4.js";
import { createLogger } from "../src/log/logger.js";
import { openRbdImageStore } from "../src/storage/rbd-image-store.js";
import { startCephHarness } from "../test/harness/ceph.js";
import { startConsulHarness } from "../test/harness/consul.js";

const DEPTHS = [1, 16] as const;
const EXISTING = [10, 10_000] as const;
const ALLOCATION_RUNS = 51;

/** RFC 2544's benchmarking range: room for every disk of the run; nothing is configured on a host. */
const SETTINGS: ClusterSettingsInput = {
  iqnBase: "iqn.2016-05.org.sanpath.bench",
  defaultPool: "rbd",
  subnet1: {
    network: "198.18.0.0/15",
    autoIpFrom: "198.18.0.10",
    autoIpTo: "198.19.255.250",
    interface: "eth1",
    vlanId: 0,
  },
  subnet2: undefined,
};

function countFromArgs(): number {
  const index = process.argv.indexOf("--count");
  if (index === -1) return 1000;
  const count = Number(process.argv[index + 1]);
  if (!Number.isSafeInteger(count) || count < 1) throw new Error("--count needs a whole number >= 1");
  return count;
}

function input(name: string): AddDiskInput {
  return { name, sizeGib: 1, pathCount: 1, subnet: 1, manualIps: [], pool: "" };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const count = countFromArgs();
  const [consul, ceph] = await Promise.all([
    startConsulHarness("bench-add-disk"),
    startCephHarness({ name: "bench-add-disk" }),
  ]);
  const client = new ConsulClient({ address: consul.agent.httpAddress });
  const store = await openRbdImageStore({ pool: ceph.pool, connect: { confPath: ceph.confPath } });
  const logger = createLogger({ level: "silent" });
  const services: DiskService[] = [];
  const serviceFor = async (root: string, pool: string): Promise<DiskService> => {
    const service = new DiskService({
      kv: new ConsulKvStore(client),
      keys: new ConsulKeys(root),
      images: diskImagesOver(store),
      nodeName: "bench",
      logger,
    });
    services.push(service);
    await service.settings.init({ ...SETTINGS, defaultPool: pool });
    return service;
  };
  try {
    console.log(
      `AddDisk, ${count} disks of 1 GiB with 1 path each, Consul dev agent + Ceph memstore on 127.0.0.1`,
    );
    console.log(`UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}`);
    for (const depth of DEPTHS) {
      const pool = `bench${depth}`;
      await ceph.cli("ceph", ["osd", "pool", "create", pool, "8"]);
      await ceph.cli("rbd", ["pool", "init", pool]);
      const service = await serviceFor(`Bench${depth}`, pool);
      const latencies: number[] = [];
      let next = 0;
      const started = performance.now();
      const worker = async (): Promise<void> => {
        while (next < count) {
          const n = next++;
          const callStart = performance.now();
          await service.addDisk(input(`bench-${n}`));
          latencies.push(performance.now() - callStart);
        }
      };
      await Promise.all(Array.from({ length: depth }, worker));
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `  ${String(depth).padStart(2)} in flight: ${(count / seconds).toFixed(1)} disks/s ` +
          `(${seconds.toFixed(2)} s; latency p50 ${median(latencies).toFixed(1)} ms, ` +
          `p99 ${percentile(latencies, 0.99).toFixed(1)} ms)`,
      );
    }

    console.log(
      `One allocation (reserve: reads + one transaction; median of ${ALLOCATION_RUNS}, given back after each)`,
    );
    for (const existing of EXISTING) {
      const root = `BenchAlloc${existing}`;
      const service = await serviceFor(root, ceph.pool);
      const keys = new AllocationKeys(new ConsulKeys(root));
      // N disks with one path each: ids 1..N and addresses from..from+N-1, written straight into the records.
      const ids = new Bitmap(MAX_DISK_NUMBER);
      for (let bit = 0; bit < existing; bit++) ids.add(bit);
      const from = tryParseIpv4(SETTINGS.subnet1?.autoIpFrom ?? "") ?? 0;
      const blocks = new Map<number, Bitmap>();
      for (let address = from; address < from + existing; address++) {
        const base = ipBlockBase(address);
        let block = blocks.get(base);
        if (block === undefined) {
          block = new Bitmap(IP_BLOCK_SIZE);
          blocks.set(base, block);
        }
        block.add(address - base);
      }
      await runTransaction(client, [
        { verb: "set", key: keys.diskIdBitmap(), value: ids.encode() },
        ...[...blocks].map(([base, block]) => ({
          verb: "set" as const,
          key: keys.ipBlock(base),
          value: block.encode(),
        })),
      ]);
      const bytesRead =
        ids.encode().length + [...blocks.values()].reduce((sum, block) => sum + block.encode().length, 0);
      const times: number[] = [];
      let lastId = "";
      for (let run = 0; run < ALLOCATION_RUNS; run++) {
        const start = performance.now();
        const reservation = await service.reservations.reserve(input(`alloc-${run}`));
        times.push(performance.now() - start);
        lastId = reservation.allocation.id;
        await service.cleaner.giveBack(reservation.allocation, false);
      }
      console.log(
        `  ${String(existing).padStart(6)} existing disks: ${median(times).toFixed(2)} ms ` +
          `(p90 ${percentile(times, 0.9).toFixed(2)} ms; id ${lastId}; allocation records read: ${bytesRead} bytes of base64)`,
      );
    }
  } finally {
    for (const service of services) await service.close();
    await store.close();
    client.close();
    await Promise.all([ceph.stop(), consul.stop()]);
  }
}

await main();
