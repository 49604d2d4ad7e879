// Operations per second of the rbd ImageStore (librbd through the N-API addon) against a throw-away
// Ceph (one mon, one memstore OSD on 127.0.0.1): create, metadata set, metadata get, remove, with
// 1 and 16 calls in flight.
// Run (as root, Ceph packages installed, addon built):
//   npx vite-node bench/storage.ts [--count N]          (default N = 200 per operation and depth)
// Node's libuv pool runs at most UV_THREADPOOL_SIZE (default 4) librbd calls at once; to see more:
//   UV_THREADPOOL_SIZE=16 npx vite-node bench/storage.ts
import { performance } from "node:perf_hooks";
import { openRbdImageStore } from "../src/storage/rbd-image-store.js";
import type { ImageStore } from "../src/storage/image-store.js";
import { startCephHarness } from "../test/harness/ceph.js";

const DEPTHS = [1, 16] as const;
const IMAGE_SIZE_BYTES = 1024 * 1024 * 1024;

function countFromArgs(): number {
  const index = process.argv.indexOf("--count");
  if (index === -1) return 200;
  const count = Number(process.argv[index + 1]);
  if (!Number.isSafeInteger(count) || count < 1) throw new Error("--count needs a whole number >= 1");
  return count;
}

/** Runs `operation(i)` for i in 0..count-1 with `depth` calls in flight; returns operations per second. */
async function opsPerSecond(
  count: number,
  depth: number,
  operation: (index: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      await operation(index);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(depth, count) }, worker));
  return count / ((performance.now() - started) / 1000);
}

async function benchDepth(store: ImageStore, count: number, depth: number): Promise<Record<string, number>> {
  const name = (index: number): string => `bench-d${depth}-${String(index).padStart(5, "0")}`;
  const record = (index: number): string =>
    JSON.stringify({
      id: String(index).padStart(5, "0"),
      disk_name: `Datenträger-${index}`,
      size: 1,
      paths: [],
    });
  const create = await opsPerSecond(count, depth, (index) => store.create(name(index), IMAGE_SIZE_BYTES));
  const metadataSet = await opsPerSecond(count, depth, (index) =>
    store.writeMetadata(name(index), record(index)),
  );
  const metadataGet = await opsPerSecond(count, depth, async (index) => {
    if ((await store.readMetadata(name(index))) !== record(index))
      throw new Error(`wrong record for ${name(index)}`);
  });
  const remove = await opsPerSecond(count, depth, (index) => store.remove(name(index)));
  return { create, "metadata set": metadataSet, "metadata get": metadataGet, remove };
}

async function main(): Promise<void> {
  const count = countFromArgs();
  const bootStarted = performance.now();
  const ceph = await startCephHarness({ name: "bench-storage" });
  const bootMs = performance.now() - bootStarted;
  try {
    const store = await openRbdImageStore({ pool: ceph.pool, connect: { confPath: ceph.confPath } });
    try {
      console.log(
        `rbd ImageStore, ${count} operations per row, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}, ` +
          `cluster booted in ${Math.round(bootMs)} ms`,
      );
      const rows: Record<string, Record<string, string>> = {};
      for (const depth of DEPTHS) {
        const figures = await benchDepth(store, count, depth);
        for (const [operation, perSecond] of Object.entries(figures)) {
          rows[operation] ??= {};
          rows[operation][`${depth} in flight (ops/s)`] = perSecond.toFixed(0);
        }
      }
      console.table(rows);
    } finally {
      await store.close();
    }
  } finally {
    await ceph.stop();
  }
}

await main();
