import { open, rm } from "node:fs/promises";
import { join } from "node:path";

const GIB = 1024 ** 3;
/** The largest whole GiB whose byte count is exact in a JavaScript number. */
const MAX_PROBED_GIB = Math.floor(Number.MAX_SAFE_INTEGER / GIB);

function refusesSize(error: unknown): boolean {
  return error instanceof Error && "code" in error && (error.code === "EFBIG" || error.code === "EINVAL");
}

/**
 * The largest file, in whole GiB as bytes, that the file system under `dir` takes (ext4 with 4 KiB
 * blocks: 16 TiB). Found by growing a sparse probe file (hidden, so never listed as an image) by
 * binary search: no block is written. Other failures are thrown.
 */
export async function probeMaxFileBytes(dir: string): Promise<number> {
  const path = join(dir, `.size-probe-${process.pid}-${Date.now()}`);
  const file = await open(path, "wx", 0o600);
  try {
    let fits = 0;
    let refused = MAX_PROBED_GIB + 1;
    while (refused - fits > 1) {
      const middle = Math.floor((fits + refused) / 2);
      try {
        await file.truncate(middle * GIB);
        fits = middle;
      } catch (error) {
        if (!refusesSize(error)) throw error;
        refused = middle;
      }
    }
    return fits * GIB;
  } finally {
    await file.close();
    await rm(path, { force: true });
  }
}
