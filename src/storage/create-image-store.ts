import { join } from "node:path";
import type { RbdConnectOptions } from "../../native/index.js";
import type { SanpathdConfig } from "../config/config.js";
import { openFileImageStore } from "./file-image-store.js";
import type { ImageStore } from "./image-store.js";
import { openRbdImageStore } from "./rbd-image-store.js";

/** Folder of the file store's images inside the daemon's data dir. */
export const FILE_STORE_SUBDIR = "images";

export interface CreateImageStoreOptions {
  /** Connection settings beyond the config's conf file and user (timeouts, extra librados options). */
  rbd?: Omit<RbdConnectOptions, "confPath" | "userId">;
}

/**
 * The image store the config names: `file` → sparse files in `<dataDir>/images`; `rbd` → the
 * config's pool, connecting with its ceph.conf and user (unreachable → unavailable, CEPH_UNAVAILABLE).
 */
export async function createImageStore(
  config: Pick<SanpathdConfig, "dataDir" | "imageStore">,
  options: CreateImageStoreOptions = {},
): Promise<ImageStore> {
  const store = config.imageStore;
  switch (store.kind) {
    case "file":
      return openFileImageStore(join(config.dataDir, FILE_STORE_SUBDIR));
    case "rbd":
      return openRbdImageStore({
        pool: store.pool,
        connect: { ...options.rbd, confPath: store.cephConf, userId: store.cephUser },
      });
  }
}
